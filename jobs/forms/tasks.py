"""The task form: a source, a project, metadata and 1..20 target rows.

Rows use an indexed prefix: each row posts a hidden `row=<n>` and its fields as `t<n>-model`,
`t<n>-formats`... so rows can be added and removed (with htmx, or without JavaScript through
the `add_row` / `remove_row_<n>` submit buttons) without renumbering anything. The order of the
`row` values is the order of the targets.

Two ways in: `TaskCreateForm(request.POST, catalogue=...)` validates a submission like the API
would; `TaskCreateForm(catalogue=..., state=...)` re-renders an edited form without errors
(`form_state()` reads the posted values leniently, the `state_*` functions edit them).
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, Lower, NullIf, Trim
from django.http import QueryDict
from django.utils import timezone

from accounts.models import Project, User
from jobs.catalogue import (
    Catalogue,
    PresetTarget,
    accepts_transcript,
    default_formats,
    language_name,
    variant_label,
)
from jobs.intent import metadata_limit
from jobs.models import Asset, RemoteModel, RemoteStatus, Task
from jobs.services.tasks import (
    ListStatus,
    TargetIntent,
    TaskIntent,
    credits_text,
    source_expired,
    source_problem,
    task_source_in_library,
)

ROW_PREFIX = "t"
MAX_ROWS_PARSED = 100  # a form never has more rows than this; beyond it is not our UI
MAX_ROW_INDEX = 100_000
TRANSCRIPT_FORMATS = ("txt", "json")


def max_targets() -> int:
    return settings.AUDIOSHAKE_MAX_TARGETS


def duration_text(seconds: float | None) -> str:
    """3725.4 -> "1:02:05", 200 -> "3:20"."""
    if seconds is None:
        return "unknown"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


# The form's state, read leniently --------------------------------------------------------


@dataclass
class RowState:
    index: int
    model: str = ""
    formats: list[str] = field(default_factory=list)
    variant: str = ""
    residual: bool = False
    language: str = ""
    transcript_url: str = ""
    transcript_asset: str = ""

    @property
    def prefix(self) -> str:
        return f"{ROW_PREFIX}{self.index}"

    @property
    def model_field_id(self) -> str:
        """The HTML id of this row's model select (Django's `id_<prefix>-model`)."""
        return f"id_{self.prefix}-model"

    def initial(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "formats": list(self.formats),
            "variant": self.variant,
            "residual": self.residual,
            "language": self.language,
            "transcript_url": self.transcript_url,
            "transcript_asset": self.transcript_asset,
        }


@dataclass
class FormState:
    form_token: str = ""
    asset: str = ""
    url_asset: str = ""
    project: str = ""
    metadata: str = ""
    rows: list[RowState] = field(default_factory=list)
    rerun_of: str = ""  # the pk of the task this one re-runs (links it: attempt n + 1)

    def initial(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "url_asset": self.url_asset,
            "project": self.project,
            "metadata": self.metadata,
        }

    @property
    def token(self) -> str:
        """The form's token if it is a UUID, else a new one (a form always carries one)."""
        try:
            return str(uuid.UUID(self.form_token))
        except (TypeError, ValueError, AttributeError):
            return str(uuid.uuid4())

    def next_index(self) -> int:
        return max((row.index for row in self.rows), default=-1) + 1


def row_indices(data: Mapping[str, Any]) -> list[int]:
    """The posted row indices in order, without duplicates or garbage."""
    getlist = getattr(data, "getlist", None)
    values = getlist("row") if getlist else data.get("row", [])
    if isinstance(values, str):
        values = [values]
    seen: set[int] = set()
    indices = []
    for value in values:
        index = _int(value)
        if index is None or index >= MAX_ROW_INDEX or index in seen:
            continue
        seen.add(index)
        indices.append(index)
        if len(indices) >= MAX_ROWS_PARSED:
            break
    return indices


