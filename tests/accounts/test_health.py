import json

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_is_public_and_checks_the_database(client: Client) -> None:
    """An anonymous GET gets 200 and a JSON body saying the database answered."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_503_when_the_database_is_unreachable(client: Client) -> None:
    """Without database access (pytest-django blocks it in this test) the answer is 503."""
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["status"] == "error"


@pytest.mark.django_db
def test_healthz_is_get_only(client: Client) -> None:
    """Other methods are refused."""
    assert client.put("/healthz").status_code == 405
