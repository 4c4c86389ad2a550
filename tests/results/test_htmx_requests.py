"""Every view is typed with `HtmxHttpRequest`, and the pages that answer htmx with a fragment of
themselves say so in `Vary`, so a cache (the browser's back/forward one included) never hands
the fragment to a whole-page visit or the reverse."""

import inspect

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.http import HtmxHttpRequest
from accounts.models import Project, User
from tests.results.conftest import make_task

FIRST_PARTY = ("jobs.", "costs.", "accounts.", "shakeweb.")
# The project package may not import the apps (tests/test_import_rules.py), so it cannot name
# `accounts.http`; its one view, the anonymous health check, reads neither htmx nor the user.
PLAIN_REQUEST = {"shakeweb.health.healthz"}


def _function_views(patterns: list, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _function_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view = inspect.unwrap(entry.callback)
            if not hasattr(entry.callback, "view_class") and view.__module__.startswith(
                FIRST_PARTY
            ):
                found.append((prefix + str(entry.pattern), view))
    return found


def test_every_function_view_takes_an_htmx_request() -> None:
    views = _function_views(get_resolver().url_patterns)
    assert len(views) > 30  # the walk found the URLconf
    wrong = []
    for route, view in views:
        first = next(iter(inspect.signature(view, eval_str=True).parameters.values()))
        if f"{view.__module__}.{view.__qualname__}" in PLAIN_REQUEST:
            continue
        if first.annotation is not HtmxHttpRequest:
            wrong.append(f"{route}: {view.__module__}.{view.__qualname__}({first})")
    assert not wrong, "Annotate `request: HtmxHttpRequest`:\n" + "\n".join(wrong)


@pytest.fixture
def pages(member: User, project: Project) -> dict[str, str]:
    task = make_task(user=member, project=project, status="completed")
    output = task.targets.first().outputs.first()
    return {
        "task list": reverse("jobs:task_list"),
        "task page": task.get_absolute_url(),
        "asset library": reverse("jobs:asset_list"),
        "download wait": reverse("jobs:output_download", args=[output.pk]),
    }


@pytest.mark.parametrize("name", ["task list", "task page", "asset library", "download wait"])
@pytest.mark.parametrize("htmx", [False, True])
def test_pages_that_answer_fragments_vary_on_hx_request(
    client: Client, member: User, pages: dict[str, str], name: str, htmx: bool
) -> None:
    client.force_login(member)
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(pages[name], headers=headers)
    assert response.status_code in (200, 286)
    vary = {part.strip().lower() for part in response.get("Vary", "").split(",")}
    assert {"hx-request", "hx-history-restore-request"} <= vary, response.get("Vary")