def form_state(data: Mapping[str, Any]) -> FormState:
    """What the user has typed so far, without validating it."""
    getlist = getattr(data, "getlist", lambda key: [])

    def text(key: str) -> str:
        value = data.get(key, "")
        return value if isinstance(value, str) else ""

    rows = [
        RowState(
            index=index,
            model=text(f"{ROW_PREFIX}{index}-model"),
            formats=[f for f in getlist(f"{ROW_PREFIX}{index}-formats") if isinstance(f, str)],
            variant=text(f"{ROW_PREFIX}{index}-variant"),
            residual=text(f"{ROW_PREFIX}{index}-residual").lower() in ("on", "true", "1"),
            language=text(f"{ROW_PREFIX}{index}-language"),
            transcript_url=text(f"{ROW_PREFIX}{index}-transcript_url"),
            transcript_asset=text(f"{ROW_PREFIX}{index}-transcript_asset"),
        )
        for index in row_indices(data)
    ]
    return FormState(
        form_token=text("form_token"),
        asset=text("asset"),
        url_asset=text("url_asset"),
        project=text("project"),
        metadata=text("metadata").replace("\r\n", "\n"),
        rows=rows,
        rerun_of=text("rerun_of"),
    )


def state_pairs(state: FormState) -> list[tuple[str, str]]:
    """The form's values as (name, value) pairs, as the browser posts them: the hidden
    inputs of the confirmation, and the data of a re-run's form."""
    pairs = [
        ("form_token", state.form_token),
        ("asset", state.asset),
        ("url_asset", state.url_asset),
        ("project", state.project),
        ("metadata", state.metadata),
    ]
    if state.rerun_of:
        pairs.append(("rerun_of", state.rerun_of))
    for row in state.rows:
        pairs.append(("row", str(row.index)))
        prefix = row.prefix
        pairs.append((f"{prefix}-model", row.model))
        pairs += [(f"{prefix}-formats", f) for f in row.formats]
        for name in ("variant", "language", "transcript_url", "transcript_asset"):
            if getattr(row, name):
                pairs.append((f"{prefix}-{name}", getattr(row, name)))
        if row.residual:
            pairs.append((f"{prefix}-residual", "on"))
    return pairs


def state_data(state: FormState) -> QueryDict:
    """The form's values as posted data, to validate a form the server filled in."""
    data = QueryDict(mutable=True)
    for name, value in state_pairs(state):
        data.appendlist(name, value)
    return data


def row_fit_to_model(row: RowState, catalogue: Catalogue) -> RowState:
    """Keep only the options the row's model offers; tick a default format for a new model."""
    model = catalogue.get(row.model)
    if model is None:
        return replace(row, formats=[], variant="", residual=False, language="")
    formats = [f for f in model.output_formats if f in row.formats] or default_formats(model)
    transcript = accepts_transcript(model)
    return replace(
        row,
        formats=formats,
        variant=row.variant if row.variant in model.variants else "",
        residual=row.residual and model.supports_residual,
        language=row.language if row.language in model.supported_languages else "",
        transcript_url=row.transcript_url if transcript else "",
        transcript_asset=row.transcript_asset if transcript else "",
    )


def state_fit(state: FormState, catalogue: Catalogue) -> FormState:
    return replace(state, rows=[row_fit_to_model(row, catalogue) for row in state.rows])


def state_add_row(state: FormState) -> tuple[FormState, RowState | None]:
    """A new empty row, unless the form has the maximum already."""
    if len(state.rows) >= max_targets():
        return state, None
    row = RowState(index=state.next_index())
    return replace(state, rows=[*state.rows, row]), row


def state_remove_row(state: FormState, index: int) -> FormState:
    return replace(state, rows=[row for row in state.rows if row.index != index])


def state_apply_preset(
    state: FormState, targets: Sequence[PresetTarget], catalogue: Catalogue
) -> tuple[FormState, list[str]]:
    """Replace the rows with the preset's targets. Models missing from the catalogue or
    needing access are left out and named in the second value."""
    rows, skipped = [], []
    for target in targets:
        model = catalogue.get(target.model)
        if model is None or not model.is_enabled:
            skipped.append(model.name if model else target.model)
            continue
        row = RowState(
            index=len(rows),
            model=target.model,
            formats=list(target.formats),
            variant=target.variant,
            residual=target.residual,
            language=target.language,
        )
        rows.append(row_fit_to_model(row, catalogue))
    return replace(state, rows=rows[: max_targets()]), skipped


def state_from_intent(
    *, source: Asset | None, project_id: int | None, metadata: str, targets: Iterable[Any]
) -> FormState:
    """A form filled from an existing task's targets (any objects with target fields)."""
    state = FormState(project=str(project_id or ""), metadata=metadata)
    if source is not None:
        if source.is_url:
            state.url_asset = str(source.pk)
        else:
            state.asset = str(source.pk)
    state.rows = [
        RowState(
            index=index,
            model=t.model,
            formats=list(t.formats),
            variant=t.variant,
            residual=t.residual,
            language=t.language,
            transcript_url=t.transcript_url,
            transcript_asset=str(t.transcript_asset_id or ""),
        )
        for index, t in enumerate(targets)
    ]
    return state


