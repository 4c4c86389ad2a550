"""What several handlers share: how an AudioShake error becomes a message and a retry, the
pairing of our targets with AudioShake's, and whether AudioShake's copy of an asset is usable."""

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from jobs.audioshake import AudioShakeError, AuthenticationError, RemoteTarget
from jobs.engine.leases import Lease, Outcome
from jobs.engine.schedule import backoff_delay
from jobs.models import Asset, RemoteStatus, Target

# A source expiring sooner than this is uploaded again before a task uses it (when we can).
ASSET_EXPIRY_MARGIN = timedelta(minutes=10)

Client = Any  # jobs.engine.health.TrackedClient (an AudioShakeClient whose calls feed the circuit)


def error_message(exc: AudioShakeError) -> str:
    return exc.message or str(exc)


def redact_links(text: str) -> str:
    """Signed links are credentials for an hour: never in an error we store or log."""
    return re.sub(r"https?://\S+", "<link>", text)


def retry_for(exc: AudioShakeError, lease: Lease) -> Outcome:
    """Try again after a backoff; errors that waiting does not cure (not a 429, 5xx, timeout or
    refused key) give up after POLLER_MAX_ATTEMPTS."""
    message = redact_links(str(exc))
    cured_by_waiting = exc.retryable or isinstance(exc, AuthenticationError)
    if not cured_by_waiting and lease.attempt >= settings.POLLER_MAX_ATTEMPTS:
        return Outcome.failed(f"Gave up after {lease.attempt} attempts: {message}")
    delay = backoff_delay(lease.attempt, retry_after=exc.retry_after)
    return Outcome.retry(delay, message)


def remote_usable(asset: Asset, *, now: datetime, margin: timedelta = ASSET_EXPIRY_MARGIN) -> bool:
    return (
        asset.remote_status == RemoteStatus.READY
        and bool(asset.remote_id)
        and asset.remote_expires_at is not None
        and asset.remote_expires_at > now + margin
    )


def match_targets(
    targets: Sequence[Target], remote: Sequence[RemoteTarget]
) -> list[tuple[Target, RemoteTarget]]:
    """Pair our targets with AudioShake's: by remote id when known, else in order (the API
    keeps the request's order), else by model and variant."""
    by_id = {t.id: t for t in remote}
    pairs: list[tuple[Target, RemoteTarget]] = []
    unpaired: list[Target] = []
    used: set[str] = set()
    for target in targets:
        match = by_id.get(target.remote_id) if target.remote_id else None
        if match is not None:
            pairs.append((target, match))
            used.add(match.id)
        else:
            unpaired.append(target)
    rest = [t for t in remote if t.id not in used]
    if not unpaired:
        return pairs
    if len(unpaired) == len(rest) and all(
        a.model == b.model for a, b in zip(unpaired, rest, strict=True)
    ):
        return pairs + list(zip(unpaired, rest, strict=True))
    for target in unpaired:
        for candidate in rest:
            if candidate.id in used or candidate.model != target.model:
                continue
            if (candidate.variant or "") not in ("", target.variant):
                continue
            pairs.append((target, candidate))
            used.add(candidate.id)
            break
    return pairs
