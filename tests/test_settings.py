"""The settings module and its documentation agree."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from shakeweb.checks import sandbox_in_production

ROOT = Path(settings.BASE_DIR)


def test_every_environment_setting_is_in_env_example():
    """Each variable the settings module reads is listed in .env.example."""
    source = (ROOT / "shakeweb" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert read, "the pattern found no settings: the test would pass vacuously"
    assert read - documented == set()


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    """The default SQLite database uses WAL and IMMEDIATE transactions (see docs/operations.md)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def _production_env(**extra: str) -> dict[str, str]:
    """The environment of a production process (as in .ci/run), without the test markers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHAKEWEB_", "DJANGO_", "SANDBOX_", "AUDIOSHAKE_"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="k" * 20 + "-production-like-secret-key-" + "x9" * 20,
        ALLOWED_HOSTS="shakeweb.example.com",
        CSRF_TRUSTED_ORIGINS="https://shakeweb.example.com",
        EMAIL_URL="smtp+tls://shakeweb:unused@smtp.example.com:587",
        SANDBOX_IN_PRODUCTION="0",
    )
    env.update(extra)
    return env


def _run(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_production_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_refuses_the_sandbox_in_production(settings):
    """DEBUG off with the sandbox on is error shakeweb.E001, whose hint names the settings."""
    settings.DEBUG = False
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_IN_PRODUCTION = False
    settings.AUDIOSHAKE_API_KEY = ""
    errors = sandbox_in_production()
    assert [e.id for e in errors] == ["shakeweb.E001"]
    assert "AUDIOSHAKE_API_KEY" in errors[0].hint
    assert "SANDBOX_IN_PRODUCTION=1" in errors[0].hint
    settings.SANDBOX_IN_PRODUCTION = True
    assert sandbox_in_production() == []
    settings.SANDBOX_IN_PRODUCTION = False
    settings.DEBUG = True
    assert sandbox_in_production() == []
    settings.DEBUG = False
    settings.SANDBOX_ENABLED = False
    assert sandbox_in_production() == []


@pytest.mark.slow
def test_production_without_a_key_refuses_to_start():
    """`check --deploy` fails, and loading the WSGI app (what gunicorn does) raises, with the
    message telling what to set; SANDBOX_IN_PRODUCTION=1 lets it start; CI's settings pass."""
    check = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert check.returncode != 0
    assert "shakeweb.E001" in check.stderr + check.stdout
    assert "SANDBOX_IN_PRODUCTION=1" in check.stderr + check.stdout
    wsgi = _run("-c", "import shakeweb.wsgi")
    assert wsgi.returncode != 0
    assert "shakeweb refuses to start" in wsgi.stderr
    assert "SANDBOX_IN_PRODUCTION=1" in wsgi.stderr
    demo = _run("-c", "import shakeweb.wsgi", SANDBOX_IN_PRODUCTION="1")
    assert demo.returncode == 0, demo.stderr
    ci = _run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        AUDIOSHAKE_API_KEY="ci-placeholder-key-not-used",
    )
    assert ci.returncode == 0, ci.stderr + ci.stdout
    assert _run("-c", "import shakeweb.wsgi", DEBUG="1").returncode == 0
