"""CSV exports of the ledger, streamed: the Costs page's download and `manage.py export_costs`
run this same code.

Memory does not grow with the number of rows: rows come from the database in chunks
(`values_list(...).iterator(chunk_size=...)`, a server-side cursor on PostgreSQL), each chunk is
written through `csv.writer` into a small buffer that is emptied at once, and the header goes
out before the query runs, so the first byte leaves immediately.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula. Every text cell (names, ids, URLs, metadata) that starts so gets a leading `'`;
numbers the export writes itself are left alone, so a negative number stays a number.
"""

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import batched
from typing import TextIO

from django.db.models import F
from django.db.models.functions import Coalesce

from costs.ledger import LedgerFilters, asset_name, ledger_targets, source_url
from costs.services import GroupBy, ledger_groups

CHUNK_SIZE = 2000
BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CENT = Decimal("0.01")

LEDGER_HEADER = (
    "task_id",
    "remote_task_id",
    "target_id",
    "created",
    "completed",
    "member",
    "project",
    "asset_name",
    "source_url",
    "model",
    "variant",
    "formats",
    "duration_seconds",
    "minutes_billed",
    "credits_per_minute",
    "cost",
    "estimated_cost",
    "status",
    "error_code",
    "metadata",
    "errored_with_cost",
)
SUMMARY_NUMBERS = (
    "targets",
    "minutes_billed",
    "cost",
    "estimated_cost_in_flight",
    "errored_with_cost",
)


def neutralise(value: str | None) -> str:
    """A text cell a spreadsheet will show as text, never run."""
    if not value:
        return ""
    if value.startswith(FORMULA_START):
        return "'" + value
    return value


def utc_iso(value: datetime | None) -> str:
    """`2026-11-03T10:15:00Z`: UTC, to the second."""
    if value is None:
        return ""
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def credits(value: Decimal | None) -> Decimal | None:
    """Two decimal places on every database (SQLite hands computed values back unscaled)."""
    return None if value is None else value.quantize(CENT)


def joined_formats(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return "" if value is None else str(value)


def ledger_rows(*, filters: LedgerFilters, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """The ledger's database rows for the export, oldest task first, fetched in chunks."""
    return (
        ledger_targets(filters=filters)
        .annotate(
            export_completed=Coalesce(F("completed_at"), F("task__completed_at")),
            export_asset_name=asset_name(),
            export_source_url=source_url(),
        )
        .order_by("task__created_at", "task_id", "position", "pk")
        .values_list(
            "task_id",
            "task__remote_id",
            "remote_id",
            "task__created_at",
            "export_completed",
            "task__created_by__username",
            "task__project__code",
            "export_asset_name",
            "export_source_url",
            "model",
            "variant",
            "formats",
            "duration_seconds",
            "billed_minutes",
            "credits_per_minute",
            "actual_cost",
            "estimated_cost",
            "ledger_status",
            "error_code",
            "task__metadata",
            "charged_error",
        )
        .iterator(chunk_size=chunk_size)
    )


def ledger_cells(row: tuple) -> tuple:
    """One database row as CSV cells: text neutralised, times in UTC, credits to the cent."""
    (
        task_id,
        remote_task_id,
        target_id,
        created,
        completed,
        member,
        project,
        name,
        url,
        model,
        variant,
        formats,
        duration,
        minutes,
        rate,
        cost,
        estimate,
        status,
        error_code,
        metadata,
        flagged,
    ) = row
    return (
        task_id,
        neutralise(remote_task_id),
        neutralise(target_id),
        utc_iso(created),
        utc_iso(completed),
        neutralise(member),
        neutralise(project),
        neutralise(name),
        neutralise(url),
        neutralise(model),
        neutralise(variant),
        neutralise(joined_formats(formats)),
        duration,
        minutes,
        credits(rate),
        credits(cost),
        credits(estimate),
        status,
        error_code,
        neutralise(metadata),
        "yes" if flagged else "",
    )


class _ChunkBuffer:
    """The file `csv.writer` writes to: it keeps one chunk of lines until `take()`."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def _csv_stream(
    header: Iterable[str],
    rows: Callable[[], Iterator[tuple]],
    cells: Callable[[tuple], tuple],
    *,
    bom: bool,
    chunk_size: int,
) -> Iterator[str]:
    buffer = _ChunkBuffer()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield (BOM if bom else "") + buffer.take()  # before the query: the first byte is immediate
    for chunk in batched(rows(), chunk_size):
        writer.writerows(map(cells, chunk))
        yield buffer.take()


def ledger_csv(
    *, filters: LedgerFilters, bom: bool = False, chunk_size: int = CHUNK_SIZE
) -> Iterator[str]:
    """The ledger as CSV text, one chunk of rows at a time: one row per target."""
    return _csv_stream(
        LEDGER_HEADER,
        lambda: ledger_rows(filters=filters, chunk_size=chunk_size),
        ledger_cells,
        bom=bom,
        chunk_size=chunk_size,
    )


def summary_csv(*, filters: LedgerFilters, group_by: GroupBy, bom: bool = False) -> Iterator[str]:
    """The ledger summed per project, member, model or month: one row per group."""

    def rows() -> Iterator[tuple]:
        for group in ledger_groups(filters=filters, group_by=group_by):
            yield (
                neutralise(group.key),
                group.targets,
                group.minutes,
                group.credits,
                group.in_flight,
                group.charged_errors,
            )

    return _csv_stream(
        (group_by, *SUMMARY_NUMBERS), rows, lambda row: row, bom=bom, chunk_size=CHUNK_SIZE
    )


def costs_csv(
    *, filters: LedgerFilters, group_by: GroupBy | None = None, bom: bool = False
) -> Iterator[str]:
    """The export the user asked for: the ledger, or its summary by `group_by`."""
    if group_by:
        return summary_csv(filters=filters, group_by=group_by, bom=bom)
    return ledger_csv(filters=filters, bom=bom)


def csv_write(chunks: Iterable[str], stream: TextIO) -> None:
    for chunk in chunks:
        stream.write(chunk)


_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")


def _safe(part: str) -> str:
    return _UNSAFE.sub("-", part).strip("-.")[:40] or "x"


def export_filename(*, filters: LedgerFilters, group_by: str | None, today: date) -> str:
    """`shakeweb-costs_2026-11-01_2026-11-30_project-demo_2026-11-29.csv`: the filters and the
    day of the export, with anything but letters, digits and dots replaced."""
    parts = [filters.date_from.isoformat(), filters.date_to.isoformat()]
    if filters.project is not None:
        parts.append(f"project-{_safe(filters.project.code)}")
    if filters.member is not None:
        parts.append(f"member-{_safe(filters.member.username)}")
    if filters.model:
        parts.append(f"model-{_safe(filters.model)}")
    if filters.status:
        parts.append(f"status-{_safe(filters.status)}")
    if group_by:
        parts.append(f"by-{_safe(group_by)}")
    parts.append(today.isoformat())
    return "_".join(["shakeweb-costs", *parts]) + ".csv"
