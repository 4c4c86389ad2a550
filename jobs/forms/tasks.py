"""The task create forms: a source, a project, metadata and 1..20 target rows
(`TaskCreateForm`, one `TargetRowForm` per row), and the preset name.

Two ways in: `TaskCreateForm(request.POST, catalogue=...)` validates a submission like the API
would; `TaskCreateForm(catalogue=..., state=...)` re-renders an edited form without errors.
The form's state, read leniently and edited by the rows' buttons, is `jobs.forms.taskstate`'s;
the task list's filter is `jobs.forms.filters`'.
"""

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Project
from jobs.audiofile import FORMAT_LABELS, audio_only
from jobs.catalogue import Catalogue, accepts_transcript, language_name, variant_label
from jobs.forms.taskstate import (
    ROW_PREFIX,
    FormState,
    RowState,
    form_state,
    max_targets,
    row_indices,
    safe_pk,
)
from jobs.intent import metadata_limit
from jobs.models import Asset, RemoteModel, RemoteStatus, Task
from jobs.services.assets import validate_source_url
from jobs.services.tasks import (
    TargetIntent,
    TaskIntent,
    credits_text,
    source_expired,
    source_problem,
)
from shakeweb.formatting import clock

TRANSCRIPT_FORMATS = ("txt", "json")


def duration_text(seconds: float | None) -> str:
    """3725.4 -> "1:02:05", 200 -> "3:20", None -> "unknown"."""
    return clock(seconds, unknown="unknown")


# Validation ------------------------------------------------------------------------------


def file_assets(*, selected: object = None) -> QuerySet[Asset]:
    """Library files a task can use: ready, still uploading, or expired with a local copy
    (re-uploaded first); plus the selected one, so a bad choice gets its own message."""
    now = timezone.now()
    expired = Q(remote_status=RemoteStatus.EXPIRED) | Q(
        remote_status=RemoteStatus.READY, remote_expires_at__lte=now
    )
    usable = ~Q(remote_status=RemoteStatus.FAILED) & ~(expired & Q(file=""))
    pk = safe_pk(selected)
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
        """The same rules as a registered source URL (`validate_source_url`): https only, a
        public host, no credentials."""
        url = self.cleaned_data.get("transcript_url", "")
        if not url:
            return url
        if not url.lower().startswith("https://"):
            raise ValidationError("AudioShake fetches transcripts over HTTPS only.")
        return validate_source_url(url)

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
        # AudioShake's own limit and the marker's share of it, said next to the counter.
        self.metadata_max = settings.AUDIOSHAKE_METADATA_MAX
        self.metadata_marker = self.metadata_max - self.metadata_limit
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
            if source and "mp4" in row.cleaned_data.get("formats", ()):
                self._refuse_mp4_without_video(row, source)
            limit_seconds = model.max_input_seconds
            if duration and limit_seconds and duration > limit_seconds:
                row.add_error(
                    "model",
                    f"The source is {duration_text(duration)} long; {model.name} accepts at most "
                    f"{duration_text(limit_seconds)}.",
                )

    @staticmethod
    def _refuse_mp4_without_video(row: "TargetRowForm", source: Asset) -> None:
        """MP4 output is the stem put back into the source's video: an audio-only source has
        none, so AudioShake could not make it."""
        if not audio_only(source.format, source.has_video):
            return
        kind = FORMAT_LABELS.get(source.format, source.format.upper() or "audio")
        others = [f.upper() for f in row.model_info.output_formats if f != "mp4"]
        choose = " or ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
        row.add_error(
            "formats",
            f"MP4 output puts the separated audio back into the source's video, and "
            f"“{source.name}” is audio only ({kind}, no video track). Choose "
            f"{choose or 'another format'}, or use an MP4 or MOV video as the source.",
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
        pk = safe_pk(self.state.rerun_of)
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
