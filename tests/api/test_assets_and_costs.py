"""`POST /assets`, `POST /assets/url` and `GET /costs` over real HTTP, and what every call
shares: token errors, the rate limit, JSON errors and one audit event per call."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Project, User
from api.tokens import token_create, token_revoke
from audit.models import AuditEvent
from jobs.models import Asset, Target, TargetStatus, Task, WorkItem
from jobs.progress import task_changed
from tests.assets.media import wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(call: Any, token: str, project: Project, content: bytes, **fields: str) -> Any:
    data = {"project": str(project.pk), "rights": "true", **fields}
    files = {"file": ("take one.wav", content, "audio/wav")}
    return call("POST", "/assets", token, data=data, files=files)


def test_upload_an_asset(call: Any, token_for: Any, member: User, project: Project) -> None:
    """A multipart upload is kept as an asset queued for the poller (201); the same content
    again is the library's copy (200), never stored twice."""
    token = token_for(member)
    content = wav_bytes(seconds=1.0)
    response = _upload(call, token, project, content)
    assert response.status_code == 201, response.text
    asset = Asset.objects.get()
    assert response.json()["id"] == asset.pk
    assert response.json()["duration_seconds"] == pytest.approx(1.0, abs=0.01)
    assert (asset.uploaded_by, asset.project) == (member, project)
    assert WorkItem.objects.filter(kind=WorkItem.Kind.ASSET_FORWARD, asset=asset).exists()
    again = _upload(call, token, project, content)
    assert (again.status_code, again.json()["id"], again.json()["created"]) == (
        200,
        asset.pk,
        False,
    )
    event = AuditEvent.objects.filter(action="asset_uploaded").first()
    assert (event.actor, event.via, event.object_id) == (member, "api", str(asset.pk))


def test_upload_is_validated_like_the_web_form(
    call: Any, token_for: Any, member: User, project: Project
) -> None:
    """No rights confirmation, no file, or a file that is not audio: 400 with the reason."""
    token = token_for(member)
    no_rights = _upload(call, token, project, wav_bytes(), rights="")
    assert no_rights.status_code == 400
    assert "rights" in no_rights.json()["errors"]
    no_file = call("POST", "/assets", token, data={"project": project.pk, "rights": "true"})
    assert no_file.status_code == 400
    assert "file" in no_file.json()["detail"]
    not_audio = _upload(call, token, project, b"hello, this is text" * 100)
    assert not_audio.status_code == 400
    assert not Asset.objects.exists()


def test_upload_over_the_limit_is_413(
    call: Any, token_for: Any, member: User, project: Project, settings: Any
) -> None:
    """A file over UPLOAD_MAX_BYTES is refused with 413 and the limit."""
    settings.UPLOAD_MAX_BYTES = 10_000
    response = _upload(call, token_for(member), project, wav_bytes(seconds=2.0))
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert not Asset.objects.exists()


def test_viewer_cannot_upload(call: Any, token_for: Any, viewer: User, project: Project) -> None:
    """A viewer's token is refused on uploads and URL registrations (403)."""
    token = token_for(viewer)
    assert _upload(call, token, project, wav_bytes()).status_code == 403
    url = {"url": "https://example.com/a.wav", "project": project.pk, "rights": True}
    assert call("POST", "/assets/url", token, json=url).status_code == 403
    assert not Asset.objects.exists()


def test_register_a_url(call: Any, token_for: Any, member: User, project: Project) -> None:
    """A public HTTPS URL becomes an asset (201), the same URL again is that asset (200), and
    a plain-HTTP one is refused with the web form's message (400)."""
    token = token_for(member)
    payload = {"url": "https://93.184.215.14/mix.wav", "project": project.pk, "rights": True}
    first = call("POST", "/assets/url", token, json=payload)
    assert first.status_code == 201, first.text
    again = call("POST", "/assets/url", token, json=payload)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    plain = call("POST", "/assets/url", token, json={**payload, "url": "http://x.example/a.wav"})
    assert plain.status_code == 400
    assert plain.json()["errors"]["url"]


def _charged_task(project: Project, member: User, cost: str) -> None:
    task = Task.objects.create(
        form_token=__import__("uuid").uuid4(),
        project=project,
        created_by=member,
        source_url="https://example.com/a.wav",
        submission_state="submitted",
        remote_id=__import__("uuid").uuid4().hex,
        completed_at=timezone.now(),
    )
    Target.objects.create(
        task=task,
        model="vocals",
        formats=["wav"],
        status=TargetStatus.COMPLETED,
        cost=Decimal(cost),
        estimated_cost=Decimal(cost),
        minutes_billed=2,
        completed_at=timezone.now(),
    )
    task_changed([task.pk])


