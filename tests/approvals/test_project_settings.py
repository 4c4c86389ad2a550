"""The thresholds live on the project and are set on its edit page, by admins only."""

from decimal import Decimal

import pytest
from django.test import Client

from accounts import services
from accounts.models import Project

pytestmark = pytest.mark.django_db

BASE = {"name": "Demo album", "code": "demo", "monthly_budget": "1000"}


def test_admin_sets_and_clears_the_thresholds(admin_client: Client, project: Project) -> None:
    """The edit page shows both fields; saving sets them, saving them empty clears them."""
    url = f"/projects/{project.pk}/"
    page = admin_client.get(url).content.decode()
    assert "Approval above (credits per task)" in page
    assert "Approval above (credits per batch)" in page
    admin_client.post(
        url, {**BASE, "approval_task_credits": "12.5", "approval_batch_credits": "100"}
    )
    project.refresh_from_db()
    assert (project.approval_task_credits, project.approval_batch_credits) == (
        Decimal("12.5"),
        Decimal(100),
    )
    admin_client.post(url, {**BASE, "approval_task_credits": "", "approval_batch_credits": ""})
    project.refresh_from_db()
    assert project.approval_task_credits is None
    assert project.approval_batch_credits is None


def test_negative_or_garbage_threshold_is_refused_with_a_message(
    admin_client: Client, project: Project
) -> None:
    """-1 and "lots" are refused on the form (200, a message), nothing saved."""
    url = f"/projects/{project.pk}/"
    negative = admin_client.post(url, {**BASE, "approval_task_credits": "-1"})
    assert negative.status_code == 200
    assert "A threshold cannot be negative." in negative.content.decode()
    garbage = admin_client.post(url, {**BASE, "approval_batch_credits": "lots"})
    assert garbage.status_code == 200
    assert "Enter a number." in garbage.content.decode()
    project.refresh_from_db()
    assert project.approval_task_credits is None
    assert project.approval_batch_credits is None


def test_members_cannot_set_thresholds(member_client: Client, project: Project) -> None:
    """The edit page refuses a member (403) and changes nothing."""
    response = member_client.post(f"/projects/{project.pk}/", {**BASE, "approval_task_credits": 1})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.approval_task_credits is None


def test_update_without_thresholds_keeps_them(project: Project) -> None:
    """A caller that does not pass the thresholds (the Projects page's fields only) keeps them."""
    project.approval_task_credits = Decimal(3)
    project.save()
    services.project_update(
        project=project, name="Renamed", code="demo", monthly_budget=None, archived=False
    )
    project.refresh_from_db()
    assert project.approval_task_credits == 3
    assert project.name == "Renamed"
