"""The profile's API tokens: created with the secret shown once, stored hashed, revoked."""

import hashlib

import pytest
from django.test import Client

from accounts.models import User
from api.models import ApiToken
from api.tokens import MAX_LIVE_TOKENS, token_create
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/profile/tokens/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_create_shows_the_secret_once_and_keeps_only_its_hash(viewer: User) -> None:
    """Every role may create a token; the secret is in the create response only, and only
    its SHA-256 is stored."""
    client = _client(viewer)
    response = client.post(PAGE, {"name": "nightly  stems"})
    assert response.status_code == 201
    secret = response.context["secret"]
    assert secret.startswith("shk_")
    assert secret in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (viewer, "nightly stems")
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    page = client.get(PAGE).content.decode()
    assert secret not in page
    assert f"shk_{token.prefix}_" in page
    assert response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.get(action="token_created").actor == viewer


def test_a_name_is_required(member: User) -> None:
    """A blank name is refused with a message; nothing is created."""
    response = _client(member).post(PAGE, {"name": "   "})
    assert response.status_code == 200
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_live_tokens_are_capped(member: User) -> None:
    """At most MAX_LIVE_TOKENS live tokens per member; revoked ones do not count."""
    for n in range(MAX_LIVE_TOKENS):
        token_create(user=member, name=f"t{n}")
    response = _client(member).post(PAGE, {"name": "one more"})
    assert "revoke one" in response.content.decode()
    assert ApiToken.objects.count() == MAX_LIVE_TOKENS


def test_revoke_own_token(member: User) -> None:
    """Revoking keeps the row (for the log), stamps it, and records the event."""
    new = token_create(user=member, name="script")
    client = _client(member)
    response = client.post(f"/profile/tokens/{new.token.pk}/revoke/")
    assert response.status_code == 302
    new.token.refresh_from_db()
    assert new.token.revoked_at is not None
    assert AuditEvent.objects.get(action="token_revoked").object_id == str(new.token.pk)
    assert "Revoked" in client.get(PAGE).content.decode()


def test_cannot_revoke_someone_elses_token(member: User, admin_user: User) -> None:
    """Another member's token is not found (404), even for an admin, and stays live."""
    new = token_create(user=member, name="script")
    response = _client(admin_user).post(f"/profile/tokens/{new.token.pk}/revoke/")
    assert response.status_code == 404
    new.token.refresh_from_db()
    assert new.token.revoked_at is None


def test_list_shows_only_own_tokens(member: User, admin_user: User) -> None:
    """The page lists the member's own tokens only."""
    token_create(user=member, name="mine")
    token_create(user=admin_user, name="theirs")
    page = _client(member).get(PAGE).content.decode()
    assert "mine" in page
    assert "theirs" not in page
