"""What the listening partials show, built once for the views and the template tags (the
task page and the compare page include the partials; their views know nothing of them)."""

from typing import Any

from accounts.models import User
from jobs.catalogue import Catalogue, catalogue_load
from jobs.models import Target, Task
from listening.forms import MixExportForm, RatingForm
from listening.models import TargetRating
from listening.services import (
    mix_candidates,
    mix_exports_recent,
    ratings_by_target,
    rerun_high_quality_offered,
)


def mix_context(task: Task, form: MixExportForm | None = None) -> dict[str, Any]:
    """The Export mix block: the form (one row per kept stem) and the latest exports."""
    if form is None:
        form = MixExportForm(stems=mix_candidates(task=task))
    return {"mix": {"task": task, "form": form, "exports": mix_exports_recent(task=task)}}


def rating_context(
    target: Target,
    ratings: list[TargetRating],
    user: User,
    *,
    catalogue: Catalogue,
    form: RatingForm | None = None,
    next_url: str = "",
) -> dict[str, Any]:
    """One target's rating partial: every rating (who rated what), the user's form (filled
    with their own rating) and whether a high_quality re-run is offered (a flag is raised and
    the model has the variant)."""
    mine = next((r for r in ratings if r.user_id == user.pk), None)
    if form is None:
        initial = {"verdict": mine.verdict, "note": mine.note} if mine else {}
        form = RatingForm(prefix=f"rating-{target.pk}", initial=initial)
    flagged = any(r.is_flag for r in ratings)
    return {
        "target": target,
        "label": target_label(target),
        "next_url": next_url or target.task.get_absolute_url(),
        "ratings": ratings,
        "rating_form": form,
        "flagged": flagged,
        "offer_hq": flagged and rerun_high_quality_offered(target=target, catalogue=catalogue),
    }


def target_label(target: Target) -> str:
    """A target as the rating partial names it: "Vocals (high_quality)"."""
    label = target.model.replace("_", " ").capitalize()
    return f"{label} ({target.variant})" if target.variant else label


def ratings_context(
    targets: list[Target | None], user: User, *, next_url: str = ""
) -> list[dict[str, Any]]:
    """The rating partials of `targets` (completed ones only): two queries in all."""
    done = [t for t in targets if t is not None and t.status == "completed"]
    if not done:
        return []
    found = ratings_by_target(targets=done)
    catalogue = catalogue_load()
    return [
        rating_context(t, found[t.pk], user, catalogue=catalogue, next_url=next_url) for t in done
    ]
