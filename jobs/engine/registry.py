"""The one table the engine reads: the handler of each kind of work item, and the jobs to run
when a poller starts (arming the recurring items: the catalogue, AudioShake's usage).

Apps fill it from their `AppConfig.ready()` (`jobs.handlers.register_handlers`,
`costs.handlers.register_handlers`), so the engine never imports a handler: a handler imports
the engine, registers itself, and the loop finds it here by `WorkItem.kind`."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jobs.engine.leases import Lease, Outcome

Handler = Callable[[Lease, Any], Outcome]
StartupJob = Callable[[datetime], None]

_handlers: dict[str, Handler] = {}
_local: set[str] = set()  # kinds whose handlers never call AudioShake
_startup: dict[str, StartupJob] = {}


def register(kind: str, handler: Handler, *, local: bool = False) -> None:
    """`handler(lease, client) -> Outcome` runs the work items of `kind`. Registering another
    handler for a kind is a mistake (two apps claiming the same work), so it raises. `local`:
    the handler never calls AudioShake (a mix render, an e-mail): its items run while the
    circuit is open or no key is configured, and it is given no client (None)."""
    if _handlers.get(kind, handler) is not handler:
        raise ValueError(f"work items of kind {kind!r} already have a handler: {_handlers[kind]}")
    _handlers[kind] = handler
    if local:
        _local.add(kind)


def is_local(kind: str) -> bool:
    return kind in _local


def local_kinds() -> list[str]:
    return sorted(_local)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def kinds() -> list[str]:
    return sorted(_handlers)


def on_poller_start(name: str, job: StartupJob) -> None:
    """`job(now)` runs each time a poller starts (not for `run_once`): it (re)arms the
    recurring work items it owns. Registered once per name."""
    _startup[name] = job


def startup_jobs() -> list[StartupJob]:
    return list(_startup.values())
