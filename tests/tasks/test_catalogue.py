"""The model catalogue: the fallback file for the first start, grouping for the picker, and
what the form reads from each model (nothing about models is hard-coded elsewhere)."""

import json
from decimal import Decimal

from django.test import Client
from django.urls import reverse

from jobs.audioshake import parse_model
from jobs.catalogue import (
    BUILTIN_PRESETS,
    FALLBACK_PATH,
    Catalogue,
    accepts_transcript,
    catalogue_load,
    category_label,
    fallback_items,
    is_fallback,
    remote_model_fields,
    seed_fallback,
)
from jobs.models import RemoteModel, WorkItem


def test_fallback_file_is_the_api_shape(db: None) -> None:
    """Every item of the fallback file parses like a `GET /models` item, with a unique id."""
    document = json.loads(FALLBACK_PATH.read_text())
    ids = [item["id"] for item in document["models"]]
    assert len(ids) == len(set(ids)) >= 20
    for item in document["models"]:
        info = parse_model(item)
        assert info.output_formats
        if item["access"] == "enabled":
            assert info.credits_per_minute is not None
        else:
            assert "creditsPerMinute" not in item


def test_first_start_seeds_the_fallback_and_asks_for_a_sync(db: None) -> None:
    """An empty catalogue is filled from the file once, and a catalogue sync is queued."""
    assert not RemoteModel.objects.exists()
    catalogue = catalogue_load()
    assert len(catalogue.models) == len(fallback_items())
    assert catalogue.is_fallback
    assert WorkItem.objects.filter(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync").exists()
    assert seed_fallback() == 0  # rows exist: nothing more


def test_synced_rows_win_over_the_fallback(db: None) -> None:
    """Once the poller stored the account's models, the fallback is not used."""
    RemoteModel.objects.create(
        key="vocals", name="Vocals", category="instrumentStemSeparation", output_formats=["wav"]
    )
    catalogue = catalogue_load()
    assert list(catalogue.models) == ["vocals"]
    assert not catalogue.is_fallback
    assert seed_fallback() == 0


def test_groups_follow_the_api_order(catalogue: Catalogue) -> None:
    """Categories appear in the order the API first lists them, models in API order."""
    labels = [group.label for group in catalogue.groups]
    assert labels[0] == "Instrument stem separation"
    assert set(labels) == {
        "Instrument stem separation",
        "Post production",
        "Speech separation",
        "Copyright compliance",
        "Lyric transcription",
    }
    stems = catalogue.groups[0].models
    assert [m.key for m in stems[:3]] == ["vocals", "instrumental", "drums"]


def test_model_rows_carry_everything_the_picker_shows(catalogue: Catalogue) -> None:
    """Rates, variant rates, formats, residual, languages, limits and access from the file."""
    vocals = catalogue.get("vocals")
    assert vocals.credits_per_minute == Decimal(1)
    assert vocals.rate_for("high_quality") == Decimal("1.5")
    assert vocals.supports_residual
    assert vocals.max_input_seconds == 3 * 3600
    transcription = catalogue.get("transcription")
    assert transcription.output_formats == ["json", "srt", "txt"]
    assert "en" in transcription.supported_languages
    assert not transcription.supports_residual
    assert accepts_transcript(catalogue.get("alignment"))
    assert not accepts_transcript(transcription)
    gated = catalogue.get("music_removal")
    assert not gated.is_enabled
    assert gated.credits_per_minute is None
    assert is_fallback(vocals)


def test_picker_lists_each_models_details(member_client: Client) -> None:
    """The catalogue on the form shows name, description, rate, formats, variants with their
    rate, maximum length and gated access."""
    page = member_client.get(reverse("jobs:task_create")).content.decode()
    assert "All vocals, lead and backing, separated from the mix." in page
    assert "High quality (1.5/min)" in page
    assert "Two speakers (default)" in page
    assert "wav, mp3, flac, aiff, mp4" in page
    assert "3:00:00" in page
    assert "Access must be requested" in page
    assert "This is the built-in list." in page


def test_a_model_the_api_adds_appears_without_code_changes(member_client: Client) -> None:
    """A new model from `GET /models` (here stored as the poller would) is offered as is."""
    item = {
        "id": "choir",
        "name": "Choir",
        "category": "choralSeparation",
        "description": "Choir voices.",
        "access": "enabled",
        "creditsPerMinute": 2.5,
        "outputFormats": ["wav", "ogg"],
        "variants": [{"id": "sopranos", "creditsPerMinute": 3}],
    }
    RemoteModel.objects.create(**remote_model_fields(parse_model(item), position=99))
    page = member_client.get(reverse("jobs:task_create")).content.decode()
    assert '<optgroup label="Choral separation">' in page
    assert "Choir · 2.5 cr/min" in page
    assert "Sopranos (3/min)" in page


def test_category_labels_are_derived() -> None:
    """camelCase category keys become words; no table of names is kept."""
    assert category_label("instrumentStemSeparation") == "Instrument stem separation"
    assert category_label("lyricTranscription") == "Lyric transcription"
    assert category_label("") == "Other models"


def test_builtin_presets_name_models_of_the_fallback(catalogue: Catalogue) -> None:
    """Every model a built-in preset names exists (and is enabled) in the fallback file."""
    for preset in BUILTIN_PRESETS:
        for target in preset.targets:
            assert catalogue.get(target.model).is_enabled, target.model
