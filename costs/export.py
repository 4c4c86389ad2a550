"""CSV exports of the ledger, streamed: the Costs page's download and `manage.py export_costs`
run this same code.

Memory does not grow with the number of rows: rows come from the database in chunks
(`values_list(...).iterator(chunk_size=...)`, a server-side cursor on PostgreSQL), each chunk is
written through `csv.writer` into a small buffer that is emptied at once, and the header goes
out before the query runs, so the first byte leaves immediately. The database hands over
finished cells (`costs.cells`), so Python does no work per value.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (also
after leading blanks) as a formula. Every text cell (names, ids, URLs, metadata) that starts
so gets a leading `'` (`shakeweb.spreadsheet`, one rule for every CSV we write);
numbers the export writes itself are left alone, so a negative number stays a number.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import batched
from typing import TextIO

from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.db.models.functions import Cast, Coalesce

from costs.cells import CreditsText, UtcIso, formats_cell, neutralised
from costs.ledger import (
    CHARGED,
    LedgerFilters,
    asset_name,
    charged_error_q,
    ledger_targets,
    source_url,
)
from costs.services import GroupBy, ledger_groups
from shakeweb.spreadsheet import neutralise

CHUNK_SIZE = 2000
BOM = "\ufeff"

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


def _text(name: str) -> Case:
    return neutralised(F(name))


def ledger_values(*, filters: LedgerFilters) -> QuerySet:
    """The export's query: one tuple of finished cells per target, oldest task first. Also what
    the benchmark hands to the database's own CSV dump."""
    cells = {
        "c_task": F("task_id"),
        "c_remote_task": _text("task__remote_id"),
        "c_target": _text("remote_id"),
        "c_created": UtcIso(F("task__created_at")),
        "c_completed": UtcIso(Coalesce(F("completed_at"), F("task__completed_at"))),
        "c_member": _text("task__created_by__username"),
        "c_project": _text("task__project__code"),
        "c_asset": neutralised(asset_name()),
        "c_url": neutralised(source_url()),
        "c_model": _text("model"),
        "c_variant": _text("variant"),
        "c_formats": formats_cell(F("formats")),
        "c_duration": F("duration_seconds"),
        "c_minutes": Cast(F("billed_minutes"), CharField()),  # text: no converter per row
        "c_rate": CreditsText(F("credits_per_minute")),
        # The cost is formatted inside the rule's branch, where it is known not to be NULL.
        "c_cost": Case(
            When(CHARGED, then=CreditsText(F("cost"), nullable=False)), output_field=CharField()
        ),
        "c_estimate": CreditsText(F("estimated_cost"), nullable=False),
        "c_status": F("ledger_status"),
        "c_error": F("error_code"),
        "c_metadata": _text("task__metadata"),
        "c_flag": Case(When(charged_error_q(), then=Value("yes")), default=Value("")),
    }
    return (
        ledger_targets(filters=filters)
        .annotate(**cells)
        .order_by("task__created_at", "task_id", "position", "pk")
        .values_list(*cells)
    )


def ledger_rows(*, filters: LedgerFilters, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """The ledger's rows, fetched in chunks (a server-side cursor on PostgreSQL)."""
    return ledger_values(filters=filters).iterator(chunk_size=chunk_size)


class _ChunkBuffer(io.StringIO):
    """The file `csv.writer` writes to: it keeps one chunk of lines until `take()`."""

    def take(self) -> str:
        text = self.getvalue()
        self.seek(0)
        self.truncate()
        return text


def _csv_stream(
    header: Iterable[str],
    rows: Callable[[], Iterator[tuple]],
    *,
    bom: bool,
    chunk_size: int,
) -> Iterator[str]:
    buffer = _ChunkBuffer()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield (BOM if bom else "") + buffer.take()  # before the query: the first byte is immediate
    for chunk in batched(rows(), chunk_size):
        writer.writerows(chunk)
        yield buffer.take()


def ledger_csv(
    *, filters: LedgerFilters, bom: bool = False, chunk_size: int = CHUNK_SIZE
) -> Iterator[str]:
    """The ledger as CSV text, one chunk of rows at a time: one row per target."""
    return _csv_stream(
        LEDGER_HEADER,
        lambda: ledger_rows(filters=filters, chunk_size=chunk_size),
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

    return _csv_stream((group_by, *SUMMARY_NUMBERS), rows, bom=bom, chunk_size=CHUNK_SIZE)


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
