"""The intent marker: the trailer that names a form in a task's remote metadata.

`POST /tasks` has no idempotency key, so the poller appends a trailer naming the form to the
metadata it sends: "<user's metadata>\n[shakeweb:intent=<form_token>]". When the outcome of a
create is unknown, the task is found again by listing recent remote tasks and reading this
trailer (a webhook carrying it is matched the same way). `Task.metadata` keeps the user's text
unchanged; the form limits it to `metadata_limit()` characters so that text + trailer fit
AudioShake's 4096.
"""

import re
import uuid

from django.conf import settings

INTENT_TAG = "shakeweb:intent"
METADATA_MARKER_LENGTH = len(f"\n[{INTENT_TAG}=]") + 36  # 36: a UUID's canonical text
_INTENT_RE = re.compile(
    r"(?:\n)?\[shakeweb:intent=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\]"
    r"\s*\Z"
)


def metadata_limit() -> int:
    """How many characters of their own metadata a user may type (the trailer takes the rest)."""
    return settings.AUDIOSHAKE_METADATA_MAX - METADATA_MARKER_LENGTH


def metadata_with_intent(metadata: str, form_token: uuid.UUID | str) -> str:
    """The metadata sent with `POST /tasks`: the user's text, then the intent trailer."""
    token = str(uuid.UUID(str(form_token)))
    marker = f"[{INTENT_TAG}={token}]"
    return f"{metadata}\n{marker}" if metadata else marker


def intent_from_metadata(metadata: str | None) -> uuid.UUID | None:
    """The form token of the trailer at the very end of a remote task's metadata, if any."""
    match = _INTENT_RE.search(metadata or "")
    return uuid.UUID(match[1]) if match else None


def user_metadata(metadata: str | None) -> str:
    """A remote task's metadata without our trailer: what the user typed."""
    return _INTENT_RE.sub("", metadata or "")