def rerun_state(*, task: Task, source: Asset, targets: Iterable[Any]) -> FormState:
    """The form of a re-run: the task's project and metadata, the given source and
    targets, linked to the task, with a new form token."""
    state = state_from_intent(
        source=source, project_id=task.project_id, metadata=task.metadata, targets=targets
    )
    state.rerun_of = str(task.pk)
    state.form_token = str(uuid.uuid4())
    return state


@dataclass(frozen=True)
class FormAction:
    """What a POST to the form asks for. Editing actions re-render the form; `review` shows
    the confirmation; `confirm` creates the task."""

    kind: str
    index: int | None = None
    value: str = ""

    EDITING = frozenset({"add", "remove", "refresh", "preset", "edit"})

    @property
    def is_editing(self) -> bool:
        return self.kind in self.EDITING


def form_action(data: Mapping[str, Any]) -> FormAction:
    if "add_row" in data:
        return FormAction("add")
    for key in data:
        if key.startswith("remove_row_"):
            index = _int(key.removeprefix("remove_row_"))
            if index is not None:
                return FormAction("remove", index=index)
    if "refresh_row" in data:
        return FormAction("refresh", index=_int(data.get("refresh_row")))
    if "preset" in data:
        return FormAction("preset", value=str(data.get("preset", "")))
    if "save_preset" in data:
        return FormAction("save_preset")
    step = data.get("step")
    if step == "confirm":
        return FormAction("confirm")
    if step == "edit" or "refresh" in data:
        return FormAction("edit")
    return FormAction("review")


# Validation ------------------------------------------------------------------------------


def _safe_pk(value: object) -> int | None:
    return _int(value) if isinstance(value, str | int) else None


def file_assets(*, selected: object = None) -> QuerySet[Asset]:
    """Library files a task can use: ready, still uploading, or expired with a local copy
    (re-uploaded first); plus the selected one, so a bad choice gets its own message."""
    now = timezone.now()
    expired = Q(remote_status=RemoteStatus.EXPIRED) | Q(
        remote_status=RemoteStatus.READY, remote_expires_at__lte=now
    )
    usable = ~Q(remote_status=RemoteStatus.FAILED) & ~(expired & Q(file=""))
    pk = _safe_pk(selected)
    if pk is not None:
        usable |= Q(pk=pk)
    return Asset.objects.filter(source_url="").filter(usable).select_related("project")


def url_assets() -> QuerySet[Asset]:
    return Asset.objects.exclude(source_url="").select_related("project")


class AssetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Asset) -> str:
        parts = [obj.name]
        if obj.duration_seconds is not None:
            parts.append(duration_text(obj.duration_seconds))
        parts.append(str(obj.project))
        note = ""
        if source_expired(asset=obj):
            note = " (expired: re-uploaded first)" if obj.has_local_copy else " (expired)"
        elif not obj.is_url and obj.remote_status != RemoteStatus.READY:
            note = f" ({obj.get_remote_status_display().lower()})"
        return " · ".join(parts) + note


def model_option_label(model: RemoteModel) -> str:
    if not model.is_enabled:
        return f"{model.name} (access must be requested)"
    if model.credits_per_minute is None:
        return model.name
    return f"{model.name} · {credits_text(model.credits_per_minute)} cr/min"


def model_choices(catalogue: Catalogue) -> list[tuple[Any, Any]]:
    return [("", "Choose a model…")] + [
        (group.label, [(m.key, model_option_label(m)) for m in group.models])
        for group in catalogue.groups
    ]


def _percent_safe(text: str) -> str:
    return text.replace("%", "%%")


