"""`GET /costs`: a month's credits per project, from the Costs page's own figures (the monthly
rollup through `costs.services.ledger_groups`), with each project's budget. For admins and
members with the cost permission, as the Costs page."""

import re
from datetime import date, timedelta
from decimal import Decimal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from accounts.models import Project
from api.common import ApiError, read_event
from costs.ledger import LedgerFilters
from costs.services import ledger_groups

router = Router(tags=["costs"])
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ProjectCost(Schema):
    id: int | None
    code: str
    name: str
    targets: int
    minutes: int
    credits: Decimal
    in_flight: Decimal
    monthly_budget: Decimal | None


class CostsOut(Schema):
    month: str
    date_from: date
    date_to: date
    credits: Decimal
    in_flight: Decimal
    projects: list[ProjectCost]


class CostsQuery(Schema):
    month: str | None = Field(None, description="YYYY-MM (UTC); this month when left out")


def _month(value: str | None) -> date:
    if not value:
        return timezone.now().date().replace(day=1)
    match = MONTH.match(value)
    if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
        raise ApiError(400, f"month must be YYYY-MM, like 2026-11 (got {value[:20]!r}).")
    return date(int(match[1]), int(match[2]), 1)


@router.get("/costs", response=CostsOut, summary="Read costs")
def costs_read(request: HttpRequest, query: Query[CostsQuery]) -> dict:
    """Credits spent and in flight per project in one UTC month of task creation (the Costs
    page's figures for that month)."""
    if not request.user.sees_costs:
        raise ApiError(403, "Costs are for admins and members with the cost permission.")
    first = _month(query.month)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    groups = ledger_groups(filters=LedgerFilters(date_from=first, date_to=last), group_by="project")
    projects = {p.code: p for p in Project.objects.filter(code__in=[g.key for g in groups])}
    rows = [
        {
            "id": projects[g.key].pk if g.key in projects else None,
            "code": g.key,
            "name": g.label,
            "targets": g.targets,
            "minutes": g.minutes,
            "credits": g.credits,
            "in_flight": g.in_flight,
            "monthly_budget": projects[g.key].monthly_budget if g.key in projects else None,
        }
        for g in groups
    ]
    read_event(request, month=f"{first:%Y-%m}")
    return {
        "month": f"{first:%Y-%m}",
        "date_from": first,
        "date_to": last,
        "credits": sum((r["credits"] for r in rows), Decimal(0)),
        "in_flight": sum((r["in_flight"] for r in rows), Decimal(0)),
        "projects": rows,
    }
