"""What the task page and the compare page need for the listening partials they include
(`templates/listening/_task.html`, `_compare.html`): their views know nothing of this app."""

from typing import Any

from django import template

from jobs.models import Output, Target, Task
from listening.context import mix_context, ratings_context

register = template.Library()


@register.simple_tag(takes_context=True)
def listening_task(context: template.Context, task: Task) -> dict[str, Any]:
    """The Export mix block and the ratings of the task's completed targets (reads the
    prefetched targets and outputs; three small queries: exports, ratings, catalogue)."""
    user = context["user"]
    targets = list(task.targets.all())
    return {
        **mix_context(task),
        "ratings": ratings_context(targets, user, next_url=task.get_absolute_url()),
    }


@register.simple_tag(takes_context=True)
def listening_compare(
    context: template.Context, a: Output | None, b: Output | None
) -> list[dict[str, Any]]:
    """The rating partials of the two compared stems' targets (one when both are one)."""
    request = context.get("request")
    targets: list[Target | None] = []
    for output in (a, b):
        target = output.target if output is not None else None
        if target is not None and all(t is None or t.pk != target.pk for t in targets):
            targets.append(target)
    next_url = request.get_full_path() if request is not None else ""
    return ratings_context(targets, context["user"], next_url=next_url)