class TargetRowForm(forms.Form):
    """One target. Which fields exist depends on the chosen model: formats from its output
    formats, a variant where it has variants, residual where offered, language for
    language-aware models, a transcript for alignment."""

    model = forms.ChoiceField(
        label="Model",
        error_messages={
            "required": "Choose a model.",
            "invalid_choice": "“%(value)s” is not a model in the catalogue.",
        },
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        index: int,
        catalogue: Catalogue,
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data, prefix=f"{ROW_PREFIX}{index}", initial=initial, label_suffix="")
        self.index = index
        self.catalogue = catalogue
        self.fields["model"].choices = model_choices(catalogue)
        self.model_info = catalogue.get(self.model_value)
        model = self.model_info
        if model is None:
            return
        name = _percent_safe(model.name)
        offered = ", ".join(model.output_formats) or "none"
        self.fields["formats"] = forms.MultipleChoiceField(
            label="Output formats",
            choices=[(f, f) for f in model.output_formats],
            widget=forms.CheckboxSelectMultiple,
            error_messages={
                "required": "Choose at least one output format.",
                "invalid_choice": f"“%(value)s” is not an output format of {name} "
                f"(it offers {_percent_safe(offered)}).",
            },
        )
        if model.variants:
            base = credits_text(model.credits_per_minute)
            choices = [("", f"Standard · {base} cr/min" if base else "Standard")]
            for variant in model.variants:
                rate = credits_text(model.rate_for(variant))
                label = variant_label(model, variant)
                choices.append((variant, f"{label} · {rate} cr/min" if rate else label))
            self.fields["variant"] = forms.ChoiceField(
                label="Variant",
                required=False,
                choices=choices,
                error_messages={"invalid_choice": f"{name} has no variant “%(value)s”."},
            )
        if model.supports_residual:
            self.fields["residual"] = forms.BooleanField(
                label="Also return the residual (everything else)", required=False
            )
        if model.supported_languages:
            self.fields["language"] = forms.ChoiceField(
                label="Language",
                required=False,
                choices=[("", "Auto-detect")]
                + [(code, language_name(code)) for code in model.supported_languages],
                error_messages={"invalid_choice": f"{name} does not support “%(value)s”."},
            )
        if accepts_transcript(model):
            self.fields["transcript_url"] = forms.URLField(
                label="Transcript URL (optional)",
                required=False,
                max_length=2048,
                assume_scheme="https",
                help_text="An existing .txt or .json transcript. Without one, "
                f"{model.name} transcribes the audio itself.",
            )
            self.fields["transcript_asset"] = forms.ModelChoiceField(
                label="or a transcript from the library",
                required=False,
                queryset=Asset.objects.filter(format__in=TRANSCRIPT_FORMATS),
                empty_label="None",
            )

    @property
    def model_value(self) -> str:
        if self.is_bound:
            value = self.data.get(self.add_prefix("model"), "")
        else:
            value = self.initial.get("model", "")
        return value if isinstance(value, str) else ""

    def clean_model(self) -> str:
        key = self.cleaned_data["model"]
        model = self.catalogue.get(key)
        if model is None:
            raise ValidationError(f"“{key}” is not a model in the catalogue.")
        if not model.is_enabled:
            raise ValidationError(
                f"Access to {model.name} must be requested from AudioShake before it can be used."
            )
        return key

    def clean_transcript_url(self) -> str:
        url = self.cleaned_data.get("transcript_url", "")
        if url and not url.lower().startswith("https://"):
            raise ValidationError("AudioShake fetches transcripts over HTTPS only.")
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("transcript_url") and data.get("transcript_asset"):
            self.add_error(
                "transcript_url", "Give a transcript URL or a transcript asset, not both."
            )
        return data

    def intent(self) -> TargetIntent:
        data = self.cleaned_data
        model = self.model_info
        assert model is not None  # a valid row has a model
        chosen = set(data.get("formats") or [])
        return TargetIntent(
            model=data["model"],
            formats=tuple(f for f in model.output_formats if f in chosen),
            variant=data.get("variant") or "",
            residual=bool(data.get("residual")),
            language=data.get("language") or "",
            transcript_url=data.get("transcript_url") or "",
            transcript_asset=data.get("transcript_asset"),
        )


