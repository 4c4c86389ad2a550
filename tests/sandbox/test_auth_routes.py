"""x-api-key authentication, the Fastify-shaped error body and unknown routes."""

import pytest
from django.test import Client

from sandbox.ids import looks_like_id, new_id
from sandbox.keys import sandbox_client_id
from tests.sandbox.conftest import API

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

ENDPOINTS = [
    ("get", "/assets"),
    ("post", "/assets"),
    ("get", "/tasks"),
    ("post", "/tasks"),
    ("get", "/tasks/cmn5h1wv600edx8fgoboeeg06"),
    ("get", "/tasks/statistics?name=usage"),
    ("get", "/models"),
    ("get", "/_control/faults"),
    ("post", "/_control/faults"),
    ("post", "/_control/reset"),
    ("get", "/_control/requests"),
    ("get", "/_control/echo"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_key_is_401_json(method, path):
    """Every endpoint refuses a request without x-api-key with a Fastify-style 401 body."""
    response = getattr(Client(), method)(f"{API}{path}")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing API key: send it in the x-api-key header",
    }


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_key_is_401_json(method, path):
    """A wrong key is refused the same way, with its own message."""
    client = Client(headers={"x-api-key": "not-the-key"})
    response = getattr(client, method)(f"{API}{path}")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


def test_right_key_is_accepted(api):
    """The sandbox key opens the API."""
    assert api.get(f"{API}/models").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/assets/cmn5h1wv600edx8fgoboeeg06"),
        ("get", "/assets/cmn5h1wv600edx8fgoboeeg06"),
        ("delete", "/tasks/cmn5h1wv600edx8fgoboeeg06"),
        ("post", "/tasks/cmn5h1wv600edx8fgoboeeg06/cancel"),
        ("post", "/webhooks"),
        ("get", "/credits"),
        ("put", "/tasks"),
        ("delete", "/models"),
    ],
)
def test_undocumented_routes_are_404_json(api, method, path):
    """Routes the contract does not document answer Fastify's JSON 404."""
    response = getattr(api, method)(f"{API}{path}")
    assert response.status_code == 404
    body = response.json()
    assert body["statusCode"] == 404
    assert body["error"] == "Not Found"
    assert body["message"] == f"Route {method.upper()}:{API}{path} not found"


def test_unknown_route_counts_with_its_id_pattern(api):
    """Unknown routes are counted too, with ids folded into {id}."""
    api.delete(f"{API}/assets/cmn5h1wv600edx8fgoboeeg06")
    counts = api.get(f"{API}/_control/requests").json()
    assert counts == {"DELETE /assets/{id}": 1}


def test_ids_are_cuid_shaped():
    """Generated ids are 25 lowercase alphanumerics starting with 'c', and unique."""
    ids = {new_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(looks_like_id(i) and len(i) == 25 for i in ids)


def test_client_id_is_stable_and_cuid_shaped():
    """The account's clientId is derived from the key: same key, same id; another key, another."""
    assert looks_like_id(sandbox_client_id())
    assert sandbox_client_id() == sandbox_client_id()
    assert sandbox_client_id("another key") != sandbox_client_id()
