"""Template helpers of the task screens: credits and durations as text, budget meter marks,
status badges and the re-run count."""

from decimal import Decimal

from django import template

from jobs.catalogue import variant_label
from jobs.forms.tasks import duration_text
from jobs.models import RemoteModel, Task
from jobs.services.tasks import BUDGET_WARNING_RATIO, RERUNNABLE_STATUSES, credits_text

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
    return duration_text(float(seconds)) if seconds not in (None, "") else "unknown"


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


BADGES = {
    "waiting_source": ("waiting", ""),
    "processing": ("processing", "Processing"),
    "completed": ("completed", "Completed"),
    "partial": ("warning", "Partly failed"),
    "error": ("error", "Failed"),
}


@register.filter
def task_badge(task: Task) -> dict[str, str]:
    """The status badge of a task annotated by `tasks_for_list()`: its CSS class and text.
    The words are those of `Task.overall_state()`."""
    state = getattr(task, "list_status", "") or task.submission_state
    css, label = BADGES.get(state, (state, ""))
    if not label:
        label = task.get_submission_state_display()
    return {"css": css, "label": label}


@register.filter
def rerunnable_count(task: Task) -> int:
    """How many targets a "re-run failed targets" would send again (uses prefetched targets)."""
    return sum(1 for target in task.targets.all() if target.status in RERUNNABLE_STATUSES)
