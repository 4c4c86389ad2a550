"""The short-time Fourier transform in blocks, and the cues the masks are built from.

Owns the analysis settings (``_Params``/``_params``: frame size, hop, block and margin for a
sample rate), ``_stft``/``_istft``, the blocking (``_Block``, ``_blocks``, ``_segment``,
``_crossfade``: ~15 s blocks with 1 s of context, cross-faded over 1 s), the running
percentile/median filters and the soft mask, and ``Spectra``: one block's STFT with its
harmonic/percussive, pan and centre cues and band weights. It imports no sandbox module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

_EPS = 1e-10
_SUSTAIN_BELOW = 250.0  # Hz: below this, "harmonic" means sustained (see Spectra._hpss)
_FFT_WORKERS = 2


@dataclass(frozen=True)
class _Params:
    """Analysis settings for one sample rate and quality."""

    sample_rate: int
    n_fft: int
    hop: int
    harmonic_frames: int  # time-median length for the harmonic estimate (~0.2 s)
    sustain_frames: int  # low-band sustain window (~0.3 s)
    percussive_bins: int  # frequency-median length for the percussive estimate (~400 Hz)
    block: int  # samples per block (multiple of hop)
    margin: int  # context on each side of a block (multiple of hop); cross-fade = margin // 2

    @cached_property
    def window(self) -> np.ndarray:
        return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)).astype(
            np.float32
        )

    @cached_property
    def ola_norm(self) -> float:
        """Sum of the squared window over the frames covering any one sample."""
        w2 = self.window.astype(np.float64) ** 2
        return float(w2.reshape(-1, self.hop).sum(axis=0).mean())

    @cached_property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.n_fft, 1 / self.sample_rate)


def _odd(n: float) -> int:
    return max(3, int(round(n)) // 2 * 2 + 1)


def _params(sample_rate: int, *, high_quality: bool = False) -> _Params:
    # ~46 ms frames (2048 at 44.1/48 kHz), 93 ms for high quality; hop = a quarter frame.
    n_fft = 2 ** round(math.log2(sample_rate * 0.046)) * (2 if high_quality else 1)
    n_fft = max(n_fft, 256)
    hop = n_fft // 4
    seconds = sample_rate / hop  # frames per second
    margin = math.ceil(sample_rate * 1.0 / hop) * hop
    block = max(math.ceil(sample_rate * 15.0 / hop) * hop, 2 * margin)
    return _Params(
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop=hop,
        harmonic_frames=_odd(0.2 * seconds),
        sustain_frames=_odd(0.3 * seconds),
        percussive_bins=_odd(400.0 * n_fft / sample_rate),
        block=block,
        margin=margin,
    )


def _stft(x: np.ndarray, p: _Params) -> np.ndarray:
    """(channels, samples) float32, samples a multiple of hop -> (channels, frames, bins)."""
    pad = p.n_fft - p.hop
    padded = np.pad(x, ((0, 0), (pad, pad)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, p.n_fft, axis=-1)[:, :: p.hop]
    return scipy.fft.rfft(frames * p.window, axis=-1, workers=_FFT_WORKERS)


def _istft(spec: np.ndarray, p: _Params, length: int) -> np.ndarray:
    """Inverse of ``_stft`` (weighted overlap-add) -> (channels, length) float32."""
    frames = scipy.fft.irfft(spec, n=p.n_fft, axis=-1, workers=_FFT_WORKERS)
    frames = frames.astype(np.float32, copy=False)
    frames *= p.window
    channels, count, _ = frames.shape
    ratio = p.n_fft // p.hop
    parts = frames.reshape(channels, count, ratio, p.hop)
    out = np.zeros((channels, count + ratio - 1, p.hop), dtype=np.float32)
    for j in range(ratio):
        out[:, j : j + count] += parts[:, :, j]
    out = out.reshape(channels, -1)
    start = p.n_fft - p.hop
    return out[:, start : start + length] / np.float32(p.ola_norm)


@dataclass(frozen=True)
class _Block:
    """One block: its core [start, end) and the analysed segment [seg_start, seg_end)."""

    start: int
    end: int
    seg_start: int
    seg_end: int

    def frame_times(self, p: _Params, frames: int) -> np.ndarray:
        """Centre time (s) of each STFT frame of this block's segment."""
        # frame t covers segment samples [t*hop - (n_fft - hop), t*hop + hop)
        return (self.seg_start + np.arange(frames) * p.hop + p.hop - p.n_fft / 2) / p.sample_rate

    def core_frames(self, p: _Params, frames: int) -> np.ndarray:
        """Boolean: frames whose centre falls inside the core (each frame in one block)."""
        t = self.frame_times(p, frames) * p.sample_rate
        return (t >= self.start) & (t < self.end)


