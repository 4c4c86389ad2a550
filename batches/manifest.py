"""Reading a CSV manifest: one row per task of a batch.

Columns (a header row names them; any order, any case): `source` (the name of a file in the
library, or an https URL, registered when the batch is created), and optionally `title`,
`project` (name or code), `preset` (name) and `metadata`. Every problem is reported with its
row number as a spreadsheet shows it (the header is row 1); nothing is written here.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts.models import Project
from batches.presets import ChosenPreset, preset_lookup, preset_resolve
from batches.services import MAX_BATCH_TASKS, BatchItem
from jobs.catalogue import Catalogue
from jobs.forms.tasks import file_assets
from jobs.intent import metadata_limit
from jobs.models import Asset
from jobs.services.assets import validate_source_url
from jobs.services.tasks import source_problem

COLUMNS = ("source", "title", "project", "preset", "metadata")
TITLE_MAX = 255


def metadata_problem(text: str) -> str:
    """Why `text` cannot be a task's metadata (too long for AudioShake with the marker), or ""."""
    limit = metadata_limit()
    if len(text) > limit:
        return f"metadata is {len(text)} characters long; at most {limit} fit"
    return ""


@dataclass(frozen=True)
class ManifestRow:
    number: int  # as a spreadsheet numbers it: the header is row 1
    project: Project
    preset: ChosenPreset
    asset: Asset | None = None
    url: str = ""
    title: str = ""
    metadata: str | None = None  # None: the form's metadata

    @property
    def name(self) -> str:
        return self.title or (self.asset.name if self.asset else self.url)

    @property
    def duration(self) -> float | None:
        return self.asset.duration_seconds if self.asset else None

    def item(self, *, metadata_default: str) -> BatchItem:
        return BatchItem(
            project=self.project,
            targets=self.preset.targets,
            asset=self.asset,
            url=self.url,
            title=self.title,
            metadata=self.metadata if self.metadata is not None else metadata_default,
            preset=self.preset.name,
        )


@dataclass
class Parsed:
    rows: list[ManifestRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    problem: str = ""  # the file as a whole (no header, too many rows)


def parse_manifest(
    text: str,
    *,
    default_project: Project,
    default_preset: ChosenPreset | None,
    catalogue: Catalogue,
) -> Parsed:
    parsed = Parsed()
    reader = csv.reader(io.StringIO(text))
    try:
        lines = list(reader)
    except csv.Error as exc:
        parsed.problem = f"The manifest is not valid CSV: {exc}."
        return parsed
    header = [h.strip().casefold() for h in lines[0]] if lines else []
    if "source" not in header:
        parsed.problem = (
            "The manifest's first row must name its columns, with at least “source” "
            f"(the columns read are {', '.join(COLUMNS)})."
        )
        return parsed
    body = [(n, line) for n, line in enumerate(lines[1:], start=2) if any(c.strip() for c in line)]
    if not body:
        parsed.problem = "The manifest has no rows below its header."
        return parsed
    if len(body) > MAX_BATCH_TASKS:
        parsed.problem = (
            f"The manifest has {len(body)} rows; a batch takes at most {MAX_BATCH_TASKS}."
        )
        return parsed
    records = [
        (n, {h: (line[i] if i < len(line) else "") for i, h in enumerate(header)})
        for n, line in body
    ]
    lookup = _Lookup(records)
    presets: dict[str, ChosenPreset | None] = {}
    for number, record in records:
        errors: list[str] = []
        source = record.get("source", "").strip()
        title = record.get("title", "").strip()
        metadata = record.get("metadata")
        if metadata is not None:
            metadata = metadata.replace("\r\n", "\n")
            if problem := metadata_problem(metadata):
                errors.append(problem)
            elif not metadata:
                metadata = None
        if len(title) > TITLE_MAX:
            errors.append(f"the title is longer than {TITLE_MAX} characters")
        project = default_project
        if name := record.get("project", "").strip():
            project = lookup.project(name)
            if project is None:
                errors.append(f"no active project is called “{name}”")
        preset = default_preset
        if name := record.get("preset", "").strip():
            if name not in presets:
                value = preset_lookup(name)
                presets[name] = preset_resolve(value, catalogue) if value else None
            preset = presets[name]
            if preset is None:
                errors.append(f"no preset is called “{name}”")
            elif preset.skipped or not preset.targets:
                errors.append(f"the preset “{name}” has models this account cannot use")
        elif preset is None:
            errors.append("no preset: name one in the row or choose one on the form")
        asset, url = None, ""
        if not source:
            errors.append("the source is empty: give a file name from the library or an https URL")
        elif "://" in source:
            try:
                url = validate_source_url(source)
            except ValidationError as exc:
                errors.append(" ".join(exc.messages).rstrip("."))
            else:
                asset = lookup.urls.get(url)
                url = "" if asset else url
        else:
            found = lookup.files.get(source, [])
            if not found:
                errors.append(f"no file called “{source}” is in the library")
            elif len(found) > 1:
                errors.append(f"{len(found)} files are called “{source}”: rename one")
            elif problem := source_problem(asset=found[0]):
                errors.append(problem.rstrip("."))
            else:
                asset = found[0]
        if errors:
            parsed.errors += [(number, error) for error in errors]
            continue
        assert project is not None
        assert preset is not None
        parsed.rows.append(
            ManifestRow(
                number, project, preset, asset=asset, url=url, title=title, metadata=metadata
            )
        )
    return parsed


class _Lookup:
    """The library entries and projects the manifest names, read in three queries."""

    def __init__(self, records: list[tuple[int, dict[str, str]]]) -> None:
        sources = {r.get("source", "").strip() for _, r in records}
        names = {s for s in sources if s and "://" not in s}
        self.files: dict[str, list[Asset]] = {}
        for asset in file_assets().filter(name__in=names).order_by("pk"):
            self.files.setdefault(asset.name, []).append(asset)
        urls = {s for s in sources if "://" in s}
        self.urls = {a.source_url: a for a in Asset.objects.filter(source_url__in=urls)}
        wanted = {r.get("project", "").strip() for _, r in records} - {""}
        projects = Project.objects.active().filter(Q(name__in=wanted) | Q(code__in=wanted))
        self._projects = list(projects)

    def project(self, text: str) -> Project | None:
        return next((p for p in self._projects if text in (p.name, p.code)), None)
