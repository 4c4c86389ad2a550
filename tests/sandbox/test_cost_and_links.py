"""Cost arithmetic, completedAt, credits, and the signed, expiring file links."""

import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from sandbox.faults import fault_config, faults_update
from sandbox.keys import sandbox_client_id
from sandbox.links import OUTPUT, link_token
from sandbox.models import SandboxTarget, SandboxTask
from sandbox.services import Failure, OutputFile, target_cost, target_finish
from tests.sandbox.conftest import API

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.mark.parametrize(
    ("model", "variant", "duration", "cost"),
    [
        ("bass", "", 200.53, Decimal(4)),  # the contract's webhook example
        ("vocals", "", 60.0, Decimal(1)),
        ("vocals", "", 60.01, Decimal(2)),
        ("vocals", "high_quality", 61, Decimal("3.0")),
        ("dialogue", "", 30, Decimal("1.5")),
        ("multi_voice", "two_speaker", 600, Decimal(100)),
        ("music_detection", "", 179, Decimal("1.5")),
        ("drums", "", 0.2, Decimal(1)),
        ("drums", "", None, Decimal(0)),
    ],
)
def test_target_cost_is_minutes_rounded_up_times_the_rate(model, variant, duration, cost):
    """cost = ceil(duration / 60) x credits per minute (the variant's when set)."""
    assert target_cost(model=model, variant=variant, duration=duration) == cost


def make_task(*targets: tuple[str, str, float]) -> SandboxTask:
    task = SandboxTask.objects.create(client_id=sandbox_client_id(), url="https://x.test/a.wav")
    for position, (model, variant, duration) in enumerate(targets):
        SandboxTarget.objects.create(
            task=task,
            position=position,
            model=model,
            variant=variant,
            formats=["wav"],
            duration=duration,
        )
    return task


def output_file(name: str) -> OutputFile:
    path = Path(settings.MEDIA_ROOT) / "sandbox" / "outputs" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF0000WAVE")
    return OutputFile(name, "wav", path)


def test_task_cost_is_the_sum_and_completed_at_waits_for_the_last_target():
    """Each terminal target adds its cost; completedAt is set with the last one; an errored
    target costs nothing."""
    task = make_task(("bass", "", 200.53), ("vocals", "high_quality", 90), ("drums", "", 30))
    bass, vocals, drums = task.targets.all()
    assert target_finish(target_id=bass.id, outputs=[output_file("bass")])
    task.refresh_from_db()
    assert (task.cost, task.completed_at) == (Decimal(4), None)
    assert target_finish(target_id=vocals.id, failure=Failure(500, "boom"))
    task.refresh_from_db()
    assert (task.cost, task.completed_at) == (Decimal(4), None)
    assert target_finish(target_id=drums.id, outputs=[output_file("drums")])
    task.refresh_from_db()
    assert task.cost == Decimal(5)
    assert task.completed_at is not None
    vocals.refresh_from_db()
    assert (vocals.status, vocals.cost, vocals.error_code) == ("error", Decimal(0), 500)


def test_charge_errors_switch_charges_errored_targets():
    """With charge_errors on, an errored target is charged like a completed one."""
    task = make_task(("vocals", "high_quality", 90))
    target = task.targets.get()
    assert target_finish(target_id=target.id, failure=Failure(500, "x"), charge_errors=True)
    task.refresh_from_db()
    assert task.cost == Decimal(3)


def test_finishing_twice_changes_nothing():
    """A target finishes once; a second transition is refused and charges nothing more."""
    faults_update(changes={"credits_balance": Decimal(10)})
    target = make_task(("bass", "", 61)).targets.get()
    assert target_finish(target_id=target.id, outputs=[output_file("bass")])
    assert not target_finish(target_id=target.id, failure=Failure(500, "late"))
    target.refresh_from_db()
    assert target.status == "completed"
    assert fault_config().credits_balance == Decimal(8)


