"""Fixtures for the asset screens: logged-in clients, an upload temp dir the tests can list,
and a helper that lists every file left in the temp and media folders."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import Project, User
from jobs.models import Asset, RemoteStatus


@pytest.fixture
def upload_dir(tmp_path: Path, settings: object) -> Path:
    """FILE_UPLOAD_TEMP_DIR for this test, so it can check nothing is left behind."""
    path = tmp_path / "upload-tmp"
    path.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(path)
    return path


@pytest.fixture
def leftovers(upload_dir: Path) -> Callable[[], list[Path]]:
    """Every file in the upload temp dir and under MEDIA_ROOT."""

    def files() -> list[Path]:
        media = Path(django_settings.MEDIA_ROOT)
        found = [p for p in upload_dir.rglob("*") if p.is_file()]
        if media.exists():
            found += [p for p in media.rglob("*") if p.is_file()]
        return found

    return files


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member_client(member: User) -> Client:
    return _client(member)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return _client(viewer)


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return _client(admin_user)


@pytest.fixture
def make_asset(project: Project, member: User) -> Callable[..., Asset]:
    counter = iter(range(1, 1_000_000))

    def make(**fields: object) -> Asset:
        n = next(counter)
        values = {
            "project": project,
            "uploaded_by": member,
            "name": f"take-{n:03d}.wav",
            "sha256": f"{n:064x}",
            "size_bytes": 1000 * n,
            "format": "wav",
            "duration_seconds": float(n),
            "remote_status": RemoteStatus.READY,
        }
        values.update(fields)
        return Asset.objects.create(**values)

    return make