class TaskCreateForm(forms.Form):
    asset = AssetChoiceField(
        queryset=Asset.objects.none(),
        required=False,
        label="Audio from the library",
        empty_label="None",
        error_messages={"invalid_choice": "That asset is not in the library."},
    )
    url_asset = AssetChoiceField(
        queryset=Asset.objects.none(),
        required=False,
        label="or a registered URL",
        empty_label="None",
        error_messages={"invalid_choice": "That URL is not registered in the library."},
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        empty_label="Choose a project",
        error_messages={
            "required": "Choose the project this task is billed to.",
            "invalid_choice": "That project does not exist or is archived.",
        },
    )
    metadata = forms.CharField(
        label="Metadata",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "data-counter": "metadata-count"}),
        help_text="Free text, kept with the task and sent to AudioShake unchanged.",
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        catalogue: Catalogue,
        state: FormState | None = None,
    ) -> None:
        if data is None:
            state = state or FormState(rows=[RowState(index=0)])
        super().__init__(data, initial=state.initial() if state else None, label_suffix="")
        self.catalogue = catalogue
        self.metadata_limit = metadata_limit()
        selected = data.get("asset") if data is not None else (state.asset if state else None)
        self.fields["asset"].queryset = file_assets(selected=selected)
        self.fields["url_asset"].queryset = url_assets()
        self.fields["project"].queryset = Project.objects.active()
        if data is not None:
            self.state = form_state(data)
            self.row_count = len(row_indices(data))
            self.rows = [
                TargetRowForm(data, index=row.index, catalogue=catalogue) for row in self.state.rows
            ]
        else:
            assert state is not None
            self.state = state
            self.row_count = len(state.rows)
            self.rows = [
                TargetRowForm(index=row.index, catalogue=catalogue, initial=row.initial())
                for row in state.rows
            ]
        self.form_token = self.state.token
        self.token_valid = self.form_token == self.state.form_token.strip().lower()

    # Validation ---------------------------------------------------------------------------

    def full_clean(self) -> None:
        for row in self.rows:
            row.full_clean()  # rows first: the form's own clean() checks them as a set
        super().full_clean()

    def is_valid(self) -> bool:
        return super().is_valid() and not any(row.errors for row in self.rows)

    def clean_metadata(self) -> str:
        value = self.cleaned_data["metadata"].replace("\r\n", "\n")
        if len(value) > self.metadata_limit:
            raise ValidationError(
                f"Metadata is {len(value)} characters long; at most {self.metadata_limit} "
                "fit (AudioShake keeps 4096 and the dashboard adds its task marker)."
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.token_valid:
            self.add_error(
                None,
                "This form had no valid token (it may come from an old page). It has a new one "
                "now: check it and submit again.",
            )
        self._clean_source(data)
        self._clean_rows(data)
        return data

    def _clean_source(self, data: dict[str, Any]) -> None:
        if "asset" in self.errors or "url_asset" in self.errors:
            return
        asset, url_asset = data.get("asset"), data.get("url_asset")
        if asset and url_asset:
            self.add_error(
                "asset", "Choose one source: audio from the library or a registered URL, not both."
            )
        elif not asset and not url_asset:
            self.add_error("asset", "Choose a source: audio from the library or a registered URL.")
        elif asset:
            problem = source_problem(asset=asset)
            if problem:
                self.add_error("asset", problem)

    def _clean_rows(self, data: dict[str, Any]) -> None:
        limit = max_targets()
        if self.row_count == 0:
            self.add_error(None, "Add at least one target.")
        elif self.row_count > limit:
            self.add_error(
                None,
                f"A task takes at most {limit} targets; this one has {self.row_count}. "
                "Remove some, or split them over two tasks.",
            )
        source = data.get("asset") or data.get("url_asset")
        duration = source.duration_seconds if source else None
        seen: dict[tuple[str, str], int] = {}
        for number, row in enumerate(self.rows, start=1):
            model = row.model_info
            if model is None or "model" in row.errors:
                continue  # its own error says what is wrong; other fields may still be
            variant = row.cleaned_data.get("variant", "") if "variant" not in row.errors else ""
            identity = (model.key, variant)
            label = model.name + (f" ({variant_label(model, variant)})" if variant else "")
            if identity in seen:
                row.add_error(
                    "model",
                    f"Duplicate target: {label} is already target {seen[identity]}. "
                    "AudioShake refuses a task with the same target twice.",
                )
                continue
            seen[identity] = number
            limit_seconds = model.max_input_seconds
            if duration and limit_seconds and duration > limit_seconds:
                row.add_error(
                    "model",
                    f"The source is {duration_text(duration)} long; {model.name} accepts at most "
                    f"{duration_text(limit_seconds)}.",
                )

    # Results ------------------------------------------------------------------------------

    @property
    def source(self) -> Asset | None:
        data = getattr(self, "cleaned_data", {})
        return data.get("asset") or data.get("url_asset")

    @cached_property
    def rerun_of(self) -> Task | None:
        """The task this form re-runs (posted as `rerun_of`); None when it is a new task or
        that task no longer exists (the new one is then simply not linked)."""
        pk = _safe_pk(self.state.rerun_of)
        if pk is None:
            return None
        return Task.objects.only("pk", "attempt").filter(pk=pk).first()

    def target_intents(self) -> tuple[TargetIntent, ...]:
        return tuple(row.intent() for row in self.rows)

    def intent(self) -> TaskIntent:
        """The validated task (call after `is_valid()`)."""
        source = self.source
        assert source is not None
        return TaskIntent(
            project=self.cleaned_data["project"],
            source=source,
            metadata=self.cleaned_data["metadata"],
            targets=self.target_intents(),
        )

    def rows_valid_for_preset(self) -> bool:
        """Whether the rows alone (not the source) are complete: what a preset needs."""
        for row in self.rows:
            row.full_clean()
        return bool(self.rows) and not any(row.errors for row in self.rows)

    @property
    def rows_with_errors(self) -> list[int]:
        """The numbers (1-based) of the targets that have errors, for the summary on top."""
        if not self.is_bound:
            return []
        return [number for number, row in enumerate(self.rows, start=1) if row.errors]

    @property
    def at_max_rows(self) -> bool:
        return len(self.rows) >= max_targets()


class PresetNameForm(forms.Form):
    preset_name = forms.CharField(
        label="Preset name",
        max_length=120,
        error_messages={"required": "Give the preset a name."},
    )

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data, label_suffix="")


