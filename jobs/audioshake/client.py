"""`AudioShakeClient`, the one class that sends AudioShake's HTTP, and `get_client()`, which
makes one from the settings. Its policies:

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
(`ratelimit.py`). One log line per attempt (method, path, status, milliseconds, attempt), at
DEBUG when it succeeded and INFO otherwise. The API key is sent through a `requests` auth
object, never put in a log line, an exception message or a `repr`, and never sent to output
hosts; response excerpts quoted in errors have it masked too.

A client wraps one `requests.Session`; create one per thread with `get_client()` (cheap: the
rate limiter is shared anyway).
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import requests
from django.conf import settings

from jobs.audioshake.download import (
    DOWNLOAD_MAX_REDIRECTS,
    _check_output_url,
    _write_body,
)
from jobs.audioshake.errors import (
    AudioShakeError,
    AuthenticationError,
    BadResponse,
    InsufficientCredits,
    NotFound,
    OutcomeUnknown,
    OutputHostRefused,
    RateLimited,
    Unavailable,
    ValidationFailed,
)
from jobs.audioshake.multipart import (
    UploadSource,
    _MultipartFile,
    _SourceChanged,
    content_type_for,
)
from jobs.audioshake.ratelimit import Limiter, process_limiter
from jobs.audioshake.shapes import PROBE_PATHS
from jobs.audioshake.transport import (
    _BAD_URL,
    NO_CREDITS,
    USER_AGENT,
    _Anonymous,
    _api_message,
    _ApiKey,
    _clean_excerpt,
    _Retry,
    _sent_nothing,
    retry_after_seconds,
)
from jobs.audioshake.types import (
    ModelInfo,
    ModelUsage,
    RemoteAsset,
    RemoteTask,
    TargetSpec,
    UsageMonth,
    _items,
    parse_asset,
    parse_model,
    parse_model_usage,
    parse_task,
    parse_usage_month,
)

__all__ = ["MAX_JSON_BYTES", "AudioShakeClient", "get_client"]

log = logging.getLogger("jobs.audioshake")  # the package's one logger, named as before the split

MAX_JSON_BYTES = 32 * 1024 * 1024  # a response bigger than this is not an API answer


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
        self._base_port = urlsplit(self.base_url).port
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

    def upload_asset(
        self, *, path: Path | None = None, source: UploadSource | None = None, filename: str
    ) -> RemoteAsset:
        """POST /assets: stream the file at `path`, or the stream `source` opens (a bucket's),
        as `filename`; never read into memory."""
        name = re.sub(r"[\x00-\x1f\x7f\"\\/]+", "_", filename).strip() or "upload"
        if source is None:
            if path is None:
                raise TypeError("upload_asset needs a path or a source")
            source = UploadSource.from_path(path)
        data = self._call("POST", "/assets", retry=_Retry.UNSENT_ONLY, upload=(source, name))
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

    def read_json(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET one read-only path and return its JSON as sent, unparsed: for
        `manage.py audioshake_probe`, which compares it with what the parsers assume. Only the
        paths of `shapes.PROBES` (free, idempotent GETs) are allowed."""
        if path not in PROBE_PATHS:
            raise ValueError(f"read_json is for the probe's GETs only, not {path!r}")
        return self._call("GET", path, params=params)

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
            _check_output_url(
                url,
                output_hosts=self.output_hosts,
                base_host=self._base_host,
                base_is_http=self._base_is_http,
                base_port=self._base_port,
            )
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
            return _write_body(response, fileobj, max_bytes)

    # Internals -----------------------------------------------------------------------------

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

    def _call(
        self,
        method: str,
        path: str,
        *,
        retry: _Retry = _Retry.IDEMPOTENT,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        upload: tuple[UploadSource, str] | None = None,
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
        upload: tuple[UploadSource, str] | None,
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
        source, name = upload
        with source.open() as fh:  # per attempt: a retry starts at byte 0
            kind = content_type_for(name)
            body = _MultipartFile(
                fh, field="file", filename=name, content_type=kind, size=source.size
            )
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
        except (ValueError, UnicodeDecodeError, RecursionError):
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
        except (ValueError, UnicodeDecodeError, RecursionError):
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

    The key is `AUDIOSHAKE_API_KEY`, or the sandbox's key (`SANDBOX_API_KEY`, which the
    settings resolve: shakeweb/sandbox_mode.py) when the sandbox is on; the client knows the
    sandbox only as an HTTP API. `max_retries` and `limiter` override the settings' retries and
    the process-wide rate limiter (the poller passes 0 and its shared, cross-process request
    budget).
    """
    key = settings.AUDIOSHAKE_API_KEY
    if not key and settings.SANDBOX_ENABLED:
        key = settings.SANDBOX_API_KEY
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
