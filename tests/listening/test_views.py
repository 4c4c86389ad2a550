"""The Export mix form and the ratings: members only, bad input gets a message (never a
500, nothing written), a rating is one row per member updated in place, and a flagged stem's
"Re-run with high_quality" goes through the usual confirmation (the cost first)."""

import html
import math
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from accounts.models import User
from jobs.models import Output, Target, TargetStatus, Task, WorkItem
from listening.models import MixExport, TargetRating
from tests.listening.conftest import mix_post, stem_pk
from tests.results.test_rerun_get import snapshot
from tests.tasks.helpers import DURATION
from tests.tasks.test_rerun import posted

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def text(response: object) -> str:
    return html.unescape(response.content.decode())


def rate(client: Client, target: Target, verdict: str, note: str = "", **headers: str) -> object:
    prefix = f"rating-{target.pk}"
    return client.post(
        reverse("listening:target_rating", args=[target.pk]),
        {f"{prefix}-verdict": verdict, f"{prefix}-note": note, "next": "/somewhere/?a=1"},
        headers=headers,
    )


def vocals(task: Task) -> Target:
    return task.targets.get(model="vocals")


# The Export mix block ---------------------------------------------------------------------


def test_task_page_shows_the_form_with_one_row_per_kept_stem(
    member_client: Client, stems_task: Task
) -> None:
    """The task page's Export mix block: each kept stem with its gain and pan, the formats."""
    page = text(member_client.get(stems_task.get_absolute_url()))
    assert 'id="mix-export"' in page
    for name in ("vocals", "drums"):
        pk = stem_pk(stems_task, name)
        assert f'name="gain_{pk}"' in page
        assert f'name="pan_{pk}"' in page
    assert "Gain of Vocals (dB)" in page
    assert 'value="mp3"' in page
    assert 'value="flac"' in page


def test_viewers_are_refused_export_rating_and_rerun(
    viewer_client: Client, viewer: User, stems_task: Task
) -> None:
    """A viewer sees no form, and each action answers 403 and writes nothing."""
    page = text(viewer_client.get(stems_task.get_absolute_url()))
    assert "Export mix" in page
    assert 'name="format"' not in page
    assert mix_post(viewer_client, stems_task, {"vocals": 0}).status_code == 403
    assert rate(viewer_client, vocals(stems_task), "good").status_code == 403
    url = reverse("listening:target_rerun_high_quality", args=[vocals(stems_task).pk])
    assert viewer_client.get(url).status_code == 403
    assert not MixExport.objects.exists()
    assert not TargetRating.objects.exists()


