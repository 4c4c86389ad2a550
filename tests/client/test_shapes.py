"""`jobs.audioshake.shapes` on answers the sandbox cannot give: other containers, extra and
missing fields, other JSON types (the probe's report is built from these)."""

import json
from pathlib import Path

from jobs.audioshake.shapes import PROBES, probe_compare

MODELS, TASKS, USAGE = PROBES
EXAMPLE = Path(__file__).parents[1] / "tasks" / "fixtures" / "models_documented_example.json"


def test_documented_example_is_as_assumed() -> None:
    """The contract's `GET /models` example: documented fields only, nothing extra."""
    result = probe_compare(MODELS, {"models": [json.loads(EXAMPLE.read_text())]})
    assert result.container_as_assumed
    report = result.report
    assert report.extra == []
    assert report.type_differences == []
    assert report.undocumented_read == []
    assert [f.name for f, _ in report.missing] == ["limits", "supportedLanguages"]


def test_extra_fields_types_and_a_missing_id_are_reported() -> None:
    """A numeric string, an unknown field and an item without id each show up."""
    items = [
        {"id": "vocals", "creditsPerMinute": "1.5", "tier": "pro"},
        {"name": "no id"},
    ]
    report = probe_compare(MODELS, {"models": items}).report
    assert report.extra == [("tier", 1)]
    assert report.type_differences == [("creditsPerMinute", ["string"], ("number",))]
    missing = {f.name: (n, f.needed) for f, n in report.missing}
    assert missing["id"] == (1, True)


def test_other_containers_are_named() -> None:
    """An envelope where a bare array is documented, and the reverse, are tolerated but
    flagged; an object without a list is not."""
    wrapped = probe_compare(TASKS, {"tasks": [{"id": "t1", "targets": [{"id": "x"}]}]})
    assert not wrapped.container_as_assumed
    assert "tolerated" in wrapped.container
    assert wrapped.report.items == 1
    assert wrapped.report.nested[0].items == 1  # the targets
    bare = probe_compare(MODELS, [{"id": "bass"}])
    assert "bare array" in bare.container
    assert not bare.container_as_assumed
    odd = probe_compare(USAGE, {"month": "2026-01"})
    assert odd.container == "an object with keys month where a bare array was assumed"
    assert odd.report.items == 0


def test_usage_minutes_as_a_number_is_a_type_difference() -> None:
    """`totalMinutes` is documented as a string; a number is reported (the parser takes it)."""
    report = probe_compare(USAGE, [{"month": "2026-01", "totalTargets": 2, "totalMinutes": 3}])
    assert report.report.type_differences == [("totalMinutes", ["number"], ("string",))]
