"""Identifiers shaped like AudioShake's: cuid-style, 25 lowercase alphanumerics starting with
'c' (e.g. `cmn5h1wv600edx8fgoboeeg06`). A millisecond timestamp prefix keeps them roughly
time-ordered; the rest is random."""

import re
import secrets
import string
import time

ALPHABET = string.digits + string.ascii_lowercase
ID_LENGTH = 25
ID_RE = re.compile(r"^c[0-9a-z]{24}$")


def _base36(value: int, width: int) -> str:
    digits = []
    while value:
        value, rest = divmod(value, 36)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


def new_id() -> str:
    """A fresh id: 'c' + 8 base-36 digits of the time in ms + 16 random base-36 digits."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(16))
    return f"c{_base36(time.time_ns() // 1_000_000, 8)}{random_part}"


def looks_like_id(value: str) -> bool:
    return bool(ID_RE.match(value))
