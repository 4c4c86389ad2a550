"""The sandbox's API key, resolved once by the settings (`SANDBOX_API_KEY`): the configured one,
else a key generated once into var/sandbox-key. Never a fixed key in code or settings.

The one derivation of that key: the settings call it (so the client gets its key from the
settings, never from the sandbox app) and `sandbox.keys` reads the result from the settings.
Plain Python, no Django: it runs while the settings are being read.
"""

import os
import secrets
from pathlib import Path

__all__ = ["sandbox_api_key"]

KEY_FILE = "sandbox-key"


def sandbox_api_key(*, configured: str, var_dir: Path) -> str:
    """`configured` when set; else the key in `var_dir`/sandbox-key, written there (mode 0600)
    by the first process to need it. The file appears whole: written aside, then linked into
    place, so a process reading it never sees a half-written key."""
    if configured:
        return configured
    path = Path(var_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
            os.link(draft, path)  # fails if another process got there first: its key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()
