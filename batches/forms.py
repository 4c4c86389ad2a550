"""The batch forms: assets chosen in the library (`BatchForm`) or a CSV manifest
(`ManifestForm`), each with a name, a project, a preset and the batch's form token. Both give
`items()`, one `BatchItem` per task; they only validate (the service writes)."""

import uuid
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import Project
from batches.manifest import ManifestRow, metadata_problem, parse_manifest
from batches.presets import ChosenPreset, preset_choices, preset_resolve
from batches.services import MAX_BATCH_TASKS, BatchItem
from jobs.catalogue import Catalogue
from jobs.forms.taskstate import safe_pk
from jobs.models import Asset
from jobs.services.tasks import source_problem, task_estimate

MANIFEST_MAX_BYTES = 1024 * 1024
STALE_FORM = (
    "This form had no valid token (it may come from an old page): open the batch form again."
)


class _BatchFields(forms.Form):
    """What both ways in share: the batch's name, project, preset, metadata and token."""

    batch_token = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": STALE_FORM,
            "invalid": STALE_FORM,
        },
    )
    name = forms.CharField(
        label="Batch name",
        max_length=120,
        error_messages={"required": "Give the batch a name."},
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        empty_label="Choose a project",
        error_messages={
            "required": "Choose the project the batch is billed to.",
            "invalid_choice": "That project does not exist or is archived.",
        },
    )
    preset = forms.ChoiceField(
        label="Preset (the targets of every task)",
        error_messages={
            "required": "Choose the preset every task of the batch uses.",
            "invalid_choice": "That preset does not exist (any more).",
        },
    )
    metadata = forms.CharField(
        label="Metadata (every task)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, catalogue: Catalogue, **kwargs: Any
    ) -> None:
        super().__init__(data, label_suffix="", **kwargs)
        self.catalogue = catalogue
        self.fields["project"].queryset = Project.objects.active()
        self.fields["preset"].choices = preset_choices()
        self.chosen: ChosenPreset | None = None

    def clean_metadata(self) -> str:
        value = self.cleaned_data["metadata"].replace("\r\n", "\n")
        if problem := metadata_problem(value):
            raise ValidationError(f"{problem.capitalize()}.")
        return value

    def clean_preset(self) -> str:
        value = self.cleaned_data["preset"]
        chosen = preset_resolve(value, self.catalogue)
        if chosen is None:
            raise ValidationError("That preset does not exist (any more).")
        if chosen.skipped:
            raise ValidationError(
                f"{chosen.name} uses models this account cannot use: {', '.join(chosen.skipped)}."
            )
        if not chosen.targets:
            raise ValidationError(f"{chosen.name} has no targets.")
        self.chosen = chosen
        return value

    @property
    def token(self) -> uuid.UUID:
        return self.cleaned_data["batch_token"]


class AssetChoices(forms.ModelMultipleChoiceField):
    """Posted asset pks, each bounded (`safe_pk`) before it reaches the database: a value that
    is no key of ours (a 5,000-digit number, 2**64) is an invalid choice, not an overflow."""

    def _check_values(self, value):
        for pk in value:
            if safe_pk(pk) is None:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": str(pk)[:20]},
                )
        return super()._check_values(value)


class BatchForm(_BatchFields):
    """Assets chosen in the library (posted as `asset`, one per checkbox)."""

    asset = AssetChoices(
        queryset=Asset.objects.none(),
        widget=forms.MultipleHiddenInput,
        error_messages={
            "required": "Choose at least one asset in the library.",
            "invalid_choice": "An asset chosen is not in the library (any more).",
            "invalid_pk_value": "An asset chosen is not in the library.",
        },
    )

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        # Every library entry: one that cannot be sent gets its own reason (`clean_asset`).
        self.fields["asset"].queryset = Asset.objects.select_related("project").order_by(
            "name", "pk"
        )

    def clean_asset(self) -> list[Asset]:
        assets = list(self.cleaned_data["asset"])
        if len(assets) > MAX_BATCH_TASKS:
            raise ValidationError(
                f"A batch takes at most {MAX_BATCH_TASKS} assets; {len(assets)} were chosen."
            )
        problems = [p for a in assets if (p := source_problem(asset=a))]
        if problems:
            raise ValidationError(problems)
        return assets

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.chosen is not None and "asset" in data:
            for asset in data["asset"]:
                _check_limits(self, asset.name, asset.duration_seconds, self.chosen)
        return data

    def items(self) -> list[BatchItem]:
        data = self.cleaned_data
        assert self.chosen is not None
        return [
            BatchItem(
                project=data["project"],
                targets=self.chosen.targets,
                asset=asset,
                metadata=data["metadata"],
                preset=self.chosen.name,
            )
            for asset in data["asset"]
        ]


def _check_limits(
    form: forms.Form, name: str, duration: float | None, chosen: ChosenPreset, where: str = ""
) -> None:
    estimate = task_estimate(duration=duration, targets=chosen.targets, catalogue=form.catalogue)
    for target in estimate.over_limit:
        form.add_error(
            None,
            f"{where}“{name}” is longer than {target.name} accepts "
            f"({target.max_seconds} seconds at most).",
        )


class ManifestForm(_BatchFields):
    """A CSV manifest: one row per task (`source`, `title`, `project`, `preset`,
    `metadata`). The form's project and preset are the defaults of rows that name none.
    Uploaded first as a file, then carried through the confirmation as its text."""

    manifest = forms.FileField(label="CSV manifest", required=False)
    manifest_text = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def __init__(
        self, data: Mapping[str, Any] | None = None, files: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(data, files=files, **kwargs)
        self.fields["preset"].required = False
        self.rows: list[ManifestRow] = []
        self.row_errors: list[tuple[int, str]] = []

    def clean_preset(self) -> str:
        return super().clean_preset() if self.cleaned_data["preset"] else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("manifest_text") or ""
        upload = data.get("manifest")
        if upload is not None:
            if upload.size > MANIFEST_MAX_BYTES:
                raise ValidationError(
                    f"The manifest is {upload.size} bytes; at most {MANIFEST_MAX_BYTES} are read."
                )
            raw = upload.read(MANIFEST_MAX_BYTES + 1)
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError(
                    "The manifest is not UTF-8 text: save it as CSV UTF-8."
                ) from None
        if not text.strip():
            raise ValidationError("Choose a CSV manifest to upload.")
        if len(text) > MANIFEST_MAX_BYTES:
            raise ValidationError(f"The manifest is longer than {MANIFEST_MAX_BYTES} characters.")
        data["manifest_text"] = text
        if "project" not in data:
            return data  # its own error says what is missing; rows are read once it is fixed
        parsed = parse_manifest(
            text,
            default_project=data["project"],
            default_preset=self.chosen,
            catalogue=self.catalogue,
        )
        self.rows, self.row_errors = parsed.rows, parsed.errors
        if parsed.problem:
            raise ValidationError(parsed.problem)
        if self.row_errors:
            raise ValidationError(
                f"{len(self.row_errors)} problem{'s' if len(self.row_errors) != 1 else ''} in the "
                "manifest (listed below): nothing was created. Fix them and upload it again."
            )
        for row in self.rows:
            _check_limits(self, row.name, row.duration, row.preset, where=f"Row {row.number}: ")
        return data

    def items(self) -> list[BatchItem]:
        return [row.item(metadata_default=self.cleaned_data["metadata"]) for row in self.rows]
