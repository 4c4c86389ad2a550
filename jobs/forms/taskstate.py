"""The task form's state, read leniently: what the user has typed so far, and its edits.

Rows use an indexed prefix: each row posts a hidden `row=<n>` and its fields as `t<n>-model`,
`t<n>-formats`... so rows can be added and removed (with htmx, or without JavaScript through
the `add_row` / `remove_row_<n>` submit buttons) without renumbering anything. The order of the
`row` values is the order of the targets.

`form_state()` reads the posted values without validating them, the `state_*` functions edit
them, `form_action()` says which button was pressed and `initial_state()` fills the first
render. Validation is `jobs.forms.tasks.TaskCreateForm`'s. Every number read here goes through
`bounded_int()`: a value that is not a small non-negative integer is treated as absent.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.http import QueryDict

from accounts.models import Project
from jobs.catalogue import Catalogue, PresetTarget, accepts_transcript, default_formats
from jobs.models import Asset, Task
from jobs.services.tasks import task_source_in_library

ROW_PREFIX = "t"
MAX_ROWS_PARSED = 100  # a form never has more rows than this; beyond it is not our UI
MAX_ROW_INDEX = 100_000
MAX_INT_DIGITS = 19  # 2**63 has 19 digits: a longer number is no row, pk or index of ours


def max_targets() -> int:
    return settings.AUDIOSHAKE_MAX_TARGETS


def bounded_int(value: object) -> int | None:
    """`value` as an integer in 0..2**63-1 (a database key fits), else None. Only ASCII
    digits count, and the length is checked before converting, so a 5,000-digit value costs
    nothing and never reaches `int()` or the database."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_INT_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number < 2**63 else None


def safe_pk(value: object) -> int | None:
    """A posted primary key (a string or an int), bounded as `bounded_int`."""
    return bounded_int(value) if isinstance(value, str | int) else None


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
        index = bounded_int(value)
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
            index = bounded_int(key.removeprefix("remove_row_"))
            if index is not None:
                return FormAction("remove", index=index)
    if "refresh_row" in data:
        return FormAction("refresh", index=bounded_int(data.get("refresh_row")))
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


def initial_state(
    *, params: Mapping[str, Any], catalogue: Catalogue
) -> tuple[FormState, list[str]]:
    """The first render of the form: `?asset=<pk>` preselects a source, `?from=<task pk>`
    copies a task; otherwise one empty row. Returns notes for the user."""
    notes: list[str] = []
    state = FormState(rows=[RowState(index=0)])
    task_pk = safe_pk(params.get("from"))
    asset_pk = safe_pk(params.get("asset"))
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
