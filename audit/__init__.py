"""The append-only audit log: who did what, when, from which address, through the web pages,
the API or the system (the poller). `record()` is the one way in; nothing deletes or edits an
event (`audit.models.AuditEvent`)."""

import ipaddress
from typing import Any

from django.conf import settings
from django.db import models as _models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from audit.actions import Action, Via

__all__ = ["Action", "Via", "record", "record_task_created"]


def _client_ip(request: HttpRequest) -> str | None:
    """The address the log-in lock-out counts (`AXES_CLIENT_IP_CALLABLE`,
    `accounts.clientip.client_ip`). Named through the setting, not imported: accounts' views
    record events, so audit importing accounts would make the two apps a cycle."""
    ip = import_string(settings.AXES_CLIENT_IP_CALLABLE)(request)
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def record(
    request: HttpRequest | None,
    action: str,
    obj: _models.Model | None = None,
    *,
    actor: Any = None,
    via: str | None = None,
    object_id: int | str | None = None,
    **details: Any,
) -> Any:
    """Append one event. The actor, address and channel (web or API) come from `request`;
    without a request (the poller) pass `actor=` (or none: the system). `obj` names the
    object acted on (type, id and its text); `details` is kept as JSON (values made text when
    they are not JSON). `object_id` names a deleted object, whose `pk` is gone."""
    from audit.models import AuditEvent  # lazy: models need the app registry

    if action not in Action.values:
        raise ValueError(f"Unknown audit action {action!r}")
    if request is not None:
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
        via = via or getattr(request, "audit_via", Via.WEB)
        ip = _client_ip(request)
    else:
        via = via or Via.SYSTEM
        ip = None
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(object_id if object_id is not None else getattr(obj, "pk", None) or ""),
        object_label=str(obj)[:255] if obj is not None else "",
        details={key: _jsonable(value) for key, value in details.items()},
        ip=ip,
        via=via,
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def record_task_created(request: HttpRequest, task: Any, *, budget: Any = None) -> None:
    """A new task from the form or the API: `task_submitted` (or `task_rerun`, naming the
    task it re-runs), and `budget_overridden` when an admin submitted it over the budget."""
    if task.rerun_of_id:
        record(request, Action.TASK_RERUN, task, rerun_of=task.rerun_of_id, attempt=task.attempt)
    else:
        record(request, Action.TASK_SUBMITTED, task, estimate=task.estimated_cost)
    if task.budget_override_by_id:
        record(request, Action.BUDGET_OVERRIDDEN, task, budget=getattr(budget, "message", ""))
