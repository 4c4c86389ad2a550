"""Fault injection through /_control/faults, request counts, reset and env defaults."""

import json

import pytest

from sandbox import api as sandbox_api
from sandbox.models import SandboxTask
from tests.sandbox.conftest import API

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

VOCALS = {"model": "vocals", "formats": ["wav"]}


@pytest.fixture
def faults(api):
    """faults(**switches) sets fault switches through the control API."""

    def set_(**changes):
        response = api.post(f"{API}/_control/faults", changes, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    return set_


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """The sandbox's sleeps (latency, hangs), recorded instead of waited."""
    calls: list[float] = []
    monkeypatch.setattr(sandbox_api.time, "sleep", calls.append)
    return calls


def test_faults_read_and_update(api, faults):
    """GET shows every switch; POST changes only the ones sent."""
    before = api.get(f"{API}/_control/faults").json()
    assert before["latency_ms"] == 0
    assert before["link_ttl_seconds"] == 3600
    assert before["credits_balance"] is None
    after = faults(latency_ms=250, credits_balance=12.5)
    assert after["latency_ms"] == 250
    assert after["credits_balance"] == 12.5
    assert after["link_ttl_seconds"] == 3600


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nope": 1}, "Unknown fault setting(s): nope"),
        ({"latency_ms": -1}, "latency_ms must be between 0 and 600000"),
        ({"latency_ms": "5"}, "latency_ms must be an integer"),
        ({"instant": 1}, "instant must be true or false"),
        ({"target_error_rate": 1.5}, "target_error_rate must be between 0 and 1"),
        ({"fail_status": 418}, "fail_status must be one of 500, 502, 503, 504"),
        ({"webhook_url": "ftp://x"}, "webhook_url must be an http(s) URL or empty"),
        ({"scope": "POST /tasks"}, 'scope must be a list of "METHOD /path" patterns'),
        ({"credits_balance": "lots"}, "credits_balance must be a number or null (unlimited)"),
        ([1, 2], "Send a JSON object of fault settings"),
    ],
)
def test_invalid_fault_settings_are_400(api, changes, message):
    """Bad switches are refused with a message naming the field; nothing changes."""
    response = api.post(f"{API}/_control/faults", changes, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_latency_is_added_to_requests(api, faults, slept):
    """latency_ms delays every API request by that much."""
    faults(latency_ms=300)
    assert api.get(f"{API}/models").status_code == 200
    assert slept == [0.3]


def test_rate_limit_next_gives_429_with_retry_after(api, faults):
    """The next N requests get 429 with Retry-After in seconds, then service resumes."""
    faults(rate_limit_next=2, retry_after_seconds=7)
    for _ in range(2):
        response = api.get(f"{API}/tasks")
        assert response.status_code == 429
        assert response["Retry-After"] == "7"
        assert response.json()["error"] == "Too Many Requests"
    assert api.get(f"{API}/tasks").status_code == 200


def test_real_rate_limiter(api, faults):
    """With the limiter on, requests past N per second get 429."""
    faults(rate_limit_enabled=True, rate_limit_per_second=3)
    statuses = [api.get(f"{API}/models").status_code for _ in range(5)]
    assert statuses.count(429) >= 2
    assert statuses[0] == 200


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fail_5xx_next_gives_json_server_errors(api, faults, status):
    """fail_5xx_next answers with fail_status and a JSON body, once per count."""
    faults(fail_5xx_next=1, fail_status=status)
    response = api.get(f"{API}/tasks")
    assert response.status_code == status
    assert response.json()["statusCode"] == status
    assert api.get(f"{API}/tasks").status_code == 200


def test_html_errors_give_an_html_page(api, faults):
    """With html_errors the injected error is an HTML page, like a proxy's."""
    faults(fail_5xx_next=1, fail_status=502, html_errors=True)
    response = api.get(f"{API}/tasks")
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>502 Bad Gateway</h1>" in response.content


def test_garbage_next_gives_200_with_a_broken_body(api, faults):
    """garbage_next answers 200 with a body that is not valid JSON."""
    faults(garbage_next=1)
    response = api.get(f"{API}/tasks")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_hang_next_holds_then_504_without_processing(api, faults, slept, create_task, asset_id):
    """hang_next holds the request for hang_seconds, then 504, and does nothing else."""
    faults(hang_next=1, hang_seconds=20)
    response = create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert response.status_code == 504
    assert slept == [20.0]
    assert not SandboxTask.objects.exists()


def test_create_response_lost_creates_the_task_then_502(api, faults, create_task, asset_id):
    """The task IS created, but the caller gets a 502; exactly one POST /tasks arrived."""
    faults(create_response_lost_next=1)
    response = create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert response.status_code == 502
    assert SandboxTask.objects.count() == 1
    assert len(api.get(f"{API}/tasks").json()) == 1
    assert api.get(f"{API}/_control/requests").json()["POST /tasks"] == 1
    assert create_task({"assetId": asset_id, "targets": [VOCALS]}).status_code == 200


def test_create_response_lost_can_hang(api, faults, slept, create_task, asset_id):
    """In hang mode the created task's response is held past the client's timeout."""
    faults(create_response_lost_next=1, create_response_lost_mode="hang", hang_seconds=3)
    assert create_task({"assetId": asset_id, "targets": [VOCALS]}).status_code == 504
    assert slept == [3.0]
    assert SandboxTask.objects.count() == 1


def test_scope_limits_faults_to_some_routes(api, faults, create_task, asset_id):
    """With a scope, the counters fire only on the listed routes."""
    faults(fail_5xx_next=1, scope=["POST /tasks"])
    assert api.get(f"{API}/tasks").status_code == 200
    assert api.get(f"{API}/models").status_code == 200
    assert create_task({"assetId": asset_id, "targets": [VOCALS]}).status_code == 503
    assert create_task({"assetId": asset_id, "targets": [VOCALS]}).status_code == 200


def test_faults_do_not_touch_the_control_api(api, faults):
    """The control endpoints stay usable whatever is injected."""
    faults(fail_5xx_next=5, rate_limit_next=5)
    assert api.get(f"{API}/_control/faults").status_code == 200
    assert api.post(f"{API}/_control/reset").status_code == 200


def test_requests_are_counted_even_when_they_fail(api, client, faults, create_task, asset_id):
    """Counts by route pattern include refused, invalid and fault-hit requests."""
    api.post(f"{API}/_control/reset")  # after the asset_id fixture's upload
    client.get(f"{API}/tasks")  # 401
    create_task({"targets": []})  # 400
    faults(fail_5xx_next=1)
    api.get(f"{API}/tasks/cmn5h1wv600edx8fgoboeeg06")  # 503
    api.get(f"{API}/tasks/cmn5h1wv600edx8fgoboeeg06")  # 404
    create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert api.get(f"{API}/_control/requests").json() == {
        "GET /tasks": 1,
        "POST /tasks": 2,
        "GET /tasks/{id}": 2,
    }


def test_reset_restores_defaults_and_clears_counts(api, faults):
    """Reset: switches back to their defaults, counts emptied."""
    faults(latency_ms=5, instant=True, fail_5xx_next=3)
    api.get(f"{API}/models")
    body = api.post(f"{API}/_control/reset").json()
    assert (body["latency_ms"], body["instant"], body["fail_5xx_next"]) == (0, False, 0)
    assert api.get(f"{API}/_control/requests").json() == {}


def test_environment_defaults_apply(api, settings):
    """SANDBOX_FAULTS provides the defaults that reset returns to."""
    settings.SANDBOX_FAULTS = {"credits_balance": 10, "link_ttl_seconds": 60}
    body = api.post(f"{API}/_control/reset").json()
    assert body["credits_balance"] == 10
    assert body["link_ttl_seconds"] == 60


def test_invalid_environment_defaults_fail_loudly(api, settings):
    """A typo in SANDBOX_FAULTS is a configuration error, not a silent default."""
    from django.core.exceptions import ImproperlyConfigured

    from sandbox.faults import faults_reset

    settings.SANDBOX_FAULTS = {"latency": 10}
    with pytest.raises(ImproperlyConfigured, match="Unknown fault setting"):
        faults_reset()


def test_faults_apply_to_file_links(api, faults, upload):
    """Download links can be made to fail too (pattern "GET /files/{token}")."""
    link = upload().json()["link"].removeprefix("http://testserver")
    faults(fail_5xx_next=1, scope=["GET /files/{token}"])
    assert api.get(link).status_code == 503
    assert api.get(link).status_code == 200