def _blocks(length: int, p: _Params) -> Iterator[_Block]:
    for start in range(0, max(length, 1), p.block):
        end = min(start + p.block, length)
        seg_end = end + p.margin
        seg_end += -(seg_end - (start - p.margin)) % p.hop
        yield _Block(start, end, start - p.margin, seg_end)


def _segment(samples: np.ndarray, block: _Block) -> np.ndarray:
    """The block's segment of ``samples`` (frames, channels) as (channels, segment) float32,
    zero-padded outside the file. Only the segment is copied, never the whole file."""
    lo, hi = max(block.seg_start, 0), min(block.seg_end, samples.shape[0])
    seg = np.zeros((samples.shape[1], block.seg_end - block.seg_start), dtype=np.float32)
    seg[:, lo - block.seg_start : hi - block.seg_start] = samples[lo:hi].T
    return seg


def _crossfade(block: _Block, p: _Params, length: int) -> tuple[int, int, np.ndarray]:
    """The range of the file this block writes to, and its weights there."""
    fade = p.margin // 2
    lo = max(block.start - fade, 0)
    hi = min(block.end + fade, length)
    t = np.arange(lo, hi, dtype=np.float64)
    weight = np.ones(hi - lo)
    if block.start > 0:
        rise = np.clip((t - (block.start - fade)) / (2 * fade), 0, 1)
        weight *= np.sin(0.5 * np.pi * rise) ** 2
    if block.end < length:
        fall = np.clip((t - (block.end - fade)) / (2 * fade), 0, 1)
        weight *= np.cos(0.5 * np.pi * fall) ** 2
    return lo, hi, weight.astype(np.float32)


def _percentile_along(x: np.ndarray, size: int, percentile: float, axis: int) -> np.ndarray:
    """Running percentile of a 2-D array along one axis (edges repeated).

    scipy's 1-D rank filters are several times faster than its n-D ones, so the rows are
    padded, laid end to end and filtered as one long 1-D signal.
    """
    rows = np.moveaxis(x, axis, -1)
    half = size // 2
    padded = np.pad(rows, ((0, 0), (half, half)), mode="edge")
    flat = ndimage.percentile_filter(padded.ravel(), percentile, size=size, mode="nearest")
    out = flat.reshape(padded.shape)[:, half:-half]
    return np.ascontiguousarray(np.moveaxis(out, -1, axis))


