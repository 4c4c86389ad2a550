"""The response shapes the parsers (`types.py`) assume for the free read-only endpoints, and a
comparison of a real answer against them: which fields are present, missing or extra, and
with which JSON types. `manage.py audioshake_probe` prints it (docs/operations.md).

`documented=False` marks fields the parsers read when sent although the published API does not
document them (the sandbox's extended `GET /models`, third-party evidence for `variant`).
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROBES", "PROBE_PATHS", "Field", "Probe", "ProbeReport", "Shape", "ShapeReport"]


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[str, ...]  # JSON type names: string number boolean array object null
    needed: bool = False  # the parser refuses an item without it
    documented: bool = True
    item: "Shape | None" = None  # an array of objects with this shape


@dataclass(frozen=True)
class Shape:
    what: str
    fields: tuple[Field, ...]

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


S, N, B, A, OBJ, NULL = "string", "number", "boolean", "array", "object", "null"

OUTPUT = Shape("output", (Field("name", (S,)), Field("format", (S,)), Field("link", (S,))))
TARGET = Shape(
    "target",
    (
        Field("id", (S,), needed=True),
        Field("model", (S,)),
        Field("status", (S,)),
        Field("formats", (A,)),
        Field("output", (A,), item=OUTPUT),
        Field("cost", (N,)),
        Field("error", (OBJ,)),
        Field("duration", (N,)),
        Field("residual", (B,)),
        Field("language", (S,)),
        Field("transcriptUrl", (S,)),
        Field("transcriptAssetId", (S,)),
        Field("variant", (S,), documented=False),
    ),
)
TASK = Shape(
    "task",
    (
        Field("id", (S,), needed=True),
        Field("createdAt", (S,)),
        Field("completedAt", (S, NULL)),
        Field("clientId", (S,)),
        Field("cost", (N,)),
        Field("assetId", (S,)),
        Field("url", (S, NULL)),
        Field("metadata", (S,)),
        Field("targets", (A,), item=TARGET),
    ),
)
MODEL = Shape(
    "model",
    (
        Field("id", (S,), needed=True),
        Field("name", (S,)),
        Field("category", (S,)),
        Field("description", (S,)),
        Field("access", (S,)),
        Field("creditsPerMinute", (N,)),
        Field("inputs", (A,)),
        Field("outputFormats", (A,)),
        Field("limits", (OBJ,)),
        Field("supportedLanguages", (A,)),
        Field("variants", (A, OBJ), documented=False),
        Field("supportsResidual", (B,), documented=False),
        Field("residual", (B,), documented=False),
    ),
)
USAGE = Shape(
    "usage month",
    (Field("month", (S,)), Field("totalTargets", (N,)), Field("totalMinutes", (S,))),
)


@dataclass(frozen=True)
class Probe:
    label: str
    path: str
    params: Mapping[str, Any]
    envelope: str  # "" for a bare array
    item: Shape
    tolerated: tuple[str, ...] = ()  # other envelope keys the client accepts (`types._items`)


PROBES: tuple[Probe, ...] = (
    Probe("GET /models", "/models", {}, "models", MODEL),
    Probe("GET /tasks?take=1", "/tasks", {"take": 1}, "", TASK, ("tasks",)),
    Probe(
        "GET /tasks/statistics?name=usage",
        "/tasks/statistics",
        {"name": "usage"},
        "",
        USAGE,
        ("usage",),
    ),
)
PROBE_PATHS = frozenset(p.path for p in PROBES)


def json_type(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return B
    if isinstance(value, (int, float)):
        return N
    if isinstance(value, str):
        return S
    return A if isinstance(value, list) else OBJ


@dataclass(frozen=True)
class ShapeReport:
    """One shape over `items` objects: for each field name, in how many it appeared and with
    which types."""

    shape: Shape
    items: int
    seen: Mapping[str, int]
    types: Mapping[str, Counter]
    nested: tuple["ShapeReport", ...] = ()

    @property
    def present(self) -> list[str]:
        return [f.name for f in self.shape.fields if self.seen.get(f.name) and f.documented]

    @property
    def undocumented_read(self) -> list[str]:
        return [f.name for f in self.shape.fields if self.seen.get(f.name) and not f.documented]

    @property
    def missing(self) -> list[tuple[Field, int]]:
        """Documented fields absent from some items, with how many lacked them."""
        rows = []
        for f in self.shape.fields:
            lacking = self.items - self.seen.get(f.name, 0)
            if f.documented and lacking and self.items:
                rows.append((f, lacking))
        return rows

    @property
    def extra(self) -> list[tuple[str, int]]:
        return [(name, n) for name, n in self.seen.items() if self.shape.get(name) is None]

    @property
    def type_differences(self) -> list[tuple[str, list[str], tuple[str, ...]]]:
        rows = []
        for f in self.shape.fields:
            other = sorted(t for t in self.types.get(f.name, {}) if t not in f.types)
            if other:
                rows.append((f.name, other, f.types))
        return rows


def shape_compare(items: list[Any], shape: Shape) -> ShapeReport:
    seen: Counter = Counter()
    types: dict[str, Counter] = {}
    nested_items: dict[str, list[Any]] = {}
    objects = [item for item in items if isinstance(item, dict)]
    for item in objects:
        for name, value in item.items():
            seen[name] += 1
            types.setdefault(name, Counter())[json_type(value)] += 1
            spec = shape.get(name)
            if spec and spec.item and isinstance(value, list):
                nested_items.setdefault(name, []).extend(value)
    nested = tuple(
        shape_compare(nested_items.get(f.name, []), f.item) for f in shape.fields if f.item
    )
    return ShapeReport(shape, len(objects), dict(seen), types, nested)


@dataclass(frozen=True)
class ProbeReport:
    probe: Probe
    container: str  # how the answer was wrapped, compared with the assumption
    container_as_assumed: bool
    report: ShapeReport
    not_objects: int = 0


def probe_compare(probe: Probe, data: Any) -> ProbeReport:
    """Compare one answer with the probe's assumed container and item shape."""
    assumed = f'{{"{probe.envelope}": [...]}}' if probe.envelope else "a bare array"
    items: list[Any] = []
    as_assumed = False
    if probe.envelope and isinstance(data, dict) and isinstance(data.get(probe.envelope), list):
        items, as_assumed = data[probe.envelope], True
        extra = sorted(set(data) - {probe.envelope})
        container = assumed + (f" with extra keys {', '.join(extra)}" if extra else "")
    elif not probe.envelope and isinstance(data, list):
        items, as_assumed, container = data, True, assumed
    elif isinstance(data, list):
        items, container = data, f"a bare array where {assumed} was assumed (tolerated)"
    elif isinstance(data, dict):
        keys = [k for k in (probe.envelope, *probe.tolerated, "data", "items", "results") if k]
        key = next((k for k in keys if isinstance(data.get(k), list)), None)
        if key:
            items = data[key]
            container = f'{{"{key}": [...]}} where {assumed} was assumed (tolerated)'
        else:
            container = f"an object with keys {', '.join(sorted(data)) or '(none)'}"
            container += f" where {assumed} was assumed"
    else:
        container = f"{json_type(data)} where {assumed} was assumed"
    report = shape_compare(items, probe.item)
    not_objects = sum(1 for item in items if not isinstance(item, dict))
    return ProbeReport(probe, container, as_assumed, report, not_objects)
