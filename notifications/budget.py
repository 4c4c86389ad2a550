"""Budget alerts for the team's admins (e-mail and browser, as each chose) and the team
webhook when one is set: once per project, month and threshold
(NOTIFY_BUDGET_THRESHOLDS, 80 and 100 % by default) when the month's committed credits (spent
plus in flight: the Costs page's and the dashboard's figure, `costs.services.budget_forecasts`,
read from the monthly rollup in two queries whatever the history) reach it.

Run by the poller's periodic sweep. A project that jumps
past several thresholds at once is told the highest one only (the lower ones are recorded, so
they are not told later either)."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from accounts.models import Role, User
from costs.rollup import month_of
from costs.services import budget_forecasts
from jobs.services.tasks import credits_text
from notifications.models import Event, EventKind
from notifications.services import absolute_url, event_record


def budget_key(project_pk: int, month: str, threshold: int) -> str:
    return f"budget:{project_pk}:{month}:{threshold}"


def budget_sweep(now: datetime) -> int:
    """Record the budget events due now (the highest threshold crossed goes to the admins and
    the webhook); returns how many such alerts were recorded."""
    thresholds = sorted(set(settings.NOTIFY_BUDGET_THRESHOLDS))
    month = month_of(now).strftime("%Y-%m")
    forecasts = [f for f in budget_forecasts(now=now) if f.percent >= thresholds[0]]
    if not forecasts:
        return 0
    keys = {
        budget_key(f.project.pk, month, t): (f, t)
        for f in forecasts
        for t in thresholds
        if f.percent >= t
    }
    told = set(Event.objects.filter(key__in=keys).values_list("key", flat=True))
    posted = 0
    url = absolute_url(reverse("costs:overview"))
    admins = list(User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True))
    for forecast in forecasts:
        crossed = [t for t in thresholds if forecast.percent >= t]
        new = [t for t in crossed if budget_key(forecast.project.pk, month, t) not in told]
        if not new:
            continue
        with transaction.atomic():
            for threshold in new:
                highest = threshold == max(crossed)
                project = forecast.project
                text = (
                    f"{project.name} has committed {credits_text(forecast.committed)} of its "
                    f"{credits_text(forecast.budget)} credits for {month} "
                    f"({forecast.percent} %, past {threshold} %). {url}"
                )
                event = event_record(
                    key=budget_key(project.pk, month, threshold),
                    kind=EventKind.BUDGET,
                    subject=f"Budget {threshold} %: {project.name}",
                    text=text,
                    url=url,
                    project=project,
                    users=admins if highest else (),
                    webhook=highest,
                )
                posted += bool(event and highest)
    return posted
