"""The audit tests use the task screens' catalogue and assets (tests/tasks/conftest.py)."""

from tests.tasks.conftest import catalogue, make_asset, ready_asset  # noqa: F401  (fixtures)
