"""`POST /tasks`, `GET /tasks`, `GET /tasks/{id}` over real HTTP (live server + requests)."""

import threading
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.db import connection

from accounts.models import Project, Role, User
from audit.models import AuditEvent
from jobs.models import Asset, Output, Target, TargetStatus, Task, WorkItem
from jobs.progress import task_changed

pytestmark = pytest.mark.django_db(transaction=True)


def body(asset: Asset, project: Project, **extra: Any) -> dict:
    return {
        "asset": asset.pk,
        "project": project.pk,
        "targets": [{"model": "vocals", "formats": ["wav"]}],
        **extra,
    }


def test_create_task_queues_it_for_the_poller(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """A valid body is one task with its targets and estimate, queued like a form's (201)."""
    response = call("POST", "/tasks", token_for(member), json=body(ready_asset, project))
    assert response.status_code == 201, response.text
    data = response.json()
    task = Task.objects.get()
    assert data["id"] == task.pk
    assert task.created_by == member
    assert [t["model"] for t in data["targets"]] == ["vocals"]
    assert data["targets"][0]["status"] == "pending"
    assert task.estimated_cost > 0
    assert data["estimated_cost"] is None  # no credit figures without the cost permission
    assert data["url"].endswith(task.get_absolute_url())
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT, task=task).count() == 1
    event = AuditEvent.objects.get(action="task_submitted")
    assert (event.actor, event.via, event.object_id) == (member, "api", str(task.pk))