def test_viewer_may_download_a_rendered_mix(viewer_client: Client, stems_task: Task) -> None:
    """The download view only asks for a login: a viewer gets a rendered mix."""
    export = MixExport.objects.create(
        task=stems_task, created_by=stems_task.created_by, state="done", progress=100
    )
    export.file.save("x.wav", ContentFile(b"RIFF-rendered"), save=False)
    export.size_bytes = 13
    export.save()
    response = viewer_client.get(reverse("listening:mix_export_download", args=[export.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"RIFF-rendered"


@pytest.mark.parametrize(
    ("gains", "extra", "message"),
    [
        ({}, {}, "Choose at least one stem to mix."),
        ({"vocals": 13}, {}, "Gains go from -60 to +12 dB."),
        ({"vocals": -61}, {}, "Gains go from -60 to +12 dB."),
        ({"vocals": "loud"}, {}, "Gains go from -60 to +12 dB."),
        ({"vocals": 0}, {"format": "ogg"}, "Unknown format: choose WAV, FLAC or MP3."),
        ({"vocals": 0}, {"format": ""}, "This field is required."),
    ],
    ids=["no stems", "too loud", "too quiet", "not a number", "unknown format", "no format"],
)
def test_bad_export_input_gets_a_message_and_writes_nothing(
    member_client: Client, stems_task: Task, gains: dict, extra: dict, message: str
) -> None:
    """Each bad form is answered 200 (htmx swaps it) with its message; no export, no item."""
    response = mix_post(member_client, stems_task, gains, **extra)
    assert response.status_code == 200
    assert message in text(response)
    assert not MixExport.objects.exists()
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.MIX_RENDER).exists()


def test_another_tasks_stem_is_not_mixed(
    member_client: Client, stems_task: Task, task_factory: object
) -> None:
    """A posted output of another task is not a field of this form: nothing to mix."""
    other = task_factory(status="completed", mirrored=True, models=("bass",))
    pk = Output.objects.get(target__task=other).pk
    response = member_client.post(
        reverse("listening:mix_export", args=[stems_task.pk]),
        {"format": "wav", f"use_{pk}": "on", f"gain_{pk}": "0"},
        headers=HTMX,
    )
    assert "Choose at least one stem to mix." in text(response)
    assert not MixExport.objects.exists()


def test_a_task_without_kept_stems_says_so(member_client: Client, task_factory: object) -> None:
    """No kept audio yet: the block says so, and a post is refused with a message."""
    task = task_factory(status="processing")
    assert "No stem of this task is kept yet" in text(member_client.get(task.get_absolute_url()))
    response = member_client.post(
        reverse("listening:mix_export", args=[task.pk]), {"format": "wav"}
    )
    assert response.status_code == 200
    assert "This task has no kept stem to mix yet." in text(response)


def test_export_without_javascript_goes_to_its_status_page(
    member_client: Client, stems_task: Task
) -> None:
    """A plain form post creates the export and redirects to its page, which polls."""
    pk = stem_pk(stems_task, "vocals")
    response = member_client.post(
        reverse("listening:mix_export", args=[stems_task.pk]),
        {"format": "mp3", f"use_{pk}": "on", f"gain_{pk}": "-3"},
    )
    export = MixExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("listening:mix_export_status", args=[export.pk])
    page = text(member_client.get(response["Location"]))
    assert "Mix queued" in page
    assert "Queued" in page
    assert 'hx-trigger="every 2s' in page


def test_the_status_poll_answers_204_while_nothing_changed(
    member_client: Client, stems_task: Task
) -> None:
    """The row sends state.progress; the same answer is 204, a new one the row with its bar."""
    mix_post(member_client, stems_task, {"vocals": 0})
    export = MixExport.objects.get()
    url = reverse("listening:mix_export_status", args=[export.pk])
    assert member_client.get(url, {"v": "queued.0"}, headers=HTMX).status_code == 204
    MixExport.objects.filter(pk=export.pk).update(state="rendering", progress=40)
    response = member_client.get(url, {"v": "queued.0"}, headers=HTMX)
    assert response.status_code == 200
    assert 'value="40"' in text(response)
    assert '"v": "rendering.40"' in text(response)
    download = reverse("listening:mix_export_download", args=[export.pk])
    assert member_client.get(download).status_code == 404


# Ratings ----------------------------------------------------------------------------------


def test_rating_is_saved_shown_and_updated_in_place(
    member_client: Client, member: User, stems_task: Task, admin_user: User
) -> None:
    """A verdict with a note is shown with who gave it; rating again changes that row; another
    member's rating is shown next to it."""
    target = vocals(stems_task)
    response = rate(member_client, target, "good", "clean", **HTMX)
    assert response.status_code == 200
    assert "milo" in text(response)
    assert "Good" in text(response)
    assert "clean" in text(response)
    rate(member_client, target, "bleed", "hi-hat in the vocals", **HTMX)
    rating = TargetRating.objects.get()
    assert (rating.user, rating.verdict, rating.note) == (member, "bleed", "hi-hat in the vocals")
    other = Client()
    other.force_login(admin_user)
    rate(other, target, "artefacts", "", **HTMX)
    page = text(member_client.get(stems_task.get_absolute_url()))
    assert TargetRating.objects.count() == 2
    assert "hi-hat in the vocals" in page
    assert "Artefacts" in page
    assert "ada" in page


def test_rating_without_javascript_goes_back(member_client: Client, stems_task: Task) -> None:
    """A plain post saves and goes back to `next` (same site only)."""
    response = rate(member_client, vocals(stems_task), "good")
    assert response.status_code == 302
    assert response["Location"] == "/somewhere/?a=1"
    target = vocals(stems_task)
    prefix = f"rating-{target.pk}"
    response = member_client.post(
        reverse("listening:target_rating", args=[target.pk]),
        {f"{prefix}-verdict": "good", "next": "https://evil.example/"},
    )
    assert response["Location"] == stems_task.get_absolute_url()


@pytest.mark.parametrize(
    ("verdict", "note", "message"),
    [
        ("", "", "Choose good, bleed or artefacts."),
        ("meh", "", "Choose good, bleed or artefacts."),
        ("good", "x" * 1001, "Keep the note under 1000 characters."),
    ],
    ids=["no verdict", "unknown verdict", "note too long"],
)
def test_bad_rating_gets_a_message(
    member_client: Client, stems_task: Task, verdict: str, note: str, message: str
) -> None:
    """Each bad rating is answered 200 with its message and saves nothing."""
    response = rate(member_client, vocals(stems_task), verdict, note, **HTMX)
    assert response.status_code == 200
    assert message in text(response)
    assert not TargetRating.objects.exists()


def test_a_flag_offers_the_high_quality_rerun_where_the_model_has_it(
    member_client: Client, stems_task: Task
) -> None:
    """Good offers nothing; bleed on vocals offers "Re-run with high_quality"; artefacts on
    drums (no such variant) says the model has none."""
    button = "Re-run Vocals with high_quality"
    assert button not in text(rate(member_client, vocals(stems_task), "good", **HTMX))
    assert button in text(rate(member_client, vocals(stems_task), "bleed", **HTMX))
    drums = stems_task.targets.get(model="drums")
    answer = text(rate(member_client, drums, "artefacts", **HTMX))
    assert "Re-run Drums" not in answer
    assert "offers no high_quality variant" in answer


def test_high_quality_rerun_shows_the_cost_first_then_creates_the_rerun(
    member_client: Client, stems_task: Task
) -> None:
    """The button leads to the usual confirmation of one target, vocals with high_quality at
    its rate, and writes nothing; its Submit creates the re-run (attempt 2) of that target."""
    target = vocals(stems_task)
    rate(member_client, target, "bleed", **HTMX)
    before = snapshot()
    url = reverse("listening:target_rerun_high_quality", args=[target.pk])
    confirmation = member_client.get(url)
    page = text(confirmation)
    assert confirmation.templates[0].name == "jobs/tasks/confirm.html"
    credits = Decimal("1.5") * math.ceil(DURATION / 60)  # 4 billable minutes at 1.5
    assert f"Confirm the re-run of task {stems_task.pk}: 1 target, 6 credits" in page
    assert "high_quality" in page or "High quality" in page
    assert snapshot() == before

    response = member_client.post(reverse("jobs:task_create"), posted(confirmation))
    new = Task.objects.get(rerun_of=stems_task)
    assert response["Location"] == new.get_absolute_url()
    assert [(t.model, t.variant, t.formats, t.status) for t in new.targets.all()] == [
        ("vocals", "high_quality", ["wav"], TargetStatus.PENDING)
    ]
    assert new.estimated_cost == credits


def test_high_quality_rerun_refused_with_a_message_where_it_makes_no_sense(
    member_client: Client, stems_task: Task
) -> None:
    """Drums have no high_quality variant; a source gone from the library cannot be re-run:
    both go back to the task with a message and create nothing."""
    drums = stems_task.targets.get(model="drums")
    response = member_client.get(
        reverse("listening:target_rerun_high_quality", args=[drums.pk]), follow=True
    )
    assert "drums offers no high_quality variant" in text(response)
    Task.objects.filter(pk=stems_task.pk).update(source_asset=None)
    response = member_client.get(
        reverse("listening:target_rerun_high_quality", args=[vocals(stems_task).pk]), follow=True
    )
    assert "source of this task was deleted from the library" in text(response)
    assert Task.objects.count() == 1


def test_admin_lists_exports_and_ratings(stems_task: Task, member: User) -> None:
    """The Django admin shows mix exports (with their stems) and ratings."""
    export = MixExport.objects.create(task=stems_task, created_by=member)
    TargetRating.objects.create(target=vocals(stems_task), user=member, verdict="bleed")
    client = Client()
    client.force_login(User.objects.create_superuser(username="root", password=None))
    for path in [
        "/admin/listening/mixexport/",
        f"/admin/listening/mixexport/{export.pk}/change/",
        "/admin/listening/targetrating/",
    ]:
        assert client.get(path).status_code == 200, path
