"""The audio processing behind the local AudioShake sandbox: decode, separate, encode.

The stems come from classic signal processing, not from a trained model: short-time Fourier
transform (STFT) masks built from three cues, then the inverse transform.

- **Harmonic/percussive** (median-filter HPSS, FitzGerald 2010): a median along time keeps
  sustained partials, a median along frequency keeps broadband clicks; Wiener-style soft masks
  ``H^2 / (H^2 + P^2)`` split every time-frequency bin between the two.
- **Centre** (stereo only): the mid/side correlation of the two channels in each bin, i.e. how
  equal their levels are (panning index) times how coherent their phases are. Vocals, dialogue,
  kick and bass usually sit in the centre; a mono file counts as all-centre.
- **Bands**: smooth (logistic in log-frequency) band-pass weights, e.g. 100 Hz-8 kHz for the
  voice, below 200 Hz for the bass. Below 250 Hz "harmonic" means *sustained* (a kick drum's
  body is as narrow-band as a bass note there; it decays, the bass note holds).

Every mask is in [0, 1] and the stem is ``mask x mixture``; the residual is always
``mixture - stem`` in the time domain, so ``stem + residual == mixture`` to float precision.

Long files are processed in blocks of about 15 s with 1 s of context on each side. Blocks start
on a hop boundary, so their frames are the frames of one long STFT; neighbouring blocks are
cross-faded over 1 s, which is exact for the local cues and smooths the ones that use
statistics of the whole file (noise profile, speaker model), computed in a first pass. Memory
is the decoded file plus a few blocks' spectra, whatever the length.

Public API (INTERFACES.md section 2): ``Audio``, ``read_audio``, ``probe_duration``,
``separate``, ``write_audio``, ``write_video`` and ``has_video`` (the ``mp4`` output) and the
``DspError`` family, all importable from here. This module holds the model table and the entry
points ``analyse`` and ``separate``; the rest lives in ``sandbox.audio_io`` (the errors,
decoding and encoding, with ``sandbox.containers`` for what PyAV reads and writes),
``sandbox.spectra`` (the STFT in blocks and the cues, ``Spectra``), ``sandbox.masks`` (the
per-model masks) and ``sandbox.speakers`` (``multi_voice``). Imports run one way: ``audio_io``
imports only ``containers``, ``spectra`` no sandbox module, ``masks`` imports ``spectra``,
``speakers`` imports both, and this module imports all four. The text models' outputs are
``sandbox.textout``'s (it builds on these modules; none of them imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.audio_io import (
    AUDIO_FORMATS,
    VIDEO_FORMATS,
    Audio,
    DspError,
    UndecodableAudio,
    UnsupportedModel,
    UnsupportedOutputFormat,
    has_video,
    probe_duration,
    read_audio,
    write_audio,
    write_video,
)
from sandbox.masks import (
    Masks,
    _m_bass,
    _m_dialogue,
    _m_drums,
    _m_effects,
    _m_guitar,
    _m_guitar_acoustic,
    _m_guitar_electric,
    _m_instrumental,
    _m_keys,
    _m_music_fx,
    _m_music_removal,
    _m_other,
    _m_other_x_guitar,
    _m_piano,
    _m_speech_denoise,
    _m_speech_dereverb,
    _m_strings,
    _m_vocals,
    _m_vocals_backing,
    _m_vocals_lead,
    _m_wind,
    _noise_profile,
    vocals_mask,
)
from sandbox.speakers import _m_multi_voice, _speaker_model
from sandbox.spectra import (
    Spectra,
    _blocks,
    _crossfade,
    _istft,
    _Params,
    _params,
    _segment,
    _stft,
)

# Keep these names reachable as ``dsp.<name>``: analyse() and separate() look ``_params`` up in
# this module (tests/sandbox/test_dsp.py monkeypatches ``dsp._params``), and
# bench/sandbox_rtf.py times ``dsp._blocks``, ``_segment``, ``_stft`` and ``_istft``.

__all__ = [
    "AUDIO_FORMATS",
    "STEM_MODELS",
    "TEXT_MODELS",
    "Audio",
    "DspError",
    "Spectra",
    "UndecodableAudio",
    "UnsupportedModel",
    "UnsupportedOutputFormat",
    "VIDEO_FORMATS",
    "analyse",
    "probe_duration",
    "read_audio",
    "has_video",
    "separate",
    "vocals_mask",
    "write_audio",
    "write_video",
]


@dataclass(frozen=True)
class _Recipe:
    masks: Callable[[Spectra], Masks]
    variants: tuple[str, ...] = ()
    first_pass: Callable[[Iterator[Spectra], str | None], Any] | None = None


_RECIPES: dict[str, _Recipe] = {
    "vocals": _Recipe(_m_vocals, ("high_quality",)),
    "instrumental": _Recipe(_m_instrumental, ("high_quality",)),
    "drums": _Recipe(_m_drums),
    "bass": _Recipe(_m_bass),
    "guitar": _Recipe(_m_guitar),
    "guitar_electric": _Recipe(_m_guitar_electric),
    "guitar_acoustic": _Recipe(_m_guitar_acoustic),
    "piano": _Recipe(_m_piano),
    "strings": _Recipe(_m_strings),
    "wind": _Recipe(_m_wind),
    "keys": _Recipe(_m_keys),
    "other": _Recipe(_m_other),
    "other-x-guitar": _Recipe(_m_other_x_guitar),
    "vocals_lead": _Recipe(_m_vocals_lead),
    "vocals_backing": _Recipe(_m_vocals_backing),
    "dialogue": _Recipe(_m_dialogue),
    "music_fx": _Recipe(_m_music_fx),
    "effects": _Recipe(_m_effects),
    "music_removal": _Recipe(_m_music_removal),
    "speech_denoise": _Recipe(_m_speech_denoise, first_pass=lambda b, v: _noise_profile(b)),
    "speech_dereverb": _Recipe(_m_speech_dereverb),
    "multi_voice": _Recipe(
        _m_multi_voice,
        ("two_speaker", "n_speaker"),
        first_pass=lambda b, v: _speaker_model(b, None if v == "n_speaker" else 2),
    ),
}
STEM_MODELS = tuple(_RECIPES)
TEXT_MODELS = ("transcription", "alignment", "music_detection", "music_identification")


def _iter_spectra(samples: np.ndarray, p: _Params, context: Any = None) -> Iterator[Spectra]:
    for block in _blocks(samples.shape[0], p):
        yield Spectra(_stft(_segment(samples, block), p), p, block, context)


def analyse(
    audio: Audio, feature: Callable[[Spectra], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame features over the whole file, block by block, in linear memory.

    ``feature`` maps a block's ``Spectra`` to one value (or row) per STFT frame; the result is
    (frame centre times in seconds, values), each frame once, in time order, every ~11.6 ms
    at 44.1 kHz.
    """
    p = _params(audio.sample_rate)
    times, values = [], []
    for spectra in _iter_spectra(audio.samples, p):
        core = spectra.block_core
        times.append(spectra.block.frame_times(p, len(core))[core])
        values.append(np.asarray(feature(spectra))[core])
    return np.concatenate(times), np.concatenate(values)


