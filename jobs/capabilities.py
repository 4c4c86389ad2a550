"""What the AudioShake documentation says each model can do, merged into what `GET /models`
returns.

The published `GET /models` (developer.audioshake.ai/list-models) documents `id`, `name`,
`category`, `description`, `access`, `creditsPerMinute`, `inputs`, `outputFormats`, `limits` and
`supportedLanguages`: no field says which variants a model has or whether it returns a residual.
Those two Create Task options are documented elsewhere, so they live in this one table (the
team's contract, /work/shared/audioshake-api.md, labels each fact):

- `residual` (boolean, default false): "also return the residual (everything except the
  target) where the model supports it" [P /tasks guide, contract 1.3]. Which models support it
  is not listed anywhere; this table offers it on the audio-producing separation models (the
  stems, DME and speech rows of contract section 3) except `multi_voice`, whose output is one
  stem per speaker [I]. The sandbox accepts exactly these.
- `variant`: "variants exist for `multi_voice`, `vocals` and `instrumental`" [P /tasks guide];
  `high_quality` for `vocals` and `instrumental` [P /models]; its rate, 1.5 credits per minute,
  is third-party [T, contract section 3]; `two_speaker` (the default) and `n_speaker` for
  `multi_voice` [P /tasks guide + T], their rate unknown (the model's own rate is used).
- Output formats per model family [P /api-reference/formats, contract section 3]: audio models
  `wav mp3 flac aiff mp4`; `transcription` and `alignment` `json srt txt`; `music_detection`
  `json txt`; `music_identification` `json` [P /music-identification].

Merging (`capabilities_merge`): the live answer adds and overrides, it never removes a
documented option. Formats are the live list followed by any documented one it lacks; variants
likewise, a live variant rate or name winning over the table's; residual is offered when either
says so. Models the live answer does not list are not added: the account cannot use them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jobs.models import RemoteModel

AUDIO_FORMATS = ("wav", "mp3", "flac", "aiff", "mp4")
TEXT_FORMATS = ("json", "srt", "txt")


@dataclass(frozen=True)
class DocumentedVariant:
    id: str
    name: str
    credits_per_minute: Decimal | None = None  # None: the model's own rate
    source: str = ""


@dataclass(frozen=True)
class Capabilities:
    output_formats: tuple[str, ...]
    variants: tuple[DocumentedVariant, ...] = ()
    residual: bool = False
    source: str = ""


HIGH_QUALITY = DocumentedVariant(
    "high_quality", "High quality", Decimal("1.5"), "P /models, P /tasks; rate T"
)
MULTI_VOICE_VARIANTS = (
    DocumentedVariant("two_speaker", "Two speakers (default)", None, "P /tasks + T"),
    DocumentedVariant("n_speaker", "Any number of speakers", None, "P /tasks + T"),
)


def _separation(**extra: Any) -> Capabilities:
    source = "P formats; residual P /tasks, I"
    return Capabilities(AUDIO_FORMATS, residual=True, source=source, **extra)


DOCUMENTED: Mapping[str, Capabilities] = {
    "instrumental": _separation(variants=(HIGH_QUALITY,)),
    "vocals": _separation(variants=(HIGH_QUALITY,)),
    **{
        key: _separation()
        for key in (
            "drums",
            "bass",
            "guitar",
            "piano",
            "strings",
            "wind",
            "vocals_lead",
            "vocals_backing",
            "guitar_electric",
            "guitar_acoustic",
            "keys",
            "other",
            "other-x-guitar",
            "dialogue",
            "effects",
            "music_fx",
            "music_removal",
            "speech_denoise",
            "speech_dereverb",
        )
    },
    "multi_voice": Capabilities(AUDIO_FORMATS, MULTI_VOICE_VARIANTS, False, "P formats, P /tasks"),
    "music_detection": Capabilities(("json", "txt"), source="P formats"),
    "music_identification": Capabilities(("json",), source="P /music-identification"),
    "transcription": Capabilities(TEXT_FORMATS, source="P formats"),
    "alignment": Capabilities(TEXT_FORMATS, source="P formats"),
}


def documented_variant(model_key: str, variant: str) -> DocumentedVariant | None:
    capabilities = DOCUMENTED.get(model_key)
    for item in capabilities.variants if capabilities else ():
        if item.id == variant:
            return item
    return None


def capabilities_merge(model: RemoteModel) -> RemoteModel:
    """The model with the documented options its live row lacks (in place; returned)."""
    documented = DOCUMENTED.get(model.key)
    if documented is None:
        return model
    live_formats = list(model.output_formats or [])
    model.output_formats = live_formats + [
        f for f in documented.output_formats if f not in live_formats
    ]
    live_variants = list(model.variants or [])
    model.variants = live_variants + [
        v.id for v in documented.variants if v.id not in live_variants
    ]
    rates = {
        v.id: str(v.credits_per_minute)
        for v in documented.variants
        if v.credits_per_minute is not None
    }
    model.variant_rates = {**rates, **(model.variant_rates or {})}
    model.supports_residual = bool(model.supports_residual or documented.residual)
    return model
