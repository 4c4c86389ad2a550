"""Template helpers of the task screens: credits and durations as text, budget meter marks,
status badges and the re-run count."""

from decimal import Decimal

from django import template

from jobs.catalogue import variant_label
from jobs.models import STATE_LABELS, RemoteModel, Task
from jobs.services.tasks import (
    BUDGET_WARNING_RATIO,
    RERUNNABLE_STATUSES,
    credits_text,
    rerun_fixes,
)
from shakeweb.formatting import clock

register = template.Library()


@register.filter
def credits(value: Decimal | int | float | None) -> str:
    """Decimal("1.50") -> "1.5"; None -> ""."""
    if value is None or value == "":
        return ""
    return credits_text(Decimal(str(value)))


@register.filter
def hms(seconds: float | int | None) -> str:
    """Seconds as m:ss or h:mm:ss."""
    return clock(float(seconds) if seconds not in (None, "") else None, unknown="unknown")


@register.filter
def budget_low(budget: Decimal | None) -> str:
    """The 80 % mark of a budget, for `<meter low=...>`."""
    if budget is None:
        return ""
    return str(Decimal(budget) * BUDGET_WARNING_RATIO)


@register.filter
def variants_with_rates(model: RemoteModel) -> list[tuple[str, str]]:
    """A model's variants as (name, credits per minute or "")."""
    rows = []
    for variant in model.variants:
        rate = model.variant_rates.get(variant)
        rows.append((variant_label(model, variant), credits(rate) if rate is not None else ""))
    return rows


# app.css's badge class for the words of `Task.overall_state()` that have none of their own.
BADGE_CSS = {
    "waiting_source": "waiting",
    "partial": "warning",
    "approval": "warning",  # waits for a person, not for the poller
    "declined": "rejected",
}


@register.filter
def state_label(state: str) -> str:
    """A word of `Task.overall_state()` as people read it ("partial" -> "Completed with
    errors"), the same on the list, its filter and the task page."""
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


@register.filter
def state_css(state: str) -> str:
    """The badge class for a word of `Task.overall_state()`."""
    return BADGE_CSS.get(state, state)


@register.filter
def task_badge(task: Task) -> dict[str, str]:
    """The status badge of a task (its `state` column): its CSS class and text. The words
    are those of `Task.overall_state()`, labelled by `STATE_LABELS`."""
    state = task.state
    return {"css": state_css(state), "label": state_label(state)}


@register.filter
def rerunnable_count(task: Task) -> int:
    """How many targets a "re-run failed targets" would send again: those that failed or were
    never sent, less those a re-run has completed since (uses prefetched targets)."""
    fixed = rerun_fixes(task=task)
    return sum(
        1
        for target in task.targets.all()
        if target.status in RERUNNABLE_STATUSES and target.pk not in fixed
    )
