"""Huge numbers (5,000 digits, just past 2**63, Unicode digits) in any field of the task form,
its row and estimate endpoints, the re-run link and the list's filters: never a 500, nothing
written, and the state machine treats them as absent."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project
from jobs.forms.taskstate import bounded_int, form_action, form_state, initial_state
from jobs.models import Asset, Task
from tests.tasks.helpers import form_body

HUGE = [
    "9" * 5000,  # int() refuses it (Python's 4,300-digit limit)
    "1" * 4000,  # int() accepts it; no database integer holds it
    str(2**63),  # one past the largest key
    "²",  # str.isdigit() says yes, int() says no
    "-1",
]
CREATE = reverse("jobs:task_create")
ROWS = reverse("jobs:task_rows")
ESTIMATE = reverse("jobs:task_estimate")
LIST = reverse("jobs:task_list")


@pytest.mark.parametrize("value", HUGE)
def test_bounded_int_refuses_what_is_no_key(value: str) -> None:
    """Beyond 0..2**63-1, or not ASCII digits: None, without calling int() on a long string."""
    assert bounded_int(value) is None
    assert bounded_int(f" {2**63 - 1} ") == 2**63 - 1


@pytest.mark.parametrize("value", HUGE)
def test_state_machine_treats_huge_numbers_as_absent(value: str) -> None:
    """Rows, remove/refresh buttons and the ?from / ?asset links ignore such numbers."""
    assert form_state({"row": [value, "0"]}).rows[0].index == 0
    assert len(form_state({"row": [value]}).rows) == 0
    assert form_action({f"remove_row_{value}": "x"}).kind == "review"
    assert form_action({"refresh_row": value}).index is None


@pytest.mark.django_db
@pytest.mark.parametrize("value", HUGE)
def test_initial_state_ignores_huge_links(value: str, catalogue: Any) -> None:
    """`?from=` and `?asset=` with such a number open an empty form."""
    state, _ = initial_state(params={"from": value, "asset": value}, catalogue=catalogue)
    assert state.asset == ""
    assert state.rerun_of == ""


def _huge_body(value: str, asset: Asset, project: Project) -> dict[str, Any]:
    body = form_body(asset=asset, project=project)
    for key in ("asset", "url_asset", "project", "rerun_of", "refresh_row"):
        body[key] = value
    body["row"] = ["0", value]
    body["t0-transcript_asset"] = value
    body[f"remove_row_{value}"] = "Remove"
    return body


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("step", ["review", "confirm", "edit"])
def test_create_form_with_huge_values_answers_without_a_500(
    member_client: Client, ready_asset: Asset, project: Project, value: str, step: str
) -> None:
    """Every numeric field at once: the form re-renders or says what is wrong; no task."""
    body = _huge_body(value, ready_asset, project)
    body.pop("refresh_row")
    body.pop(f"remove_row_{value}")
    body["step"] = step
    response = member_client.post(CREATE, body)
    assert response.status_code == 200
    assert Task.objects.count() == 0


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("button", ["refresh_row", "remove_row", "preset", "add_row"])
def test_row_and_estimate_endpoints_with_huge_values(
    member_client: Client, ready_asset: Asset, project: Project, value: str, button: str
) -> None:
    """The rows' buttons (with and without htmx) and the live estimate: 200, never a 500."""
    body = _huge_body(value, ready_asset, project)
    if button != "refresh_row":
        body.pop("refresh_row")
    if button != "remove_row":
        body.pop(f"remove_row_{value}")
    if button == "preset":
        body["preset"] = f"team:{value}"
    if button == "add_row":
        body["add_row"] = "Add"
    # Django itself answers 400 to a 5,000-character field name (`remove_row_<n>`).
    expected = 400 if button == "remove_row" and len(value) > 1000 else 200
    for headers in ({}, {"HX-Request": "true"}):
        assert member_client.post(ROWS, body, headers=headers).status_code == expected
        assert member_client.post(CREATE, body, headers=headers).status_code == expected
    response = member_client.post(ESTIMATE, body, headers={"HX-Request": "true"})
    assert response.status_code == expected
    assert Task.objects.count() == 0


@pytest.mark.parametrize("value", HUGE)
def test_list_filters_and_links_with_huge_values(member_client: Client, value: str) -> None:
    """Every filter, the page number and the row-polling fragment: never a 500."""
    params = {
        "q": value,
        "status": value,
        "project": value,
        "member": value,
        "model": value,
        "date_from": value,
        "date_to": value,
        "page": value,
    }
    assert member_client.get(LIST, params).status_code == 200
    row = member_client.get(LIST, {"row": value}, headers={"HX-Request": "true"})
    assert row.status_code == 200
    assert member_client.get(CREATE, {"from": value, "asset": value}).status_code == 200
