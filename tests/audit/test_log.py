"""The audit log itself: `audit.record`, append-only events, and the events the existing
views write."""

import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory

import audit
from accounts.models import Project, Role, User
from audit.models import AuditEvent, AuditImmutable
from jobs.models import Asset
from tests.tasks.helpers import form_body

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_record_reads_actor_address_and_channel(rf: RequestFactory, member: User) -> None:
    """The actor, the client's address and the channel come from the request."""
    request = rf.get("/", REMOTE_ADDR="203.0.113.9")
    request.user = member
    project = Project.objects.create(name="P", code="p")
    event = audit.record(request, audit.Action.BUDGET_CHANGED, project, before={"budget": None})
    assert (event.actor, event.actor_name, event.ip, event.via) == (
        member,
        "milo",
        "203.0.113.9",
        "web",
    )
    assert (event.object_type, event.object_id, event.object_label) == (
        "project",
        str(project.pk),
        "P",
    )
    assert event.details == {"before": {"budget": None}}


def test_record_without_a_request_is_the_system_or_a_named_actor(member: User) -> None:
    """The poller records with `actor=` (or none: the system), with no address."""
    system = audit.record(None, audit.Action.TASK_CANCELLED)
    named = audit.record(None, audit.Action.APPROVED, actor=member)
    assert (system.actor, system.via, system.ip) == (None, "system", None)
    assert (named.actor_name, named.via) == ("milo", "system")


def test_unknown_action_is_refused(member: User) -> None:
    """A typo in an action is an error, not a silent new kind of event."""
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit.record(None, "asset_uplaoded", actor=member)


def test_events_cannot_be_changed_or_deleted(member: User) -> None:
    """Saving an existing event, deleting it, and bulk update or delete all raise."""
    event = audit.record(None, audit.Action.APPROVED, actor=member)
    event.action = audit.Action.DECLINED
    with pytest.raises(AuditImmutable):
        event.save()
    with pytest.raises(AuditImmutable):
        event.delete()
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.all().update(action="declined")
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "approved"


def test_the_admin_offers_no_change_or_delete(rf: RequestFactory, admin_user: User) -> None:
    """In Django's admin the log is read-only: no add, change or delete (bulk included)."""
    admin_user.is_superuser = admin_user.is_staff = True
    admin_user.save()
    request = rf.get("/admin/")
    request.user = admin_user
    model_admin = site._registry[AuditEvent]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_deleting_a_user_keeps_their_events(member: User) -> None:
    """The actor link goes, the name stays."""
    audit.record(None, audit.Action.APPROVED, actor=member)
    member.delete()
    event = AuditEvent.objects.get()
    assert (event.actor, event.actor_name) == (None, "milo")


def test_task_submit_and_rerun_are_recorded(
    member: User, ready_asset: Asset, project: Project
) -> None:
    """The form's submit writes `task_submitted`; a re-run of it writes `task_rerun`."""
    client = _client(member)
    client.post("/tasks/new/", form_body(asset=ready_asset, project=project, step="confirm"))
    event = AuditEvent.objects.get(action="task_submitted")
    task_id = int(event.object_id)
    assert (event.actor, event.via, event.ip) == (member, "web", "127.0.0.1")
    body = form_body(asset=ready_asset, project=project, step="confirm", rerun_of=str(task_id))
    client.post("/tasks/new/", body)
    rerun = AuditEvent.objects.get(action="task_rerun")
    assert rerun.details["rerun_of"] == task_id


def test_budget_override_is_recorded(
    admin_user: User, ready_asset: Asset, project: Project
) -> None:
    """An admin submitting over the budget leaves a `budget_overridden` event."""
    project.monthly_budget = 0
    project.save()
    body = form_body(asset=ready_asset, project=project, step="confirm", budget_override="1")
    _client(admin_user).post("/tasks/new/", body)
    assert AuditEvent.objects.filter(action="budget_overridden", actor=admin_user).count() == 1


def test_asset_rename_and_delete_are_recorded(member: User, ready_asset: Asset) -> None:
    """Renaming keeps the old and new names; deleting keeps the id of what is gone."""
    client = _client(member)
    client.post(f"/assets/{ready_asset.pk}/rename/", {"name": "Better name"})
    renamed = AuditEvent.objects.get(action="asset_renamed")
    assert renamed.details == {"old": "Demo song.wav", "new": "Better name"}
    pk = ready_asset.pk
    client.post(f"/assets/{pk}/delete/")
    assert not Asset.objects.filter(pk=pk).exists()
    deleted = AuditEvent.objects.get(action="asset_deleted")
    assert (deleted.object_type, deleted.object_id) == ("asset", str(pk))


def test_url_registration_is_recorded(member: User, project: Project) -> None:
    """Registering a URL from the upload page writes `asset_url_registered`."""
    _client(member).post(
        "/assets/register-url/",
        {"url-url": "https://93.184.215.14/a.wav", "url-project": project.pk, "url-rights": "on"},
    )
    assert AuditEvent.objects.filter(action="asset_url_registered", actor=member).count() == 1


def test_role_and_budget_changes_are_recorded(
    admin_user: User, member: User, project: Project
) -> None:
    """An admin changing a role, or a project's budget, leaves the before and after."""
    client = _client(admin_user)
    client.post(f"/team/{member.pk}/role/", {"role": Role.VIEWER})
    role = AuditEvent.objects.get(action="role_changed")
    assert (role.object_id, role.details) == (str(member.pk), {"old": "member", "new": "viewer"})
    client.post(
        f"/projects/{project.pk}/",
        {"name": project.name, "code": project.code, "monthly_budget": "250"},
    )
    budget = AuditEvent.objects.get(action="budget_changed")
    assert budget.details["before"]["budget"] == "1000.00"
    assert budget.details["monthly_budget"] == "250"


def test_refused_changes_are_not_recorded(member: User, viewer: User, project: Project) -> None:
    """Only what happened is recorded: a viewer's refused rename leaves nothing."""
    asset = Asset.objects.create(project=project, uploaded_by=member, name="x.wav")
    response = _client(viewer).post(f"/assets/{asset.pk}/rename/", {"name": "y"})
    assert response.status_code == 403
    assert not AuditEvent.objects.exists()
