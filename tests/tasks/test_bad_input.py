"""Each bad input to the create form gets its own message, nothing is written, and the
sandbox (the live server's AudioShake) receives no request at all."""

import html
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import Project
from jobs.catalogue import Catalogue
from jobs.models import Asset, Task, WorkItem
from sandbox.keys import sandbox_api_key
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")
LIVE = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def sandbox_requests(base: str) -> dict[str, int]:
    response = requests.get(
        f"{base}/_control/requests", headers={"x-api-key": sandbox_api_key()}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def enabled_targets(catalogue: Catalogue, count: int) -> list[dict[str, Any]]:
    models = [m for m in catalogue.models.values() if m.is_enabled]
    assert len(models) >= count
    return [{"model": m.key, "formats": m.output_formats[:1]} for m in models[:count]]


def _zero(ctx: dict[str, Any]) -> dict[str, Any]:
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=[])


def _twenty_one(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = enabled_targets(ctx["catalogue"], 21)
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _duplicate(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "vocals", "formats": ["mp3"]}]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _duplicate_variant(ctx: dict[str, Any]) -> dict[str, Any]:
    target = {"model": "vocals", "formats": ["wav"], "variant": "high_quality"}
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=[target, target])


def _format(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [{"model": "transcription", "formats": ["json", "wav"]}]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _no_format(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [{"model": "drums", "formats": []}]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _metadata(ctx: dict[str, Any]) -> dict[str, Any]:
    return form_body(asset=ctx["asset"], project=ctx["project"], metadata="x" * 4097)


def _both(ctx: dict[str, Any]) -> dict[str, Any]:
    return form_body(asset=ctx["asset"], url_asset=ctx["url_asset"], project=ctx["project"])


def _neither(ctx: dict[str, Any]) -> dict[str, Any]:
    return form_body(project=ctx["project"])


def _expired_no_copy(ctx: dict[str, Any]) -> dict[str, Any]:
    asset = ctx["make_asset"](name="Gone.wav", expired=True, local=False)
    return form_body(asset=asset, project=ctx["project"])


def _over_budget(ctx: dict[str, Any]) -> dict[str, Any]:
    project = ctx["project"]
    project.monthly_budget = Decimal(5)
    project.save()
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    return form_body(asset=ctx["asset"], project=project, targets=targets)


def _too_long(ctx: dict[str, Any]) -> dict[str, Any]:
    asset = ctx["make_asset"](name="Long take.wav", duration=3000.0)
    targets = [{"model": "transcription", "formats": ["json"]}]
    return form_body(asset=asset, project=ctx["project"], targets=targets)


def _gated(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [{"model": "music_removal", "formats": ["wav"]}]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _unknown_model(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [{"model": "kazoo", "formats": ["wav"]}]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _plain_http_transcript(ctx: dict[str, Any]) -> dict[str, Any]:
    targets = [
        {"model": "alignment", "formats": ["json"], "transcript_url": "http://example.com/l.txt"}
    ]
    return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)


def _transcript_at(url: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def build(ctx: dict[str, Any]) -> dict[str, Any]:
        targets = [{"model": "alignment", "formats": ["json"], "transcript_url": url}]
        return form_body(asset=ctx["asset"], project=ctx["project"], targets=targets)

    return build


def _no_project(ctx: dict[str, Any]) -> dict[str, Any]:
    return form_body(asset=ctx["asset"])


CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    ("zero targets", _zero, "Add at least one target."),
    ("21 targets", _twenty_one, "A task takes at most 20 targets; this one has 21."),
    ("duplicate", _duplicate, "Duplicate target: Vocals is already target 1."),
    (
        "duplicate variant",
        _duplicate_variant,
        "Duplicate target: Vocals (High quality) is already target 1.",
    ),
    (
        "format",
        _format,
        "“wav” is not an output format of Lyric transcription (it offers json, srt, txt).",
    ),
    ("no format", _no_format, "Choose at least one output format."),
    ("metadata 4097", _metadata, "Metadata is 4097 characters long; at most"),
    ("both sources", _both, "Choose one source: audio from the library or a registered URL"),
    ("neither source", _neither, "Choose a source: audio from the library or a registered URL."),
    (
        "expired, no local copy",
        _expired_no_copy,
        "“Gone.wav” expired on AudioShake and no local copy was kept",
    ),
    (
        "over budget",
        _over_budget,
        "Over budget. This task: 8 credits. Spent this month in Demo album: 0 of 5 "
        "(after this task: 8 of 5, 160 %).",
    ),
    ("longer than the model allows", _too_long, "The source is 50:00 long; Lyric transcription"),
    ("gated model", _gated, "Access to Music removal must be requested from AudioShake"),
    ("unknown model", _unknown_model, "“kazoo” is not a model in the catalogue."),
    ("http transcript", _plain_http_transcript, "AudioShake fetches transcripts over HTTPS only."),
    # The source-URL rules (public HTTPS only) apply to transcripts too.
    (
        "loopback transcript",
        _transcript_at("https://127.0.0.1:8443/l.txt"),
        "“127.0.0.1” is not a public address",
    ),
    (
        "private transcript",
        _transcript_at("https://10.1.2.3/l.json"),
        "“10.1.2.3” is not a public address",
    ),
    (
        "localhost transcript",
        _transcript_at("https://localhost/l.txt"),
        "“localhost” is not a public address",
    ),
    (
        "numeric-host transcript",
        _transcript_at("https://2130706433/l.txt"),  # 127.0.0.1; URLField refuses it first
        "Enter a valid URL.",
    ),
    (
        "credentials in transcript",
        _transcript_at("https://user:pw@cdn.example.com/l.txt"),
        "must not contain a user name or password",
    ),
    ("no project", _no_project, "Choose the project this task is billed to."),
]


def post_bad_input(
    client: Client,
    build: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    step: str,
    catalogue: Catalogue,
    project: Project,
    ready_asset: Asset,
    make_asset: Callable[..., Asset],
) -> str:
    """Post the bad form; check it came back as the form with nothing written. Returns the
    page's text."""
    url_asset = make_asset(name="Remote", url="https://example.com/a.mp3")
    ctx = {
        "catalogue": catalogue,
        "project": project,
        "asset": ready_asset,
        "url_asset": url_asset,
        "make_asset": make_asset,
    }
    body = build(ctx)
    body["step"] = step
    response = client.post(CREATE, body)
    assert response.status_code == 200
    assert response.templates[0].name == "jobs/tasks/create.html"
    assert Task.objects.count() == 0
    assert not WorkItem.objects.exclude(kind=WorkItem.Kind.CATALOGUE_SYNC).exists()
    return html.unescape(response.content.decode())


@LIVE
@pytest.mark.parametrize(("case", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_message_and_sends_nothing(
    sandbox_api: str,
    member_client: Client,
    catalogue: Catalogue,
    project: Project,
    ready_asset: Asset,
    make_asset: Callable[..., Asset],
    case: str,
    build: Callable[[dict[str, Any]], dict[str, Any]],
    message: str,
) -> None:
    """Confirming a bad form: its message, no task, no work item, no request to the API."""
    page = post_bad_input(
        member_client,
        build,
        step="confirm",
        catalogue=catalogue,
        project=project,
        ready_asset=ready_asset,
        make_asset=make_asset,
    )
    assert message in page
    assert sandbox_requests(sandbox_api) == {}


@pytest.mark.parametrize(("case", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_the_confirmation(
    member_client: Client,
    catalogue: Catalogue,
    project: Project,
    ready_asset: Asset,
    make_asset: Callable[..., Asset],
    case: str,
    build: Callable[[dict[str, Any]], dict[str, Any]],
    message: str,
) -> None:
    """Reviewing a bad form shows the form again with the message, never the confirmation."""
    page = post_bad_input(
        member_client,
        build,
        step="review",
        catalogue=catalogue,
        project=project,
        ready_asset=ready_asset,
        make_asset=make_asset,
    )
    assert message in page
    assert "Confirm:" not in page


@LIVE
@pytest.mark.parametrize(
    "url",
    [
        reverse("jobs:task_create"),
        reverse("jobs:task_rows"),
        reverse("jobs:task_estimate"),
        reverse("jobs:task_rerun", args=[1]),
    ],
)
def test_viewer_cannot_submit(
    sandbox_api: str, viewer_client: Client, project: Project, ready_asset: Asset, url: str
) -> None:
    """A viewer gets 403 with the reason from every spending endpoint; nothing is sent."""
    body = form_body(asset=ready_asset, project=project, step="confirm")
    response = viewer_client.post(url, body)
    assert response.status_code == 403
    assert "Viewers cannot upload audio or spend credits" in response.content.decode()
    assert Task.objects.count() == 0
    assert sandbox_requests(sandbox_api) == {}


@LIVE
def test_valid_submission_makes_no_api_call_either(
    sandbox_api: str, member_client: Client, project: Project, ready_asset: Asset
) -> None:
    """Even a good submission only writes the intent: the poller makes the call later."""
    body = form_body(asset=ready_asset, project=project, step="confirm")
    assert member_client.post(CREATE, body).status_code == 302
    assert Task.objects.count() == 1
    assert sandbox_requests(sandbox_api) == {}


def test_viewer_sees_no_new_task_button(viewer_client: Client) -> None:
    """The list offers "New task" to members only."""
    page = viewer_client.get(reverse("jobs:task_list")).content.decode()
    assert reverse("jobs:task_create") not in page


def test_viewer_get_of_the_form_is_refused(viewer_client: Client) -> None:
    """Viewers cannot even open the form."""
    assert viewer_client.get(CREATE).status_code == 403


def test_errors_keep_what_was_typed(
    member_client: Client, project: Project, ready_asset: Asset
) -> None:
    """A refused form comes back with every value as typed (nothing lost)."""
    body = form_body(
        asset=ready_asset,
        project=project,
        metadata="My notes\nsecond line",
        targets=[
            {"model": "vocals", "formats": ["flac"], "variant": "high_quality"},
            {"model": "vocals", "formats": ["mp3"], "variant": "high_quality"},
        ],
    )
    response = member_client.post(CREATE, body)
    page = html.unescape(response.content.decode())
    assert "Duplicate target" in page
    assert "Check target 2: it needs a change (marked below)." in page
    assert "My notes\nsecond line" in page
    form = response.context["form"]
    assert [row["formats"].value() for row in form.rows] == [["flac"], ["mp3"]]
    assert form["asset"].value() == str(ready_asset.pk)
