"""The per-model masks of the stem models, each a function of one block's ``Spectra``.

Owns the band helpers (voice, bass, speech bands), ``vocals_mask`` (also used by
``sandbox.textout`` for lyric timing), one ``_m_<model>`` function per music and dialogue
model, and the speech models' ``_noise_profile`` (first pass) with ``_m_speech_denoise``, and
``_m_speech_dereverb``. ``sandbox.dsp`` maps model names to these; ``sandbox.speakers`` holds
``multi_voice``. Builds on ``sandbox.spectra`` only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from sandbox.spectra import _EPS, Spectra

Masks = dict[str, np.ndarray]
_VOICE_BAND = (100.0, 8000.0)
_BASS_CUTOFF = 200.0
_SPEECH_BAND = (300.0, 3400.0)


def _voice_band(s: Spectra) -> np.ndarray:
    """Voice band (100 Hz-8 kHz) minus what the bass band takes, so the two never overlap."""
    return s.band(*_VOICE_BAND) * (1.0 - _bass_band(s))


def _bass_band(s: Spectra) -> np.ndarray:
    return s.band(None, _BASS_CUTOFF)


def vocals_mask(s: Spectra) -> np.ndarray:
    """Centre x harmonic x voice band: the vocals model's mask (also used for lyric timing)."""
    return s.centre * s.harmonic * _voice_band(s)


def _bass_mask(s: Spectra) -> np.ndarray:
    return s.harmonic * _bass_band(s)


def _other_mask(s: Spectra) -> np.ndarray:
    """Harmonic energy that neither the vocals nor the bass take (drums take the rest)."""
    return np.clip(s.harmonic - vocals_mask(s) - _bass_mask(s), 0.0, 1.0)


def _guitar_weight(s: Spectra) -> np.ndarray:
    """Off-centre energy in the guitar range (80 Hz-5 kHz): where guitars are usually panned."""
    return (1.0 - s.centre) * s.band(80.0, 5000.0)


def _dialogue_mask(s: Spectra) -> np.ndarray:
    # sqrt(harmonic): speech is voiced but its consonants are not, so be lenient.
    return s.centre * np.sqrt(s.harmonic) * s.band(*_SPEECH_BAND, octaves=1.5)


def _effects_mask(s: Spectra) -> np.ndarray:
    return s.percussive * (1.0 - _dialogue_mask(s))


def _m_vocals(s: Spectra) -> Masks:
    return {"vocals": vocals_mask(s)}


def _m_instrumental(s: Spectra) -> Masks:
    return {"instrumental": 1.0 - vocals_mask(s)}


def _m_drums(s: Spectra) -> Masks:
    return {"drums": s.percussive}


def _m_bass(s: Spectra) -> Masks:
    return {"bass": _bass_mask(s)}


def _m_guitar(s: Spectra) -> Masks:
    return {"guitar": _other_mask(s) * _guitar_weight(s)}


def _m_guitar_electric(s: Spectra) -> Masks:
    # sustained (distorted/clean electric) tone, upper-mid range
    return {"guitar_electric": _other_mask(s) * _guitar_weight(s) * s.band(150.0, 4000.0)}


def _m_guitar_acoustic(s: Spectra) -> Masks:
    # strummed: half harmonic body, half pick transients, off-centre, 80 Hz-8 kHz
    weight = (1.0 - s.centre) * s.band(80.0, 8000.0)
    return {"guitar_acoustic": (0.7 * _other_mask(s) + 0.3 * s.percussive) * weight}


def _m_piano(s: Spectra) -> Masks:
    return {"piano": _other_mask(s) * s.band(50.0, 4200.0)}


def _m_strings(s: Spectra) -> Masks:
    # bowed sections: the most sustained harmonic energy (squared mask), wide, 190 Hz-4 kHz
    return {"strings": _other_mask(s) ** 2 * (1.0 - s.centre) * s.band(190.0, 4000.0)}


def _m_wind(s: Spectra) -> Masks:
    return {"wind": _other_mask(s) * s.band(250.0, 2500.0)}


def _m_keys(s: Spectra) -> Masks:
    return {"keys": _other_mask(s) * s.band(60.0, 5000.0)}


def _m_other(s: Spectra) -> Masks:
    return {"other": _other_mask(s)}


def _m_other_x_guitar(s: Spectra) -> Masks:
    return {"other-x-guitar": _other_mask(s) * (1.0 - _guitar_weight(s))}


def _m_vocals_lead(s: Spectra) -> Masks:
    return {"vocals_lead": vocals_mask(s) * s.centre}


def _m_vocals_backing(s: Spectra) -> Masks:
    return {"vocals_backing": vocals_mask(s) * (1.0 - s.centre)}


def _m_dialogue(s: Spectra) -> Masks:
    return {"dialogue": _dialogue_mask(s)}


def _m_music_fx(s: Spectra) -> Masks:
    return {"music_fx": 1.0 - _dialogue_mask(s)}


def _m_effects(s: Spectra) -> Masks:
    return {"effects": _effects_mask(s)}


def _m_music_removal(s: Spectra) -> Masks:
    return {"music_removal": _dialogue_mask(s) + _effects_mask(s)}


# ---- speech_denoise: spectral gating against a noise profile of the whole file ----


def _noise_profile(blocks: Iterator[Spectra]) -> np.ndarray:
    """Per-bin noise power: the 20th percentile over time, median over the blocks."""
    profiles = [np.percentile(s.power[s.block_core], 20, axis=0) for s in blocks]
    return np.median(np.asarray(profiles), axis=0).astype(np.float32)


def _m_speech_denoise(s: Spectra) -> Masks:
    noise = s.context
    # Wiener gain from the a-posteriori SNR with 2x over-subtraction, smoothed over
    # 3 frames x 5 bins to avoid "musical noise".
    snr = np.maximum(s.power / (2.0 * noise + _EPS) - 1.0, 0.0)
    gain = ndimage.uniform_filter(snr / (1.0 + snr), size=(3, 5))
    return {"speech_denoise": np.clip(gain, 0.0, 1.0).astype(np.float32)}


# ---- speech_dereverb: subtract a late-reverberation estimate ----

_T60 = 0.6  # assumed reverberation time (s)
_LATE_DELAY = 0.08  # late reverberation starts this long after the direct sound (s)


def _m_speech_dereverb(s: Spectra) -> Masks:
    """Late reverberation (Lebart et al. 2001): the power ``D`` = 80 ms earlier, decayed by
    exp(-2 delta D) with delta = 3 ln 10 / T60 (T60 assumed 0.6 s). The gain
    ``1 - (late / power)^2`` leaves sustained sound alone (where the estimate is well below the
    power) and removes tails (where it is close to it); -15 dB floor, 3x3 smoothing."""
    p = s.p
    delay = max(1, round(_LATE_DELAY * p.sample_rate / p.hop))
    smoothed = ndimage.uniform_filter1d(s.power, size=3, axis=0)
    decay = math.exp(-2 * (3 * math.log(10) / _T60) * delay * p.hop / p.sample_rate)
    late = np.zeros_like(smoothed)
    late[delay:] = decay * smoothed[:-delay]
    ratio = np.clip(late / (s.power + _EPS), 0.0, 1.0)
    gain = ndimage.uniform_filter(np.maximum(1.0 - ratio**2, 10 ** (-15 / 20)), size=(3, 3))
    return {"speech_dereverb": np.clip(gain, 0.0, 1.0).astype(np.float32)}
