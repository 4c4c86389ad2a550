"""The ``multi_voice`` model: the speech estimate split between speakers by pan or pitch.

Owns the first pass over the whole file (``_speaker_model``: per-frame pitch and pan, 1-D
k-means, choosing how many speakers are really apart) and its result ``_SpeakerModel``, and
the per-block masks ``_m_multi_voice``. Builds on ``sandbox.spectra`` and ``sandbox.masks``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

from sandbox.masks import Masks
from sandbox.spectra import _EPS, _FFT_WORKERS, Spectra

_F0_RANGE = (70.0, 400.0)


@dataclass(frozen=True)
class _SpeakerModel:
    """Speakers found in a first pass over the whole file."""

    mode: str  # "pan": per-bin pan position; "pitch": per-frame fundamental frequency
    centres: np.ndarray  # pan positions or log2 f0, one per speaker, ascending
    times: np.ndarray  # pitch mode: frame times (s) with their speaker weights below
    weights: np.ndarray  # pitch mode: (frames, speakers)


def _speech_estimate(s: Spectra) -> np.ndarray:
    return np.sqrt(s.harmonic) * s.band(70.0, 8000.0, octaves=1.0)


def _frame_pitch(s: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log2 f0 and a voicing strength (normalised autocorrelation peak).

    The autocorrelation is the inverse FFT of the speech-band power, divided by the window's
    own autocorrelation; the f0 is the smallest lag whose peak reaches 85 % of the best one
    (avoids octave-down errors).
    """
    p = s.p
    weighted = s.power * s.band(80.0, 3400.0, octaves=0.5) ** 2
    ac = scipy.fft.irfft(weighted, n=p.n_fft, axis=-1, workers=_FFT_WORKERS)
    win_ac = scipy.fft.irfft(np.abs(scipy.fft.rfft(p.window.astype(np.float64))) ** 2)
    lo = int(p.sample_rate / _F0_RANGE[1])
    hi = min(int(p.sample_rate / _F0_RANGE[0]), p.n_fft // 2)
    norm = ac[:, lo:hi] / (ac[:, :1] + _EPS) * (win_ac[0] / win_ac[lo:hi])
    best = norm.max(axis=1)
    candidates = norm >= 0.85 * best[:, None]
    lag = lo + candidates.argmax(axis=1)
    return np.log2(p.sample_rate / lag), best


def _kmeans_1d(values: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Weighted k-means on a line, started at evenly spaced quantiles; sorted centres."""
    centres = np.quantile(values, (np.arange(k) + 0.5) / k)
    for _ in range(30):
        labels = np.abs(values[:, None] - centres[None, :]).argmin(axis=1)
        for i in range(k):
            chosen = labels == i
            if weights[chosen].sum() > 0:
                centres[i] = np.average(values[chosen], weights=weights[chosen])
    return np.sort(centres)


def _choose_speakers(values: np.ndarray, weights: np.ndarray, n: int | None, gap: float) -> Any:
    """``n`` cluster centres, or (n=None) the most clusters (up to 4) that are really apart:
    neighbouring centres at least ``gap`` and 4 pooled standard deviations apart, each cluster
    with at least 5 % of the weight (one voice's intonation is not two voices)."""
    if n is not None:
        return _kmeans_1d(values, weights, n)
    best = _kmeans_1d(values, weights, 1)
    for k in range(2, 5):
        centres = _kmeans_1d(values, weights, k)
        labels = np.abs(values[:, None] - centres[None, :]).argmin(axis=1)
        shares = np.bincount(labels, weights=weights, minlength=k) / weights.sum()
        spread = math.sqrt(np.average((values - centres[labels]) ** 2, weights=weights))
        if np.diff(centres).min() < max(gap, 4 * spread) or shares.min() < 0.05:
            break
        best = centres
    return best


def _speaker_model(blocks: Iterator[Spectra], speakers: int | None) -> _SpeakerModel:
    times, pitch, voicing, energy, pans = [], [], [], [], []
    for s in blocks:
        core = s.block_core
        speech = s.power * _speech_estimate(s) ** 2
        f0, strength = _frame_pitch(s)
        times.append(s.block.frame_times(s.p, len(core))[core])
        pitch.append(f0[core])
        voicing.append(strength[core])
        energy.append(speech.sum(axis=1)[core])
        pans.append(((s.pan * speech).sum(axis=1) / (speech.sum(axis=1) + _EPS))[core])
    t, f0, strength = np.concatenate(times), np.concatenate(pitch), np.concatenate(voicing)
    e, pan = np.concatenate(energy), np.concatenate(pans)
    active = e > max(np.percentile(e, 95) * 10 ** (-40 / 10), _EPS)
    if active.sum() < 2:
        one = np.zeros(speakers or 1)
        return _SpeakerModel("pitch", one, t, np.full((len(t), len(one)), 1.0 / len(one)))
    pan_centres = _choose_speakers(pan[active], e[active], speakers, gap=0.3)
    if len(pan_centres) > 1 and np.diff(pan_centres).min() >= 0.3:
        return _SpeakerModel("pan", pan_centres, t, np.zeros((0, len(pan_centres))))
    voiced = active & (strength > 0.5)
    if voiced.sum() < 2:
        voiced = active
    centres = _choose_speakers(f0[voiced], e[voiced], speakers, gap=0.3)
    # Each voiced frame belongs to its nearest pitch centre; the other frames (consonants,
    # pauses) to the speaker of the nearest voiced frame; then smooth over ~0.1 s.
    nearest = np.abs(f0[voiced][:, None] - centres[None, :]).argmin(axis=1)
    index = np.clip(np.searchsorted(t[voiced], t), 0, voiced.sum() - 1)
    before = np.clip(index - 1, 0, voiced.sum() - 1)
    tv = t[voiced]
    pick = np.where(np.abs(tv[before] - t) < np.abs(tv[index] - t), before, index)
    onehot = np.eye(len(centres), dtype=np.float32)[nearest[pick]]
    frames_per_tenth = max(1, round(0.1 * len(t) / max(t[-1] - t[0], _EPS)))
    weights = ndimage.uniform_filter1d(onehot, size=frames_per_tenth, axis=0)
    return _SpeakerModel("pitch", centres, t, weights)


def _m_multi_voice(s: Spectra) -> Masks:
    model: _SpeakerModel = s.context
    speech = _speech_estimate(s)
    k = len(model.centres)
    if model.mode == "pan":
        distance = (s.pan[None] - model.centres[:, None, None]) ** 2
        share = np.exp(-distance / (2 * 0.15**2))
        share /= share.sum(axis=0) + _EPS
        return {f"speaker_{i + 1}": speech * share[i] for i in range(k)}
    times = s.block.frame_times(s.p, s.power.shape[0])
    index = np.clip(np.searchsorted(model.times, times), 0, len(model.times) - 1)
    weights = model.weights[index]
    return {f"speaker_{i + 1}": speech * weights[:, i : i + 1] for i in range(k)}
