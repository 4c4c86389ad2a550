"""Keeps the sandbox's rows in their own database alias, never mixed with the dashboard's."""

from typing import Any

SANDBOX_APP = "sandbox"
ALIAS = "sandbox"


class SandboxRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return ALIAS if model._meta.app_label == SANDBOX_APP else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return ALIAS if model._meta.app_label == SANDBOX_APP else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        a, b = obj1._meta.app_label == SANDBOX_APP, obj2._meta.app_label == SANDBOX_APP
        return None if a == b else False

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == SANDBOX_APP:
            return db == ALIAS
        return db != ALIAS
