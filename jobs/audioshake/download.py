"""Guarded downloads of output links: which hosts a link (or a redirect) may point to, and
writing a body to a file with a size cap and a length check. The request itself, with its
retries, is the client's (`AudioShakeClient.download`)."""

from typing import BinaryIO
from urllib.parse import urlsplit

import requests

from jobs.audioshake.errors import OutputHostRefused, OutputTooLarge, Unavailable
from jobs.audioshake.types import _int

__all__ = ["DOWNLOAD_CHUNK", "DOWNLOAD_MAX_REDIRECTS", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PORTS = {"https": 443, "http": 80}
DOWNLOAD_CHUNK = 1024 * 1024
DOWNLOAD_MAX_REDIRECTS = 3


def _check_output_url(
    url: str,
    *,
    output_hosts: frozenset[str],
    base_host: str,
    base_is_http: bool,
    base_port: int | None = None,
) -> None:
    """Refuse (`OutputHostRefused`) a link that is not https on one of `output_hosts` on the
    default port (http allowed only for loopback, or for the API's own host when the API is
    http; any port only for loopback, the API's own port for the API's host)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:
        raise OutputHostRefused("Output link is not a valid URL") from exc
    if parts.username is not None or parts.password is not None:
        raise OutputHostRefused("Output link carries credentials; refused")
    if host not in output_hosts:
        raise OutputHostRefused(f"Output host {host or '(none)'!r} is not an AudioShake host")
    plain_http_ok = host in LOOPBACK_HOSTS or (host == base_host and base_is_http)
    if parts.scheme != "https" and not (parts.scheme == "http" and plain_http_ok):
        raise OutputHostRefused(f"Output link must use https, not {parts.scheme or '(none)'}")
    default = DEFAULT_PORTS[parts.scheme]
    allowed = {default, base_port or default} if host == base_host else {default}
    if host not in LOOPBACK_HOSTS and (port or default) not in allowed:
        raise OutputHostRefused(f"Output link uses port {port}, not the default {default}")


def _write_body(response: requests.Response, fileobj: BinaryIO, max_bytes: int) -> int:
    """Stream the body into `fileobj`, at most `max_bytes` (else `OutputTooLarge`); a body
    shorter than its Content-Length is `Unavailable`. Returns the bytes written."""
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
