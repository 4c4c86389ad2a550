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
``separate``, ``write_audio`` and the ``DspError`` family. The text models' outputs are
``sandbox.textout``'s (it builds on this module; this module never imports it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
import soundfile as sf
from scipy import ndimage
from scipy.signal import resample_poly

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
    "analyse",
    "probe_duration",
    "read_audio",
    "separate",
    "write_audio",
]


class DspError(Exception):
    """Base class: a problem with the audio or the request, with a message fit for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UndecodableAudio(DspError):
    """The file cannot be decoded as audio (corrupt, empty, or a format libsndfile lacks)."""


class UnsupportedOutputFormat(DspError):
    """The sandbox cannot produce this output format for this model (e.g. ``mp4``)."""


class UnsupportedModel(DspError):
    """The model (or its variant) is not one the sandbox can run through this function."""


# --------------------------------------------------------------------------------------------
# Audio in and out
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: float32 samples shaped (frames, channels) in [-1, 1], and the rate."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError("Audio.samples must be shaped (frames, channels)")
        if self.sample_rate <= 0:
            raise ValueError("Audio.sample_rate must be positive")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate

    @property
    def channels(self) -> int:
        return self.samples.shape[1]


# Input formats follow the contract (mono or stereo; no surround).
MAX_CHANNELS = 2


def _describe(path: Path, error: Exception) -> str:
    detail = str(error).strip() or error.__class__.__name__
    # libsndfile prefixes its messages with the path, which means nothing to a user.
    detail = detail.replace(f"Error opening {str(path)!r}: ", "")
    return f"Could not decode {path.name!r} as audio: {detail}"


def read_audio(path: str | os.PathLike[str]) -> Audio:
    """Decode WAV, AIFF, FLAC, MP3 or OGG into float32 samples (mono stays mono).

    Raises ``UndecodableAudio`` for anything libsndfile cannot read (text renamed to .wav, an
    empty file, AAC/MP4/MOV), for a file with no samples and for more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise UndecodableAudio(f"{path.name!r} does not exist or is not a file.")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
        raise UndecodableAudio(_describe(path, error)) from error
    if samples.shape[0] == 0:
        raise UndecodableAudio(f"{path.name!r} contains no audio samples.")
    if samples.shape[1] > MAX_CHANNELS:
        raise UndecodableAudio(
            f"{path.name!r} has {samples.shape[1]} channels; only mono and stereo are supported."
        )
    if not np.isfinite(samples).all():  # float files can carry NaN/inf; treat them as silence
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return Audio(samples=samples, sample_rate=int(rate))


def probe_duration(path: str | os.PathLike[str]) -> float:
    """The duration in seconds from the file's header, without decoding the samples."""
    path = Path(path)
    if not path.is_file():
        raise UndecodableAudio(f"{path.name!r} does not exist or is not a file.")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as error:
        raise UndecodableAudio(_describe(path, error)) from error
    if info.frames <= 0 or info.samplerate <= 0:
        raise UndecodableAudio(f"{path.name!r} contains no audio samples.")
    return info.frames / info.samplerate


# fmt -> (libsndfile container, subtype for 16 bit, subtype for 24 bit)
_CONTAINERS = {
    "wav": ("WAV", "PCM_16", "PCM_24"),
    "aiff": ("AIFF", "PCM_16", "PCM_24"),
    "flac": ("FLAC", "PCM_16", "PCM_24"),
    "mp3": ("MP3", "MPEG_LAYER_III", "MPEG_LAYER_III"),
}
AUDIO_FORMATS = tuple(_CONTAINERS)
# The sample rates MPEG-1/2 layer III defines; other rates are resampled for mp3.
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def write_audio(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    fmt: str,
    *,
    bit_depth: int = 16,
) -> None:
    """Encode ``samples`` ((frames,) or (frames, channels), float) as wav, aiff, flac or mp3.

    Samples are clipped to [-1, 1] first (integer PCM would otherwise wrap around), NaNs become
    silence. ``bit_depth`` (16 or 24) applies to the PCM formats; mp3 is resampled when the rate
    is not one MPEG defines (above 48 kHz: to 48 kHz). The file appears atomically:
    it is written next to ``path`` and renamed. Raises ``UnsupportedOutputFormat`` for anything
    else (``mp4`` needs a video container the sandbox does not build).
    """
    fmt = fmt.lower()
    if fmt not in _CONTAINERS:
        why = " (that needs the source video's container)" if fmt in ("mp4", "mov") else ""
        raise UnsupportedOutputFormat(
            f"The sandbox cannot write {fmt!r} output{why}; it writes {', '.join(AUDIO_FORMATS)}."
        )
    if bit_depth not in (16, 24):
        raise ValueError("bit_depth must be 16 or 24")
    container, pcm16, pcm24 = _CONTAINERS[fmt]
    if container not in sf.available_formats():  # pragma: no cover - libsndfile < 1.1
        raise UnsupportedOutputFormat(f"This libsndfile ({sf.__libsndfile_version__}) lacks {fmt}.")
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] == 0:
        raise ValueError("samples must be shaped (frames,) or (frames, channels)")
    data = np.clip(np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    rate = int(sample_rate)
    if fmt == "mp3" and rate not in _MP3_RATES:
        # the next rate up (96 kHz -> 48 kHz, 88.2 kHz -> 48 kHz, 37.8 kHz -> 44.1 kHz)
        target = next((r for r in _MP3_RATES if r >= rate), _MP3_RATES[-1])
        g = math.gcd(rate, target)
        data = np.clip(resample_poly(data, target // g, rate // g, axis=0), -1.0, 1.0)
        data = data.astype(np.float32)
        rate = target
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        sf.write(partial, data, rate, format=container, subtype=pcm24 if bit_depth == 24 else pcm16)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# STFT in blocks
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

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


# ---- multi_voice: the speech estimate split between speakers by pan or pitch ----

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
