import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Project, User
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _csp_problems(html: str) -> list[str]:
    """What the Content-Security-Policy (no inline script or style) would block."""
    problems = re.findall(r"<[^>]*\sstyle=[^>]*>", html)
    problems += re.findall(r"<style[\s>]", html)
    problems += re.findall(r"<[^>]*\s(?:on\w+|hx-on[\w:-]*)=[^>]*>", html)
    problems += re.findall(r"""<[^>]*=["']\s*(?:javascript|js):[^>]*>""", html)
    for tag in re.findall(r"<script\b[^>]*>", html):
        if "src=" not in tag or "nonce=" not in tag:
            problems.append(tag)
    return problems


def _pages(client: Client, admin_user: User, project: Project) -> dict[str, str]:
    anonymous = Client()
    pages = {
        path: anonymous.get(path).content.decode()
        for path in [
            "/accounts/login/",
            "/accounts/password_reset/",
            "/accounts/password_reset/done/",
            "/accounts/reset/done/",
            "/accounts/reset/MQ/bad-token/",
        ]
    }
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = anonymous.post("/accounts/login/", {"username": "ada", "password": "x"})
    pages["locked out"] = locked.content.decode()
    client.force_login(admin_user)
    client.post(
        "/team/", {"username": "nina", "email": "n@example.com", "name": "N", "role": "viewer"}
    )
    for path in [
        "/",
        "/team/",
        "/projects/",
        f"/projects/{project.pk}/",
        "/accounts/password_change/",
        "/accounts/password_change/done/",
        "/no-such-page/",
    ]:
        pages[path] = client.get(path).content.decode()
    viewer = Client()
    viewer.force_login(make_user("vic", "viewer"))
    pages["403"] = viewer.get("/team/").content.decode()
    return pages


def test_account_pages_need_no_inline_script_or_style(
    client: Client, admin_user: User, project: Project
) -> None:
    """The CSP forbids inline scripts, handlers and styles: none of these pages uses one."""
    pages = _pages(client, admin_user, project)
    assert 'id="invitation-link"' in pages["/team/"]  # the page with the copy script
    assert "<script" in pages["/team/"]
    assert {path: _csp_problems(html) for path, html in pages.items() if _csp_problems(html)} == {}


def test_checker_catches_inline_code() -> None:
    """The checker above flags each kind of inline code (so its silence means something)."""
    for bad in [
        '<div style="width: 3%">',
        "<style>p {}</style>",
        '<button onclick="go()">',
        '<form hx-on:submit="x">',
        '<a href="javascript:go()">',
        "<script>alert(1)</script>",
        '<script src="/static/x.js"></script>',
    ]:
        assert _csp_problems(bad), bad
    assert not _csp_problems('<script src="/static/x.js" nonce="abc" defer></script>')


def test_pages_send_the_csp_header(client: Client, member: User) -> None:
    """Responses carry the policy with a nonce for scripts and 'self' only for styles."""
    client.force_login(member)
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "style-src 'self';" in policy or policy.endswith("style-src 'self'")
