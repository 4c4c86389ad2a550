"""Waveform peaks, computed once at upload and kept on the asset (`Asset.peaks`): the loudest
sample of each of `PEAK_BUCKETS` stretches of the file, read in windows (a long file is never
decoded whole), and the SVG points the asset page draws from them."""

import array
import math
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

from jobs.audiofile import pcm_layout

PEAK_BUCKETS = 160


WINDOW_FRAMES = 2048
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


def compute_peaks(path: Path, fmt: str, *, buckets: int = PEAK_BUCKETS) -> list[float]:
    """Absolute peak level (0..1) of `buckets` equal slices of the file, read from a few
    windows per slice (never a full decode). With soundfile installed (the sandbox extra):
    WAV, AIFF, FLAC and MP3; without it, PCM WAV/AIFF through the standard library. Other
    formats (AAC in M4A/MP4/MOV) get no waveform: an empty list."""
    try:
        import soundfile  # optional: the sandbox extra installs it
    except ImportError:
        soundfile = None
    try:
        if soundfile is not None and fmt in ("wav", "aiff", "flac", "mp3"):
            return _peaks_soundfile(soundfile, path, buckets)
        if fmt in ("wav", "aiff"):
            return _peaks_pcm(path, fmt, buckets)
    except (RuntimeError, OSError, ValueError, struct.error):
        return []  # undecodable samples: the file was accepted on its headers, no waveform
    return []


def _peaks_soundfile(soundfile: object, path: Path, buckets: int) -> list[float]:
    peaks = [0.0] * buckets
    with soundfile.SoundFile(str(path)) as audio:  # type: ignore[attr-defined]
        frames = audio.frames
        if frames <= 0:
            return []
        for bucket, start, count in _windows(frames, buckets):
            audio.seek(start)
            block = audio.read(count, dtype="float32", always_2d=True)
            if block.size:
                peaks[bucket] = max(peaks[bucket], float(abs(block).max()))
    return [round(min(p, 1.0), 3) for p in peaks]


def _peaks_pcm(path: Path, fmt: str, buckets: int) -> list[float]:
    with open(path, "rb") as fileobj:
        offset, length, width, is_float, big, channels = pcm_layout(fileobj, fmt)
        frame_bytes = width * channels
        frames = min(length, fileobj.seek(0, 2) - offset) // frame_bytes
        if frames <= 0 or width not in (1, 2, 3, 4):
            return []
        peaks = [0.0] * buckets
        for bucket, start, count in _windows(frames, buckets):
            fileobj.seek(offset + start * frame_bytes)
            data = fileobj.read(count * frame_bytes)
            peaks[bucket] = max(peaks[bucket], _pcm_peak(data, width, is_float, big, fmt))
    return [round(min(p, 1.0), 3) for p in peaks]


def _pcm_peak(data: bytes, width: int, is_float: bool, big: bool, fmt: str) -> float:
    """Peak of raw PCM bytes with C-speed array operations (no per-sample Python loop)."""
    if not data:
        return 0.0
    if width == 1:
        if fmt == "wav":  # 8-bit WAV is unsigned
            return max(abs(max(data) - 128), abs(min(data) - 128)) / 128
        samples = array.array("b", data)
        return max(abs(max(samples)), abs(min(samples))) / 128
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
        return 0.0
    top = max(abs(max(samples)), abs(min(samples)))
    if is_float:
        return float(top) if math.isfinite(top) else 0.0
    return top / (32768 if width == 2 else 2147483648)


def waveform_points(peaks: list[float], *, height: int = 100) -> str:
    """SVG polygon points of a mirrored envelope over a `len(peaks)` x `height` viewBox."""
    middle = height / 2
    top = [f"{i + 0.5:g},{middle - max(p, 0.01) * middle * 0.96:.1f}" for i, p in enumerate(peaks)]
    bottom = [
        f"{i + 0.5:g},{middle + max(p, 0.01) * middle * 0.96:.1f}"
        for i, p in reversed(list(enumerate(peaks)))
    ]
    return " ".join(top + bottom)
