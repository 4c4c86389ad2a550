"""Waveform peaks, computed once at upload and kept on the asset (`Asset.peaks`) and once per
kept output (`jobs.stem_peaks`, a cache file next to the output): the loudest sample of each of
`PEAK_BUCKETS` stretches of the file, read in windows (a long file is never decoded whole),
the SVG points the asset page draws from them, and (`measure`) the file's duration and RMS
level over the same windows, which the A/B player matches levels with."""

import array
import math
import operator
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from jobs.audiofile import pcm_layout

PEAK_BUCKETS = 160


WINDOW_FRAMES = 2048
_UNSIGNED = bytes(i ^ 0x80 for i in range(256))  # 8-bit WAV (unsigned) to signed bytes
WINDOWS_PER_BUCKET = 6


def _windows(frames: int, buckets: int) -> Iterator[tuple[int, int, int]]:
    """(bucket, first frame, frame count) of the windows read for each bucket: the whole bucket
    when it is short, else a few evenly spaced windows (cost bounded whatever the length)."""
    for bucket in range(buckets):
        start, end = bucket * frames // buckets, (bucket + 1) * frames // buckets
        length = end - start
        if length <= WINDOW_FRAMES * WINDOWS_PER_BUCKET:
            yield bucket, start, length
            continue
        step = (length - WINDOW_FRAMES) // (WINDOWS_PER_BUCKET - 1)
        for i in range(WINDOWS_PER_BUCKET):
            yield bucket, start + i * step, WINDOW_FRAMES


@dataclass
class Measure:
    """What `measure` read: peaks per slice (0..1), the duration in seconds (0 when unknown)
    and the RMS level in dBFS over the windows read (None for silence or no samples)."""

    peaks: list[float] = field(default_factory=list)
    duration: float = 0.0
    rms_db: float | None = None


def compute_peaks(path: Path, fmt: str, *, buckets: int = PEAK_BUCKETS) -> list[float]:
    """Absolute peak level (0..1) of `buckets` equal slices of the file, read from a few
    windows per slice (never a full decode). With soundfile installed (the sandbox extra):
    WAV, AIFF, FLAC and MP3; without it, PCM WAV/AIFF through the standard library. Other
    formats (AAC in M4A/MP4/MOV) get no waveform: an empty list."""
    with open(path, "rb") as fileobj:
        return measure(fileobj, fmt, buckets=buckets).peaks


def measure(fileobj: BinaryIO, fmt: str, *, buckets: int = PEAK_BUCKETS) -> Measure:
    """`compute_peaks` of an open, seekable binary file, with its duration and RMS level."""
    try:
        import soundfile  # optional: the sandbox extra installs it
    except ImportError:
        soundfile = None
    try:
        if soundfile is not None and fmt in ("wav", "aiff", "flac", "mp3"):
            return _peaks_soundfile(soundfile, fileobj, buckets)
        if fmt in ("wav", "aiff"):
            return _peaks_pcm(fileobj, fmt, buckets)
    except (RuntimeError, OSError, ValueError, struct.error):
        return Measure()  # undecodable samples: accepted on its headers, no waveform
    return Measure()


def _level(squares: float, samples: int) -> float | None:
    if not samples or squares <= 0:
        return None
    return round(10 * math.log10(squares / samples), 2)


def _peaks_soundfile(soundfile: object, fileobj: BinaryIO, buckets: int) -> Measure:
    peaks = [0.0] * buckets
    squares, samples = 0.0, 0
    with soundfile.SoundFile(fileobj) as audio:  # type: ignore[attr-defined]
        frames = audio.frames
        if frames <= 0:
            return Measure()
        if audio.format in ("MP3", "MPEG"):
            # libsndfile's MP3 seeks land on silence past the first megaframe or so, and
            # decoding MP3 sequentially is cheap (mpg123): read it all, block by block.
            peaks, squares, samples = _sequential(audio, frames, buckets)
            return Measure(
                [round(min(p, 1.0), 3) for p in peaks],
                frames / audio.samplerate,
                _level(squares, samples),
            )
        for bucket, start, count in _windows(frames, buckets):
            audio.seek(start)
            block = audio.read(count, dtype="float32", always_2d=True)
            if block.size:
                peaks[bucket] = max(peaks[bucket], float(abs(block).max()))
                squares += float((block.astype("float64") ** 2).sum())
                samples += int(block.size)
        duration = frames / audio.samplerate
    return Measure([round(min(p, 1.0), 3) for p in peaks], duration, _level(squares, samples))


