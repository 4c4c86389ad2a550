"""The sandbox's catalogue, the dashboard's fallback file and its documented capabilities
(`jobs.capabilities`) describe the same models: they are three copies of the contract's
section 3, and nothing else keeps them from drifting apart. Also: `GET /models` serves the
documented shape unless `SANDBOX_MODELS_EXTENDED` is on."""

from decimal import Decimal

import pytest
import requests

from jobs.audioshake import parse_model
from jobs.capabilities import DOCUMENTED
from jobs.catalogue import fallback_items
from sandbox.catalogue import MODELS
from sandbox.keys import sandbox_api_key

SANDBOX = {m.id: m for m in MODELS}
FALLBACK = {item["id"]: parse_model(item) for item in fallback_items()}
DOCUMENTED_FIELDS = {
    "id",
    "name",
    "category",
    "description",
    "access",
    "creditsPerMinute",
    "inputs",
    "outputFormats",
    "limits",
    "supportedLanguages",
}


def test_same_models_everywhere() -> None:
    """The sandbox, the fallback file and the capabilities table name the same models."""
    assert set(SANDBOX) == set(FALLBACK) == set(DOCUMENTED)


@pytest.mark.parametrize("key", sorted(SANDBOX))
def test_same_rates_formats_and_limits(key: str) -> None:
    """Rate (or gated access), output formats and maximum length agree with the fallback."""
    sandbox, fallback = SANDBOX[key], FALLBACK[key]
    assert sandbox.credits_per_minute == fallback.credits_per_minute
    assert sandbox.enabled == (fallback.access == "enabled")
    assert list(sandbox.output_formats) == list(fallback.output_formats)
    assert sandbox.max_input_seconds == fallback.max_input_seconds
    assert list(sandbox.output_formats) == list(DOCUMENTED[key].output_formats)


@pytest.mark.parametrize("key", sorted(SANDBOX))
def test_same_variants_rates_and_residual(key: str) -> None:
    """What the sandbox accepts (variants at their rates, residual) is what the dashboard's
    table offers; a variant without a documented rate costs the model's own rate."""
    sandbox, documented = SANDBOX[key], DOCUMENTED[key]
    assert sandbox.residual == documented.residual
    assert sandbox.variant_ids == tuple(v.id for v in documented.variants)
    for variant in documented.variants:
        expected = variant.credits_per_minute or sandbox.credits_per_minute
        assert sandbox.rate(variant.id) == expected


def test_fallback_file_has_only_documented_fields() -> None:
    """No invented field in the fallback file: options come from the capabilities table."""
    for item in fallback_items():
        assert set(item) <= DOCUMENTED_FIELDS, item["id"]


def models_answer(base: str) -> list[dict]:
    response = requests.get(f"{base}/models", headers={"x-api-key": sandbox_api_key()}, timeout=10)
    assert response.status_code == 200
    return response.json()["models"]


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_sandbox_serves_the_documented_shape_by_default(sandbox_api: str) -> None:
    """Over HTTP, `GET /models` sends only documented fields by default."""
    models = models_answer(sandbox_api)
    assert {m["id"] for m in models} == set(SANDBOX)
    for item in models:
        assert set(item) <= DOCUMENTED_FIELDS, item["id"]


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_sandbox_serves_the_extended_shape_when_switched_on(
    sandbox_api: str, settings: object
) -> None:
    """`SANDBOX_MODELS_EXTENDED` adds `variants` (with rates) and `residual`."""
    settings.SANDBOX_MODELS_EXTENDED = True
    models = {m["id"]: m for m in models_answer(sandbox_api)}
    assert models["vocals"]["variants"] == [{"id": "high_quality", "creditsPerMinute": 1.5}]
    assert models["vocals"]["residual"] is True
    assert "residual" not in models["multi_voice"]
    assert parse_model(models["vocals"]).variant_rates == {"high_quality": Decimal("1.5")}
