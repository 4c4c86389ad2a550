"""Credits reach only people with the cost permission: neither the task page, its polled
status fragment (with its out-of-band cost partial) nor the raw AudioShake JSON shows them to
a member without it."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Target, Task
from tests.results.conftest import make_task

RAW = {
    "id": "cmn5h1wv600edx8fgoboeeg06",
    "cost": 7.25,
    "targets": [{"model": "vocals", "cost": 4.5, "creditsPerMinute": 1.5, "status": "done"}],
}


@pytest.fixture
def task(member: User, project: Project) -> Task:
    task = make_task(user=member, project=project, status="processing")
    Task.objects.filter(pk=task.pk).update(
        remote_cost=Decimal("7.25"), estimated_cost=Decimal("6.50"), raw=RAW
    )
    Target.objects.filter(task=task).update(cost=Decimal("4.50"), estimated_cost=Decimal("3.25"))
    return task


def _pages(client: Client, task: Task) -> dict[str, str]:
    address = reverse("jobs:task_detail", args=[task.pk])
    return {
        "page": client.get(address).content.decode(),
        "fragment": client.get(address, headers={"HX-Request": "true"}).content.decode(),
    }


def test_member_without_cost_permission_sees_no_credits(member: User, task: Task) -> None:
    """No cost partial, no credits column, no figure, no cost key in the raw JSON."""
    client = Client()
    client.force_login(member)
    for name, body in _pages(client, task).items():
        assert 'id="task-cost"' not in body, name
        for figure in ("7.25", "6.50", "4.50", "3.25"):
            assert figure not in body, (name, figure)
        assert "charged" not in body, name
    page = _pages(client, task)["page"]
    assert "Raw AudioShake JSON" in page
    assert "cmn5h1wv600edx8fgoboeeg06" in page  # the rest of the JSON is still there
    assert "&quot;cost&quot;" not in page
    assert "creditsPerMinute" not in page


def test_member_with_cost_permission_sees_them(member: User, task: Task) -> None:
    """The same member with the permission gets the figures, in the page and the fragment."""
    member.can_view_costs = True
    member.save()
    client = Client()
    client.force_login(member)
    pages = _pages(client, task)
    assert 'id="task-cost" hx-swap-oob="true"' in pages["fragment"]
    assert "7.25 charged" in pages["fragment"]
    assert "7.25 charged" in pages["page"]
    assert "creditsPerMinute" in pages["page"]
