import pytest
from django.test import Client

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def _csrf_client(user: User) -> tuple[Client, str]:
    """A client that enforces CSRF like a browser, logged in, holding a token from a page."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/team/")
    return client, client.cookies["csrftoken"].value


def test_htmx_post_without_token_is_refused(admin_user: User, member: User) -> None:
    """An htmx request is no exception: without the token, 403 and nothing changes."""
    client, _ = _csrf_client(admin_user)
    response = client.post(
        f"/team/{member.pk}/role/", {"role": "viewer"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_htmx_post_with_header_token_is_accepted(admin_user: User, member: User) -> None:
    """The token in the X-CSRFToken header (set by hx-headers on <body>) is accepted."""
    client, token = _csrf_client(admin_user)
    response = client.post(
        f"/team/{member.pk}/role/",
        {"role": "viewer"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.role == Role.VIEWER


def test_plain_form_with_token_field_is_accepted(admin_user: User, member: User) -> None:
    """The hidden csrfmiddlewaretoken field of a plain form is accepted."""
    client, token = _csrf_client(admin_user)
    response = client.post(
        f"/team/{member.pk}/costs/", {"value": "1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.can_view_costs


def test_body_carries_the_token_for_htmx(admin_user: User) -> None:
    """Every page puts the CSRF token in hx-headers, so htmx requests send it."""
    client, _ = _csrf_client(admin_user)
    html = client.get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
