"""The media libsndfile cannot read, through PyAV (FFmpeg's libraries, bundled in its wheels):
AAC in ADTS (.aac) or MP4-family containers (.m4a, .mp4, .mov), MOV with PCM audio, and the
`mp4` output format, which is the stem put back into the source's video.

- ``is_container(path)``: the file's first bytes are an MP4-family box or an ADTS/ADIF header.
- ``decode(path)``: the first audio stream as float32 (frames, channels) and its rate.
- ``has_video(path)``: a real video stream (cover art, an "attached picture", does not count).
- ``mux_with_video(path, samples, rate, source=...)``: the source's video packets copied as they
  are (never re-encoded) with ``samples`` encoded as AAC, in the source's container family
  (QuickTime for a MOV source, MP4 otherwise), interleaved by time.

Every failure is a ``ContainerError`` with a message fit for a user. This module imports no
sandbox module: ``sandbox.audio_io`` wraps it into the ``DspError`` family.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.stream import Disposition
from scipy.signal import resample_poly

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
# The sample rates AAC (ISO 14496-3) defines; other rates are resampled before encoding.
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200)
_AAC_RATES = (*_AAC_RATES, 96000)
_ERRORS = (av.FFmpegError, OSError, ValueError, IndexError)


class ContainerError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _head(path: Path, size: int = 16) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


def _is_mp4_family(head: bytes) -> bool:
    return head[4:8] in _MP4_BOXES


def is_container(path: str | os.PathLike[str]) -> bool:
    """Whether the content is MP4-family (M4A/MP4/MOV) or ADTS/ADIF AAC: media for PyAV."""
    head = _head(Path(path))
    adts = len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0
    return _is_mp4_family(head) or adts or head[:4] == b"ADIF"


def _describe(path: Path, error: Exception) -> str:
    detail = str(error).strip() or error.__class__.__name__
    detail = detail.replace(f": '{path}'", "").replace(str(path), path.name)
    return f"Could not decode {path.name!r} as audio: {detail}"


def _real_videos(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    return [
        s for s in container.streams.video if not s.disposition & Disposition.attached_pic.value
    ]


def decode(path: str | os.PathLike[str], *, max_channels: int = 2) -> tuple[np.ndarray, int]:
    """The first audio stream: float32 samples shaped (frames, channels) and the sample rate."""
    path = Path(path)
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise ContainerError(f"{path.name!r} has no audio stream.")
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels or stream.layout.nb_channels
            if channels > max_channels:
                raise ContainerError(
                    f"{path.name!r} has {channels} channels; only mono and stereo are supported."
                )
            rate = stream.codec_context.sample_rate or stream.rate
            layout = "mono" if channels == 1 else "stereo"
            resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
            chunks = []
            for frame in container.decode(stream):
                chunks += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)]
    except ContainerError:
        raise
    except _ERRORS as error:
        raise ContainerError(_describe(path, error)) from error
    if not chunks or not rate:
        raise ContainerError(f"{path.name!r} contains no audio samples.")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    if samples.shape[0] == 0:
        raise ContainerError(f"{path.name!r} contains no audio samples.")
    return samples, int(rate)


def probe_duration(path: str | os.PathLike[str]) -> float:
    """The audio stream's duration from an MP4-family file's headers. ADTS has no such header
    (FFmpeg estimates it from the bit rate, which can be 10 % off): that one is decoded."""
    path = Path(path)
    if not _is_mp4_family(_head(path)):
        samples, rate = decode(path)
        return samples.shape[0] / rate
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise ContainerError(f"{path.name!r} has no audio stream.")
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except ContainerError:
        raise
    except _ERRORS as error:
        raise ContainerError(_describe(path, error)) from error
    samples, rate = decode(path)
    return samples.shape[0] / rate


def has_video(path: str | os.PathLike[str]) -> bool:
    """Whether the file has a video stream (not cover art). False for anything PyAV cannot
    open: such a file has no video we could copy."""
    path = Path(path)
    if not path.is_file() or not is_container(path):
        return False
    try:
        with av.open(str(path), mode="r") as container:
            return bool(_real_videos(container))
    except _ERRORS:
        return False


def _aac_ready(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] not in (1, 2):
        raise ContainerError("mp4 output takes mono or stereo samples.")
    data = np.clip(np.nan_to_num(data, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    if rate not in _AAC_RATES:
        target = next((r for r in _AAC_RATES if r >= rate), 48000)
        target = min(target, 48000) if rate > 96000 else target
        g = math.gcd(rate, target)
        data = np.clip(resample_poly(data, target // g, rate // g, axis=0), -1.0, 1.0)
        rate = target
    return np.ascontiguousarray(data, dtype=np.float32), rate


def _audio_packets(
    stream: av.audio.stream.AudioStream, data: np.ndarray, rate: int
) -> Iterator[av.Packet]:
    layout = "mono" if data.shape[1] == 1 else "stereo"
    size = stream.codec_context.frame_size or 1024
    for start in range(0, data.shape[0], size):
        chunk = np.ascontiguousarray(data[start : start + size].T)  # planar: (channels, n)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _seconds(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None and packet.time_base else 0.0


def mux_with_video(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    *,
    source: str | os.PathLike[str],
) -> None:
    """Write ``samples`` (AAC) with the video stream of ``source`` copied packet for packet,
    in ``source``'s container family. The file appears atomically (written next to ``path``,
    then renamed). Raises ContainerError when the source has no video stream."""
    path, source = Path(path), Path(source)
    data, rate = _aac_ready(samples, int(sample_rate))
    head = _head(source)
    # ftyp "qt  " or a bare QuickTime atom: keep QuickTime (it holds codecs MP4 does not).
    muxer = "mov" if head[8:12] == b"qt  " or head[4:8] not in (b"ftyp",) else "mp4"
    partial = path.with_name(f".{path.name}.partial")
    try:
        with av.open(str(source), mode="r") as src:
            videos = _real_videos(src)
            if not videos:
                raise ContainerError(
                    f"{source.name!r} has no video stream to put the stem back into."
                )
            video_in = videos[0]
            with av.open(str(partial), mode="w", format=muxer) as out:
                video_out = out.add_stream_from_template(video_in)
                # FFmpeg's "fast" AAC coder: about 5x quicker than its default on music, at
                # a quality that is plenty for a sandbox's stems.
                audio_out = out.add_stream(
                    "aac",
                    rate=rate,
                    layout="mono" if data.shape[1] == 1 else "stereo",
                    options={"aac_coder": "fast"},
                )
                audio_out.codec_context.bit_rate = 96_000 * data.shape[1]
                audio = _audio_packets(audio_out, data, rate)
                pending = next(audio, None)
                for packet in src.demux(video_in):
                    if packet.dts is None:
                        continue  # the demuxer's final empty packet
                    when = _seconds(packet)
                    while pending is not None and _seconds(pending) <= when:
                        out.mux(pending)
                        pending = next(audio, None)
                    packet.stream = video_out
                    out.mux(packet)
                while pending is not None:
                    out.mux(pending)
                    pending = next(audio, None)
        partial.replace(path)
    except ContainerError:
        raise
    except _ERRORS as error:
        raise ContainerError(f"Could not write mp4 output from {source.name!r}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
