"""The sandbox's API key and the account it belongs to. The key is `settings.SANDBOX_API_KEY`,
which the settings resolve (the configured key, else one generated once into var/sandbox-key:
shakeweb/sandbox_mode.py, the one derivation). Never a fixed key in code or settings."""

import hashlib
from functools import cache
from pathlib import Path

from django.conf import settings

from shakeweb.sandbox_mode import sandbox_api_key as resolve_sandbox_api_key


@cache
def sandbox_api_key() -> str:
    return resolve_sandbox_api_key(
        configured=settings.SANDBOX_API_KEY, var_dir=Path(settings.BASE_DIR) / "var"
    )


def sandbox_client_id(key: str | None = None) -> str:
    """The `clientId` of the account a key belongs to: cuid-shaped, derived from the key so it
    is stable across restarts and reveals nothing about the key."""
    digest = hashlib.sha256(f"sandbox-client:{key or sandbox_api_key()}".encode()).digest()
    value, chars = int.from_bytes(digest), []
    for _ in range(24):
        value, rest = divmod(value, 36)
        chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[rest])
    return "c" + "".join(chars)
