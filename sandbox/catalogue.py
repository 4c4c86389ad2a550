"""The sandbox's model catalogue, built from the contract's section 3 (`GET /models`).

Documented fields: id, name, category, description, access, creditsPerMinute (left out when
access is `request_access`), inputs, outputFormats, limits.maxInputDurationSeconds,
supportedLanguages: the shape `GET /models` serves by default. With `SANDBOX_MODELS_EXTENDED`
it also sends two undocumented fields, marked [I] in docs/sandbox.md: `variants`
(`[{"id": ..., "creditsPerMinute": ...}]`) and `residual: true` on models that offer a residual
output. Either way the sandbox *accepts* the variants and residual listed here (the dashboard
knows them from `jobs/capabilities.py`; tests/sandbox/test_catalogue_drift.py keeps the two and
`jobs/fallback_catalogue.json` in step). Rates and limits follow the contract's table; where it
says "?" the entry has no limit.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

AUDIO_OUTPUTS = ("wav", "mp3", "flac", "aiff", "mp4")
TEXT_OUTPUTS = ("json", "srt", "txt")
MEDIA_INPUT = {
    "id": "media",
    "description": "Source audio or video file",
    "required": True,
    "taskFields": ["url", "assetId"],
    "formats": {"audio": ["wav", "aiff", "flac", "mp3", "aac", "m4a"], "video": ["mp4", "mov"]},
}
TRANSCRIPT_INPUT = {
    "id": "transcript",
    "description": "An existing transcript to align (without one the model transcribes)",
    "required": False,
    "taskFields": ["transcriptUrl", "transcriptAssetId"],
    "formats": {"text": ["json", "txt"]},
}
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl", "sv", "pl", "ja", "ko", "zh")
THREE_HOURS = 3 * 3600


@dataclass(frozen=True)
class Variant:
    id: str
    credits_per_minute: Decimal


@dataclass(frozen=True)
class CatalogueModel:
    id: str
    name: str
    category: str
    description: str
    credits_per_minute: Decimal | None  # None: access must be requested
    output_formats: tuple[str, ...] = AUDIO_OUTPUTS
    max_input_seconds: int | None = THREE_HOURS
    variants: tuple[Variant, ...] = ()
    residual: bool = False
    languages: tuple[str, ...] = ()
    transcript_input: bool = False
    kind: str = "audio"  # "audio": stems through dsp.separate; "text": textout.text_output

    @property
    def enabled(self) -> bool:
        return self.credits_per_minute is not None

    @property
    def variant_ids(self) -> tuple[str, ...]:
        return tuple(v.id for v in self.variants)

    def rate(self, variant: str = "") -> Decimal:
        """Credits per minute for this model (and variant). Only for enabled models."""
        for v in self.variants:
            if v.id == variant:
                return v.credits_per_minute
        if self.credits_per_minute is None:
            raise ValueError(f"{self.id} has no public rate")
        return self.credits_per_minute

    def as_json(self, *, extended: bool = False) -> dict[str, Any]:
        """The `GET /models` item: documented fields only, unless `extended`."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "access": "enabled" if self.enabled else "request_access",
        }
        if self.enabled:
            data["creditsPerMinute"] = _number(self.credits_per_minute)
        data["inputs"] = [MEDIA_INPUT, *([TRANSCRIPT_INPUT] if self.transcript_input else [])]
        data["outputFormats"] = list(self.output_formats)
        if self.max_input_seconds:
            data["limits"] = {"maxInputDurationSeconds": self.max_input_seconds}
        if self.languages:
            data["supportedLanguages"] = list(self.languages)
        if extended and self.variants:
            data["variants"] = [
                {"id": v.id, "creditsPerMinute": _number(v.credits_per_minute)}
                for v in self.variants
            ]
        if extended and self.residual:
            data["residual"] = True
        return data


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


ONE = Decimal("1")
HQ = (Variant("high_quality", Decimal("1.5")),)


def _stem(key: str, name: str, description: str, **extra: Any) -> CatalogueModel:
    return CatalogueModel(
        key, name, "instrumentStemSeparation", description, ONE, residual=True, **extra
    )


