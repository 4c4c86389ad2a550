"""The AudioShake Tasks API client: the only module that knows AudioShake's HTTP shape.

    client = get_client()               # settings are read here, at call time
    asset = client.upload_asset(path=Path("song.wav"), filename="song.wav")
    task = client.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset.id)
    task = client.get_task(task.id)

What comes out are frozen dataclasses, parsed tolerantly (unknown fields ignored, optional fields
missing or null, numbers sent as strings); what goes wrong is one exception family rooted at
`AudioShakeError`. It follows the team's AudioShake API contract (audioshake-api.md: what is
documented, what is inferred) and the agreed client interface (INTERFACES.md, section 1).

Retries. Idempotent GETs are retried on 429, 5xx, timeouts and connection errors, with
full-jitter exponential backoff (`uniform(0, min(cap, base * 2**attempt))`) or the server's
`Retry-After` when it sends one; a `Retry-After` longer than the cap is not waited for: the
`RateLimited` error is raised at once with `.retry_after` so the caller can reschedule.
POSTs are retried only when nothing was sent (connection refused, connect timeout):

- `create_task` never sends `POST /tasks` twice once a request may have reached the server. A
  read timeout, a dropped connection or a 5xx raises `OutcomeUnknown`: the task may exist and
  may be charged, so the caller must reconcile (look for it) instead of submitting again.
  Definite answers (4xx, including 429) raise their usual error: nothing was created.
- `upload_asset` likewise is not repeated after the body started to go out; a failure then
  raises `Unavailable` and re-uploading is the caller's decision (a duplicate upload costs no
  credits and expires after 72 hours).

Every request, retries included, takes a token from the process-wide rate limiter
(`jobs.ratelimit`). One log line per attempt (method, path, status, milliseconds, attempt), at
DEBUG when it succeeded and INFO otherwise. The API key is sent through a `requests` auth
object, never put in a log line, an exception message or a `repr`, and never sent to output
hosts; response excerpts quoted in errors have it masked too.

A client wraps one `requests.Session`; create one per thread with `get_client()` (cheap: the
rate limiter is shared anyway).
"""

import email.utils
import json
import logging
import mimetypes
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.auth import AuthBase
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

from jobs.ratelimit import Limiter, process_limiter

__all__ = [
    "AudioShakeClient",
    "AudioShakeError",
    "AuthenticationError",
    "BadResponse",
    "InsufficientCredits",
    "ModelInfo",
    "ModelUsage",
    "NotFound",
    "OutcomeUnknown",
    "OutputHostRefused",
    "OutputTooLarge",
    "RateLimited",
    "RemoteAsset",
    "RemoteError",
    "RemoteOutput",
    "RemoteTarget",
    "RemoteTask",
    "TargetSpec",
    "Unavailable",
    "UsageMonth",
    "ValidationFailed",
    "get_client",
]

log = logging.getLogger(__name__)

USER_AGENT = f"shakeweb/0.1 {requests.utils.default_user_agent()}"
TERMINAL_STATUSES = frozenset({"completed", "error", "failed"})  # "failed": seen in the wild
NO_CREDITS = re.compile(r"(insufficient|not enough|no|out of)\s+(\w+\s+)?credits?", re.I)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_JSON_BYTES = 32 * 1024 * 1024  # a response bigger than this is not an API answer
EXCERPT_CHARS = 200
DOWNLOAD_CHUNK = 1024 * 1024
DOWNLOAD_MAX_REDIRECTS = 3
UPLOAD_CHUNK = 1024 * 1024  # bytes read from the file and handed to the socket at a time

CONTENT_TYPES = {
    "wav": "audio/wav",
    "aif": "audio/aiff",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "json": "application/json",
    "txt": "text/plain",
}


# Errors ------------------------------------------------------------------------------------


class AudioShakeError(Exception):
    """Anything that went wrong talking to AudioShake. `message` is safe to show to a user
    (it never contains the API key); `retryable` says whether trying again later may help."""

    retryable = False

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code})" if self.status_code else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class AuthenticationError(AudioShakeError):
    """401/403: the key is missing, wrong or revoked."""


