"""The endpoint static/js/notify.js polls: 204 while there is nothing new, the member's
notices once (taken as they are shown), and cheap."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.models import Delivery, Preference
from notifications.services import tell

pytestmark = pytest.mark.django_db
URL = "/notifications/browser/"


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


def test_nothing_new_is_204(member_client) -> None:
    """No notice waiting: 204 and no body."""
    response = member_client.post(URL)
    assert response.status_code == 204
    assert response.content == b""


def test_a_notice_is_shown_once(member_client, member, admin_user, settings) -> None:
    """A notice told to the member comes once, as JSON for `new Notification()`, then 204;
    another member's poll does not see it."""
    assert tell(member, "approval:7:requested", "Approve task 7", "Ada asks.", "/tasks/7/")
    other = Client()
    other.force_login(admin_user)
    assert other.post(URL).status_code == 204

    response = member_client.post(URL)
    assert response.status_code == 200
    assert response.json() == {
        "notifications": [
            {
                "title": "Approve task 7",
                "body": "Ada asks.",
                "url": f"{settings.SITE_URL}/tasks/7/",
                "tag": "approval:7:requested",
            }
        ]
    }
    assert member_client.post(URL).status_code == 204
    delivery = Delivery.objects.get(channel="browser")
    assert delivery.state == Delivery.State.SENT
    assert delivery.sent_at is not None


def test_tell_is_once_per_key(member) -> None:
    """Telling the same key twice records one event and one delivery per channel."""
    assert tell(member, "k:1", "Subject", "Text", "/")
    assert not tell(member, "k:1", "Subject", "Text", "/")
    assert sorted(Delivery.objects.values_list("channel", flat=True)) == ["browser", "email"]


def test_old_notices_are_not_replayed(member_client, member, settings) -> None:
    """A notice older than NOTIFY_BROWSER_WINDOW_MINUTES is not shown to a dashboard opened
    later."""
    tell(member, "k:old", "Old news", "Text", "/")
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    settings.NOTIFY_BROWSER_WINDOW_MINUTES = 60
    assert member_client.post(URL).status_code == 204


def test_browser_off_means_no_browser_notice(member_client, member) -> None:
    """With browser notifications off, only the e-mail is recorded and the poll stays 204."""
    Preference.objects.create(user=member, browser=False)
    tell(member, "k:2", "Subject", "Text", "/")
    assert list(Delivery.objects.values_list("channel", flat=True)) == ["email"]
    assert member_client.post(URL).status_code == 204


def test_poll_is_post_only_and_cheap(member_client, member, django_assert_num_queries) -> None:
    """A GET is refused (taking notices is a write); the 204 costs the session, the member and
    one indexed query, however many notices were told before."""
    assert member_client.get(URL).status_code == 405
    for n in range(30):
        tell(member, f"k:{n}", "Subject", "Text", "/")
    member_client.post(URL)  # takes 20
    member_client.post(URL)  # takes 10
    with django_assert_num_queries(3):
        assert member_client.post(URL).status_code == 204
