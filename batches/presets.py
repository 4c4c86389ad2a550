"""The target list of a batch: one of the create form's presets (built-in or team), fitted to
the catalogue as the create form fits it (`jobs.forms.taskstate.state_apply_preset`)."""

from dataclasses import dataclass

from jobs.catalogue import BUILTIN_PRESETS, Catalogue, preset_targets_from_json
from jobs.forms.taskstate import FormState, bounded_int, state_apply_preset
from jobs.models import Preset
from jobs.services.tasks import TargetIntent


@dataclass(frozen=True)
class ChosenPreset:
    value: str  # "builtin:<slug>" or "team:<pk>", as the form posts it
    name: str
    targets: tuple[TargetIntent, ...]
    skipped: tuple[str, ...]  # models left out: not in the catalogue or access not granted


def preset_choices() -> list[tuple[str, str]]:
    builtin = [(f"builtin:{p.slug}", p.name) for p in BUILTIN_PRESETS]
    team = [(f"team:{p.pk}", p.name) for p in Preset.objects.all()]
    return [("", "Choose a preset…"), *builtin, *team]


def preset_lookup(text: str) -> str | None:
    """A preset named in a manifest (its name or a built-in's slug, any case) as the value
    the form posts, or None."""
    wanted = text.strip().casefold()
    for preset in BUILTIN_PRESETS:
        if wanted in (preset.slug.casefold(), preset.name.casefold()):
            return f"builtin:{preset.slug}"
    team = Preset.objects.filter(name__iexact=text.strip()).first()
    return f"team:{team.pk}" if team else None


def preset_resolve(value: str, catalogue: Catalogue) -> ChosenPreset | None:
    """The preset a form value names, with its targets fitted to the catalogue (default
    formats where the preset names none), or None when it does not exist."""
    kind, _, ident = value.partition(":")
    name, targets = "", None
    if kind == "builtin":
        preset = next((p for p in BUILTIN_PRESETS if p.slug == ident), None)
        if preset is not None:
            name, targets = preset.name, preset.targets
    elif kind == "team" and (pk := bounded_int(ident)) is not None:
        team = Preset.objects.filter(pk=pk).first()
        if team is not None:
            name, targets = team.name, preset_targets_from_json(team.targets)
    if targets is None:
        return None
    state, skipped = state_apply_preset(FormState(), targets, catalogue)
    intents = tuple(
        TargetIntent(
            model=row.model,
            formats=tuple(row.formats),
            variant=row.variant,
            residual=row.residual,
            language=row.language,
        )
        for row in state.rows
    )
    return ChosenPreset(value=value, name=name, targets=intents, skipped=tuple(skipped))
