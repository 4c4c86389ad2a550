"""GET /tasks (bare array, skip/take, newest first, own account only), GET /tasks/{id},
GET /tasks/statistics and GET /models."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from sandbox.keys import sandbox_client_id
from sandbox.models import SandboxTarget, SandboxTask, TargetStatus
from tests.sandbox.conftest import API

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def make_tasks(count: int, *, client_id: str | None = None) -> list[str]:
    """Tasks created one minute apart, oldest first; returns their ids."""
    start = timezone.now() - timedelta(days=1)
    ids = []
    for i in range(count):
        task = SandboxTask.objects.create(
            client_id=client_id or sandbox_client_id(),
            url="https://example.com/a.wav",
            created_at=start + timedelta(minutes=i),
        )
        SandboxTarget.objects.create(task=task, model="vocals", formats=["wav"])
        ids.append(task.id)
    return ids


def test_list_is_a_bare_array_of_ten_newest_first(api):
    """Default page: 10 tasks, newest first, each the full Task object."""
    ids = make_tasks(12)
    body = api.get(f"{API}/tasks").json()
    assert isinstance(body, list)
    assert [t["id"] for t in body] == ids[::-1][:10]
    assert body[0]["targets"][0]["status"] == "processing"


def test_skip_and_take_page_through_everything(api):
    """Requesting pages until one is short returns every task exactly once."""
    ids = make_tasks(7)
    seen, skip = [], 0
    while True:
        page = api.get(f"{API}/tasks", {"skip": skip, "take": 3}).json()
        seen += [t["id"] for t in page]
        if len(page) < 3:
            break
        skip += 3
    assert seen == ids[::-1]


def test_take_100_is_allowed(api):
    """take's upper bound is 100."""
    make_tasks(2)
    assert len(api.get(f"{API}/tasks", {"take": 100}).json()) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"take": 0}, "querystring/take must be >= 1"),
        ({"take": 101}, "querystring/take must be <= 100"),
        ({"skip": -1}, "querystring/skip must be >= 0"),
        ({"take": "ten"}, "querystring/take must be integer"),
        ({"skip": "1.5"}, "querystring/skip must be integer"),
    ],
)
def test_out_of_bounds_paging_is_400(api, params, message):
    """skip >= 0 and take 1..100, integers."""
    response = api.get(f"{API}/tasks", params)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_list_and_detail_hide_other_accounts_tasks(api):
    """Another account's tasks are neither listed nor readable (404)."""
    (mine,) = make_tasks(1)
    (theirs,) = make_tasks(1, client_id="cotheraccount00000000000a")
    assert [t["id"] for t in api.get(f"{API}/tasks").json()] == [mine]
    assert api.get(f"{API}/tasks/{theirs}").status_code == 404
    assert api.get(f"{API}/tasks/{mine}").json()["id"] == mine


def test_unknown_task_is_404_json(api):
    """An unknown id is a JSON 404 with a message."""
    response = api.get(f"{API}/tasks/cmn5h1wv600edx8fgoboeeg06")
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": 'Task "cmn5h1wv600edx8fgoboeeg06" not found',
    }


@pytest.mark.parametrize("count", [1, 50])
def test_list_query_count_does_not_grow_with_tasks(api, django_assert_num_queries, count):
    """Listing costs 5 queries with 1 task or 50: count the request, read the switches, then
    tasks, targets and outputs (prefetched)."""
    make_tasks(count)
    api.get(f"{API}/tasks")  # the first request creates the counter and switch rows
    with django_assert_num_queries(5, using="sandbox"):
        assert len(api.get(f"{API}/tasks", {"take": 50}).json()) == count


def finished(model: str, *, duration: float, when: datetime, status: str = "completed") -> None:
    task = SandboxTask.objects.create(client_id=sandbox_client_id(), url="https://x.test/a.wav")
    SandboxTarget.objects.create(
        task=task,
        model=model,
        formats=["wav"],
        status=status,
        duration=duration,
        cost=Decimal(1),
        completed_at=when,
    )


