"""The colour theme: a per-member choice (light, dark, system), rendered on <html> by the
server so the first paint is already in the right colours."""

import re

import pytest
from django.test import Client

from accounts.models import Theme, User

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _html_tag(response: object) -> str:
    return re.search(r"<html[^>]*>", response.content.decode()).group(0)


def test_new_members_follow_the_system(client: Client, member: User) -> None:
    """A member who never chose gets data-theme="system" and both colour schemes."""
    client.force_login(member)
    response = client.get("/")
    assert 'data-theme="system"' in _html_tag(response)
    assert '<meta name="color-scheme" content="light dark">' in response.content.decode()


def test_login_page_follows_the_system(client: Client) -> None:
    """Nobody is logged in on the log-in page: it follows the device's setting."""
    response = client.get("/accounts/login/")
    assert 'data-theme="system"' in _html_tag(response)


def test_choosing_dark_is_remembered_on_every_page(client: Client, viewer: User) -> None:
    """The plain form (no JavaScript) saves the choice and goes back to the page it came from;
    every page then renders data-theme="dark". Viewers may choose too."""
    client.force_login(viewer)
    response = client.post("/theme/", {"theme": "dark", "next": "/tasks/?status=failed"})
    assert response.status_code == 302
    assert response["Location"] == "/tasks/?status=failed"
    viewer.refresh_from_db()
    assert viewer.theme == Theme.DARK
    for url in ("/", "/tasks/", "/assets/"):
        page = client.get(url)
        assert 'data-theme="dark"' in _html_tag(page), url
        assert '<meta name="color-scheme" content="dark">' in page.content.decode()
        assert re.search(r'value="dark" aria-pressed="true"', page.content.decode())


@pytest.mark.parametrize("bad", ["https://evil.example/", "//evil.example/", "1e309", "logout"])
def test_next_outside_the_site_goes_to_the_dashboard(
    client: Client, member: User, bad: str
) -> None:
    """A `next` that is not a path on this site goes to the dashboard: no open redirect, and
    no 500 for a value that is no URL at all (redirect() would look it up as a view name)."""
    client.force_login(member)
    response = client.post("/theme/", {"theme": "light", "next": bad})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_unknown_theme_is_refused(client: Client, member: User) -> None:
    """A value outside the three choices changes nothing and says why."""
    client.force_login(member)
    response = client.post("/theme/", {"theme": "neon", "next": "/"}, follow=True)
    member.refresh_from_db()
    assert member.theme == Theme.SYSTEM
    assert "Choose Light, Dark or System." in response.content.decode()


def test_htmx_gets_the_theme_form_alone(client: Client, member: User) -> None:
    """With htmx the answer is the header's form, showing the new choice (theme.js copies its
    data-theme onto <html>)."""
    client.force_login(member)
    response = client.post("/theme/", {"theme": "light", "next": "/tasks/"}, headers=HTMX)
    html = response.content.decode()
    assert '<input type="hidden" name="next" value="/tasks/">' in html
    assert response.status_code == 200
    assert html.lstrip().startswith('<form method="post" action="/theme/" class="theme-form"')
    assert 'data-theme="light"' in html
    assert 'value="light" aria-pressed="true"' in html
    assert "<html" not in html


def test_theme_needs_a_post(client: Client, member: User) -> None:
    """GET /theme/ changes nothing (405)."""
    client.force_login(member)
    assert client.get("/theme/?theme=dark").status_code == 405
