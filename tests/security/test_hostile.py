"""Hostile input never makes a 500: every dashboard route (pages, fragments, forms, files,
the webhook) gets GET and POST requests whose parameters are oversized, deeply nested,
non-UTF-8 or garbage, from a team admin who may see and do everything; the webhook gets the
same bodies with a valid secret. (Range and HX-* headers: tests/results/test_hostile_headers.py;
5,000-digit task-form values: tests/tasks/test_huge_numbers.py.) The Django admin and the
sandbox are left out: the first is Django's, the second a development tool."""

import json
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import Project, Role, User
from jobs.models import Asset, Output, RemoteStatus
from tests.conftest import make_user
from tests.results.conftest import make_task, wav_bytes
from tests.test_urlconf import ROUTES

HUGE = "9" * 5000
VALUES = [
    HUGE,
    "-" + HUGE,
    "9223372036854775808",
    "1e309",
    "NaN",
    "-1",
    "\x00",
    "\u202e\u0000\ufeff",
    "x" * 100_000,
    "[" * 10_000,
    '{"a":' * 5000,
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "2026-13-45",
    "%ff%fe",
]
# Every name a view or form reads (request.GET/POST and the forms' fields).
NAMES = [
    "page", "q", "query", "status", "project", "model", "poll", "v", "for", "with", "health",
    "failed_only", "budget_override", "asset", "url_asset", "url", "name", "files", "format",
    "metadata", "form_token", "row", "step", "t0-model", "t0-formats", "t0-variant",
    "t0-language", "t0-residual", "t0-transcript_url", "t0-transcript_asset", "preset",
    "preset_name", "bom", "date_from", "date_to", "month", "group_by", "member", "uploader",
    "expiring", "sort", "role", "rights", "value", "email", "username", "password",
    "new_password1", "new_password2", "old_password", "budget", "monthly_budget", "active",
    "can_view_costs", "next",
]  # fmt: skip
# Raw query strings and bodies: bytes that are not UTF-8, broken escapes, a flood of keys.
RAW_QUERIES = [
    "page=%ff%fe&q=%c3&status=%80",
    "%zz=%&&==&q=%",
    "&".join(f"project={n}" for n in range(2000)),
    "q[a][b][c][d]=1&" * 200,
]
RAW_BODIES = [
    b"q=%ff%fe&name=\xff\xfe\xfd&project=\xc3",
    b"\xff\xfe\x00\x01" * 1000,
    ("&".join(f"row={n}" for n in range(2000))).encode(),
]
SKIP = ("/admin/", "/sandbox/", "/accounts/logout/", "/static/")