class InsufficientCredits(AudioShakeError):
    """402, or an error whose message says the account has no credits left."""


class NotFound(AudioShakeError):
    """404: no such task (or it belongs to another account), or an expired output link."""


class ValidationFailed(AudioShakeError):
    """400/422: AudioShake refused the request; `message` is its own explanation."""


class RateLimited(AudioShakeError):
    """429 after the retries (or a Retry-After too long to wait): `retry_after` seconds."""

    retryable = True


class Unavailable(AudioShakeError):
    """5xx, timeouts and connection errors: AudioShake could not answer right now."""

    retryable = True


class BadResponse(AudioShakeError):
    """A response that is not what the API sends: not JSON, HTML, garbage or the wrong shape."""


class OutcomeUnknown(Unavailable):
    """From `create_task` only: the request may have reached AudioShake (read timeout, dropped
    connection, 5xx), so a task may exist. Reconcile before submitting again; never retry
    blindly (hence `retryable = False`, although it is an `Unavailable`)."""

    retryable = False


class OutputHostRefused(AudioShakeError):
    """A download link pointing at a host that is not an AudioShake output host (or not https);
    refused before any connection is made."""


class OutputTooLarge(AudioShakeError):
    """A download bigger than the caller's `max_bytes`."""


# Data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    """One target of a task to create: a model and its output formats."""

    model: str
    formats: tuple[str, ...]
    variant: str | None = None
    residual: bool = False
    language: str | None = None
    transcript_url: str | None = None
    transcript_asset_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "formats": list(self.formats)}
        if self.residual:
            body["residual"] = True
        for key, value in (
            ("variant", self.variant),
            ("language", self.language),
            ("transcriptUrl", self.transcript_url),
            ("transcriptAssetId", self.transcript_asset_id),
        ):
            if value:
                body[key] = value
        return body


@dataclass(frozen=True)
class RemoteAsset:
    id: str
    name: str | None = None
    format: str | None = None
    link: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteOutput:
    name: str
    format: str
    link: str | None = None


@dataclass(frozen=True)
class RemoteError:
    code: int | None
    message: str


