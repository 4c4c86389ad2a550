"""Reading the audit log: the filtered, newest-first events of the page and of the CSV export.

Every filter is served by an index of `AuditEvent` (`-at,-id`; actor, action and object each
followed by `-at`), and the page reads one page of rows with no `COUNT(*)`: neither grows with
the log."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent

CSV_HEADER = (
    "at (UTC)",
    "actor",
    "action",
    "object type",
    "object id",
    "object",
    "via",
    "ip",
    "details",
)


@dataclass(frozen=True)
class AuditFilters:
    actor: Any = None  # a user, or None for anyone
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive UTC calendar days
    object_type: str = ""
    object_id: str = ""


def audit_events(filters: AuditFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.actor is not None:
        events = events.filter(actor=filters.actor)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
        if filters.object_id:
            events = events.filter(object_id=filters.object_id)
    if filters.date_from:
        events = events.filter(at__gte=datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        after = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        events = events.filter(at__lt=after)
    return events.order_by("-at", "-id")


def audit_page(filters: AuditFilters, *, page: int, size: int) -> tuple[list[AuditEvent], bool]:
    """One page (1-based) of events and whether an older page follows: `size + 1` rows are
    read, never counted."""
    start = (page - 1) * size
    rows = list(audit_events(filters)[start : start + size + 1])
    return rows[:size], len(rows) > size


def audit_csv_rows(filters: AuditFilters, *, chunk_size: int = 500) -> Iterator[tuple]:
    """The events as CSV rows (the details as JSON text), fetched in chunks."""
    columns = (
        "at",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "via",
        "ip",
        "details",
    )
    for row in audit_events(filters).values_list(*columns).iterator(chunk_size=chunk_size):
        at, *middle, details = row
        yield (at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), *middle, _json(details))


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""
