"""Decisions are in the audit log: who approved or declined which request, for which tasks,
with the estimate, the reason and the override."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.approvals.conftest import SubmitForm, request_of

pytestmark = pytest.mark.django_db


def test_approve_and_override_are_recorded(
    member_client: Client, admin_client: Client, gated, submit: SubmitForm
) -> None:
    """An approval (over the budget, overridden) leaves `approved` and `budget_overridden`."""
    task = submit(member_client)
    request = request_of(task)
    url = reverse("approvals:approve", args=[request.pk])
    admin_client.post(url, {"reason": "Worth it", "budget_override": "on"})
    admin_client.post(url, {"reason": "again"})  # decided already: nothing more recorded
    events = AuditEvent.objects.filter(object_type="approvalrequest").order_by("id")
    assert [e.action for e in events] == ["approved", "budget_overridden"]
    assert events[0].actor.username == "ada"
    assert events[0].details["tasks"] == [task.pk]
    assert events[0].details["reason"] == "Worth it"


def test_decline_is_recorded(
    member_client: Client, admin_client: Client, gated, submit: SubmitForm
) -> None:
    """A decline leaves one `declined` event naming the task."""
    task = submit(member_client)
    request = request_of(task)
    admin_client.post(reverse("approvals:decline", args=[request.pk]), {"reason": "No"})
    event = AuditEvent.objects.get(action="declined")
    assert event.object_id == str(request.pk)
    assert event.details["tasks"] == [task.pk]
