"""The client's HTTP plumbing: the auth objects (the key in one header, never in a repr, never
sent to output hosts), the retry policies, which failures mean nothing was sent, and reading
what an error answer says (its message, `Retry-After`, a short excerpt with the key masked)."""

import email.utils
import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import requests
import urllib3
from requests.auth import AuthBase

__all__ = ["USER_AGENT", "retry_after_seconds"]

USER_AGENT = f"shakeweb/0.1 {requests.utils.default_user_agent()}"
NO_CREDITS = re.compile(r"(insufficient|not enough|no|out of)\s+(\w+\s+)?credits?", re.I)
EXCERPT_CHARS = 200


class _ApiKey(AuthBase):
    """Adds `x-api-key` to each API request; its repr never shows the key."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["x-api-key"] = self._key
        return request

    def __repr__(self) -> str:
        return "<x-api-key=****>"


class _Anonymous(AuthBase):
    """For output downloads: signed links need no key, and the key must not leave for them."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("x-api-key", None)
        return request


class _Retry(Enum):
    IDEMPOTENT = "idempotent"  # GET: retry 429, 5xx, timeouts, connection errors
    UNSENT_ONLY = "unsent"  # POST: retry only when nothing reached the server


_BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


def _sent_nothing(exc: requests.RequestException) -> bool:
    """True when the failure happened before the request could reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _clean_excerpt(body: bytes, secret: str) -> str:
    """A short, single-line, tag-free piece of a body, with the key masked."""
    if secret:
        body = body.replace(secret.encode(), b"****")
    text = body[: EXCERPT_CHARS * 8].decode("utf-8", errors="replace")
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if secret:
        text = text.replace(secret, "****")
    return text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


def _api_message(data: Any) -> str | None:
    """The message of a JSON error body: `message`, `error` (string or object), `detail`."""
    if not isinstance(data, dict):
        return None
    for key in ("message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, list):
            value = "; ".join(
                str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value
            )
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta seconds or an HTTP date; None when absent or invalid."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinity
        return None
    return max(0.0, seconds)
