"""The settings module and its documentation agree."""

import re
from pathlib import Path

import pytest
from django.conf import settings

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