def test_usage_statistics_per_month(api):
    """name=usage: per month, completed targets and minutes as a string; errors left out."""
    finished("vocals", duration=90, when=datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    finished("drums", duration=30, when=datetime(2026, 1, 2, tzinfo=UTC))
    finished("bass", duration=600, when=datetime(2026, 2, 1, tzinfo=UTC))
    finished("bass", duration=600, when=datetime(2026, 2, 1, tzinfo=UTC), status="error")
    response = api.get(f"{API}/tasks/statistics", {"name": "usage"})
    assert response.status_code == 200
    assert response.json() == [
        {"month": "2026-01", "totalTargets": 2, "totalMinutes": "2.00"},
        {"month": "2026-02", "totalTargets": 1, "totalMinutes": "10.00"},
    ]
    assert api.get(f"{API}/tasks/statistics").json() == response.json()  # usage is the default


def test_distribution_statistics_per_model(api):
    """name=distribution: per model, completed targets and minutes as a string."""
    when = datetime(2026, 3, 1, tzinfo=UTC)
    finished("vocals", duration=45, when=when)
    finished("vocals", duration=45, when=when)
    finished("drums", duration=200.53, when=when)
    response = api.get(f"{API}/tasks/statistics", {"name": "distribution"})
    assert response.json() == [
        {"model": "drums", "totalTargets": 1, "totalMinutes": "3.34"},
        {"model": "vocals", "totalTargets": 2, "totalMinutes": "1.50"},
    ]


def test_statistics_only_count_this_account(api):
    """Another account's usage is not in this account's statistics."""
    finished("vocals", duration=60, when=datetime(2026, 3, 1, tzinfo=UTC))
    SandboxTask.objects.update(client_id="cotheraccount00000000000a")
    assert api.get(f"{API}/tasks/statistics").json() == []


def test_unknown_statistics_name_is_400(api):
    """Only usage and distribution exist."""
    response = api.get(f"{API}/tasks/statistics", {"name": "daily"})
    assert response.status_code == 400
    assert "usage" in response.json()["message"]


def test_models_envelope_and_fields(api):
    """GET /models is {models: [...]} built from the contract's section 3."""
    body = api.get(f"{API}/models").json()
    models = {m["id"]: m for m in body["models"]}
    assert set(body) == {"models"}
    expected = ["vocals", "instrumental", "drums", "bass", "dialogue", "multi_voice"]
    expected += ["music_detection", "transcription", "alignment", "music_removal"]
    assert set(expected) <= set(models)
    bass = models["bass"]
    assert bass["access"] == "enabled"
    assert bass["creditsPerMinute"] == 1
    assert bass["category"] == "instrumentStemSeparation"
    assert bass["outputFormats"] == ["wav", "mp3", "flac", "aiff", "mp4"]
    assert bass["limits"] == {"maxInputDurationSeconds": 10800}
    assert bass["inputs"][0]["taskFields"] == ["url", "assetId"]
    assert "residual" not in bass  # the documented shape (SANDBOX_MODELS_EXTENDED off)
    assert "variants" not in models["vocals"]
    assert models["dialogue"]["creditsPerMinute"] == 1.5
    assert models["music_removal"]["access"] == "request_access"
    assert "creditsPerMinute" not in models["music_removal"]
    assert models["transcription"]["outputFormats"] == ["json", "srt", "txt"]
    assert "en" in models["transcription"]["supportedLanguages"]
    assert "supportedLanguages" not in bass
    assert models["music_detection"]["outputFormats"] == ["json", "txt"]
    assert models["music_detection"]["creditsPerMinute"] == 0.5
    assert [i["id"] for i in models["alignment"]["inputs"]] == ["media", "transcript"]


def test_models_extended_shape(api, settings):
    """With SANDBOX_MODELS_EXTENDED, GET /models adds the sandbox's `variants` and `residual`."""
    settings.SANDBOX_MODELS_EXTENDED = True
    models = {m["id"]: m for m in api.get(f"{API}/models").json()["models"]}
    assert models["bass"]["residual"] is True
    assert models["vocals"]["variants"] == [{"id": "high_quality", "creditsPerMinute": 1.5}]
    assert [v["id"] for v in models["multi_voice"]["variants"]] == ["two_speaker", "n_speaker"]
    assert "residual" not in models["transcription"]


def test_task_json_leaves_out_what_is_not_there(api):
    """Optional target keys appear only when set: cost once terminal, error only in error."""
    (task_id,) = make_tasks(1)
    target = SandboxTarget.objects.get(task_id=task_id)
    target.status, target.error_code, target.error_message = TargetStatus.ERROR, 415, "no mp4"
    target.cost, target.duration = Decimal(0), 12.345
    target.save()
    body = api.get(f"{API}/tasks/{task_id}").json()["targets"][0]
    assert body["error"] == {"code": 415, "message": "no mp4"}
    assert body["cost"] == 0
    assert body["duration"] == 12.35
    assert body["output"] == []
    assert "variant" not in body
    assert "language" not in body
