"""Signed, expiring file links: `/sandbox/files/<token>/<name>.<ext>`.

The token is a django.core.signing payload `{"k": "a"|"o", "i": <id>, "e": <expiry ms>}`;
it is the only credential, so the file view is public. The lifetime is fixed when the link is
made (FaultConfig.link_ttl_seconds, 1 h by default), like a CDN's signed URL: fetching the task
again gives fresh links.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

SALT = "sandbox.files"
ASSET, OUTPUT = "a", "o"


@dataclass(frozen=True)
class FileRef:
    kind: str  # ASSET or OUTPUT
    object_id: str


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def link_token(
    *, kind: str, object_id: str | int, ttl_seconds: int, now: float | None = None
) -> str:
    now = time.time() if now is None else now
    expires_ms = int((now + ttl_seconds) * 1000)
    return signing.dumps({"k": kind, "i": str(object_id), "e": expires_ms}, salt=SALT)


def link_verify(token: str, *, now: float | None = None) -> FileRef:
    """The file a token grants; LinkInvalid for a forged or mangled token, LinkExpired after
    its expiry."""
    try:
        payload = signing.loads(token, salt=SALT)
        kind, object_id, expires_ms = payload["k"], payload["i"], int(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid from None
    now = time.time() if now is None else now
    if now * 1000 >= expires_ms:
        raise LinkExpired
    if kind not in (ASSET, OUTPUT):
        raise LinkInvalid
    return FileRef(kind, str(object_id))


def site_base(request: HttpRequest | None) -> str:
    """Scheme and host for absolute links: the request's own (so a client reaching the sandbox
    as 127.0.0.1:8000 gets links on that host), else settings.SITE_URL (worker, webhooks)."""
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return settings.SITE_URL.rstrip("/")


def file_link(
    *, base: str, kind: str, object_id: str | int, filename: str, ttl_seconds: int
) -> str:
    token = link_token(kind=kind, object_id=object_id, ttl_seconds=ttl_seconds)
    return base + reverse("sandbox:file", args=[token, filename])
