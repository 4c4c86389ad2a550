"""Mix exports and ratings: what the views ask for. A mix export is a row and a `mix_render`
work item written in one transaction (the poller renders it: `listening.handlers`); a rating
is one row per (target, user), updated in place. Nothing here calls AudioShake."""

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from jobs.catalogue import Catalogue
from jobs.models import Output, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from jobs.results import Stem, stem_rows
from listening.models import GAIN_MAX_DB, GAIN_MIN_DB, MixExport, MixStem, TargetRating

# What soundfile reads (mp4 stems are left out of mixes).
MIXABLE_FORMATS = frozenset({"wav", "flac", "aiff", "mp3"})
HIGH_QUALITY = "high_quality"
RECENT_EXPORTS = 5


@dataclass(frozen=True)
class StemChoice:
    output: Output
    gain_db: float = 0.0
    pan: float = 0.0  # -100 .. 100


def mix_candidates(*, task: Task) -> list[Stem]:
    """The stems a mix of `task` can use: one per (target, output name) of its kept audio
    outputs, in its best lossless format. Reads `task.targets.all()` and their outputs (both
    prefetched on the task page: no query then)."""
    outputs = [
        o
        for t in task.targets.all()
        for o in t.outputs.all()
        if o.format.lower() in MIXABLE_FORMATS
        and o.file
        and o.mirror_state == Output.MirrorState.MIRRORED
    ]
    return stem_rows(outputs)


def mix_export_create(
    *, task: Task, user: User, stems: Sequence[StemChoice], fmt: str, normalise: bool = False
) -> MixExport:
    """A queued mix export of `stems` and its `mix_render` work item, in one transaction.
    Raises `ValidationError` for stems not kept for this task, gains out of range or an
    unknown format (the form checks the same first)."""
    if fmt not in MixExport.Format.values:
        raise ValidationError(f"Unknown format {fmt!r}: choose WAV, FLAC or MP3.")
    if not stems:
        raise ValidationError("Choose at least one stem to mix.")
    allowed = {stem.play.pk for stem in mix_candidates(task=task)}
    for choice in stems:
        if choice.output.pk not in allowed:
            raise ValidationError(f"{choice.output} is not a kept stem of this task.")
        if not GAIN_MIN_DB <= choice.gain_db <= GAIN_MAX_DB:
            raise ValidationError(
                f"Gains go from {GAIN_MIN_DB:g} to {GAIN_MAX_DB:+g} dB ({choice.gain_db:g} given)."
            )
    with transaction.atomic():
        export = MixExport.objects.create(
            task=task, created_by=user, format=fmt, normalise=normalise
        )
        MixStem.objects.bulk_create(
            MixStem(export=export, output=c.output, position=i, gain_db=c.gain_db, pan=c.pan)
            for i, c in enumerate(stems)
        )
        enqueue(kind=WorkItem.Kind.MIX_RENDER, key=export.work_key, task=task)
    return export


def mix_exports_recent(*, task: Task, limit: int = RECENT_EXPORTS) -> list[MixExport]:
    """The task's latest exports, newest first (one indexed query)."""
    return list(
        MixExport.objects.filter(task=task)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:limit]
    )


# Ratings -----------------------------------------------------------------------------------


def target_rating_save(*, target: Target, user: User, verdict: str, note: str) -> TargetRating:
    """The user's verdict and note on `target`: created, or updated in place."""
    if verdict not in TargetRating.Verdict.values:
        raise ValidationError("Choose good, bleed or artefacts.")
    rating, _ = TargetRating.objects.update_or_create(
        target=target, user=user, defaults={"verdict": verdict, "note": note[:1000]}
    )
    return rating


def ratings_by_target(*, targets: Iterable[Target]) -> dict[int, list[TargetRating]]:
    """{target pk: its ratings, oldest change first} for `targets`, in one query."""
    ids = [t.pk for t in targets]
    found: dict[int, list[TargetRating]] = {pk: [] for pk in ids}
    if not ids:
        return found
    for rating in TargetRating.objects.filter(target_id__in=ids).select_related("user"):
        found[rating.target_id].append(rating)
    return found


def rerun_high_quality_offered(*, target: Target, catalogue: Catalogue) -> bool:
    """Whether a re-run of `target` with the `high_quality` variant makes sense: it finished,
    it does not use that variant already, and its model offers it."""
    model = catalogue.get(target.model)
    variants = set(model.variants) if model else set()
    return (
        target.status == TargetStatus.COMPLETED
        and target.variant != HIGH_QUALITY
        and HIGH_QUALITY in variants
    )


def rerun_high_quality_target(*, target: Target) -> Target:
    """An unsaved copy of `target` with the `high_quality` variant: what the re-run sends."""
    changed = copy.copy(target)
    changed.pk = None
    changed.variant = HIGH_QUALITY
    return changed
