import stat
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Project, Role, User

pytestmark = pytest.mark.django_db


def _run(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    call_command("demo_setup", login_file=path)
    return capsys.readouterr().out


def test_demo_setup_refuses_without_debug(settings: object, tmp_path: Path) -> None:
    """Outside development it creates nothing and says why."""
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only runs with DEBUG=1"):
        call_command("demo_setup", login_file=tmp_path / "demo-login.txt")
    assert not User.objects.exists()
    assert not (tmp_path / "demo-login.txt").exists()


def test_demo_setup_creates_the_admin_once_and_prints_the_login(
    settings: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """First run: a demo admin with a random password kept in a 0600 file; every run prints the
    same log-in line; nothing is duplicated."""
    settings.DEBUG = True
    settings.SITE_URL = "http://127.0.0.1:8000"
    path = tmp_path / "demo-login.txt"
    first = _run(path, capsys)
    password = dict(line.split("=", 1) for line in path.read_text().splitlines())["password"]
    assert len(password) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    line = f"Log in at http://127.0.0.1:8000/accounts/login/ as demo / {password}"
    assert line in first
    demo = User.objects.get(username="demo")
    assert demo.check_password(password)
    assert demo.role == Role.ADMIN
    assert demo.is_superuser
    assert list(Project.objects.values_list("name", flat=True)) == ["Demo"]

    second = _run(path, capsys)
    assert line in second
    assert "Created" not in second
    assert User.objects.count() == 1
    assert Project.objects.count() == 1


def test_demo_passwords_differ_between_installs(
    settings: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never a fixed password: a second install gets another one."""
    settings.DEBUG = True
    _run(tmp_path / "a.txt", capsys)
    User.objects.all().delete()
    _run(tmp_path / "b.txt", capsys)
    assert (tmp_path / "a.txt").read_text() != (tmp_path / "b.txt").read_text()


def test_demo_setup_keeps_a_changed_password(
    settings: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """If the demo password was changed, the command says so instead of resetting it."""
    settings.DEBUG = True
    path = tmp_path / "demo-login.txt"
    _run(path, capsys)
    demo = User.objects.get(username="demo")
    demo.set_password("my-own-password-123")
    demo.save()
    out = _run(path, capsys)
    assert "no longer holds it" in out
    demo.refresh_from_db()
    assert demo.check_password("my-own-password-123")


def test_existing_projects_are_left_alone(
    settings: object, tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Demo project is only created when there is no project at all."""
    settings.DEBUG = True
    _run(tmp_path / "demo-login.txt", capsys)
    assert list(Project.objects.values_list("name", flat=True)) == ["Demo album"]
