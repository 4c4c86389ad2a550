"""The documented capabilities (`jobs.capabilities`) merged into a `GET /models` answer of the
documented shape, which names no variants and no residual: the form and the estimate still
offer what the documentation gives, and a live answer adds and overrides but never removes."""

import html
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.audioshake import get_client, parse_model
from jobs.capabilities import DOCUMENTED, capabilities_merge
from jobs.catalogue import catalogue_load, remote_model_fields
from jobs.models import Asset, RemoteModel
from tests.tasks.helpers import form_body

# The `GET /models` example item of the contract (section 1.7), copied verbatim.
EXAMPLE = Path(__file__).with_name("fixtures") / "models_documented_example.json"
CREATE = reverse("jobs:task_create")
ESTIMATE = reverse("jobs:task_estimate")
HTMX = {"HTTP_HX_REQUEST": "true"}


def documented_answer() -> dict[str, Any]:
    """`{"models": [...]}` (the documented envelope): the example item, and vocals and
    multi_voice written in exactly its shape (documented fields only)."""
    bass = json.loads(EXAMPLE.read_text())
    vocals = {**bass, "id": "vocals", "name": "Vocals", "description": "Vocals"}
    multi_voice = {
        **bass,
        "id": "multi_voice",
        "name": "Multi-voice",
        "category": "speechSeparation",
        "creditsPerMinute": 10,
    }
    return {"models": [bass, vocals, multi_voice]}


def store(answer: dict[str, Any]) -> None:
    """Store an answer's models as the poller's catalogue sync does."""
    for position, item in enumerate(answer["models"]):
        RemoteModel.objects.create(**remote_model_fields(parse_model(item), position=position))


def test_documented_example_names_no_variant_and_no_residual(db: None) -> None:
    """The example item parses to a model without variants or residual: the gap this fills."""
    info = parse_model(json.loads(EXAMPLE.read_text()))
    assert info.id == "bass"
    assert info.variants == ()
    assert info.supports_residual is False
    assert info.credits_per_minute == Decimal(1)


def test_form_offers_documented_variant_and_residual(
    db: None, member: User, project: Project, ready_asset: Asset
) -> None:
    """With only documented fields from `GET /models`, vocals still offers high_quality (at
    its documented rate) and residual, bass residual, multi_voice its two variants."""
    store(documented_answer())
    client = Client()
    client.force_login(member)
    targets = [
        {"model": "vocals", "formats": ["wav"]},
        {"model": "bass", "formats": ["wav"]},
        {"model": "multi_voice", "formats": ["wav"]},
    ]
    body = form_body(asset=ready_asset, project=project, targets=targets, step="edit")
    response = client.post(CREATE, body)
    vocals, bass, multi_voice = response.context["form"].rows
    assert dict(vocals.fields["variant"].choices)["high_quality"] == "High quality · 1.5 cr/min"
    assert "residual" in vocals.fields
    assert "residual" in bass.fields
    assert "variant" not in bass.fields
    assert [v for v, _ in multi_voice.fields["variant"].choices] == [
        "",
        "two_speaker",
        "n_speaker",
    ]
    assert "residual" not in multi_voice.fields
    page = response.content.decode()
    assert 'name="t0-variant"' in page
    assert 'name="t0-residual"' in page


def test_estimate_includes_the_documented_variant_rate(
    db: None, member: User, project: Project, ready_asset: Asset
) -> None:
    """vocals high_quality is priced 1.5/min although `GET /models` gave no variant rate:
    4 minutes x 1.5 = 6."""
    store(documented_answer())
    client = Client()
    client.force_login(member)
    targets = [{"model": "vocals", "formats": ["wav"], "variant": "high_quality"}]
    response = client.post(
        ESTIMATE, form_body(asset=ready_asset, project=project, targets=targets), **HTMX
    )
    page = html.unescape(response.content.decode())
    assert "4 × 1.5" in page
    assert 'data-testid="estimate-total">6<' in page


def test_live_answer_adds_and_overrides_but_never_removes(db: None) -> None:
    """A live variant rate and an extra variant or format win; documented ones stay."""
    item = {
        **json.loads(EXAMPLE.read_text()),
        "id": "vocals",
        "outputFormats": ["wav", "ogg"],
        "variants": [{"id": "high_quality", "creditsPerMinute": 2}, {"id": "ultra"}],
        "supportsResidual": False,
    }
    store({"models": [item]})
    vocals = catalogue_load().get("vocals")
    assert vocals.output_formats == ["wav", "ogg", "mp3", "flac", "aiff", "mp4"]
    assert vocals.variants == ["high_quality", "ultra"]
    assert vocals.rate_for("high_quality") == Decimal(2)
    assert vocals.rate_for("ultra") == Decimal(1)
    assert vocals.supports_residual


def test_models_the_table_does_not_know_are_left_as_they_are(db: None) -> None:
    """A model the documentation does not name keeps exactly its live options."""
    model = RemoteModel(key="choir", name="Choir", output_formats=["wav"])
    merged = capabilities_merge(model)
    assert merged.output_formats == ["wav"]
    assert merged.variants == []
    assert not merged.supports_residual
    assert "choir" not in DOCUMENTED


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_sandbox_documented_answer_still_gives_the_options(sandbox_api: str) -> None:
    """The sandbox's default (documented) `GET /models`, over HTTP and stored as the poller
    stores it: the catalogue still has high_quality at 1.5 and residual on vocals."""
    with get_client() as client:
        models = client.list_models()
    assert not any(info.variants or info.supports_residual for info in models)
    for position, info in enumerate(models):
        RemoteModel.objects.create(**remote_model_fields(info, position=position))
    catalogue = catalogue_load()
    vocals = catalogue.get("vocals")
    assert vocals.rate_for("high_quality") == Decimal("1.5")
    assert vocals.supports_residual
    assert catalogue.get("multi_voice").variants == ["two_speaker", "n_speaker"]
    assert not catalogue.get("transcription").supports_residual
