import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str) -> object:
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_login_page_has_labelled_fields(client: Client) -> None:
    """The log-in form has the Username and Password labels and the Log in button."""
    html = client.get("/accounts/login/").content.decode()
    assert re.search(r'<label for="id_username">Username', html)
    assert re.search(r'<label for="id_password">Password', html)
    assert "Log in</button>" in html
    assert 'href="/accounts/password_reset/"' in html


def test_login_then_dashboard(client: Client, member: User) -> None:
    """Correct credentials lead to the dashboard; the ?next= target is honoured."""
    response = _login(client, "milo", PASSWORD)
    assert response.url == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    response = client.post(
        "/accounts/login/?next=/team/", {"username": "milo", "password": PASSWORD, "next": "/team/"}
    )
    assert response.url == "/team/"


def test_wrong_password_says_so_without_revealing_which_part(client: Client, member: User) -> None:
    """A failed log-in re-renders the form with a single generic message."""
    response = _login(client, "milo", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert 'value="milo"' in response.content.decode()


def test_logged_in_user_skips_the_login_page(client: Client, member: User) -> None:
    """Opening the log-in page while logged in goes to the dashboard."""
    client.force_login(member)
    assert client.get("/accounts/login/").url == "/"


def test_repeated_failures_lock_the_login(client: Client, member: User) -> None:
    """After AXES_FAILURE_LIMIT failures the account is locked for this address, even with the
    right password, and the locked-out page says what to do."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "milo", "wrong").status_code == 200
    locked = _login(client, "milo", "wrong")
    assert locked.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in locked.templates]
    html = locked.content.decode()
    assert "Log-in temporarily locked" in html
    assert "15 minutes" in html
    assert 'href="/accounts/password_reset/"' in html
    right = _login(client, "milo", PASSWORD)
    assert right.status_code == 429
    assert client.get("/").status_code == 302  # still not logged in


def test_lockout_is_per_username(client: Client, member: User, viewer: User) -> None:
    """Locking one username does not lock a colleague on the same network."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "milo", "wrong")
    assert _login(client, "vera", PASSWORD).status_code == 302


def test_success_before_the_limit_resets_the_count(client: Client, member: User) -> None:
    """A successful log-in forgets earlier failures."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "milo", "wrong")
    assert _login(client, "milo", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "milo", "wrong").status_code == 200


def test_password_reset_by_email_lifts_the_lockout(client: Client, member: User) -> None:
    """The reset e-mail's link sets a new password, logs the member in (the dashboard says
    so) and unlocks the log-in form for the new password."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "milo", "wrong")
    done = client.post("/accounts/password_reset/", {"email": "milo@example.com"}, follow=True)
    assert "Check your e-mail" in done.content.decode()
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Your username is: milo" in body
    link = re.search(r"http://testserver(/accounts/reset/\S+)", body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    new = "another-long-passphrase-77"
    saved = client.post(
        form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert saved.redirect_chain == [("/", 302)]
    assert "Your new password is saved and you are logged in." in saved.content.decode()
    assert int(client.session["_auth_user_id"]) == member.pk
    assert _login(Client(), "milo", new).status_code == 302


def test_password_reset_for_unknown_address_looks_the_same(client: Client) -> None:
    """No e-mail is sent for an unknown address, and the page does not reveal it."""
    done = client.post("/accounts/password_reset/", {"email": "nobody@example.com"}, follow=True)
    assert "Check your e-mail" in done.content.decode()
    assert mail.outbox == []


def test_password_change(client: Client, member: User) -> None:
    """A logged-in member changes their password with the old one, and stays logged in."""
    client.force_login(member)
    new = "a-brand-new-passphrase-9"
    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": new, "new_password2": new},
    )
    assert "Your old password was entered incorrectly" in wrong.content.decode()
    done = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        follow=True,
    )
    assert "Password changed" in done.content.decode()
    assert client.get("/").status_code == 200
    member.refresh_from_db()
    assert member.check_password(new)


def test_weak_password_is_refused_with_the_reason(client: Client, member: User) -> None:
    """Django's password validators explain what is wrong."""
    client.force_login(member)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert "This password is too common." in response.content.decode()


def test_403_page_explains_the_role_needed(client: Client, viewer: User) -> None:
    """A refused page says which role is needed and which role the user has."""
    client.force_login(viewer)
    response = client.get("/team/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Only team admins can do this." in html
    assert "<strong>Viewer</strong> role" in html


def test_404_page(client: Client, member: User) -> None:
    """An unknown address gets the styled 404 page with the path."""
    client.force_login(member)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "There is no page at <code>/no-such-page/</code>" in response.content.decode()


def test_500_page_renders_without_context() -> None:
    """The 500 page needs no request context (it is rendered when things are broken)."""
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_csrf_failure_page(member: User) -> None:
    """A POST without the CSRF token is refused with a page that explains what to do."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/accounts/password_change/", {})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
