"""Fixtures for the task screens: the catalogue seeded from the fallback file, assets in each
state a source can be in, logged-in clients, and a builder for the create form's POST body."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import Project, User
from jobs.catalogue import Catalogue, catalogue_load, seed_fallback
from jobs.models import Asset, RemoteStatus
from tests.tasks.helpers import DURATION


@pytest.fixture
def catalogue(db: None) -> Catalogue:
    seed_fallback()
    return catalogue_load()


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member_client(member: User, catalogue: Catalogue) -> Client:
    return _client(member)


@pytest.fixture
def viewer_client(viewer: User, catalogue: Catalogue) -> Client:
    return _client(viewer)


@pytest.fixture
def admin_client(admin_user: User, catalogue: Catalogue) -> Client:
    return _client(admin_user)


@pytest.fixture
def make_asset(project: Project, member: User) -> Callable[..., Asset]:
    """An asset in the library. `expired=True` puts its AudioShake copy in the past; `local`
    says whether the dashboard kept the file; `url` makes it a registered URL."""

    def make(
        *,
        name: str = "Demo song.wav",
        duration: float | None = DURATION,
        status: str = RemoteStatus.READY,
        expired: bool = False,
        local: bool = True,
        url: str = "",
        project: Project = project,
    ) -> Asset:
        now = timezone.now()
        asset = Asset(
            project=project,
            uploaded_by=member,
            name=name,
            duration_seconds=duration,
            format="wav",
            remote_status=RemoteStatus.READY if url else status,
            source_url=url,
        )
        if not url:
            asset.remote_id = uuid.uuid4().hex[:25]
            asset.remote_uploaded_at = now - timedelta(hours=80 if expired else 1)
            asset.remote_expires_at = now + timedelta(hours=-8 if expired else 71)
            if local:
                asset.file.name = f"assets/{asset.uuid.hex[:2]}/{asset.uuid.hex}"
        asset.save()
        return asset

    return make


@pytest.fixture
def ready_asset(make_asset: Callable[..., Asset]) -> Asset:
    return make_asset()


@pytest.fixture
def render_template(rf: RequestFactory) -> Callable[..., str]:
    """Render a template as `user` would get it inside a page; returns the trimmed HTML."""

    def render(name: str, context: dict[str, Any], user: User) -> str:
        request = rf.get("/")
        request.user = user
        return render_to_string(name, context, request=request).strip()

    return render


@pytest.fixture
def member_client_cookie(member: User) -> dict[str, str]:
    """The session cookie of a logged-in member, for a browser context of its own."""
    client = Client()
    client.force_login(member)
    name = settings.SESSION_COOKIE_NAME
    return {"name": name, "value": client.cookies[name].value}
