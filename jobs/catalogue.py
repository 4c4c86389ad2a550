"""The model catalogue as the create form sees it.

The poller caches AudioShake's `GET /models` in `RemoteModel` rows; this module reads them,
grouped by category in the API's own order, and adds the options the documentation gives but
`GET /models` does not state (variants, their rates, residual, formats: `jobs.capabilities`).
Before the poller has synced once (the very first start), `catalogue_load()` seeds the rows
from `fallback_catalogue.json` (built from the API contract, in the documented shape) and asks
the poller for a sync. The built-in presets name model keys only: formats
are taken from the catalogue when a preset is applied.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf.locale import LANG_INFO
from django.db import transaction

from jobs.audioshake import ModelInfo, parse_model
from jobs.capabilities import capabilities_merge, documented_variant
from jobs.models import RemoteModel, WorkItem
from jobs.outbox import enqueue

FALLBACK_PATH = Path(__file__).with_name("fallback_catalogue.json")
FALLBACK_MARKER = "_shakeweb_fallback"  # key set in `RemoteModel.raw` of rows seeded from the file
TRANSCRIPT_TASK_FIELDS = frozenset({"transcriptUrl", "transcriptAssetId"})
PREFERRED_FORMATS = ("wav", "json")  # what a freshly chosen model gets ticked, when offered


def remote_model_fields(info: ModelInfo, *, position: int = 0) -> dict[str, Any]:
    """The `RemoteModel` fields of one parsed `GET /models` item (`jobs.audioshake.ModelInfo`)."""
    return {
        "key": info.id,
        "name": info.name or info.id,
        "category": info.category,
        "description": info.description,
        "access": info.access,
        "credits_per_minute": info.credits_per_minute,
        "output_formats": list(info.output_formats),
        "input_formats": list(info.input_formats),
        "variants": list(info.variants),
        "variant_rates": {name: str(rate) for name, rate in info.variant_rates.items()},
        "supports_residual": info.supports_residual,
        "max_input_seconds": info.max_input_seconds,
        "supported_languages": list(info.supported_languages),
        "raw": dict(info.raw),
        "position": position,
    }


def fallback_items() -> list[dict[str, Any]]:
    """The models of the fallback file, in the API's `GET /models` shape."""
    return json.loads(FALLBACK_PATH.read_text(encoding="utf-8"))["models"]


def seed_fallback(*, force: bool = False) -> int:
    """Fill an empty catalogue from the fallback file and ask the poller for a real sync.

    Does nothing when rows exist (the poller's data wins), unless `force`. Safe to call from
    concurrent requests. Returns the number of rows created."""
    with transaction.atomic():
        if not force and RemoteModel.objects.exists():
            return 0
        rows = []
        for position, item in enumerate(fallback_items()):
            fields = remote_model_fields(parse_model(item), position=position)
            fields["raw"] = {**fields["raw"], FALLBACK_MARKER: True}
            rows.append(RemoteModel(**fields))
        created = RemoteModel.objects.bulk_create(rows, ignore_conflicts=True)
        enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    return len(created)


def category_label(category: str) -> str:
    """`instrumentStemSeparation` -> `Instrument stem separation` (any camelCase key)."""
    if not category:
        return "Other models"
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", category.replace("_", " ")).split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def is_fallback(model: RemoteModel) -> bool:
    return bool(model.raw.get(FALLBACK_MARKER))


def accepts_transcript(model: RemoteModel) -> bool:
    """Whether the model takes `transcriptUrl`/`transcriptAssetId` (alignment). Read from the
    model's declared inputs; `alignment` is the documented key when inputs are not given."""
    for model_input in model.raw.get("inputs") or []:
        fields = model_input.get("taskFields") if isinstance(model_input, Mapping) else None
        if isinstance(fields, list) and TRANSCRIPT_TASK_FIELDS & {str(f) for f in fields}:
            return True
    return model.key == "alignment"


def default_formats(model: RemoteModel) -> list[str]:
    for preferred in PREFERRED_FORMATS:
        if preferred in model.output_formats:
            return [preferred]
    return model.output_formats[:1]