def _sequential(audio: object, frames: int, buckets: int) -> tuple[list[float], float, int]:
    """Peaks of every bucket, the sum of squares and the sample count, from one pass over
    `audio` (an open soundfile.SoundFile) in blocks: memory stays flat in its length."""
    peaks = [0.0] * buckets
    squares, samples, position = 0.0, 0, 0
    for block in audio.blocks(blocksize=65536, dtype="float32", always_2d=True):  # type: ignore[attr-defined]
        level = abs(block).max(axis=1)
        first = position * buckets // frames
        last = min((position + len(block) - 1) * buckets // frames, buckets - 1)
        for bucket in range(first, last + 1):
            lo = max(bucket * frames // buckets - position, 0)
            hi = min((bucket + 1) * frames // buckets - position, len(block))
            if hi > lo:
                peaks[bucket] = max(peaks[bucket], float(level[lo:hi].max()))
        squares += float((block.astype("float64") ** 2).sum())
        samples += int(block.size)
        position += len(block)
    return peaks, squares, samples


def _peaks_pcm(fileobj: BinaryIO, fmt: str, buckets: int) -> Measure:
    offset, length, width, is_float, big, channels = pcm_layout(fileobj, fmt)
    rate = _pcm_rate(fileobj, fmt)
    frame_bytes = width * channels
    frames = min(length, fileobj.seek(0, 2) - offset) // frame_bytes
    if frames <= 0 or width not in (1, 2, 3, 4):
        return Measure()
    peaks = [0.0] * buckets
    squares, samples = 0.0, 0
    for bucket, start, count in _windows(frames, buckets):
        fileobj.seek(offset + start * frame_bytes)
        data = fileobj.read(count * frame_bytes)
        peak, square, n = _pcm_peak(data, width, is_float, big, fmt)
        peaks[bucket] = max(peaks[bucket], peak)
        squares, samples = squares + square, samples + n
    duration = frames / rate if rate else 0.0
    return Measure([round(min(p, 1.0), 3) for p in peaks], duration, _level(squares, samples))


def _pcm_rate(fileobj: BinaryIO, fmt: str) -> float:
    """The sample rate from the fmt/COMM chunk (0 when it cannot be read)."""
    order = ">" if fmt == "aiff" else "<"
    fileobj.seek(12)
    for _ in range(64):
        header = fileobj.read(8)
        if len(header) < 8:
            return 0.0
        name, size = struct.unpack(f"{order}4sI", header)
        start = fileobj.tell()
        if name == b"fmt ":
            return float(struct.unpack("<HHI", fileobj.read(8))[2])
        if name == b"COMM":
            exponent, mantissa = struct.unpack(">HQ", fileobj.read(18)[8:18])
            return mantissa * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63)
        fileobj.seek(start + size + (size & 1))
    return 0.0


def _squares(samples: array.array) -> float:
    return float(sum(map(operator.mul, samples, samples)))


def _pcm_peak(data: bytes, width: int, is_float: bool, big: bool, fmt: str) -> tuple:
    """(peak 0..1, sum of squared samples 0..1, sample count) of raw PCM bytes, with
    C-speed array operations (no per-sample Python statement)."""
    if not data:
        return 0.0, 0.0, 0
    if width == 1:
        samples = array.array("b", data.translate(_UNSIGNED) if fmt == "wav" else data)
        top = max(abs(max(samples)), abs(min(samples))) / 128
        return top, _squares(samples) / 128**2, len(samples)
    if width == 3:  # keep the two most significant bytes of each 24-bit sample
        count = len(data) // 3
        wide = bytearray(count * 2)
        if big:
            wide[0::2], wide[1::2] = data[0 : count * 3 : 3], data[1 : count * 3 : 3]
        else:
            wide[0::2], wide[1::2] = data[1 : count * 3 : 3], data[2 : count * 3 : 3]
        data, width = bytes(wide), 2
    typecode = {2: "h", 4: "f" if is_float else "i"}[width]
    samples = array.array(typecode)
    samples.frombytes(data[: len(data) - len(data) % width])
    if big != (sys.byteorder == "big"):
        samples.byteswap()
    if not samples:
        return 0.0, 0.0, 0
    top = max(abs(max(samples)), abs(min(samples)))
    if is_float:
        if not math.isfinite(top):
            return 0.0, 0.0, 0
        return float(top), _squares(samples), len(samples)
    scale = 32768 if width == 2 else 2147483648
    return top / scale, _squares(samples) / scale**2, len(samples)


def waveform_points(peaks: list[float], *, height: int = 100) -> str:
    """SVG polygon points of a mirrored envelope over a `len(peaks)` x `height` viewBox."""
    middle = height / 2
    top = [f"{i + 0.5:g},{middle - max(p, 0.01) * middle * 0.96:.1f}" for i, p in enumerate(peaks)]
    bottom = [
        f"{i + 0.5:g},{middle + max(p, 0.01) * middle * 0.96:.1f}"
        for i, p in reversed(list(enumerate(peaks)))
    ]
    return " ".join(top + bottom)
