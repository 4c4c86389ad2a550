"""The library page: search, filters, sorting, pagination, status badges, expiry countdowns,
row polling that stops when settled, and a query count that does not grow with rows."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project
from jobs.models import Asset, RemoteStatus

URL = reverse("jobs:asset_list")


def names(response) -> list[str]:
    return [asset.name for asset in response.context["page"].object_list]


@pytest.mark.django_db
def test_library_lists_columns(viewer_client, make_asset, member):
    """Each row shows name, duration, size, format, uploader, project, status and expiry."""
    make_asset(
        name="Lead vocal.wav",
        duration_seconds=185.4,
        size_bytes=31_457_280,
        remote_expires_at=timezone.now() + timedelta(hours=5, minutes=10),
    )
    response = viewer_client.get(URL)
    assert response.status_code == 200
    text = response.text
    for expected in [
        "Lead vocal.wav",
        "3:05",
        "30.0\xa0MB",
        "WAV",
        member.display_name,
        "Demo album",
    ]:
        assert expected in text
    assert '<span class="badge ready">Ready</span>' in text
    assert "expires in 5 h" in text


@pytest.mark.django_db
def test_expired_is_derived_at_read_time(viewer_client, make_asset):
    """A ready upload past its expiry shows "expired" before the poller marks it."""
    make_asset(name="old.wav", remote_expires_at=timezone.now() - timedelta(hours=2, minutes=1))
    response = viewer_client.get(URL)
    assert '<span class="badge expired">Expired</span>' in response.text
    assert "expired 2 h ago" in response.text
    assert names(viewer_client.get(URL, {"status": "expired"})) == ["old.wav"]
    assert names(viewer_client.get(URL, {"status": "ready"})) == []


@pytest.mark.django_db
def test_failed_shows_its_reason(viewer_client, make_asset):
    """A failed forward shows the reason AudioShake gave."""
    make_asset(remote_status=RemoteStatus.FAILED, remote_error="Insufficient credits (402)")
    response = viewer_client.get(URL)
    assert '<span class="badge failed">Failed</span>' in response.text
    assert "Insufficient credits (402)" in response.text


@pytest.mark.django_db
def test_search_and_filters(viewer_client, make_asset, admin_user):
    """Search by name and filter by project, uploader, status, format and expiring soon."""
    other = Project.objects.create(name="Podcast", code="pod")
    now = timezone.now()
    make_asset(name="Drums take.wav", remote_expires_at=now + timedelta(hours=3))
    make_asset(name="Bass take.flac", format="flac", project=other, uploaded_by=admin_user)
    make_asset(name="Vox.mp3", format="mp3", remote_status=RemoteStatus.UPLOADING)
    make_asset(name="Later.wav", remote_expires_at=now + timedelta(hours=40))
    assert names(viewer_client.get(URL, {"q": "TAKE"})) == ["Bass take.flac", "Drums take.wav"]
    assert names(viewer_client.get(URL, {"project": other.pk})) == ["Bass take.flac"]
    assert names(viewer_client.get(URL, {"uploader": admin_user.pk})) == ["Bass take.flac"]
    assert names(viewer_client.get(URL, {"status": "uploading"})) == ["Vox.mp3"]
    assert names(viewer_client.get(URL, {"format": "flac"})) == ["Bass take.flac"]
    assert names(viewer_client.get(URL, {"expiring": "on"})) == ["Drums take.wav"]


@pytest.mark.django_db
def test_unknown_filter_values_are_ignored(viewer_client, make_asset):
    """A stale or forged query string still opens the library (never a 500)."""
    make_asset(name="a.wav")
    response = viewer_client.get(
        URL, {"project": "999", "status": "nope", "sort": "evil", "page": "x"}
    )
    assert response.status_code == 200
    assert names(response) == ["a.wav"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha.wav", "Bravo.wav", "charlie.wav"]),
        ("-name", ["charlie.wav", "Bravo.wav", "alpha.wav"]),
        ("duration", ["Bravo.wav", "charlie.wav", "alpha.wav"]),
        ("-size", ["alpha.wav", "charlie.wav", "Bravo.wav"]),
        ("expiry", ["charlie.wav", "alpha.wav", "Bravo.wav"]),
        ("created", ["alpha.wav", "Bravo.wav", "charlie.wav"]),
        ("-created", ["charlie.wav", "Bravo.wav", "alpha.wav"]),
    ],
)
def test_sorting(viewer_client, make_asset, sort, expected):
    """Sort by name (case-insensitive), duration, size, expiry and creation."""
    now = timezone.now()
    make_asset(
        name="alpha.wav",
        duration_seconds=30,
        size_bytes=900,
        created_at=now - timedelta(3),
        remote_expires_at=now + timedelta(hours=9),
    )
    make_asset(name="Bravo.wav", duration_seconds=10, size_bytes=100, created_at=now - timedelta(2))
    make_asset(
        name="charlie.wav",
        duration_seconds=20,
        size_bytes=500,
        created_at=now - timedelta(1),
        remote_expires_at=now + timedelta(hours=1),
    )
    assert names(viewer_client.get(URL, {"sort": sort})) == expected


@pytest.mark.django_db
def test_pagination_keeps_the_filters(viewer_client, make_asset):
    """25 rows per page; the page links keep the search and filters."""
    for _ in range(30):
        make_asset(format="flac")
    response = viewer_client.get(URL, {"format": "flac"})
    assert len(names(response)) == 25
    assert "?format=flac&amp;page=2" in response.text
    assert len(names(viewer_client.get(URL, {"format": "flac", "page": 2}))) == 5


@pytest.mark.django_db
def test_htmx_filter_request_gets_only_the_results(viewer_client, make_asset):
    """The filter form's htmx requests get the results fragment, not the whole page."""
    make_asset(name="a.wav")
    response = viewer_client.get(URL, headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<section id="asset-results"')
    assert "<html" not in response.text
    restore = viewer_client.get(
        URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text


@pytest.mark.django_db
def test_only_unsettled_rows_poll(viewer_client, make_asset):
    """Rows waiting or uploading poll every 2 s; ready, failed and expired rows do not."""
    waiting = make_asset(remote_status=RemoteStatus.WAITING)
    uploading = make_asset(remote_status=RemoteStatus.UPLOADING)
    ready = make_asset(remote_expires_at=timezone.now() + timedelta(hours=70))
    text = viewer_client.get(URL).text
    for asset, polls in [(waiting, True), (uploading, True), (ready, False)]:
        row = text.split(f'id="asset-row-{asset.pk}"')[1].split(">")[0]
        assert ('hx-trigger="every 2s, tab-shown from:document"' in row) is polls


@pytest.mark.django_db
def test_status_fragment_stops_polling_once_settled(viewer_client, make_asset):
    """The row fragment keeps polling (200) while uploading and answers 286 without a trigger
    once ready."""
    asset = make_asset(remote_status=RemoteStatus.UPLOADING)
    url = reverse("jobs:asset_status", args=[asset.pk])
    response = viewer_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'hx-trigger="every 2s, tab-shown from:document"' in response.text
    assert response.text.lstrip().startswith(f'<tr id="asset-row-{asset.pk}"')
    Asset.objects.filter(pk=asset.pk).update(
        remote_status=RemoteStatus.READY, remote_expires_at=timezone.now() + timedelta(hours=72)
    )
    response = viewer_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert "hx-trigger" not in response.text
    assert "Ready" in response.text
    detail = viewer_client.get(url, {"for": "detail"}, headers={"HX-Request": "true"})
    assert detail.status_code == 286
    assert detail.text.lstrip().startswith('<section id="asset-status"')


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 200])
def test_query_count_does_not_grow(
    viewer_client, make_asset, django_assert_num_queries, rows, project
):
    """The library page costs the same number of queries with 1 asset and with 200."""
    other = Project.objects.create(name="Other", code="other")
    for n in range(rows):
        make_asset(project=other if n % 2 else project)
    viewer_client.get(URL)  # warm the session
    with django_assert_num_queries(8):
        response = viewer_client.get(URL, {"sort": "name"})
    assert len(names(response)) == min(rows, 25)


@pytest.mark.django_db
def test_expired_without_local_copy_says_so_in_the_row(viewer_client, make_asset):
    """An expired row whose local copy is gone says it cannot be used again; an expired row
    with a local copy does not."""
    make_asset(name="gone.wav", remote_expires_at=timezone.now() - timedelta(hours=2))
    response = viewer_client.get(URL)
    assert "No copy left: upload the file again to use it" in response.text
    Asset.objects.filter(name="gone.wav").update(file="assets/aa/kept")
    assert "No copy left" not in viewer_client.get(URL).text
