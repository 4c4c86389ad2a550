"""The Notifications page: every member (viewers too) chooses channels and events."""

import re

import pytest
from django.test import Client

from notifications.models import Preference

pytestmark = pytest.mark.django_db
URL = "/settings/notifications/"


def test_page_shows_the_defaults(client: Client, viewer) -> None:
    """A member who never chose sees everything on, and the header links to the page."""
    client.force_login(viewer)
    page = client.get(URL).content.decode()
    for name in ["email", "browser", "on_finished", "on_failed", "on_late"]:
        assert re.search(rf'<input type="checkbox" name="{name}"[^>]* checked>', page), name
    assert 'href="/settings/notifications/" aria-current="page">Notifications</a>' in page
    assert "still processing 30 minutes after" in page


def test_saving_choices(client: Client, member) -> None:
    """Unchecked boxes are saved off; the page comes back with a message."""
    client.force_login(member)
    response = client.post(URL, {"email": "on", "on_failed": "on"}, follow=True)
    assert "Your notification settings were saved." in response.content.decode()
    preference = Preference.objects.get(user=member)
    assert (preference.email, preference.browser) == (True, False)
    assert (preference.on_finished, preference.on_failed, preference.on_late) == (
        False,
        True,
        False,
    )
    client.post(URL, {"browser": "on", "on_late": "on"})
    preference.refresh_from_db()
    assert (preference.email, preference.browser, preference.on_late) == (False, True, True)
    assert Preference.objects.count() == 1