def _median_along(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    return _percentile_along(x, size, 50, axis)


def _soft(x: np.ndarray, y: np.ndarray, power: float = 2.0) -> np.ndarray:
    """Wiener-style soft mask x^p / (x^p + y^p)."""
    xp, yp = x**power, y**power
    return (xp / (xp + yp + _EPS)).astype(np.float32)


class Spectra:
    """The STFT of one block and the cues computed from it (each computed once, on demand).

    ``spec`` is (channels, frames, bins); the cues are (frames, bins) float32 arrays:
    ``power``, ``magnitude``, ``harmonic``/``percussive`` masks, ``pan``, ``centre``; ``band()``
    gives (bins,) weights. ``analyse()`` hands one of these per block to a feature function.
    """

    def __init__(self, spec: np.ndarray, p: _Params, block: _Block, context: Any) -> None:
        self.spec = spec  # (channels, frames, bins) complex64
        self.p = p
        self.block = block
        self.context = context  # whatever the model's first pass computed, or None
        self.freqs = p.freqs

    @cached_property
    def block_core(self) -> np.ndarray:
        """Boolean per frame: inside this block's core (for whole-file statistics)."""
        return self.block.core_frames(self.p, self.spec.shape[1])

    @property
    def stereo(self) -> bool:
        return self.spec.shape[0] == 2

    @cached_property
    def power(self) -> np.ndarray:
        """Mean power over channels, (frames, bins)."""
        return (np.abs(self.spec) ** 2).mean(axis=0).astype(np.float32)

    @cached_property
    def magnitude(self) -> np.ndarray:
        return np.sqrt(self.power)

    def frame_level(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Mean-square level per frame (Parseval; 0.5 for a full-scale sine), of ``mask`` x the
        spectrum if given."""
        power = self.power if mask is None else self.power * mask**2
        return power.sum(axis=1) * (16 / (3 * self.p.n_fft**2))

    @cached_property
    def _hpss(self) -> tuple[np.ndarray, np.ndarray]:
        """Harmonic and percussive magnitude estimates.

        Harmonic: the median over ~0.2 s. Below ~250 Hz a kick drum's body is as narrow-band
        as a bass note, so there the harmonic estimate asks for sustain instead: the 25th
        percentile over ~0.3 s (a bass note holds, a kick's body decays within 0.1-0.2 s).
        Percussive: the median over ~400 Hz of neighbouring bins.
        """
        p = self.p
        h = _median_along(self.magnitude, p.harmonic_frames, axis=0)
        low = int(np.searchsorted(self.freqs, 2 * _SUSTAIN_BELOW))
        weight = self.band(None, _SUSTAIN_BELOW)[:low]
        sustained = _percentile_along(self.magnitude[:, :low], p.sustain_frames, 25, axis=0)
        h[:, :low] = weight * sustained + (1 - weight) * h[:, :low]
        q = _median_along(self.magnitude, p.percussive_bins, axis=1)
        excess = np.maximum(self.magnitude[:, :low] - sustained, 0.0)
        q[:, :low] = weight * excess + (1 - weight) * q[:, :low]
        return h, q

    @cached_property
    def harmonic(self) -> np.ndarray:
        """Soft mask of sustained (harmonic) energy."""
        h, q = self._hpss
        return _soft(h, q)

    @property
    def percussive(self) -> np.ndarray:
        """Soft mask of transient (percussive) energy; harmonic + percussive == 1."""
        return 1.0 - self.harmonic

    @cached_property
    def pan(self) -> np.ndarray:
        """Panning index per bin in [-1, 1]: -1 left only, 0 centre, 1 right only."""
        if not self.stereo:
            return np.zeros_like(self.power)
        left, right = self._smoothed_cross[:2]
        return ((right - left) / (left + right + _EPS)).astype(np.float32)

    @cached_property
    def _smoothed_cross(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        l, r = self.spec[0], self.spec[1]  # noqa: E741
        size = (3, 3)
        # (the filter's rounding can dip a hair below zero on silence)
        ll = np.maximum(ndimage.uniform_filter((l.real**2 + l.imag**2).astype(np.float32), size), 0)
        rr = np.maximum(ndimage.uniform_filter((r.real**2 + r.imag**2).astype(np.float32), size), 0)
        lr = ndimage.uniform_filter((l.real * r.real + l.imag * r.imag).astype(np.float32), size)
        return ll, rr, lr

    @cached_property
    def centre(self) -> np.ndarray:
        """Mid/side correlation mask: 1 where both channels carry the same signal.

        Level similarity (a Gaussian window on the panning index, width 0.3) times phase
        coherence (the normalised real cross-spectrum, squared, negative values as 0). Bins
        are smoothed over 3x3 neighbours first. Mono input is all centre.
        """
        if not self.stereo:
            return np.ones_like(self.power)
        ll, rr, lr = self._smoothed_cross
        coherence = np.clip(lr / (np.sqrt(ll * rr) + _EPS), 0.0, 1.0)
        return (np.exp(-((self.pan / 0.3) ** 2)) * coherence**2).astype(np.float32)

    def band(self, low: float | None, high: float | None, octaves: float = 0.5) -> np.ndarray:
        """Band-pass weights over bins: logistic edges, 10-90 % over ``octaves``."""
        logf = np.log2(np.maximum(self.freqs, 1.0))
        slope = octaves / (2 * math.log(9))
        weight = np.ones_like(logf)
        if low is not None:
            weight /= 1 + np.exp(-(logf - math.log2(low)) / slope)
        if high is not None:
            weight /= 1 + np.exp((logf - math.log2(high)) / slope)
        return weight.astype(np.float32)
