"""Creating, revoking and checking personal API tokens (`api.models.ApiToken`)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from api.models import ApiToken

TOKEN_START = "shk_"
MAX_LIVE_TOKENS = 20
# `last_used_at` is written at most this often per token: not one write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token, shown once


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str) -> NewToken:
    """A new token for `user`; the returned secret is the only copy there will ever be."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("Give the token a name, for example the script that uses it.")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if ApiToken.objects.live().filter(user=user).count() >= MAX_LIVE_TOKENS:
            raise ValidationError(
                f"You have {MAX_LIVE_TOKENS} live tokens: revoke one you no longer use first."
            )
        prefix = secrets.token_hex(4)
        secret = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken.objects.create(
            user=user, name=name[:100], prefix=prefix, secret_hash=token_hash(secret)
        )
    return NewToken(token=token, secret=secret)


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke it (kept, for the audit log's sake); False when it was revoked already."""
    now = timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


class TokenRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_check(secret: str) -> ApiToken:
    """The live token `secret` is, with its user; raises `TokenRefused` saying why not."""
    secret = secret.strip()
    if not secret.startswith(TOKEN_START) or len(secret) > 200:
        raise TokenRefused("This is not a shakeweb API token (they start with “shk_”).")
    token = ApiToken.objects.select_related("user").filter(secret_hash=token_hash(secret)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    if token.revoked_at is not None:
        raise TokenRefused("This API token was revoked.")
    if not token.user.is_active:
        raise TokenRefused("The account of this API token is deactivated.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
