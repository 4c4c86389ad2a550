"""The sandbox's API key: SANDBOX_API_KEY when set, else generated once into var/sandbox-key.
Never a fixed key in code or settings."""

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