def _lyrics(key: str, name: str, description: str, **extra: Any) -> CatalogueModel:
    return CatalogueModel(
        key,
        name,
        "lyricTranscription",
        description,
        ONE,
        output_formats=TEXT_OUTPUTS,
        max_input_seconds=45 * 60,
        languages=LANGUAGES,
        kind="text",
        **extra,
    )


MODELS: tuple[CatalogueModel, ...] = (
    _stem("instrumental", "Instrumental", "Everything except the vocals.", variants=HQ),
    _stem("vocals", "Vocals", "Lead and backing vocals together.", variants=HQ),
    _stem("drums", "Drums", "Drum kit and percussion."),
    _stem("bass", "Bass", "Low-end bass sources (bass guitar, synth bass)."),
    _stem("guitar", "Guitar", "Electric and acoustic guitars."),
    _stem("piano", "Piano", "Acoustic and electric piano."),
    _stem("strings", "Strings", "Bowed and plucked string sections."),
    _stem("wind", "Wind", "Brass and woodwind instruments."),
    _stem("vocals_lead", "Lead vocals", "The lead vocal line only."),
    _stem("vocals_backing", "Backing vocals", "Backing vocals and harmonies."),
    _stem("guitar_electric", "Electric guitar", "Electric guitars only."),
    _stem("guitar_acoustic", "Acoustic guitar", "Acoustic guitars only."),
    _stem("keys", "Keys", "Keyboards, organs and synths.", max_input_seconds=None),
    _stem("other", "Other", "Everything except vocals, drums and bass."),
    _stem(
        "other-x-guitar",
        "Other without guitar",
        "Everything except vocals, drums, bass and guitar.",
    ),
    CatalogueModel(
        "dialogue",
        "Dialogue",
        "postProduction",
        "Speech and dialogue from film, TV or podcasts.",
        Decimal("1.5"),
        residual=True,
    ),
    CatalogueModel(
        "effects",
        "Effects",
        "postProduction",
        "Sound effects without dialogue or music.",
        Decimal("1.5"),
        residual=True,
    ),
    CatalogueModel(
        "music_fx",
        "Music and effects",
        "postProduction",
        "Music and effects together, without dialogue.",
        Decimal("1.5"),
        residual=True,
    ),
    CatalogueModel(
        "music_removal",
        "Music removal",
        "copyrightCompliance",
        "Removes music and keeps speech and effects.",
        None,
        max_input_seconds=3600,
        residual=True,
    ),
    CatalogueModel(
        "multi_voice",
        "Multi-voice",
        "speechSeparation",
        "One stem per speaker.",
        Decimal("10"),
        max_input_seconds=5400,
        variants=(Variant("two_speaker", Decimal("10")), Variant("n_speaker", Decimal("10"))),
    ),
    CatalogueModel(
        "speech_denoise",
        "Speech denoise",
        "speechSeparation",
        "Speech with background noise removed.",
        Decimal("1.5"),
        max_input_seconds=None,
        residual=True,
    ),
    CatalogueModel(
        "speech_dereverb",
        "Speech dereverb",
        "speechSeparation",
        "Speech with room reverberation removed.",
        Decimal("2"),
        max_input_seconds=None,
        residual=True,
    ),
    CatalogueModel(
        "music_detection",
        "Music detection",
        "copyrightCompliance",
        "Where music plays, in 10-second intervals with a confidence.",
        Decimal("0.5"),
        output_formats=("json", "txt"),
        kind="text",
    ),
    CatalogueModel(
        "music_identification",
        "Music identification",
        "copyrightCompliance",
        "Identifies the music that plays (partner access).",
        None,
        output_formats=("json",),
        max_input_seconds=None,
        kind="text",
    ),
    _lyrics("transcription", "Transcription", "Lyrics and speech as timed text."),
    _lyrics(
        "alignment",
        "Alignment",
        "Word timings for a transcript (or transcribes first).",
        transcript_input=True,
    ),
)

_BY_ID = {m.id: m for m in MODELS}


def model_get(model_id: str) -> CatalogueModel | None:
    return _BY_ID.get(model_id)


def catalogue_json(*, extended: bool = False) -> list[dict[str, Any]]:
    return [m.as_json(extended=extended) for m in MODELS]
