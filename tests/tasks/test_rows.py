"""Editing the rows: with htmx (fragments) and without JavaScript (the whole form again),
presets (built-in and team), and the live estimate."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Asset, Preset, Task
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")
ROWS = reverse("jobs:task_rows")
ESTIMATE = reverse("jobs:task_estimate")
HTMX = {"HTTP_HX_REQUEST": "true"}


def rows_of(response: object) -> list[tuple[int, str, list[str]]]:
    form = response.context["form"]
    return [(row.index, row.model_value, row.initial.get("formats", [])) for row in form.rows]


# Without JavaScript: submit buttons of the form, the whole form comes back -----------------


def test_add_row_without_js(member_client: Client, ready_asset: Asset, project: Project) -> None:
    """`add_row` re-renders the form with one more (empty) row and keeps the others."""
    body = form_body(asset=ready_asset, project=project, add_row="1")
    response = member_client.post(CREATE, body)
    assert response.status_code == 200
    assert rows_of(response) == [(0, "vocals", ["wav"]), (1, "", [])]
    assert response.context["form"].form_token == body["form_token"]
    assert Task.objects.count() == 0


def test_remove_row_without_js(member_client: Client, ready_asset: Asset, project: Project) -> None:
    """`remove_row_<n>` removes exactly that row."""
    targets = [
        {"model": "vocals", "formats": ["wav"]},
        {"model": "drums", "formats": ["mp3"]},
        {"model": "bass", "formats": ["flac"]},
    ]
    body = form_body(asset=ready_asset, project=project, targets=targets, remove_row_1="1")
    response = member_client.post(CREATE, body)
    assert rows_of(response) == [(0, "vocals", ["wav"]), (2, "bass", ["flac"])]
    assert "Duplicate" not in response.content.decode()  # editing shows no errors


def test_changed_model_gets_its_own_formats_without_js(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """ "Update the form" after changing a model: formats the new model lacks are dropped and
    its default is ticked; options it lacks (variant, residual) go."""
    targets = [{"model": "transcription", "formats": ["wav"], "variant": "high_quality"}]
    body = form_body(asset=ready_asset, project=project, targets=targets, step="edit")
    response = member_client.post(CREATE, body)
    row = response.context["form"].rows[0]
    assert row.initial["formats"] == ["json"]
    assert row.initial["variant"] == ""
    assert "variant" not in row.fields
    assert "language" in row.fields
    page = response.content.decode()
    assert 'value="srt"' in page
    assert 'name="t0-formats" value="wav"' not in page


def test_cannot_add_more_than_twenty_rows(
    member_client: Client, ready_asset: Asset, project: Project, catalogue: object
) -> None:
    """At 20 rows the add button is disabled and `add_row` adds nothing, saying why."""
    keys = [m.key for m in catalogue.models.values() if m.is_enabled][:20]
    targets = [{"model": key, "formats": []} for key in keys]
    body = form_body(asset=ready_asset, project=project, targets=targets, add_row="1")
    response = member_client.post(CREATE, body)
    assert len(response.context["form"].rows) == 20
    page = html.unescape(response.content.decode())
    assert "A task takes at most 20 targets." in page
    assert 'name="add_row" value="1" hx-post="/tasks/new/rows/" hx-target="#target-rows"' in page
    assert "disabled>+ Add target" in page


@pytest.mark.parametrize(
    ("preset", "models"),
    [
        ("builtin:karaoke", ["vocals", "instrumental"]),
        ("builtin:full-band", ["vocals", "drums", "bass", "guitar", "piano", "other"]),
        ("builtin:dme", ["dialogue", "music_fx", "effects"]),
        ("builtin:lyrics", ["transcription", "alignment"]),
    ],
)
def test_builtin_presets_fill_the_rows_without_js(
    member_client: Client, ready_asset: Asset, project: Project, preset: str, models: list[str]
) -> None:
    """A preset button replaces the rows with its targets, each with a default format;
    source, project and metadata stay."""
    body = form_body(asset=ready_asset, project=project, metadata="keep", preset=preset)
    response = member_client.post(CREATE, body)
    rows = rows_of(response)
    assert [model for _, model, _ in rows] == models
    assert all(formats in (["wav"], ["json"]) for _, _, formats in rows)
    form = response.context["form"]
    assert form["metadata"].value() == "keep"
    assert form["asset"].value() == str(ready_asset.pk)


def test_unknown_preset_is_reported(member_client: Client, project: Project) -> None:
    """A preset that does not exist changes nothing and says so."""
    response = member_client.post(CREATE, form_body(project=project, preset="team:999"))
    assert "That preset does not exist" in response.content.decode()
    assert rows_of(response) == [(0, "vocals", ["wav"])]


# With htmx: fragments ------------------------------------------------------------------------


def test_htmx_add_row_returns_the_row_and_oob_parts(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """The add button gets the new row only, plus the counter and estimate out of band."""
    body = form_body(asset=ready_asset, project=project, add_row="1")
    response = member_client.post(ROWS, body, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert '<fieldset class="target-row" id="target-row-1">' in page
    assert 'id="target-row-0"' not in page
    assert '<div id="targets-footer" class="spread targets-footer" hx-swap-oob="true"' in page
    assert "2 of 20 targets" in page
    assert 'id="estimate"' in page
    assert "<html" not in page


def test_htmx_remove_row_returns_only_oob_parts(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """Remove: an empty main swap (the row goes) and the estimate without that row."""
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    body = form_body(asset=ready_asset, project=project, targets=targets, remove_row_1="1")
    response = member_client.post(ROWS, body, **HTMX)
    page = response.content.decode()
    assert "target-row-" not in page
    assert "1 of 20 targets" in page
    assert 'data-testid="estimate-total">4<' in page  # vocals only: 4 x 1


def test_htmx_model_change_refreshes_the_row(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """Choosing another model returns that row with the model's formats and options."""
    targets = [{"model": "alignment", "formats": ["wav"]}]
    body = form_body(asset=ready_asset, project=project, targets=targets, refresh_row="0")
    response = member_client.post(ROWS, body, **HTMX)
    page = response.content.decode()
    assert page.lstrip().startswith('<fieldset class="target-row" id="target-row-0">')
    assert 'name="t0-transcript_url"' in page
    assert 'name="t0-language"' in page
    assert 'value="json"' in page
    assert "checked" in page


