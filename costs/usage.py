"""AudioShake's own usage figures (`GET /tasks/statistics?name=usage`): the copy the poller
keeps (`usage_snapshot_refresh`, the only function of the costs app that talks to AudioShake,
called by the poller or `manage.py refresh_usage`) and their comparison with the ledger."""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from costs.ledger import LedgerFilters, quantize_credits
from costs.models import CostRollup, UsageSnapshot
from costs.rollup import add_months, month_label, months_between
from jobs.models import WorkItem
from jobs.outbox import enqueue
from jobs.periods import month_start

if TYPE_CHECKING:
    from jobs.audioshake import AudioShakeClient

logger = logging.getLogger(__name__)

USAGE_REFRESH_KEY = "usage_refresh"
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# AudioShake rounds its minute totals; a ledger total within this many minutes per target of
# AudioShake's figure is not drift.
MINUTES_TOLERANCE_PER_TARGET = Decimal("0.01")
MAX_MINUTES = Decimal(10) ** 11  # what UsageSnapshot.total_minutes holds


# AudioShake's own figures -------------------------------------------------------------------


@dataclass(frozen=True)
class UsageComparison:
    """One month of the ledger next to AudioShake's usage statistics."""

    month: str
    ledger_targets: int
    ledger_minutes: int  # billed, rounded up per target
    ledger_media_minutes: Decimal  # sum of durations / 60
    remote_targets: int | None  # None: AudioShake's figures for the month are not stored
    remote_minutes: Decimal | None

    @property
    def has_remote(self) -> bool:
        return self.remote_targets is not None

    @property
    def target_drift(self) -> int:
        return (self.remote_targets or 0) - self.ledger_targets

    @property
    def minutes_match(self) -> bool:
        """AudioShake does not say whether `totalMinutes` counts billed (rounded-up) minutes or
        media minutes: either one matches, within a rounding tolerance."""
        if self.remote_minutes is None:
            return False
        tolerance = MINUTES_TOLERANCE_PER_TARGET * max(self.ledger_targets, 1)
        return (
            abs(self.remote_minutes - self.ledger_minutes) <= tolerance
            or abs(self.remote_minutes - self.ledger_media_minutes) <= tolerance
        )

    @property
    def drift(self) -> bool:
        return self.has_remote and (self.target_drift != 0 or not self.minutes_match)


@dataclass(frozen=True)
class UsageOverview:
    rows: tuple[UsageComparison, ...]
    fetched_at: datetime | None
    refresh_queued: bool

    @property
    def drift_months(self) -> int:
        return sum(1 for row in self.rows if row.drift)


def usage_comparison(*, filters: LedgerFilters) -> UsageOverview:
    """The ledger's completed targets per month of completion next to AudioShake's usage
        figures, for the whole months around the period, account-wide (AudioShake knows nothing of
        our projects or members): four queries, the ledger's side from the rollup's completion
    months.

        AudioShake does not document what its usage statistics count; the sandbox counts completed
        targets by month of completion, and so does this comparison. Errored targets that were
        charged are listed separately on the page."""
    first = month_start(filters.date_from)
    after = add_months(month_start(filters.date_to), 1)
    months = months_between(first, after - timedelta(days=1))
    snapshots = {
        s.month: s
        for s in UsageSnapshot.objects.filter(month__gte=months[0], month__lte=months[-1])
    }
    ledger = {
        month_label(row["done_month"]): row
        for row in CostRollup.objects.filter(done_month__gte=first, done_month__lt=after)
        .values("done_month")
        .annotate(
            n_targets=Sum("targets"),
            n_minutes=Sum("rounded_minutes"),
            n_seconds=Sum("duration_seconds"),
        )
        .order_by("done_month")
    }
    rows = []
    for month in months:
        snapshot = snapshots.get(month)
        row = ledger.get(month)
        if snapshot is None and row is None:
            continue
        seconds = Decimal(str(row["n_seconds"] or 0)) if row else Decimal(0)
        rows.append(
            UsageComparison(
                month=month,
                ledger_targets=row["n_targets"] if row else 0,
                ledger_minutes=int(row["n_minutes"] or 0) if row else 0,
                ledger_media_minutes=quantize_credits(seconds / 60),
                remote_targets=snapshot.total_targets if snapshot else None,
                remote_minutes=snapshot.total_minutes if snapshot else None,
            )
        )
    fetched_at = (
        UsageSnapshot.objects.order_by("-fetched_at").values_list("fetched_at", flat=True).first()
    )
    refresh_queued = WorkItem.objects.filter(
        key=USAGE_REFRESH_KEY, state__in=[WorkItem.State.READY, WorkItem.State.LEASED]
    ).exists()
    return UsageOverview(rows=tuple(rows), fetched_at=fetched_at, refresh_queued=refresh_queued)


def usage_snapshot_refresh(client: "AudioShakeClient") -> int:
    """Copy AudioShake's monthly usage (`GET /tasks/statistics?name=usage`) into
    `UsageSnapshot`, one row per month, replacing what was stored. Called by the poller for
    `WorkItem.Kind.USAGE_REFRESH` items and by `manage.py refresh_usage`; never from a web
    request. Months that are not `YYYY-MM`, or whose minutes are not a sane number, are skipped
    with a warning. Returns the number of
    months stored. Client errors (`AudioShakeError`) propagate to the caller, which retries."""
    months = client.usage_statistics()
    now = timezone.now()
    snapshots = {}
    for usage in months:
        label = str(usage.month or "").strip()
        if not MONTH_RE.fullmatch(label):
            logger.warning("Skipping a usage month AudioShake sent as %r", usage.month)
            continue
        minutes = usage.total_minutes if usage.total_minutes is not None else Decimal(0)
        targets = int(usage.total_targets or 0)
        if not minutes.is_finite() or not 0 <= minutes < MAX_MINUTES or not 0 <= targets < 2**31:
            logger.warning("Skipping %s: %r targets, %r minutes", label, targets, minutes)
            continue
        snapshots[label] = UsageSnapshot(
            month=label,
            total_targets=targets,
            total_minutes=quantize_credits(minutes),
            fetched_at=now,
        )
    with transaction.atomic():
        UsageSnapshot.objects.bulk_create(
            snapshots.values(),
            update_conflicts=True,
            unique_fields=["month"],
            update_fields=["total_targets", "total_minutes", "fetched_at"],
        )
    return len(snapshots)


def usage_refresh_request() -> WorkItem:
    """Ask the poller to refresh AudioShake's usage figures soon (the Costs page's button).
    One work item, armed again once the previous refresh has finished (`jobs.outbox`)."""
    return enqueue(kind=WorkItem.Kind.USAGE_REFRESH, key=USAGE_REFRESH_KEY)
