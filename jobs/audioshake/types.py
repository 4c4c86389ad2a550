"""What the AudioShake client returns: frozen dataclasses, and the tolerant parsing that makes
them from the API's JSON (unknown fields ignored, optional fields missing or null, numbers sent
as strings). `TargetSpec` goes the other way: one target of a task to create."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jobs.audioshake.errors import BadResponse

__all__ = [
    "TERMINAL_STATUSES",
    "ModelInfo",
    "ModelUsage",
    "RemoteAsset",
    "RemoteError",
    "RemoteOutput",
    "RemoteTarget",
    "RemoteTask",
    "TargetSpec",
    "UsageMonth",
    "parse_asset",
    "parse_error",
    "parse_model",
    "parse_model_usage",
    "parse_output",
    "parse_target",
    "parse_task",
    "parse_usage_month",
]

TERMINAL_STATUSES = frozenset({"completed", "error", "failed"})  # "failed": seen in the wild


@dataclass(frozen=True)
class TargetSpec:
    """One target of a task to create: a model and its output formats."""

    model: str
    formats: tuple[str, ...]
    variant: str | None = None
    residual: bool = False
    language: str | None = None
    transcript_url: str | None = None
    transcript_asset_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "formats": list(self.formats)}
        if self.residual:
            body["residual"] = True
        for key, value in (
            ("variant", self.variant),
            ("language", self.language),
            ("transcriptUrl", self.transcript_url),
            ("transcriptAssetId", self.transcript_asset_id),
        ):
            if value:
                body[key] = value
        return body


@dataclass(frozen=True)
class RemoteAsset:
    id: str
    name: str | None = None
    format: str | None = None
    link: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteOutput:
    name: str
    format: str
    link: str | None = None


@dataclass(frozen=True)
class RemoteError:
    code: int | None
    message: str


@dataclass(frozen=True)
class RemoteTarget:
    id: str
    model: str = ""
    status: str = ""
    formats: tuple[str, ...] = ()
    output: tuple[RemoteOutput, ...] = ()
    cost: Decimal | None = None
    error: RemoteError | None = None
    duration: float | None = None
    residual: bool = False
    language: str | None = None
    variant: str | None = None
    transcript_url: str | None = None
    transcript_asset_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RemoteTask:
    id: str
    created_at: datetime | None = None
    completed_at: datetime | None = None
    client_id: str | None = None
    cost: Decimal | None = None
    asset_id: str | None = None
    url: str | None = None
    metadata: str | None = None
    targets: tuple[RemoteTarget, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_finished(self) -> bool:
        """Every target completed or failed (a task without targets is not finished)."""
        return bool(self.targets) and all(t.is_terminal for t in self.targets)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str = ""
    category: str = ""
    description: str = ""
    access: str = "enabled"
    credits_per_minute: Decimal | None = None
    output_formats: tuple[str, ...] = ()
    input_formats: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    variant_rates: dict[str, Decimal] = field(default_factory=dict, hash=False)
    supports_residual: bool = False
    max_input_seconds: int | None = None
    supported_languages: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class UsageMonth:
    month: str
    total_targets: int = 0
    total_minutes: Decimal = Decimal(0)


@dataclass(frozen=True)
class ModelUsage:
    model: str
    total_targets: int = 0
    total_minutes: Decimal = Decimal(0)
    raw: dict = field(default_factory=dict, compare=False, repr=False)


# Tolerant parsing ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _decimal(value: Any) -> Decimal | None:
    """A number or a numeric string as a Decimal; anything else is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    return int(number) if number is not None else None


def _float(value: Any) -> float | None:
    number = _decimal(value)
    return float(number) if number is not None else None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))


def _datetime(value: Any) -> datetime | None:
    """ISO 8601 (a trailing Z included) as an aware datetime; naive values are UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _require_id(data: Any, what: str) -> str:
    if not isinstance(data, dict):
        raise BadResponse(f"AudioShake sent {type(data).__name__} where {what} was expected")
    ident = _text(data.get("id"))
    if not ident:
        raise BadResponse(f"AudioShake sent {what} without an id")
    return ident


def parse_error(value: Any) -> RemoteError | None:
    """A target's `error`: `{code, message}`, or a bare message string."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        message = _text(value.get("message")) or _text(value.get("error")) or ""
        return RemoteError(code=_int(value.get("code")), message=message)
    return RemoteError(code=None, message=str(value))


def parse_asset(data: Any) -> RemoteAsset:
    ident = _require_id(data, "an asset")
    return RemoteAsset(
        id=ident,
        name=_text(data.get("name")),
        format=_text(data.get("format")),
        link=_text(data.get("link")),
        raw=data,
    )