def separate(model: str, audio: Audio, *, variant: str | None = None) -> dict[str, np.ndarray]:
    """Split ``audio`` into the model's stem(s) and ``"residual"`` (mixture minus the stems).

    Returns float32 arrays shaped like ``audio.samples``. Most models give one stem under the
    model's key; ``multi_voice`` gives ``speaker_1``, ``speaker_2``, ... (two for the default
    ``two_speaker`` variant, 1-4 found in the audio for ``n_speaker``). ``high_quality`` (vocals,
    instrumental) doubles the FFT size (93 ms frames) for finer harmonic resolution.

    ============================  ===========================================================
    model                         mask (H = harmonic, P = percussive, C = centre, B = band)
    ============================  ===========================================================
    vocals                        C x H x B(100 Hz-8 kHz, minus the bass band)
    instrumental                  1 - vocals
    drums                         P
    bass                          H x B(< 200 Hz)
    other                         H - vocals - bass (the harmonic rest)
    guitar                        other x (1 - C) x B(80 Hz-5 kHz)
    guitar_electric               guitar x B(150 Hz-4 kHz)
    guitar_acoustic               (0.7 other + 0.3 P) x (1 - C) x B(80 Hz-8 kHz)
    piano                         other x B(50 Hz-4.2 kHz)
    strings                       other^2 x (1 - C) x B(190 Hz-4 kHz)
    wind                          other x B(250 Hz-2.5 kHz)
    keys                          other x B(60 Hz-5 kHz)
    other-x-guitar                other x (1 - guitar weight)
    vocals_lead                   vocals x C (the most centred part)
    vocals_backing                vocals x (1 - C); lead + backing == vocals
    dialogue                      C x sqrt(H) x B(300 Hz-3.4 kHz, 1.5-octave shoulders)
    music_fx                      1 - dialogue
    effects                       P x (1 - dialogue)
    music_removal                 dialogue + effects
    multi_voice                   sqrt(H) x B(70 Hz-8 kHz) split by pan (speakers placed
                                  apart) or by per-frame pitch clusters (first pass)
    speech_denoise                Wiener gain against the file's noise profile (first pass:
                                  20th percentile of each bin's power), 2x over-subtraction
    speech_dereverb               1 - (late reverb / power)^2, late reverb = power 80 ms
                                  earlier decayed for T60 = 0.6 s; -15 dB floor
    ============================  ===========================================================

    Raises ``UnsupportedModel`` for text models, unknown models and unknown variants.
    """
    recipe = _RECIPES.get(model)
    if recipe is None:
        kind = "a text model (see sandbox.textout)" if model in TEXT_MODELS else "not a known model"
        raise UnsupportedModel(f"{model!r} is {kind}; audio models: {', '.join(STEM_MODELS)}.")
    if variant and variant not in recipe.variants:
        offered = ", ".join(recipe.variants) or "none"
        raise UnsupportedModel(f"{model!r} has no variant {variant!r} (variants: {offered}).")
    p = _params(audio.sample_rate, high_quality=variant == "high_quality")
    samples = audio.samples
    length = samples.shape[0]
    context = recipe.first_pass(_iter_spectra(samples, p), variant) if recipe.first_pass else None
    stems: dict[str, np.ndarray] = {}
    for spectra in _iter_spectra(samples, p, context):
        block = spectra.block
        lo, hi, weight = _crossfade(block, p, length)
        for key, mask in recipe.masks(spectra).items():
            masked = spectra.spec * np.clip(mask, 0.0, 1.0).astype(np.float32)
            y = _istft(masked, p, block.seg_end - block.seg_start)
            out = stems.setdefault(key, np.zeros(samples.shape, dtype=np.float32))
            out[lo:hi] += (y[:, lo - block.seg_start : hi - block.seg_start] * weight).T
        del spectra
    residual = samples.astype(np.float32, copy=True)
    for stem in stems.values():
        residual -= stem
    stems["residual"] = residual
    return stems
