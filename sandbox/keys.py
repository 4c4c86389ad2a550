"""The sandbox's API key: SANDBOX_API_KEY when set, else generated once into var/sandbox-key.
Never a fixed key in code or settings."""

import hashlib
import secrets
from functools import cache
from pathlib import Path

from django.conf import settings


@cache
def sandbox_api_key() -> str:
    if settings.SANDBOX_API_KEY:
        return settings.SANDBOX_API_KEY
    path = Path(settings.BASE_DIR) / "var" / "sandbox-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x") as f:  # first process to get here writes it
            f.write(secrets.token_urlsafe(32))
            path.chmod(0o600)
    except FileExistsError:
        pass
    return path.read_text().strip()


def sandbox_client_id(key: str | None = None) -> str:
    """The `clientId` of the account a key belongs to: cuid-shaped, derived from the key so it
    is stable across restarts and reveals nothing about the key."""
    digest = hashlib.sha256(f"sandbox-client:{key or sandbox_api_key()}".encode()).digest()
    value, chars = int.from_bytes(digest), []
    for _ in range(24):
        value, rest = divmod(value, 36)
        chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[rest])
    return "c" + "".join(chars)
