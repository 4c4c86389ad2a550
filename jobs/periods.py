"""Calendar periods: budgets, the dashboard and the Costs page count UTC calendar months."""

from datetime import UTC, date, datetime, timedelta
from typing import overload

from django.utils import timezone


@overload
def month_start(moment: None = None) -> datetime: ...
@overload
def month_start(moment: datetime) -> datetime: ...
@overload
def month_start(moment: date) -> date: ...
def month_start(moment: datetime | date | None = None) -> datetime | date:
    """The start of `moment`'s calendar month (now's when None): for a time, the first
    instant of its month in UTC; for a day, the 1st of its month."""
    if moment is None:
        moment = timezone.now()
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(day=1)


def month_bounds(moment: datetime | None = None) -> tuple[datetime, datetime]:
    """The first instant of `moment`'s UTC month (now's when None) and of the next one."""
    start = month_start(moment)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following