@pytest.fixture
def world(settings, tmp_path) -> dict[str, object]:
    """Rows behind every route: a project, a member, a completed task with kept outputs, an
    uploaded asset; an admin who sees costs."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = "hostile-test-secret"
    admin = make_user("hostile-admin", Role.ADMIN, can_view_costs=True)
    member = make_user("hostile-member", Role.MEMBER)
    project = Project.objects.create(name="Hostile")
    task = make_task(user=member, project=project, status="completed", mirrored=True)
    output = Output.objects.filter(target__task=task).first()
    asset = Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="song.wav",
        format="wav",
        size_bytes=100,
        remote_status=RemoteStatus.READY,
    )
    asset.file.save("song.wav", ContentFile(wav_bytes()))
    return {
        "admin": admin,
        "ids": {
            "/assets/": asset.pk,
            "/tasks/": task.pk,
            "/outputs/": output.pk,
            "/team/": member.pk,
            "/projects/": project.pk,
        },
    }


def _paths(ids: dict[str, int]) -> list[str]:
    """Each route's sample path with its id replaced by a real row's."""
    paths = []
    for route in ROUTES:
        path = route.path
        if path.startswith(SKIP):
            continue
        for prefix, pk in ids.items():
            if path.startswith(prefix + "1/") or path.startswith(prefix + "1."):
                path = f"{prefix}{pk}{path[len(prefix) + 1 :]}"
        paths.append(path)
    return paths


def _requests(path: str):
    """(description, callable(client)) for every hostile request to `path`."""
    for value in VALUES:
        params = dict.fromkeys(NAMES, value)
        yield f"GET {value[:20]!r}", lambda c, p=params: c.get(path, p)
        yield f"POST {value[:20]!r}", lambda c, p=params: c.post(path, p)
        yield (
            f"htmx POST {value[:20]!r}",
            lambda c, p=params: c.post(path, p, headers={"HX-Request": "true"}),
        )
    for raw in RAW_QUERIES:
        yield f"GET ?{raw[:30]}", lambda c, q=raw: c.get(path, QUERY_STRING=q)
    for body in RAW_BODIES:
        yield (
            f"POST {body[:20]!r}",
            lambda c, b=body: c.generic(
                "POST", path, b, content_type="application/x-www-form-urlencoded"
            ),
        )
    yield (
        "POST nested JSON",
        lambda c: c.post(path, "[" * 100_000 + "]" * 100_000, content_type="application/json"),
    )
    yield (
        "POST garbage multipart",
        lambda c: c.generic(
            "POST", path, b"--x\r\n\xff\xfe\r\n--", content_type="multipart/form-data; boundary=x"
        ),
    )
    yield (
        "POST multipart without boundary",
        lambda c: c.generic("POST", path, b"abc", content_type="multipart/form-data"),
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_no_route_answers_hostile_parameters_with_a_500(world: dict[str, object]) -> None:
    """Every dashboard route, GET and POST, with each hostile value in every parameter name
    and with raw non-UTF-8 queries and bodies: some answer, never a server error."""
    client = Client(raise_request_exception=False)
    admin: User = world["admin"]  # type: ignore[assignment]
    paths = _paths(world["ids"])  # type: ignore[arg-type]
    assert len(paths) > 30  # the walk found the routes: the test cannot pass vacuously
    failures = []
    for path in paths:
        for what, send in _requests(path):
            admin.refresh_from_db()
            if not admin.is_active:  # a hostile POST may have deactivated someone: not us
                User.objects.filter(pk=admin.pk).update(is_active=True)
            client.force_login(admin)
            response = send(client)
            if response.status_code >= 500:
                failures.append(f"{path} {what}: {response.status_code}")
    assert failures == []


WEBHOOK_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"id": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    b"\xff\xfe\x00\x01" * 100,
    b'{"id": "' + b"x" * 500_000 + b'"}',
    b'{"id": "cx", "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"id": "cx", "metadata": "' + "\ud800".encode("utf-8", "surrogatepass") + b'"}',
    b'{"id": "cx", "metadata": "\\ud800 [shakeweb:intent=not-a-uuid]"}',
    b'{"id": "cx", "metadata": 5}',
    json.dumps({"id": "cx", "targets": [{"id": HUGE, "cost": HUGE}] * 100}).encode(),
    b'{"id": NaN}',
    b'{"id": "cx"' + b" " * 1000,
    b"",
    b"null",
    b'"cx"',
]


@pytest.mark.django_db
@pytest.mark.parametrize("body", WEBHOOK_BODIES, ids=lambda b: quote(b[:24]))
@pytest.mark.parametrize("way", ["header", "path"])
def test_the_webhook_answers_hostile_bodies_without_a_500(world, body: bytes, way: str) -> None:
    """With the right secret, nested, non-UTF-8, oversized and odd JSON bodies get a 2xx/4xx."""
    client = Client(raise_request_exception=False)
    url, headers = "/webhooks/audioshake/", {"X-Shakeweb-Webhook-Secret": "hostile-test-secret"}
    if way == "path":
        url, headers = "/webhooks/audioshake/hostile-test-secret/", {}
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        response = client.generic("POST", url, body, content_type=content_type, headers=headers)
        assert response.status_code < 500, (content_type, response.content[:200])
