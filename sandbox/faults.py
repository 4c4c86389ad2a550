"""Fault injection: the switches tests and demos flip to make the sandbox misbehave like a real
API can (latency, 429, 5xx, HTML or garbage bodies, hangs, a lost create response, failing
targets, no credits, short-lived links).

State lives in the `FaultConfig` row (pk=1). Its defaults come from settings.SANDBOX_FAULTS
(the SANDBOX_FAULTS environment variable, JSON) and `faults_reset()` returns to them.
`*_next` counters are consumed atomically, so with several threads or processes each injected
failure fires exactly once.
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F

from sandbox.models import FaultConfig, RequestLog
from sandbox.routers import ALIAS

SINGLETON = 1


@dataclass(frozen=True)
class Field:
    parse: Callable[[str, Any], Any]
    help: str


def _int(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}")
        return value

    return parse


def _float(low: float, high: float) -> Callable[[str, Any], float]:
    def parse(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}")
        return float(value)

    return parse


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _choice(*choices: Any) -> Callable[[str, Any], Any]:
    def parse(name: str, value: Any) -> Any:
        if value not in choices or isinstance(value, bool):
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}")
        return value

    return parse


def _credits(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number or null (unlimited)")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number or null (unlimited)") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        raise ValueError(f"{name} is out of range")
    return amount.quantize(Decimal("0.01"))


def _url(name: str, value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ValueError(f"{name} must be an http(s) URL or empty")
    if len(value) > 2048:
        raise ValueError(f"{name} must be at most 2048 characters")
    return value


def _scope(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f'{name} must be a list of "METHOD /path" patterns')
    return value


DAY = 86400
FIELDS: dict[str, Field] = {
    "latency_ms": Field(_int(0, 600_000), "Added to every request in scope"),
    "scope": Field(_scope, 'Requests the faults apply to, e.g. ["POST /tasks"]; [] = all'),
    "rate_limit_next": Field(_int(0, 1_000_000), "Answer the next N requests with 429"),
    "retry_after_seconds": Field(_int(0, DAY), "Retry-After sent with every 429"),
    "rate_limit_enabled": Field(_bool, "A real per-key limiter (rate_limit_per_second)"),
    "rate_limit_per_second": Field(_int(1, 100_000), "The limiter's requests per second"),
    "fail_5xx_next": Field(_int(0, 1_000_000), "Answer the next N requests with fail_status"),
    "fail_status": Field(_choice(500, 502, 503, 504), "Status of injected server errors"),
    "html_errors": Field(_bool, "Injected server errors come as an HTML page, not JSON"),
    "garbage_next": Field(_int(0, 1_000_000), "Answer the next N with 200 and a broken body"),
    "hang_next": Field(_int(0, 1_000_000), "Hold the next N requests for hang_seconds, then 504"),
    "hang_seconds": Field(_float(0, 3600), "How long a hang lasts"),
    "create_response_lost_next": Field(
        _int(0, 1_000_000), "Create the next N tasks, then lose the response"
    ),
    "create_response_lost_mode": Field(_choice("502", "hang"), "502 at once, or hang then 504"),
    "target_error_rate": Field(_float(0, 1), "Share of targets that end in error"),
    "target_error_seed": Field(_int(-(2**31), 2**31 - 1), "Seed of the error draws"),
    "charge_errors": Field(_bool, "Errored targets are charged like completed ones"),
    "reject_padded": Field(_bool, "400 on POST /tasks for assets starting with >= 731 zero bytes"),
    "credits_balance": Field(_credits, "Credits left (null: unlimited); <= 0 gives 402"),
    "link_ttl_seconds": Field(_int(0, 7 * DAY), "Lifetime of signed file links"),
    "webhook_url": Field(_url, "Where webhooks go (overrides SANDBOX_WEBHOOK_URL)"),
    "webhook_max_attempts": Field(_int(1, 10), "Tries per webhook"),
    "instant": Field(_bool, "Targets are ready as soon as the worker has measured the source"),
}
READ_ONLY = ("target_error_draws",)


def faults_parse(changes: Any) -> dict[str, Any]:
    """Validate a partial update; raises ValueError with a message naming the field."""
    if not isinstance(changes, dict):
        raise ValueError("Send a JSON object of fault settings")
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValueError(f"Unknown fault setting(s): {', '.join(unknown)}")
    return {name: FIELDS[name].parse(name, value) for name, value in changes.items()}


def fault_defaults() -> dict[str, Any]:
    """The model defaults overlaid with settings.SANDBOX_FAULTS."""
    defaults = {
        f.name: f.get_default()
        for f in FaultConfig._meta.get_fields()
        if f.concrete and f.name not in ("id", "updated_at")
    }
    try:
        defaults.update(faults_parse(settings.SANDBOX_FAULTS))
    except ValueError as exc:
        raise ImproperlyConfigured(f"SANDBOX_FAULTS: {exc}") from exc
    return defaults


def fault_config() -> FaultConfig:
    config = FaultConfig.objects.filter(pk=SINGLETON).first()
    if config is None:
        config, _ = FaultConfig.objects.get_or_create(pk=SINGLETON, defaults=fault_defaults())
    return config


def faults_update(*, changes: dict[str, Any]) -> FaultConfig:
    """Apply already-validated changes (see faults_parse)."""
    fault_config()
    FaultConfig.objects.filter(pk=SINGLETON).update(**changes)
    return fault_config()


def faults_reset() -> FaultConfig:
    """Back to the defaults, request counters cleared, the limiter emptied."""
    with transaction.atomic(using=ALIAS):
        FaultConfig.objects.filter(pk=SINGLETON).delete()
        FaultConfig.objects.create(pk=SINGLETON, **fault_defaults())
        RequestLog.objects.all().delete()
    limiter.clear()
    return fault_config()


def faults_json(config: FaultConfig) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in (*FIELDS, *READ_ONLY):
        value = getattr(config, name)
        data[name] = float(value) if isinstance(value, Decimal) else value
    return data


def faults_active(config: FaultConfig) -> dict[str, Any]:
    """The switches that differ from their defaults."""
    defaults = faults_json(FaultConfig(**fault_defaults()))
    current = faults_json(config)
    return {name: value for name, value in current.items() if value != defaults[name]}


def fault_take(config: FaultConfig, name: str) -> bool:
    """Consume one of the `name` counter's remaining firings; True if this call got one.
    Costs a query only when the (possibly stale) row says the counter is positive."""
    if getattr(config, name) <= 0:
        return False
    taken = FaultConfig.objects.filter(pk=SINGLETON, **{f"{name}__gt": 0}).update(
        **{name: F(name) - 1}
    )
    return taken == 1


def in_scope(config: FaultConfig, pattern: str) -> bool:
    return not config.scope or pattern in config.scope


def request_count(*, pattern: str) -> None:
    """Count one request for GET /_control/requests (counted before anything can fail)."""
    if RequestLog.objects.filter(pattern=pattern).update(count=F("count") + 1):
        return
    with transaction.atomic(using=ALIAS):
        _, created = RequestLog.objects.get_or_create(pattern=pattern, defaults={"count": 1})
    if not created:  # another thread created it between our update and get_or_create
        RequestLog.objects.filter(pattern=pattern).update(count=F("count") + 1)


def request_counts() -> dict[str, int]:
    return dict(RequestLog.objects.values_list("pattern", "count"))


def credits_exhausted(config: FaultConfig) -> bool:
    return config.credits_balance is not None and config.credits_balance <= 0


def credits_charge(*, amount: Decimal) -> None:
    """Take credits from a limited balance (an unlimited balance stays unlimited)."""
    if amount:
        FaultConfig.objects.filter(pk=SINGLETON, credits_balance__isnull=False).update(
            credits_balance=F("credits_balance") - amount
        )


class SlidingWindowLimiter:
    """Requests per second per key, in this process (the real API's 60/s). Several server
    processes each count on their own; the switch is for tests, which use one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, per_second: int) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= 1.0:
                hits.popleft()
            if len(hits) >= per_second:
                return False
            hits.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


limiter = SlidingWindowLimiter()
