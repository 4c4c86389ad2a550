"""Fixtures for the API tests: the task screens' catalogue and assets (reused from
tests/tasks/conftest.py), personal tokens, and `call`, which talks to the live server over
real HTTP with a token."""

from collections.abc import Callable
from typing import Any

import pytest
import requests

from accounts.models import User
from api.tokens import token_create
from tests.tasks.conftest import catalogue, make_asset, ready_asset  # noqa: F401  (fixtures)


@pytest.fixture
def token_for(db: None) -> Callable[[User], str]:
    """A new personal token's secret for `user`."""

    def make(user: User, name: str = "script") -> str:
        return token_create(user=user, name=name).secret

    return make


@pytest.fixture
def call(live_server: Any) -> Callable[..., requests.Response]:
    """`call("POST", "/tasks", token, json=...)`: one request to /api/v1/ over HTTP."""

    def send(method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else f"{live_server.url}/api/v1{path}"
        return requests.request(method, url, headers=headers, timeout=30, **kwargs)

    return send
