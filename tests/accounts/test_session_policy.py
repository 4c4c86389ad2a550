"""Log-ins end: at deactivation (for good, even after a reactivation), after the idle
timeout, at the absolute cap. Reset requests are throttled without telling who has an
account; passwords have at least 12 characters; what logged-in people get is never stored
by a cache."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.test import Client

from accounts import services
from accounts.models import User
from accounts.sessions import SEEN, STARTED
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


def _logged_in(user: User) -> Client:
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})[
            "Location"
        ]
        == "/"
    )
    return client


def _shift(client: Client, **seconds_ago: int) -> None:
    """Move the session's clocks into the past."""
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[{"started": STARTED, "seen": SEEN}[key]] = now - ago
    session.save()


def test_deactivation_ends_sessions_for_good(admin_user: User, member: User) -> None:
    """A deactivated member's open session is deleted: after reactivation it is still
    logged out, and logging in again works."""
    milo = _logged_in(member)
    assert milo.get("/").status_code == 200
    services.member_set_active(member=member, active=False)
    assert not Session.objects.filter(session_key=milo.session.session_key).exists()
    services.member_set_active(member=member, active=True)
    assert milo.get("/")["Location"].startswith("/accounts/login/")
    assert _logged_in(member).get("/").status_code == 200


def test_deactivation_from_the_team_page_ends_sessions(admin_user: User, member: User) -> None:
    """The Team page's deactivate button ends the member's sessions, the admin's stay."""
    milo = _logged_in(member)
    ada = _logged_in(admin_user)
    ada.post(f"/team/{member.pk}/active/", {"value": "0"})
    ada.post(f"/team/{member.pk}/active/", {"value": "1"})
    assert milo.get("/")["Location"].startswith("/accounts/login/")
    assert ada.get("/").status_code == 200


def test_idle_timeout_logs_out(member: User, settings) -> None:
    """After SESSION_IDLE_SECONDS without a request the session ends, with a message."""
    client = _logged_in(member)
    _shift(client, seen=settings.SESSION_IDLE_SECONDS + 5)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert "minutes without activity" in response.content.decode()


def test_absolute_cap_logs_out_however_active(member: User, settings) -> None:
    """SESSION_ABSOLUTE_SECONDS after logging in, the session ends even if just used."""
    client = _logged_in(member)
    _shift(client, started=settings.SESSION_ABSOLUTE_SECONDS + 5, seen=1)
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_activity_refreshes_at_most_once_per_interval(member: User, settings) -> None:
    """Requests within the refresh interval write no session; one after it renews the
    idle clock and the stored expiry."""
    client = _logged_in(member)
    key = client.session.session_key
    expiry = Session.objects.get(session_key=key).expire_date
    client.get("/")
    client.get("/tasks/")
    assert Session.objects.get(session_key=key).expire_date == expiry
    _shift(client, seen=settings.SESSION_REFRESH_SECONDS + 1)
    stale = Session.objects.get(session_key=key).expire_date
    client.get("/")
    assert Session.objects.get(session_key=key).expire_date > stale
    assert int(time.time()) - client.session[SEEN] < 60


def test_session_cookie_lasts_the_idle_timeout_not_14_days(member: User, settings) -> None:
    """The session cookie's lifetime is the idle timeout (2 hours by default)."""
    client = Client()
    response = client.post("/accounts/login/", {"username": "milo", "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_IDLE_SECONDS
    assert settings.SESSION_IDLE_SECONDS < 14 * 24 * 3600


def test_password_reset_is_throttled_per_account(member: User, settings) -> None:
    """Past the per-account limit: a plain 429 message and no more e-mails."""
    for n in range(settings.PASSWORD_RESET_PER_ACCOUNT):
        client = Client(REMOTE_ADDR=f"203.0.113.{n}")
        assert (
            client.post("/accounts/password_reset/", {"email": "milo@example.com"}).status_code
            == 302
        )
    response = Client(REMOTE_ADDR="198.51.100.1").post(
        "/accounts/password_reset/", {"email": "MILO@example.com"}
    )
    assert response.status_code == 429
    assert "Too many password-reset requests" in response.content.decode()
    assert len(mail.outbox) == settings.PASSWORD_RESET_PER_ACCOUNT


def test_password_reset_is_throttled_per_address(member: User, settings) -> None:
    """Past the per-address limit, whatever addresses are typed."""
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(settings.PASSWORD_RESET_PER_ADDRESS):
        client.post("/accounts/password_reset/", {"email": f"someone{n}@example.com"})
    response = client.post("/accounts/password_reset/", {"email": "milo@example.com"})
    assert response.status_code == 429
    assert mail.outbox == []


def test_password_reset_throttle_does_not_tell_who_has_an_account(member: User, settings) -> None:
    """An unknown address is answered exactly like a known one, throttled or not."""
    answers = {}
    for email in ("milo@example.com", "nobody@example.com"):
        codes = [
            Client(REMOTE_ADDR=f"192.0.2.{n}")
            .post("/accounts/password_reset/", {"email": email})
            .status_code
            for n in range(settings.PASSWORD_RESET_PER_ACCOUNT + 1)
        ]
        answers[email] = codes
    assert answers["milo@example.com"] == answers["nobody@example.com"]
    assert answers["nobody@example.com"][-1] == 429


def test_passwords_need_12_characters(member: User) -> None:
    """An 11-character password is refused with the reason; 12 are accepted."""
    client = Client()
    client.force_login(member)
    short = "Xq7#mPz!wLk"
    refused = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": short, "new_password2": short},
    )
    assert "at least 12 characters" in refused.content.decode()
    ok = short + "9"
    done = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": ok, "new_password2": ok},
    )
    assert done.status_code == 302


def test_logged_in_responses_are_private_no_store(member: User) -> None:
    """Pages, fragments and file downloads of logged-in people: `private, no-store`; the
    log-in page too; static files are left alone."""
    client = _logged_in(member)
    for address in ("/", "/tasks/", "/assets/", "/team/"):
        assert client.get(address)["Cache-Control"] == "private, no-store", address
    assert client.get("/", headers={"HX-Request": "true"})["Cache-Control"] == "private, no-store"
    login = Client().get("/accounts/login/")["Cache-Control"]
    assert "no-store" in login
    assert "private" in login