def test_same_key_same_body_is_the_same_task(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """A retry with the same Idempotency-Key and body answers 200 with the first task."""
    token = token_for(member)
    headers = {"Idempotency-Key": "nightly-2026-12-04"}
    first = call("POST", "/tasks", token, json=body(ready_asset, project), headers=headers)
    again = call("POST", "/tasks", token, json=body(ready_asset, project), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Task.objects.count() == 1


def test_same_key_different_body_is_a_conflict(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """The same key with another body is refused (409) and creates nothing."""
    token = token_for(member)
    headers = {"Idempotency-Key": "k1"}
    call("POST", "/tasks", token, json=body(ready_asset, project), headers=headers)
    other = body(ready_asset, project, metadata="something else")
    response = call("POST", "/tasks", token, json=other, headers=headers)
    assert response.status_code == 409
    assert "different request" in response.json()["detail"]
    assert Task.objects.count() == 1


def test_one_key_is_per_member(
    call: Any, token_for: Any, member: User, admin_user: User, ready_asset: Asset, project: Project
) -> None:
    """Two members using the same key string get a task each: the key is scoped to its user."""
    headers = {"Idempotency-Key": "same"}
    a = call("POST", "/tasks", token_for(member), json=body(ready_asset, project), headers=headers)
    b = call(
        "POST", "/tasks", token_for(admin_user), json=body(ready_asset, project), headers=headers
    )
    assert (a.status_code, b.status_code) == (201, 201)
    assert Task.objects.count() == 2


def test_twenty_concurrent_calls_with_one_key_make_one_task(
    live_server: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """20 calls at the same moment with one Idempotency-Key: one task, one submit intent;
    one call gets 201, the other 19 get 200, all with the same task."""
    token = token_for(member)
    url = f"{live_server.url}/api/v1/tasks"
    payload = body(ready_asset, project)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst"}
    barrier = threading.Barrier(20)
    answers: list[tuple[int, int]] = []
    failures: list[str] = []

    def post() -> None:
        try:
            with requests.Session() as session:
                barrier.wait(timeout=30)
                response = session.post(url, json=payload, headers=headers, timeout=120)
            if response.status_code in (200, 201):
                answers.append((response.status_code, response.json()["id"]))
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not failures, failures
    task = Task.objects.get()
    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    assert {pk for _, pk in answers} == {task.pk}
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 1
    assert AuditEvent.objects.filter(action="task_submitted").count() == 1


def test_viewer_token_is_refused_on_spending_calls(
    call: Any, token_for: Any, viewer: User, ready_asset: Asset, project: Project
) -> None:
    """A viewer's token may read but not create a task (403, nothing created)."""
    token = token_for(viewer)
    response = call("POST", "/tasks", token, json=body(ready_asset, project))
    assert response.status_code == 403
    assert "Viewers cannot" in response.json()["detail"]
    assert not Task.objects.exists()
    assert call("GET", "/tasks", token).status_code == 200


def test_a_token_acts_with_its_users_role_now(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """A member demoted to viewer keeps their token, but it can no longer spend."""
    token = token_for(member)
    member.role = Role.VIEWER
    member.save(update_fields=["role"])
    assert call("POST", "/tasks", token, json=body(ready_asset, project)).status_code == 403


def test_invalid_body_names_each_problem(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """An unknown model and a missing field come back as 400 with a message per field."""
    token = token_for(member)
    bad = body(ready_asset, project, targets=[{"model": "kazoo", "formats": ["wav"]}])
    response = call("POST", "/tasks", token, json=bad)
    assert response.status_code == 400
    assert "kazoo" in " ".join(response.json()["errors"]["targets.0.model"])
    missing = call("POST", "/tasks", token, json={"asset": ready_asset.pk})
    assert missing.status_code == 400
    assert "targets" in missing.json()["errors"]
    garbage = call(
        "POST", "/tasks", token, data="{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert not Task.objects.exists()


def test_unknown_asset_is_a_clear_error(
    call: Any, token_for: Any, member: User, project: Project, catalogue: Any
) -> None:
    """An asset id that is not in the library is refused with the form's message."""
    response = call(
        "POST",
        "/tasks",
        token_for(member),
        json={
            "asset": 999999,
            "project": project.pk,
            "targets": [{"model": "vocals", "formats": ["wav"]}],
        },
    )
    assert response.status_code == 400
    assert "asset" in response.json()["errors"]


def test_budget_applies_to_api_calls(
    call: Any,
    token_for: Any,
    member: User,
    admin_user: User,
    ready_asset: Asset,
    project: Project,
) -> None:
    """Over the project's budget a member is refused (403); an admin may override it, which
    is recorded on the task and in the audit log."""
    project.monthly_budget = Decimal("0.5")
    project.save(update_fields=["monthly_budget"])
    refused = call("POST", "/tasks", token_for(member), json=body(ready_asset, project))
    assert refused.status_code == 403
    assert "budget" in refused.json()["detail"].lower()
    admin_token = token_for(admin_user)
    assert call("POST", "/tasks", admin_token, json=body(ready_asset, project)).status_code == 403
    response = call(
        "POST", "/tasks", admin_token, json=body(ready_asset, project, budget_override=True)
    )
    assert response.status_code == 201
    assert response.json()["budget_overridden"] is True
    assert Task.objects.get().budget_override_by == admin_user
    assert AuditEvent.objects.filter(action="budget_overridden", actor=admin_user).count() == 1


def _finished_task(member: User, project: Project, asset: Asset) -> tuple[Task, Output]:
    task = Task.objects.create(
        form_token="00000000-0000-0000-0000-000000000001",
        project=project,
        created_by=member,
        source_asset=asset,
        source_name=asset.name,
        submission_state="submitted",
        remote_id="remote-1",
    )
    target = Target.objects.create(
        task=task, model="vocals", formats=["wav"], status=TargetStatus.COMPLETED, cost=4
    )
    failed = Target.objects.create(
        task=task,
        position=1,
        model="drums",
        formats=["wav"],
        status=TargetStatus.ERROR,
        error_message="Model failed on this input",
    )
    output = Output.objects.create(
        target=target, name="vocals", format="wav", mirror_state=Output.MirrorState.MIRRORED
    )
    output.file.save("vocals.wav", __import__("io").BytesIO(b"RIFF-not-really-audio"))
    task_changed([task.pk])
    assert failed.pk
    return task, output


def test_read_a_task_with_targets_and_download_links(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """A task reads with each target's status, cost and error, and its outputs' dashboard
    links, which the same token downloads (and the download is in the audit log)."""
    task, output = _finished_task(member, project, ready_asset)
    token = token_for(member)
    data = call("GET", f"/tasks/{task.pk}", token).json()
    assert data["state"] == "partial"
    vocals, drums = data["targets"]
    assert (vocals["status"], drums["status"]) == ("completed", "error")
    assert drums["error"] == "Model failed on this input"
    assert vocals["cost"] is None  # a member without the cost permission sees no credits
    link = vocals["outputs"][0]
    assert link["kept"] is True
    assert link["url"].endswith(f"/outputs/{output.pk}/download/")
    download = requests.get(link["url"], headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert download.status_code == 200
    assert download.content == b"RIFF-not-really-audio"
    assert "sessionid" not in download.cookies
    anonymous = requests.get(link["url"], allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302  # to the log-in page: the link is checked
    bad = requests.get(link["url"], headers={"Authorization": "Bearer shk_x_y"}, timeout=30)
    assert bad.status_code == 401
    event = AuditEvent.objects.get(action="output_downloaded")
    assert (event.actor, event.via) == (member, "api")


def test_missing_task_is_404_json(call: Any, token_for: Any, member: User) -> None:
    """An unknown task id is a JSON 404 with a message."""
    response = call("GET", "/tasks/424242", token_for(member))
    assert response.status_code == 404
    assert response.json()["detail"] == "No task 424242."


def test_list_tasks_pages_and_filters(
    call: Any,
    token_for: Any,
    member: User,
    admin_user: User,
    ready_asset: Asset,
    project: Project,
) -> None:
    """The list is newest first, a page at a time, and filters by project and member."""
    token = token_for(member)
    for n in range(3):
        call("POST", "/tasks", token, json=body(ready_asset, project, metadata=f"take {n}"))
    other = Project.objects.create(name="Other", code="other")
    call("POST", "/tasks", token_for(admin_user), json=body(ready_asset, other))
    page = call("GET", "/tasks", token, params={"page_size": 2}).json()
    assert page["has_next"] is True
    assert len(page["tasks"]) == 2
    newest = list(Task.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert [t["id"] for t in page["tasks"]] == newest[:2]
    second = call("GET", "/tasks", token, params={"page_size": 2, "page": 2}).json()
    assert [t["id"] for t in second["tasks"]] == newest[2:4]
    assert second["has_next"] is False
    mine = call("GET", "/tasks", token, params={"project": project.pk}).json()["tasks"]
    assert len(mine) == 3
    theirs = call("GET", "/tasks", token, params={"member": admin_user.username}).json()["tasks"]
    assert [t["project_id"] for t in theirs] == [other.pk]
    assert call("GET", "/tasks", token, params={"status": "nonsense"}).status_code == 400
    assert call("GET", "/tasks", token, params={"page_size": 1000}).status_code == 400


def test_task_above_the_approval_threshold_waits(
    call: Any, token_for: Any, member: User, ready_asset: Asset, project: Project
) -> None:
    """The API obeys the project's approval threshold like the form: the task is created
    (201) but waits for an admin, says why, and nothing is queued for AudioShake."""
    project.approval_task_credits = Decimal("0.5")
    project.save(update_fields=["approval_task_credits"])
    response = call("POST", "/tasks", token_for(member), json=body(ready_asset, project))
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["state"] == "approval"
    assert "threshold" in data["message"]
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).exists()