def test_htmx_preset_returns_the_rows_block(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """A preset through htmx swaps the whole targets block and the estimate."""
    body = form_body(asset=ready_asset, project=project, preset="builtin:full-band")
    response = member_client.post(ROWS, body, **HTMX)
    page = response.content.decode()
    assert page.count('class="target-row"') == 6
    assert '<section class="card" id="targets"' in page
    assert 'data-testid="estimate-total">24<' in page  # 6 targets x 4 minutes x 1


def test_rows_endpoint_without_htmx_renders_the_form(
    member_client: Client, project: Project
) -> None:
    """Posting to the rows endpoint without htmx still gives a usable page."""
    response = member_client.post(ROWS, form_body(project=project, add_row="1"))
    assert response.templates[0].name == "jobs/tasks/create.html"
    assert "<html" in response.content.decode()


# The live estimate ---------------------------------------------------------------------------


def test_estimate_uses_variant_rates_and_billable_minutes(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """ceil(200.53 / 60) = 4 minutes; vocals high_quality 1.5/min, multi_voice 10/min."""
    targets = [
        {"model": "vocals", "formats": ["wav"], "variant": "high_quality"},
        {"model": "multi_voice", "formats": ["wav"]},
        {"model": "", "formats": []},  # an unfinished row is ignored
    ]
    response = member_client.post(
        ESTIMATE, form_body(asset=ready_asset, project=project, targets=targets), **HTMX
    )
    page = html.unescape(response.content.decode())
    assert "4 × 1.5" in page
    assert "4 × 10" in page
    assert 'data-testid="estimate-total">46<' in page
    assert "3:21, billed as 4 minutes per target" in page


def test_estimate_flags_models_the_source_is_too_long_for(
    member_client: Client, make_asset: object, project: Project
) -> None:
    """A source longer than a model's maximum is marked in the estimate."""
    asset = make_asset(duration=3000.0)
    targets = [{"model": "transcription", "formats": ["json"]}]
    response = member_client.post(
        ESTIMATE, form_body(asset=asset, project=project, targets=targets), **HTMX
    )
    assert "Too long: at most 45:00" in response.content.decode()


def test_estimate_warns_at_eighty_percent_of_budget(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """At 80 % of the monthly budget the estimate warns, with the numbers."""
    project.monthly_budget = 10
    project.save()
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    response = member_client.post(
        ESTIMATE, form_body(asset=ready_asset, project=project, targets=targets), **HTMX
    )
    page = html.unescape(response.content.decode())
    assert (
        "Close to the budget. This task: 8 credits. Spent this month in Demo album: 0 of 10 "
        "(after this task: 8 of 10, 80 %)."
    ) in page


def test_estimate_without_source_asks_for_one(member_client: Client, project: Project) -> None:
    """No source yet: the estimate asks for one instead of guessing."""
    response = member_client.post(ESTIMATE, form_body(project=project), **HTMX)
    assert "Choose a source to see the cost." in response.content.decode()


def test_unknown_duration_counts_one_minute(
    member_client: Client, make_asset: object, project: Project
) -> None:
    """A URL whose length is unknown is estimated at the one-minute minimum, and says so."""
    url_asset = make_asset(url="https://example.com/x.mp3", duration=None)
    response = member_client.post(ESTIMATE, form_body(url_asset=url_asset, project=project), **HTMX)
    page = response.content.decode()
    assert "length unknown until AudioShake reads it" in page
    assert 'data-testid="estimate-total">1<' in page


# Team presets --------------------------------------------------------------------------------


def test_team_preset_saved_and_applied(
    member_client: Client, member: User, ready_asset: Asset, project: Project
) -> None:
    """A member saves the rows as a team preset; its button then fills the rows."""
    targets = [
        {"model": "vocals", "formats": ["flac"], "variant": "high_quality", "residual": True},
        {"model": "transcription", "formats": ["srt"], "language": "de"},
    ]
    body = form_body(
        asset=ready_asset,
        project=project,
        targets=targets,
        save_preset="1",
        preset_name="Podcast lyrics",
    )
    saved = member_client.post(CREATE, body)
    assert "Saved the team preset “Podcast lyrics”." in saved.content.decode()
    preset = Preset.objects.get()
    assert preset.created_by == member
    assert preset.targets == [
        {
            "model": "vocals",
            "variant": "high_quality",
            "formats": ["flac"],
            "residual": True,
            "language": "",
        },
        {
            "model": "transcription",
            "variant": "",
            "formats": ["srt"],
            "residual": False,
            "language": "de",
        },
    ]
    applied = member_client.post(CREATE, form_body(project=project, preset=f"team:{preset.pk}"))
    rows = applied.context["form"].rows
    assert [(r.model_value, r.initial["formats"], r.initial["variant"]) for r in rows] == [
        ("vocals", ["flac"], "high_quality"),
        ("transcription", ["srt"], ""),
    ]
    assert rows[0].initial["residual"] is True
    assert rows[1].initial["language"] == "de"


def test_team_preset_needs_valid_rows_and_a_free_name(
    member_client: Client, member: User, project: Project
) -> None:
    """Invalid rows or a taken name: the preset is not saved, the form keeps its rows."""
    Preset.objects.create(name="Stems", targets=[], created_by=member)
    bad_rows = form_body(
        project=project,
        targets=[{"model": "vocals", "formats": []}],
        save_preset="1",
        preset_name="New",
    )
    response = member_client.post(CREATE, bad_rows)
    assert "Target 1: Choose at least one output format." in response.content.decode()
    taken = form_body(project=project, save_preset="1", preset_name="stems")
    response = member_client.post(CREATE, taken)
    assert "A team preset called “stems” exists already" in response.content.decode()
    assert Preset.objects.count() == 1
    assert rows_of(response) == [(0, "vocals", ["wav"])]


THREE = [
    {"model": "vocals", "formats": ["wav"]},
    {"model": "drums", "formats": ["mp3"]},
    {"model": "bass", "formats": ["flac"]},
]


@pytest.mark.parametrize(
    ("edit", "targets", "focus"),
    [
        ({"add_row": "1"}, THREE, "id_t3-model"),  # the new row
        ({"remove_row_1": "1"}, THREE, "id_t2-model"),  # the next row
        ({"remove_row_2": "1"}, THREE, "id_t1-model"),  # the last: the previous row
        ({"remove_row_0": "1"}, THREE[:1], "targets-title"),  # none left: the heading
        ({"preset": "builtin:karaoke"}, THREE, "id_t0-model"),  # the first row
    ],
)
def test_edits_say_where_focus_goes(
    member_client: Client,
    ready_asset: Asset,
    project: Project,
    edit: dict[str, str],
    targets: list[dict],
    focus: str,
) -> None:
    """With htmx the swap carries `data-focus` (taskform.js moves focus there); without
    JavaScript the whole form comes back with `autofocus` on that element."""
    body = form_body(asset=ready_asset, project=project, targets=targets, **edit)
    fragment = member_client.post(ROWS, body, **HTMX).content.decode()
    assert f'data-focus="{focus}"' in fragment
    assert "autofocus" not in fragment
    page = member_client.post(CREATE, body).content.decode()
    assert "data-focus" not in page
    autofocused = re.findall(r"<[^>]*\bautofocus\b[^>]*>", page)
    assert len(autofocused) == 1
    assert f'id="{focus}"' in autofocused[0]
