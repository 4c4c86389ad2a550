"""Audio files in and out for the sandbox's DSP: decoding, probing and encoding, and the
``DspError`` family every part of ``sandbox.dsp`` raises.

Owns ``Audio`` (float32 samples shaped (frames, channels) and the rate), ``read_audio``,
``probe_duration``, ``write_audio`` with ``AUDIO_FORMATS``, ``write_video`` and ``has_video``
(the ``mp4`` output: the stem put back into the source's video), and the errors ``DspError``,
``UndecodableAudio``, ``UnsupportedOutputFormat`` and ``UnsupportedModel``. WAV, AIFF, FLAC, MP3
and OGG go through libsndfile; AAC (ADTS), M4A, MP4 and MOV through PyAV
(``sandbox.containers``, the only sandbox module it imports); ``sandbox.dsp`` re-exports it all.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from sandbox import containers


class DspError(Exception):
    """Base class: a problem with the audio or the request, with a message fit for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UndecodableAudio(DspError):
    """The file cannot be decoded as audio (corrupt, empty, or no format we read)."""


class UnsupportedOutputFormat(DspError):
    """The sandbox cannot produce this output format (``mp4`` without a source video)."""


class UnsupportedModel(DspError):
    """The model (or its variant) is not one the sandbox can run through this function."""


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
    """Decode WAV, AIFF, FLAC, MP3, OGG, AAC, M4A, MP4 or MOV into float32 samples (mono stays
    mono; a video's first audio stream). The content decides the decoder, never the name.

    Raises ``UndecodableAudio`` for anything neither reads (text renamed to .wav, an empty
    file, a video without audio), for a file with no samples and for more than two channels.
    """
    path = Path(path)
    if not path.is_file():
        raise UndecodableAudio(f"{path.name!r} does not exist or is not a file.")
    if containers.is_container(path):
        try:
            samples, rate = containers.decode(path, max_channels=MAX_CHANNELS)
        except containers.ContainerError as error:
            raise UndecodableAudio(error.message) from error
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        return Audio(samples=samples, sample_rate=rate)
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
    if containers.is_container(path):
        try:
            return containers.probe_duration(path)
        except containers.ContainerError as error:
            raise UndecodableAudio(error.message) from error
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
    else (``mp4`` is ``write_video``'s: it needs the source video).
    """
    fmt = fmt.lower()
    if fmt not in _CONTAINERS:
        why = " (that is write_video's: it needs the source video)" if fmt in ("mp4", "mov") else ""
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


VIDEO_FORMATS = ("mp4",)


def has_video(path: str | os.PathLike[str]) -> bool:
    """Whether the file has a video stream the ``mp4`` output can copy (not cover art)."""
    return containers.has_video(path)


def write_video(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    *,
    source: str | os.PathLike[str],
) -> None:
    """The ``mp4`` output: ``samples`` (AAC) muxed with the video stream of ``source`` copied,
    not re-encoded, in the source's container family (QuickTime for MOV, MP4 otherwise).
    Raises ``UnsupportedOutputFormat`` when the source has no video stream or cannot be read."""
    try:
        containers.mux_with_video(path, samples, sample_rate, source=source)
    except containers.ContainerError as error:
        raise UnsupportedOutputFormat(error.message) from error