def test_costs_per_project_for_the_month(
    call: Any, token_for: Any, admin_user: User, member: User, project: Project
) -> None:
    """This month's credits per project, from the Costs page's figures, with the budget."""
    other = Project.objects.create(name="Other", code="other", monthly_budget=None)
    _charged_task(project, member, "4.5")
    _charged_task(project, member, "1.5")
    _charged_task(other, member, "2")
    data = call("GET", "/costs", token_for(admin_user)).json()
    assert data["month"] == f"{timezone.now():%Y-%m}"
    by_code = {p["code"]: p for p in data["projects"]}
    assert Decimal(by_code["demo"]["credits"]) == Decimal("6")
    assert Decimal(by_code["demo"]["monthly_budget"]) == Decimal("1000")
    assert (by_code["demo"]["id"], by_code["demo"]["targets"]) == (project.pk, 2)
    assert Decimal(by_code["other"]["credits"]) == Decimal("2")
    assert Decimal(data["credits"]) == Decimal("8")
    last_month = (timezone.now().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    earlier = call("GET", "/costs", token_for(admin_user), params={"month": last_month}).json()
    assert earlier["projects"] == []
    bad = call("GET", "/costs", token_for(admin_user), params={"month": "2026-13"})
    assert bad.status_code == 400


def test_costs_need_the_cost_permission(
    call: Any, token_for: Any, member: User, viewer: User
) -> None:
    """Like the Costs page: a member without the cost permission, or a viewer, gets 403."""
    assert call("GET", "/costs", token_for(member)).status_code == 403
    assert call("GET", "/costs", token_for(viewer)).status_code == 403
    member.can_view_costs = True
    member.save(update_fields=["can_view_costs"])
    assert call("GET", "/costs", token_for(member)).status_code == 200


def test_calls_without_a_good_token_are_401(call: Any, member: User) -> None:
    """No header, another scheme, a made-up token, a revoked one, a deactivated user's: 401
    JSON saying which."""
    assert call("GET", "/tasks").status_code == 401
    basic = call("GET", "/tasks", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["detail"]
    assert call("GET", "/tasks", "shk_0000_nope").json()["detail"] == "Unknown API token."
    assert "not a shakeweb" in call("GET", "/tasks", "abc").json()["detail"]
    new = token_create(user=member, name="old script")
    assert call("GET", "/tasks", new.secret).status_code == 200
    token_revoke(token=new.token)
    revoked = call("GET", "/tasks", new.secret)
    assert (revoked.status_code, revoked.json()["detail"]) == (401, "This API token was revoked.")
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")
    live = token_create(user=member, name="other").secret
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert "deactivated" in call("GET", "/tasks", live).json()["detail"]


def test_rate_limit_is_429(call: Any, token_for: Any, member: User, settings: Any) -> None:
    """Past API_RATE_PER_MINUTE calls in a minute a token gets 429 with a message."""
    settings.API_RATE_PER_MINUTE = 3
    token = token_for(member)
    statuses = [call("GET", "/tasks", token).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Too many calls" in call("GET", "/tasks", token).json()["detail"]


def test_every_call_writes_an_audit_event(
    call: Any, token_for: Any, member: User, viewer: User, project: Project
) -> None:
    """Reads, refusals and unknown paths each leave exactly one event, through the API."""
    token = token_for(member)
    before = AuditEvent.objects.count()
    calls = [
        call("GET", "/tasks", token),
        call("GET", "/tasks/999", token),
        call("GET", "/costs", token),
        call("GET", "/tasks"),
        call("GET", "/nowhere", token),
        call("POST", "/assets", token_for(viewer), data={}),
    ]
    assert [c.status_code for c in calls] == [200, 404, 403, 401, 404, 403]
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert len(events) == len(calls)
    assert {e.via for e in events} == {"api"}
    assert [e.action for e in events] == ["api_read"] + ["api_refused"] * 5
    assert [e.details.get("status") for e in events[1:]] == [404, 403, 401, 404, 403]
    assert events[3].actor is None
    assert events[0].actor == member
    assert all(e.ip == "127.0.0.1" for e in events)


def test_openapi_schema_and_docs_page(client: Any, member: User) -> None:
    """The schema lists every endpoint with the bearer scheme; the docs page is served from
    our static files (no CDN) to logged-in people."""
    client.force_login(member)
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/api/v1/assets",
        "/api/v1/assets/url",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
        "/api/v1/costs",
    }
    assert any(
        s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values()
    )
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