def test_credits_run_out_then_tasks_are_refused(api, create_task, asset_id):
    """A limited balance shrinks with each charge; at zero, POST /tasks answers 402."""
    faults_update(changes={"credits_balance": Decimal(1)})
    target = make_task(("bass", "", 61)).targets.get()
    target_finish(target_id=target.id, outputs=[output_file("bass")])
    assert fault_config().credits_balance == Decimal(-1)
    body = {"assetId": asset_id, "targets": [{"model": "bass", "formats": ["wav"]}]}
    assert create_task(body).status_code == 402


def completed_task_json(api) -> dict:
    task = make_task(("bass", "", 10))
    target = task.targets.get()
    target_finish(target_id=target.id, outputs=[output_file("bass")])
    return api.get(f"{API}/tasks/{task.id}").json()


def test_completed_target_has_one_output_per_file_with_a_working_link(api):
    """A completed target lists {name, format, link}; the link serves the file."""
    output = completed_task_json(api)["targets"][0]["output"]
    assert [(o["name"], o["format"]) for o in output] == [("bass", "wav")]
    link = output[0]["link"]
    assert link.startswith("http://testserver/sandbox/files/")
    assert link.endswith("/bass.wav")
    response = api.get(link.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == b"RIFF0000WAVE"


def test_links_need_no_api_key_and_no_login(client, api):
    """The signed token is the credential: no key, no session."""
    link = completed_task_json(api)["targets"][0]["output"][0]["link"]
    assert client.get(link.removeprefix("http://testserver")).status_code == 200


def test_expired_link_is_403(api, client):
    """A link past its lifetime answers 403 with a JSON message."""
    link = completed_task_json(api)["targets"][0]["output"][0]["link"]
    path = link.removeprefix("http://testserver")
    token = path.split("/")[3]
    output_id = SandboxTarget.objects.get().outputs.get().pk
    expired = link_token(kind=OUTPUT, object_id=output_id, ttl_seconds=3600, now=time.time() - 3601)
    response = client.get(path.replace(token, expired))
    assert response.status_code == 403
    assert response.json()["message"].startswith("This link has expired")


def test_link_ttl_zero_makes_links_expire_at_once(api, client):
    """link_ttl_seconds lets tests make links that are already expired."""
    api.post(f"{API}/_control/faults", {"link_ttl_seconds": 0}, content_type="application/json")
    link = completed_task_json(api)["targets"][0]["output"][0]["link"]
    assert client.get(link.removeprefix("http://testserver")).status_code == 403


def test_links_last_an_hour_by_default(api, client):
    """A link made now still works 59 minutes from now and not after an hour."""
    completed_task_json(api)
    output_id = SandboxTarget.objects.get().outputs.get().pk
    now = time.time()
    fresh = link_token(kind=OUTPUT, object_id=output_id, ttl_seconds=3600, now=now - 59 * 60)
    stale = link_token(kind=OUTPUT, object_id=output_id, ttl_seconds=3600, now=now - 3600)
    assert client.get(f"/sandbox/files/{fresh}/bass.wav").status_code == 200
    assert client.get(f"/sandbox/files/{stale}/bass.wav").status_code == 403


def test_tampered_link_is_403(api, client):
    """Changing the token (e.g. to another file's id) breaks its signature."""
    link = completed_task_json(api)["targets"][0]["output"][0]["link"]
    path = link.removeprefix("http://testserver")
    token = path.split("/")[3]
    payload, rest = token.split(":", 1)
    response = client.get(path.replace(token, payload[:-2] + "xx:" + rest))
    assert response.status_code == 403
    assert response.json()["message"] == "Invalid link signature"


def test_link_with_another_file_name_is_404(api, client):
    """The name in the link must be the file's own."""
    link = completed_task_json(api)["targets"][0]["output"][0]["link"]
    path = link.removeprefix("http://testserver").replace("/bass.wav", "/drums.wav")
    assert client.get(path).status_code == 404


def test_links_use_the_host_the_client_used(api):
    """Links are absolute on the host (and scheme) of the request."""
    task = completed_task_json(api)
    again = api.get(f"{API}/tasks/{task['id']}", headers={"host": "127.0.0.1:8000"}).json()
    assert again["targets"][0]["output"][0]["link"].startswith("http://127.0.0.1:8000/sandbox/")
