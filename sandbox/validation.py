"""Validation of `POST /tasks` bodies (contract sections 1.3 and 10.3). Every rule failure is a
400 whose message names the field and what was wrong.

Rules beyond the primary docs, from the contract's third-party notes: targets are unique
(same model and variant), `model` is 2..255 characters, `metadata` at most 4096 characters.
Unknown fields are ignored (what Fastify's schema validation does by default, [I]).

Sources: `url` must be HTTPS. So that tests and demos can serve files locally, plain http is
accepted for 127.0.0.1, localhost and ::1 only (a sandbox extension).
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from sandbox.catalogue import CatalogueModel, model_get
from sandbox.errors import bad_request
from sandbox.models import SandboxAsset
from sandbox.uploads import TEXT_FORMATS

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TEXT_INPUT_FIELDS = ("transcriptUrl", "transcriptAssetId")


@dataclass(frozen=True)
class TargetRequest:
    model: str
    formats: tuple[str, ...]
    variant: str = ""
    residual: bool = False
    language: str = ""
    transcript_url: str = ""
    transcript_asset_id: str = ""


@dataclass(frozen=True)
class TaskRequest:
    targets: tuple[TargetRequest, ...]
    asset: SandboxAsset | None = None
    url: str = ""
    metadata: str | None = None


def _url(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} must be a non-empty string")
    if len(value) > 2048:
        raise bad_request(f"{field} must be at most 2048 characters")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return value
    raise bad_request(f"{field} must be an HTTPS URL (plain HTTP is not supported)")


def _asset(asset_id: Any, field: str, *, client_id: str) -> SandboxAsset:
    if not isinstance(asset_id, str) or not asset_id:
        raise bad_request(f"{field} must be a non-empty string")
    asset = SandboxAsset.objects.filter(pk=asset_id, client_id=client_id).first()
    if asset is None:
        raise bad_request(f'{field} "{asset_id}" does not match any asset of this account')
    if asset.expires_at <= timezone.now():
        raise bad_request(f'{field} "{asset_id}": the asset expired (assets last 72 hours)')
    return asset


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} must be a non-empty string")
    return value


def _formats(value: Any, field: str, model: CatalogueModel) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise bad_request(f"{field} must be a non-empty array of formats")
    for fmt in value:
        if not isinstance(fmt, str):
            raise bad_request(f"{field} must contain only strings")
        if fmt not in model.output_formats:
            allowed = ", ".join(model.output_formats)
            raise bad_request(
                f'{field}: "{fmt}" is not an output format of {model.id} (allowed: {allowed})'
            )
    if len(set(value)) != len(value):
        raise bad_request(f"{field} must not repeat a format")
    return tuple(value)


def _target(raw: Any, index: int, *, client_id: str) -> TargetRequest:
    where = f"targets[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object")
    if "model" not in raw:
        raise bad_request(f"{where} must have required property 'model'")
    model_id = raw["model"]
    if not isinstance(model_id, str):
        raise bad_request(f"{where}.model must be a string")
    if not 2 <= len(model_id) <= 255:
        raise bad_request(f"{where}.model must be 2 to 255 characters long")
    model = model_get(model_id)
    if model is None:
        raise bad_request(f'{where}.model: unknown model "{model_id}" (see GET /models)')
    if not model.enabled:
        raise bad_request(
            f"{where}.model: {model_id} is not enabled for this account "
            "(access must be requested from AudioShake)"
        )
    if "formats" not in raw:
        raise bad_request(f"{where} must have required property 'formats'")
    formats = _formats(raw["formats"], f"{where}.formats", model)

    residual = raw.get("residual", False)
    if not isinstance(residual, bool):
        raise bad_request(f"{where}.residual must be a boolean")
    if residual and not model.residual:
        raise bad_request(f"{where}.residual: {model_id} has no residual output")

    variant = raw.get("variant")
    if variant is not None:
        variant = _string(variant, f"{where}.variant")
        if not model.variants:
            raise bad_request(f"{where}.variant: {model_id} has no variants")
        if variant not in model.variant_ids:
            allowed = ", ".join(model.variant_ids)
            raise bad_request(
                f'{where}.variant: "{variant}" is not a variant of {model_id} (allowed: {allowed})'
            )

    language = raw.get("language")
    if language is not None:
        language = _string(language, f"{where}.language")
        if not model.languages:
            raise bad_request(
                f"{where}.language is only for transcription and alignment, not {model_id}"
            )
        if language not in model.languages:
            allowed = ", ".join(model.languages)
            raise bad_request(
                f'{where}.language: "{language}" is not supported (supported: {allowed})'
            )

    transcript_url = transcript_asset_id = ""
    given = [f for f in TEXT_INPUT_FIELDS if raw.get(f) is not None]
    if given and not model.transcript_input:
        raise bad_request(f"{where}.{given[0]} is only for the alignment model, not {model_id}")
    if len(given) == 2:
        raise bad_request(f"{where}: send transcriptUrl or transcriptAssetId, not both")
    if raw.get("transcriptUrl") is not None:
        transcript_url = _url(raw["transcriptUrl"], f"{where}.transcriptUrl")
    if raw.get("transcriptAssetId") is not None:
        field = f"{where}.transcriptAssetId"
        transcript = _asset(raw["transcriptAssetId"], field, client_id=client_id)
        if transcript.format not in TEXT_FORMATS:
            raise bad_request(
                f"{field} must be a .json or .txt transcript, not {transcript.format}"
            )
        transcript_asset_id = transcript.id

    return TargetRequest(
        model=model_id,
        formats=formats,
        variant=variant or "",
        residual=residual,
        language=language or "",
        transcript_url=transcript_url,
        transcript_asset_id=transcript_asset_id,
    )


def task_request_parse(
    body: Any, *, client_id: str, max_targets: int, metadata_max: int
) -> TaskRequest:
    """A valid TaskRequest, or ApiError(400) naming the first problem found."""
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object")
    has_url, has_asset = body.get("url") is not None, body.get("assetId") is not None
    if has_url and has_asset:
        raise bad_request("Send exactly one of url and assetId, not both")
    if not has_url and not has_asset:
        raise bad_request("Send exactly one of url and assetId")

    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, str):
            raise bad_request("metadata must be a string")
        if len(metadata) > metadata_max:
            raise bad_request(f"metadata must be at most {metadata_max} characters")

    if "targets" not in body:
        raise bad_request("The body must have required property 'targets'")
    raw_targets = body["targets"]
    if not isinstance(raw_targets, list):
        raise bad_request("targets must be an array")
    if not raw_targets:
        raise bad_request("targets must contain at least 1 target")
    if len(raw_targets) > max_targets:
        raise bad_request(f"targets must contain at most {max_targets} targets")
    targets = tuple(_target(raw, i, client_id=client_id) for i, raw in enumerate(raw_targets))
    seen: dict[tuple[str, str], int] = {}
    for i, target in enumerate(targets):
        key = (target.model, target.variant)
        if key in seen:
            variant = f" (variant {target.variant})" if target.variant else ""
            raise bad_request(
                f"targets must be unique: targets[{i}] repeats targets[{seen[key]}], "
                f"model {target.model}{variant}"
            )
        seen[key] = i

    if has_url:
        return TaskRequest(targets=targets, url=_url(body["url"], "url"), metadata=metadata)
    asset = _asset(body["assetId"], "assetId", client_id=client_id)
    if asset.format in TEXT_FORMATS:
        raise bad_request(f'assetId "{asset.id}" is a transcript ({asset.format}), not media')
    return TaskRequest(targets=targets, asset=asset, metadata=metadata)