def parse_output(data: dict) -> RemoteOutput:
    return RemoteOutput(
        name=_text(data.get("name")) or "",
        format=_text(data.get("format")) or "",
        link=_text(data.get("link")),
    )


def parse_target(data: Any) -> RemoteTarget:
    ident = _require_id(data, "a task target")
    return RemoteTarget(
        id=ident,
        model=_text(data.get("model")) or "",
        status=_text(data.get("status")) or "",
        formats=_strings(data.get("formats")),
        output=tuple(parse_output(item) for item in _dicts(data.get("output"))),
        cost=_decimal(data.get("cost")),
        error=parse_error(data.get("error")),
        duration=_float(data.get("duration")),
        residual=_bool(data.get("residual")),
        language=_text(data.get("language")),
        variant=_text(data.get("variant")),
        transcript_url=_text(data.get("transcriptUrl")),
        transcript_asset_id=_text(data.get("transcriptAssetId")),
    )


def parse_task(data: Any) -> RemoteTask:
    ident = _require_id(data, "a task")
    return RemoteTask(
        id=ident,
        created_at=_datetime(data.get("createdAt")),
        completed_at=_datetime(data.get("completedAt")),
        client_id=_text(data.get("clientId")),
        cost=_decimal(data.get("cost")),
        asset_id=_text(data.get("assetId")),
        url=_text(data.get("url")),
        metadata=_text(data.get("metadata")),
        targets=tuple(parse_target(item) for item in _dicts(data.get("targets"))),
        raw=data,
    )


def _variants(value: Any) -> tuple[tuple[str, ...], dict[str, Decimal]]:
    """Variants as `["high_quality"]`, `[{"id": ..., "creditsPerMinute": ...}]` or
    `{"high_quality": 1.5}`: their names and the rates given."""
    names: list[str] = []
    rates: dict[str, Decimal] = {}
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict):
                rate = item.get("creditsPerMinute", item.get("rate"))
                items.append((item.get("id") or item.get("name"), rate))
            else:
                items.append((item, None))
    else:
        items = []
    for name, rate in items:
        if not isinstance(name, str) or not name:
            continue
        names.append(name)
        if isinstance(rate, dict):
            rate = rate.get("creditsPerMinute")
        parsed = _decimal(rate)
        if parsed is not None:
            rates[name] = parsed
    return tuple(names), rates


def parse_model(data: Any) -> ModelInfo:
    ident = _require_id(data, "a model")
    # Source formats: the media input's (the one fed by url/assetId), not a transcript's.
    inputs = _dicts(data.get("inputs"))
    media = [
        item
        for item in inputs
        if item.get("id") == "media" or {"url", "assetId"} & set(_strings(item.get("taskFields")))
    ]
    input_formats: list[str] = []
    for item in media or inputs:
        formats = item.get("formats")
        groups = formats.values() if isinstance(formats, dict) else [formats]
        for group in groups:
            input_formats.extend(f for f in _strings(group) if f not in input_formats)
    variants, rates = _variants(data.get("variants"))
    limits = data.get("limits") if isinstance(data.get("limits"), dict) else {}
    residual = data.get("supportsResidual", data.get("residual"))
    return ModelInfo(
        id=ident,
        name=_text(data.get("name")) or ident,
        category=_text(data.get("category")) or "",
        description=_text(data.get("description")) or "",
        access=_text(data.get("access")) or "enabled",
        credits_per_minute=_decimal(data.get("creditsPerMinute")),
        output_formats=_strings(data.get("outputFormats")),
        input_formats=tuple(input_formats),
        variants=variants,
        variant_rates=rates,
        supports_residual=_bool(residual),
        max_input_seconds=_int(limits.get("maxInputDurationSeconds")),
        supported_languages=_strings(data.get("supportedLanguages")),
        raw=data,
    )


def parse_usage_month(data: dict) -> UsageMonth:
    return UsageMonth(
        month=_text(data.get("month")) or "",
        total_targets=_int(data.get("totalTargets")) or 0,
        total_minutes=_decimal(data.get("totalMinutes")) or Decimal(0),
    )


def parse_model_usage(data: dict) -> ModelUsage:
    model = data.get("model", data.get("name", data.get("id")))
    return ModelUsage(
        model=_text(model) or "",
        total_targets=_int(data.get("totalTargets", data.get("targets"))) or 0,
        total_minutes=_decimal(data.get("totalMinutes", data.get("minutes"))) or Decimal(0),
        raw=data,
    )


def _items(data: Any, *envelopes: str) -> list[dict]:
    """A list response: a bare array (documented), or one wrapped in a known envelope key."""
    if isinstance(data, dict):
        for key in (*envelopes, "data", "items", "results"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise BadResponse(f"AudioShake sent {type(data).__name__} where a list was expected")
    return _dicts(data)