def initial_state(
    *, params: Mapping[str, Any], catalogue: Catalogue
) -> tuple[FormState, list[str]]:
    """The first render of the form: `?asset=<pk>` preselects a source, `?from=<task pk>`
    copies a task; otherwise one empty row. Returns notes for the user."""
    notes: list[str] = []
    state = FormState(rows=[RowState(index=0)])
    task_pk = _safe_pk(params.get("from"))
    asset_pk = _safe_pk(params.get("asset"))
    if task_pk is not None:
        task = Task.objects.select_related("source_asset").filter(pk=task_pk).first()
        if task is None:
            notes.append("That task does not exist; starting from an empty form.")
        else:
            source = task_source_in_library(task=task)
            state = state_from_intent(
                source=source,
                project_id=task.project_id,
                metadata=task.metadata,
                targets=task.targets.order_by("position", "id"),
            )
            state.rerun_of = str(task.pk)
            notes.append(f"Copied from task {task.pk}: change what you need, then review.")
            if source is None:
                notes.append(
                    f"The source of task {task.pk} was deleted from the library: "
                    "choose another source."
                )
    elif asset_pk is not None:
        asset = Asset.objects.select_related("project").filter(pk=asset_pk).first()
        if asset is None:
            notes.append("That asset does not exist; choose a source below.")
        else:
            if asset.is_url:
                state.url_asset = str(asset.pk)
            else:
                state.asset = str(asset.pk)
            if not asset.project.archived:
                state.project = str(asset.project_id)
    if not state.project:
        projects = list(Project.objects.active().values_list("pk", flat=True)[:2])
        if len(projects) == 1:
            state.project = str(projects[0])
    state.form_token = str(uuid.uuid4())
    return state_fit(state, catalogue), notes


# The task list's filters ---------------------------------------------------------------------


class MemberChoiceField(forms.ModelChoiceField):
    """People by the name the table shows (`User.display_name`), sorted by it."""

    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


def members_by_display_name() -> QuerySet[User]:
    full_name = Trim(Concat("first_name", Value(" "), "last_name"))
    display = Coalesce(NullIf(full_name, Value("")), "username")
    return User.objects.order_by(Lower(display), "username")


class TaskFilterForm(forms.Form):
    """The list's filters (a GET form). An invalid filter is ignored and says why."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *ListStatus.choices]
    )
    project = forms.ModelChoiceField(
        label="Project", required=False, queryset=Project.objects.all(), empty_label="Any project"
    )
    member = MemberChoiceField(
        label="Member", required=False, queryset=User.objects.none(), empty_label="Anyone"
    )
    model = forms.ChoiceField(label="Model", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, catalogue: Catalogue) -> None:
        super().__init__(data, label_suffix="")
        self.fields["member"].queryset = members_by_display_name()
        self.fields["model"].choices = [("", "Any model")] + [
            (group.label, [(m.key, m.name) for m in group.models]) for group in catalogue.groups
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data