@dataclass(frozen=True)
class CategoryGroup:
    key: str
    label: str
    models: tuple[RemoteModel, ...]


@dataclass(frozen=True)
class Catalogue:
    """The cached catalogue of one request: models by key and grouped for the picker, each
    with the documented options its `GET /models` row lacks (`jobs.capabilities`)."""

    models: Mapping[str, RemoteModel]
    groups: tuple[CategoryGroup, ...] = field(default=())

    @classmethod
    def from_models(cls, models: Iterable[RemoteModel]) -> "Catalogue":
        ordered = sorted((capabilities_merge(m) for m in models), key=lambda m: (m.position, m.key))
        by_category: dict[str, list[RemoteModel]] = {}
        for model in ordered:  # categories in the order the API first lists them
            by_category.setdefault(model.category, []).append(model)
        groups = tuple(
            CategoryGroup(key=key, label=category_label(key), models=tuple(items))
            for key, items in by_category.items()
        )
        return cls(models={m.key: m for m in ordered}, groups=groups)

    def get(self, key: object) -> RemoteModel | None:
        return self.models.get(key) if isinstance(key, str) else None

    @property
    def is_fallback(self) -> bool:
        return bool(self.models) and all(is_fallback(m) for m in self.models.values())


def catalogue_load() -> Catalogue:
    """The cached catalogue (one query); seeded from the fallback file on the first start."""
    models = list(RemoteModel.objects.all())
    if not models:
        seed_fallback()
        models = list(RemoteModel.objects.all())
    return Catalogue.from_models(models)


# Presets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetTarget:
    model: str
    formats: tuple[str, ...] = ()
    variant: str = ""
    residual: bool = False
    language: str = ""


@dataclass(frozen=True)
class BuiltinPreset:
    slug: str
    name: str
    description: str
    targets: tuple[PresetTarget, ...]

    @property
    def value(self) -> str:
        return f"builtin:{self.slug}"


BUILTIN_PRESETS: tuple[BuiltinPreset, ...] = (
    BuiltinPreset(
        "karaoke",
        "Karaoke",
        "Vocals and instrumental",
        (PresetTarget("vocals"), PresetTarget("instrumental")),
    ),
    BuiltinPreset(
        "full-band",
        "Full band",
        "Vocals, drums, bass, guitar, piano and other",
        tuple(PresetTarget(key) for key in ("vocals", "drums", "bass", "guitar", "piano", "other")),
    ),
    BuiltinPreset(
        "dme",
        "DME",
        "Dialogue, music and effects",
        (PresetTarget("dialogue"), PresetTarget("music_fx"), PresetTarget("effects")),
    ),
    BuiltinPreset(
        "lyrics",
        "Lyrics",
        "Transcription and alignment",
        (PresetTarget("transcription"), PresetTarget("alignment")),
    ),
)


def preset_targets_from_json(targets: Any) -> tuple[PresetTarget, ...]:
    """A team preset's stored `targets` JSON, tolerating rows edited by hand."""
    result = []
    for row in targets if isinstance(targets, list) else []:
        if not isinstance(row, Mapping) or not isinstance(row.get("model"), str):
            continue
        result.append(
            PresetTarget(
                model=row["model"],
                formats=tuple(str(f) for f in row.get("formats") or [] if isinstance(f, str)),
                variant=str(row.get("variant") or ""),
                residual=bool(row.get("residual")),
                language=str(row.get("language") or ""),
            )
        )
    return tuple(result)


def variant_label(model: RemoteModel, variant: str) -> str:
    """The variant's name as the API gives it, else the documented one, else its id made
    readable."""
    for item in model.raw.get("variants") or []:
        if isinstance(item, Mapping) and item.get("id") == variant and item.get("name"):
            return str(item["name"])
    documented = documented_variant(model.key, variant)
    return documented.name if documented else variant.replace("_", " ").capitalize()


def language_name(code: str) -> str:
    return LANG_INFO.get(code, {}).get("name", code)
