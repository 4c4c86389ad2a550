"""Registering a public HTTPS URL as a source."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.models import Asset, RemoteStatus, WorkItem
from jobs.services.assets import validate_source_url

URL = reverse("jobs:asset_register_url")


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/mixes/final%20mix.wav",
        "https://cdn.example.com:8443/a.flac?sig=abc&exp=1",
        "https://93.184.216.34/song.mp3",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/song.mp3",
    ],
)
def test_public_https_urls_are_accepted(url):
    """Public host names and global IP addresses over HTTPS pass."""
    assert validate_source_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cdn.example.com/a.wav", "Only https:// URLs"),
        ("ftp://cdn.example.com/a.wav", "Only https:// URLs"),
        ("file:///etc/passwd", "Only https:// URLs"),
        ("javascript:alert(1)", "Only https:// URLs"),
        ("cdn.example.com/a.wav", "no scheme"),
        ("https://user:secret@cdn.example.com/a.wav", "must not contain a user name or password"),
        ("https://token@cdn.example.com/a.wav", "must not contain a user name or password"),
        ("https://localhost/a.wav", "not a public address"),
        ("https://studio.localhost/a.wav", "not a public address"),
        ("https://nas.local/a.wav", "not a public address"),
        ("https://127.0.0.1/a.wav", "not a public address"),
        ("https://10.1.2.3/a.wav", "not a public address"),
        ("https://192.168.1.20/a.wav", "not a public address"),
        ("https://172.16.0.1/a.wav", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://0.0.0.0/a.wav", "not a public address"),
        ("https://[::1]/a.wav", "not a public address"),
        ("https://[fd00::1]/a.wav", "not a public address"),
        ("https://[::ffff:127.0.0.1]/a.wav", "not a public address"),
        ("https://2130706433/a.wav", "not a public address"),
        ("https://0x7f000001/a.wav", "not a public address"),
        ("https://127.1/a.wav", "not a public address"),
        ("https://intranet/a.wav", "not a full host name"),
        ("https:///a.wav", "no host name"),
        ("https://cdn.example.com/a b.wav", "spaces or control characters"),
        ("https://cdn.example.com:99999/a.wav", "not a valid URL"),
        ("", "Enter the URL"),
        ("https://cdn.example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url, message):
    """Other schemes, credentials, local and private addresses are refused, saying why."""
    with pytest.raises(ValidationError) as caught:
        validate_source_url(url)
    assert message in caught.value.messages[0]


def form(url, project, **extra):
    return {"url-url": url, "url-project": project.pk, "url-rights": "on", **extra}


@pytest.mark.django_db
def test_member_registers_a_url(member_client, project):
    """A registered URL is ready at once, named after its file, and nothing is forwarded."""
    response = member_client.post(
        URL, form("https://cdn.example.com/stems/Lead%20vox.flac", project), follow=True
    )
    asset = Asset.objects.get()
    assert response.redirect_chain[-1][0] == asset.get_absolute_url()
    assert (asset.name, asset.format, asset.remote_status) == (
        "Lead vox.flac",
        "flac",
        RemoteStatus.READY,
    )
    assert asset.source_url == "https://cdn.example.com/stems/Lead%20vox.flac"
    assert not asset.has_local_copy
    assert not WorkItem.objects.exists()
    assert "Registered" in response.text
    assert "fetches it at each task" in response.text


@pytest.mark.django_db
def test_same_url_is_reused(member_client, project, member):
    """Registering the same URL twice points at the existing entry."""
    link = "https://cdn.example.com/a.wav"
    member_client.post(URL, form(link, project))
    response = member_client.post(URL, form(link, project, **{"url-name": "Other"}), follow=True)
    assert Asset.objects.count() == 1
    assert f"already in the library: registered by {member.display_name}" in response.text


@pytest.mark.django_db
def test_invalid_url_form_shows_the_error(member_client, project):
    """An http:// URL or a missing rights confirmation re-renders the page with the reason."""
    response = member_client.post(URL, form("http://cdn.example.com/a.wav", project))
    assert response.status_code == 200
    assert "Only https:// URLs are accepted" in response.text
    response = member_client.post(
        URL, {"url-url": "https://cdn.example.com/a.wav", "url-project": project.pk}
    )
    assert "Confirm that the team has the rights" in response.text
    assert not Asset.objects.exists()


@pytest.mark.django_db
def test_typed_name_is_kept_whole(member_client, project):
    """A name typed for a URL source keeps its slashes; control characters are dropped."""
    member_client.post(
        URL, form("https://cdn.example.com/a.wav", project, **{"url-name": "AC/DC\u202e live"})
    )
    assert Asset.objects.get().name == "AC/DC live"