@dataclass(frozen=True)
class RemoteTarget:
    id: str
    model: str = ""
    status: str = ""
    formats: tuple[str, ...] = ()
    output: tuple[RemoteOutput, ...] = ()
    cost: Decimal | None = None
    error: RemoteError | None = None
    duration: float | None = None
    residual: bool = False
    language: str | None = None
    variant: str | None = None
    transcript_url: str | None = None
    transcript_asset_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RemoteTask:
    id: str
    created_at: datetime | None = None
    completed_at: datetime | None = None
    client_id: str | None = None
    cost: Decimal | None = None
    asset_id: str | None = None
    url: str | None = None
    metadata: str | None = None
    targets: tuple[RemoteTarget, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_finished(self) -> bool:
        """Every target completed or failed (a task without targets is not finished)."""
        return bool(self.targets) and all(t.is_terminal for t in self.targets)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str = ""
    category: str = ""
    description: str = ""
    access: str = "enabled"
    credits_per_minute: Decimal | None = None
    output_formats: tuple[str, ...] = ()
    input_formats: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    variant_rates: dict[str, Decimal] = field(default_factory=dict, hash=False)
    supports_residual: bool = False
    max_input_seconds: int | None = None
    supported_languages: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class UsageMonth:
    month: str
    total_targets: int = 0
    total_minutes: Decimal = Decimal(0)


@dataclass(frozen=True)
class ModelUsage:
    model: str
    total_targets: int = 0
    total_minutes: Decimal = Decimal(0)
    raw: dict = field(default_factory=dict, compare=False, repr=False)


# Tolerant parsing ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _decimal(value: Any) -> Decimal | None:
    """A number or a numeric string as a Decimal; anything else is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    return int(number) if number is not None else None


def _float(value: Any) -> float | None:
    number = _decimal(value)
    return float(number) if number is not None else None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))


def _datetime(value: Any) -> datetime | None:
    """ISO 8601 (a trailing Z included) as an aware datetime; naive values are UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _require_id(data: Any, what: str) -> str:
    if not isinstance(data, dict):
        raise BadResponse(f"AudioShake sent {type(data).__name__} where {what} was expected")
    ident = _text(data.get("id"))
    if not ident:
        raise BadResponse(f"AudioShake sent {what} without an id")
    return ident


def parse_error(value: Any) -> RemoteError | None:
    """A target's `error`: `{code, message}`, or a bare message string."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        message = _text(value.get("message")) or _text(value.get("error")) or ""
        return RemoteError(code=_int(value.get("code")), message=message)
    return RemoteError(code=None, message=str(value))


def parse_asset(data: Any) -> RemoteAsset:
    ident = _require_id(data, "an asset")
    return RemoteAsset(
        id=ident,
        name=_text(data.get("name")),
        format=_text(data.get("format")),
        link=_text(data.get("link")),
        raw=data,
    )


def parse_output(data: dict) -> RemoteOutput:
    return RemoteOutput(
        name=_text(data.get("name")) or "",
        format=_text(data.get("format")) or "",
        link=_text(data.get("link")),
    )


def parse_target(data: Any) -> RemoteTarget:
    ident = _require_id(data, "a task target")
    return RemoteTarget(
        id=ident,
        model=_text(data.get("model")) or "",
        status=_text(data.get("status")) or "",
        formats=_strings(data.get("formats")),
        output=tuple(parse_output(item) for item in _dicts(data.get("output"))),
        cost=_decimal(data.get("cost")),
        error=parse_error(data.get("error")),
        duration=_float(data.get("duration")),
        residual=_bool(data.get("residual")),
        language=_text(data.get("language")),
        variant=_text(data.get("variant")),
        transcript_url=_text(data.get("transcriptUrl")),
        transcript_asset_id=_text(data.get("transcriptAssetId")),
    )


def parse_task(data: Any) -> RemoteTask:
    ident = _require_id(data, "a task")
    return RemoteTask(
        id=ident,
        created_at=_datetime(data.get("createdAt")),
        completed_at=_datetime(data.get("completedAt")),
        client_id=_text(data.get("clientId")),
        cost=_decimal(data.get("cost")),
        asset_id=_text(data.get("assetId")),
        url=_text(data.get("url")),
        metadata=_text(data.get("metadata")),
        targets=tuple(parse_target(item) for item in _dicts(data.get("targets"))),
        raw=data,
    )


def _variants(value: Any) -> tuple[tuple[str, ...], dict[str, Decimal]]:
    """Variants as `["high_quality"]`, `[{"id": ..., "creditsPerMinute": ...}]` or
    `{"high_quality": 1.5}`: their names and the rates given."""
    names: list[str] = []
    rates: dict[str, Decimal] = {}
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict):
                rate = item.get("creditsPerMinute", item.get("rate"))
                items.append((item.get("id") or item.get("name"), rate))
            else:
                items.append((item, None))
    else:
        items = []
    for name, rate in items:
        if not isinstance(name, str) or not name:
            continue
        names.append(name)
        if isinstance(rate, dict):
            rate = rate.get("creditsPerMinute")
        parsed = _decimal(rate)
        if parsed is not None:
            rates[name] = parsed
    return tuple(names), rates


def parse_model(data: Any) -> ModelInfo:
    ident = _require_id(data, "a model")
    # Source formats: the media input's (the one fed by url/assetId), not a transcript's.
    inputs = _dicts(data.get("inputs"))
    media = [
        item
        for item in inputs
        if item.get("id") == "media" or {"url", "assetId"} & set(_strings(item.get("taskFields")))
    ]
    input_formats: list[str] = []
    for item in media or inputs:
        formats = item.get("formats")
        groups = formats.values() if isinstance(formats, dict) else [formats]
        for group in groups:
            input_formats.extend(f for f in _strings(group) if f not in input_formats)
    variants, rates = _variants(data.get("variants"))
    limits = data.get("limits") if isinstance(data.get("limits"), dict) else {}
    residual = data.get("supportsResidual", data.get("residual"))
    return ModelInfo(
        id=ident,
        name=_text(data.get("name")) or ident,
        category=_text(data.get("category")) or "",
        description=_text(data.get("description")) or "",
        access=_text(data.get("access")) or "enabled",
        credits_per_minute=_decimal(data.get("creditsPerMinute")),
        output_formats=_strings(data.get("outputFormats")),
        input_formats=tuple(input_formats),
        variants=variants,
        variant_rates=rates,
        supports_residual=_bool(residual),
        max_input_seconds=_int(limits.get("maxInputDurationSeconds")),
        supported_languages=_strings(data.get("supportedLanguages")),
        raw=data,
    )


def parse_usage_month(data: dict) -> UsageMonth:
    return UsageMonth(
        month=_text(data.get("month")) or "",
        total_targets=_int(data.get("totalTargets")) or 0,
        total_minutes=_decimal(data.get("totalMinutes")) or Decimal(0),
    )


def parse_model_usage(data: dict) -> ModelUsage:
    model = data.get("model", data.get("name", data.get("id")))
    return ModelUsage(
        model=_text(model) or "",
        total_targets=_int(data.get("totalTargets", data.get("targets"))) or 0,
        total_minutes=_decimal(data.get("totalMinutes", data.get("minutes"))) or Decimal(0),
        raw=data,
    )


def _items(data: Any, *envelopes: str) -> list[dict]:
    """A list response: a bare array (documented), or one wrapped in a known envelope key."""
    if isinstance(data, dict):
        for key in (*envelopes, "data", "items", "results"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise BadResponse(f"AudioShake sent {type(data).__name__} where a list was expected")
    return _dicts(data)


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


def content_type_for(filename: str) -> str:
    extension = Path(filename).suffix.lower().lstrip(".")
    return (
        CONTENT_TYPES.get(extension)
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream"
    )


# Transport --------------------------------------------------------------------------------


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


class _SourceChanged(Exception):
    """The file being uploaded is shorter than it was when the upload started."""


class _MultipartFile:
    """A `multipart/form-data` body with one file field, streamed from an open file.

    What requests-toolbelt's `MultipartEncoder` produces, without its intermediate buffers:
    the part's headers (rendered by urllib3, which escapes the file name), then the file read
    straight into one reused 1 MiB buffer, then the closing boundary. Memory stays flat, each
    byte is copied once on its way to the socket, and the CPU cost is curl's (bench/
    upload_vs_curl.py). The length is fixed when the body is made (Content-Length); a file that
    shrinks meanwhile raises `_SourceChanged` instead of leaving the server waiting, one that
    grows is sent only up to that length.
    """

    def __init__(self, fh: BinaryIO, *, field: str, filename: str, content_type: str) -> None:
        boundary = choose_boundary()
        part = RequestField(name=field, data=b"", filename=filename)
        part.make_multipart(content_type=content_type)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = f"--{boundary}\r\n".encode() + part.render_headers().encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._fh = fh
        self._remaining = os.fstat(fh.fileno()).st_size
        self._buffer = memoryview(bytearray(UPLOAD_CHUNK))
        self.len = len(self._head) + self._remaining + len(self._tail)

    def __len__(self) -> int:
        return self.len

    def read(self, size: int = -1) -> bytes | memoryview:
        """The next piece (urllib3 sends each before asking for the next, so the buffer can
        be reused); b"" at the end."""
        if self._head:
            head, self._head = self._head, b""
            return head
        if self._remaining:
            got = self._fh.readinto(self._buffer[: min(self._remaining, len(self._buffer))])
            if not got:
                raise _SourceChanged
            self._remaining -= got
            return self._buffer[:got]
        tail, self._tail = self._tail, b""
        return tail

    def __iter__(self) -> Iterator[bytes | memoryview]:
        while piece := self.read():
            yield piece


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


# The client --------------------------------------------------------------------------------


class AudioShakeClient:
    """Typed access to the AudioShake Tasks API (see the module docstring for the policies)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        limiter: Limiter | None = None,
        output_hosts: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._key = api_key
        self._limiter = limiter or process_limiter()
        base_host = (urlsplit(self.base_url).hostname or "").lower()
        self._base_host = base_host
        self._base_is_http = urlsplit(self.base_url).scheme == "http"
        self.output_hosts = frozenset(h.lower() for h in output_hosts if h) | {base_host}
        self._sleep = sleep
        self._random = rng or random.Random()
        self.session = requests.Session()
        self.session.auth = _ApiKey(api_key)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"<AudioShakeClient {self.base_url} x-api-key=****>"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "AudioShakeClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Endpoints -----------------------------------------------------------------------------

    def upload_asset(self, *, path: Path, filename: str) -> RemoteAsset:
        """POST /assets: stream the file at `path` (never read into memory) as `filename`."""
        name = re.sub(r"[\x00-\x1f\x7f\"\\/]+", "_", filename).strip() or "upload"
        data = self._call("POST", "/assets", retry=_Retry.UNSENT_ONLY, upload=(Path(path), name))
        return parse_asset(data)

    def list_assets(self) -> list[RemoteAsset]:
        """GET /assets: every asset of the account that has not expired."""
        data = self._call("GET", "/assets")
        return [parse_asset(item) for item in _items(data, "assets")]

    def create_task(
        self,
        *,
        targets: Sequence[TargetSpec],
        asset_id: str | None = None,
        url: str | None = None,
        metadata: str | None = None,
    ) -> RemoteTask:
        """POST /tasks, sent at most once (see `OutcomeUnknown`). The request is passed on as
        given: AudioShake validates it and a refusal raises `ValidationFailed`."""
        body: dict[str, Any] = {"targets": [target.to_json() for target in targets]}
        if asset_id is not None:
            body["assetId"] = asset_id
        if url is not None:
            body["url"] = url
        if metadata is not None:
            body["metadata"] = metadata
        data = self._call("POST", "/tasks", retry=_Retry.UNSENT_ONLY, json_body=body)
        return parse_task(data)

    def list_tasks(self, *, skip: int = 0, take: int = 10) -> list[RemoteTask]:
        """GET /tasks: one page (take 1..100), newest first."""
        data = self._call("GET", "/tasks", params={"skip": skip, "take": take})
        return [parse_task(item) for item in _items(data, "tasks")]

    def iter_tasks(self, *, take: int = 100, limit: int | None = None) -> Iterator[RemoteTask]:
        """Every task, page by page, until a short page (or `limit` tasks). A task seen on an
        earlier page (tasks created meanwhile shift the pages) is not yielded twice."""
        seen: set[str] = set()
        skip = 0
        while limit is None or len(seen) < limit:
            page = self.list_tasks(skip=skip, take=take)
            for task in page:
                if task.id in seen:
                    continue
                seen.add(task.id)
                yield task
                if limit is not None and len(seen) >= limit:
                    return
            if len(page) < take:
                return
            skip += len(page)

    def get_task(self, task_id: str) -> RemoteTask:
        """GET /tasks/{id}: the task with fresh output links."""
        if not task_id or task_id in {".", ".."}:
            raise NotFound(f"No task with id {task_id!r}")
        return parse_task(self._call("GET", f"/tasks/{quote(task_id, safe='')}"))

    def usage_statistics(self) -> list[UsageMonth]:
        """GET /tasks/statistics?name=usage: targets and minutes per month."""
        data = self._call("GET", "/tasks/statistics", params={"name": "usage"})
        return [parse_usage_month(item) for item in _items(data, "usage")]

    def distribution_statistics(self) -> list[ModelUsage]:
        """GET /tasks/statistics?name=distribution: usage per model."""
        data = self._call("GET", "/tasks/statistics", params={"name": "distribution"})
        if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) and data:
            data = [{"model": key, **value} for key, value in data.items()]
        return [parse_model_usage(item) for item in _items(data, "distribution", "models")]

    def list_models(self) -> list[ModelInfo]:
        """GET /models: the models this account may use, with its prices and formats."""
        data = self._call("GET", "/models")
        return [parse_model(item) for item in _items(data, "models")]

    def download(self, *, link: str, fileobj: BinaryIO, max_bytes: int) -> int:
        """Stream a signed output link into `fileobj`; returns the bytes written.

        The link (and every redirect) must be https on an output host, or on the API's own
        host (http allowed only for loopback or an http API): otherwise `OutputHostRefused`,
        before any connection. Over `max_bytes`: `OutputTooLarge`. A body shorter than its
        Content-Length: `Unavailable`. Expired links: `NotFound`. Failures before the first
        byte are retried like a GET; once bytes were written the caller starts again.
        """
        url = link
        for _hop in range(DOWNLOAD_MAX_REDIRECTS + 1):
            self._check_output_url(url)
            response = self._download_response(url)
            location = response.headers.get("Location")
            if response.is_redirect and location:
                response.close()
                url = urljoin(url, location)
                continue
            break
        else:
            raise OutputHostRefused(
                f"Output link redirected more than {DOWNLOAD_MAX_REDIRECTS} times"
            )
        with response:
            return self._write_body(response, fileobj, max_bytes)

    # Internals -----------------------------------------------------------------------------

    def _check_output_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise OutputHostRefused("Output link is not a valid URL") from exc
        if parts.username is not None or parts.password is not None:
            raise OutputHostRefused("Output link carries credentials; refused")
        if host not in self.output_hosts:
            raise OutputHostRefused(f"Output host {host or '(none)'!r} is not an AudioShake host")
        plain_http_ok = host in LOOPBACK_HOSTS or (host == self._base_host and self._base_is_http)
        if parts.scheme != "https" and not (parts.scheme == "http" and plain_http_ok):
            raise OutputHostRefused(f"Output link must use https, not {parts.scheme or '(none)'}")

    def _download_response(self, url: str) -> requests.Response:
        parts = urlsplit(url)
        shown = f"{parts.hostname}/…/{parts.path.rsplit('/', 1)[-1]}"  # tokens stay out of logs
        attempt = 0
        while True:
            self._limiter.acquire()
            started = time.monotonic()
            try:
                response = self.session.get(
                    url,
                    stream=True,
                    allow_redirects=False,
                    timeout=self.timeout,
                    auth=_Anonymous(),
                    headers={"Accept": "*/*", "Accept-Encoding": "identity"},
                )
            except requests.RequestException as exc:
                self._log("GET", shown, type(exc).__name__, started, attempt)
                error: AudioShakeError = Unavailable(
                    f"Could not reach the output host: {type(exc).__name__}"
                )
            else:
                self._log("GET", shown, response.status_code, started, attempt)
                if response.status_code < 400:
                    return response
                body = response.raw.read(4096, decode_content=True) or b""
                response.close()
                if response.status_code in {401, 403, 404, 410}:
                    raise NotFound(
                        "Output link expired or not found", status_code=response.status_code
                    )
                error = self._status_error(response.status_code, response.headers, body, "GET")
            delay = self._retry_delay(error, attempt)
            if delay is None:
                raise error
            self._sleep(delay)
            attempt += 1

    def _write_body(self, response: requests.Response, fileobj: BinaryIO, max_bytes: int) -> int:
        expected = _int(response.headers.get("Content-Length"))
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            expected = None  # the length of the encoded body, not of what is written
        if expected is not None and expected > max_bytes:
            raise OutputTooLarge(
                f"Output is {expected} bytes, more than the {max_bytes} allowed",
                status_code=response.status_code,
            )
        written = 0
        try:
            for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise OutputTooLarge(f"Output is more than the {max_bytes} bytes allowed")
                fileobj.write(chunk)
        except requests.RequestException as exc:
            raise Unavailable(
                f"Output download broke off after {written} bytes: {type(exc).__name__}"
            ) from exc
        if expected is not None and written != expected:
            raise Unavailable(f"Output download got {written} of {expected} bytes")
        return written

    def _call(
        self,
        method: str,
        path: str,
        *,
        retry: _Retry = _Retry.IDEMPOTENT,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        upload: tuple[Path, str] | None = None,
    ) -> Any:
        """Send one API request (with the retries its policy allows) and return its JSON."""
        attempt = 0
        while True:
            self._limiter.acquire()
            started = time.monotonic()
            try:
                response = self._send(method, path, params, json_body, upload)
                body = self._read_body(response)
            except _BAD_URL as exc:
                raise AudioShakeError(
                    f"The AudioShake base URL is not a usable URL ({type(exc).__name__})"
                ) from exc
            except requests.RequestException as exc:
                self._log(method, path, type(exc).__name__, started, attempt)
                error = self._transport_error(exc, method, path)
                may_retry = retry is _Retry.IDEMPOTENT or _sent_nothing(exc)
            else:
                self._log(method, path, response.status_code, started, attempt)
                if 200 <= response.status_code < 300:
                    return self._json(body, response, method, path)
                error = self._status_error(response.status_code, response.headers, body, method)
                may_retry = retry is _Retry.IDEMPOTENT
                if (method, path) == ("POST", "/tasks") and isinstance(error, Unavailable):
                    error = OutcomeUnknown(
                        f"{error.message}; the task may have been created",
                        status_code=error.status_code,
                    )
            delay = self._retry_delay(error, attempt) if may_retry else None
            if delay is None:
                raise error
            self._sleep(delay)
            attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json_body: dict[str, Any] | None,
        upload: tuple[Path, str] | None,
    ) -> requests.Response:
        url = self.base_url + path
        options: dict[str, Any] = {
            "params": params,
            "timeout": self.timeout,
            "allow_redirects": False,  # the key must not follow a redirect to another host
            "stream": True,  # the body is read with a size cap (`_read_body`)
        }
        if upload is None:
            return self.session.request(method, url, json=json_body, **options)
        file_path, name = upload
        with file_path.open("rb", buffering=0) as fh:  # per attempt: a retry starts at byte 0
            kind = content_type_for(name)
            body = _MultipartFile(fh, field="file", filename=name, content_type=kind)
            try:
                return self.session.request(
                    method, url, data=body, headers={"Content-Type": body.content_type}, **options
                )
            except _SourceChanged:
                raise AudioShakeError(
                    f"{name} got shorter while it was being uploaded; the upload was abandoned"
                ) from None

    def _read_body(self, response: requests.Response) -> bytes:
        """The whole body, up to MAX_JSON_BYTES (then `BadResponse`); the connection goes back
        to the pool once it is read."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                response.close()
                raise BadResponse(
                    f"AudioShake sent more than {MAX_JSON_BYTES} bytes",
                    status_code=response.status_code,
                )
            chunks.append(chunk)
        response.close()
        return b"".join(chunks)

    def _json(self, body: bytes, response: requests.Response, method: str, path: str) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            excerpt = _clean_excerpt(body, self._key) or "(empty body)"
            raise BadResponse(
                f"AudioShake answered {method} {path} with something that is not JSON "
                f"({kind}): {excerpt}",
                status_code=response.status_code,
            ) from None

    def _status_error(self, status: int, headers: Any, body: bytes, method: str) -> AudioShakeError:
        """The exception for an error status, with the API's message or a safe excerpt."""
        try:
            message = _api_message(json.loads(body))
        except (ValueError, UnicodeDecodeError):
            message = None
        if message is None:
            excerpt = _clean_excerpt(body, self._key)
            message = "AudioShake sent an error page" + (f": {excerpt}" if excerpt else "")
        message = message.replace(self._key, "****") if self._key else message
        retry_after = retry_after_seconds(headers.get("Retry-After"))
        if status == 402 or (status in {400, 403, 422} and NO_CREDITS.search(message)):
            return InsufficientCredits(message, status_code=status)
        if status in {401, 403}:
            return AuthenticationError(message, status_code=status)
        if status in {404, 410}:
            return NotFound(message, status_code=status)
        if status == 429:
            return RateLimited(message, status_code=status, retry_after=retry_after)
        if status in {400, 409, 413, 422}:
            return ValidationFailed(message, status_code=status)
        if status == 408 or status >= 500:
            return Unavailable(message, status_code=status, retry_after=retry_after)
        if 300 <= status < 400:
            return BadResponse(
                f"AudioShake redirected {method} elsewhere; redirects are not followed",
                status_code=status,
            )
        return AudioShakeError(message, status_code=status)

    def _transport_error(
        self, exc: requests.RequestException, method: str, path: str
    ) -> AudioShakeError:
        if isinstance(exc, requests.ConnectTimeout):
            return Unavailable(f"AudioShake timed out connecting; {method} {path} was not sent")
        if _sent_nothing(exc):
            return Unavailable(f"AudioShake refused the connection; {method} {path} was not sent")
        if isinstance(exc, requests.Timeout):
            what = "did not answer in time"
        else:
            what = f"dropped the connection ({type(exc).__name__})"
        if (method, path) == ("POST", "/tasks"):
            return OutcomeUnknown(
                f"AudioShake {what} after POST /tasks was sent; the task may have been created"
            )
        return Unavailable(f"AudioShake {what} on {method} {path}")

    def _retry_delay(self, error: AudioShakeError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise."""
        if not error.retryable or attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.backoff_cap else None
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self._random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _log(self, method: str, path: str, status: object, started: float, attempt: int) -> None:
        elapsed = (time.monotonic() - started) * 1000
        ok = isinstance(status, int) and 200 <= status < 400
        log.log(
            logging.DEBUG if ok else logging.INFO,
            "AudioShake %s %s -> %s in %.0f ms (attempt %d)",
            method,
            path,
            status,
            elapsed,
            attempt + 1,
        )


def get_client(
    *, max_retries: int | None = None, limiter: Limiter | None = None
) -> AudioShakeClient:
    """A client configured from the settings as they are now (tests and the admin change them).

    The key is `AUDIOSHAKE_API_KEY`, or the sandbox's generated key when the sandbox is on.
    `max_retries` and `limiter` override the settings' retries and the process-wide rate limiter
    (the poller passes 0 and its shared, cross-process request budget).
    """
    key = settings.AUDIOSHAKE_API_KEY
    if not key and settings.SANDBOX_ENABLED:
        from sandbox.keys import sandbox_api_key

        key = sandbox_api_key()
    if not key:
        raise AuthenticationError("No AudioShake API key is configured (AUDIOSHAKE_API_KEY)")
    return AudioShakeClient(
        base_url=settings.AUDIOSHAKE_BASE_URL,
        api_key=key,
        connect_timeout=settings.AUDIOSHAKE_CONNECT_TIMEOUT,
        read_timeout=settings.AUDIOSHAKE_READ_TIMEOUT,
        max_retries=settings.AUDIOSHAKE_MAX_RETRIES if max_retries is None else max_retries,
        backoff_base=settings.AUDIOSHAKE_BACKOFF_BASE,
        backoff_cap=settings.AUDIOSHAKE_BACKOFF_CAP,
        limiter=limiter or process_limiter(settings.AUDIOSHAKE_RATE_LIMIT),
        output_hosts=settings.AUDIOSHAKE_OUTPUT_HOSTS,
    )
