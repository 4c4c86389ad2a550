"""Containers libsndfile cannot write, made at test time with PyAV itself: AAC in ADTS (.aac)
and M4A, MP4 with an MPEG-4 Part 2 video track and AAC audio, MOV with a video track and PCM
audio. The audio is `synth.song()`'s four-part mixture (voice, drums, bass, chords), so the
sandbox's separation has real sources to find; the video is a tiny moving gradient encoded
with FFmpeg's native `mpeg4` encoder (no external library needed)."""

from pathlib import Path

import av
import numpy as np

from tests.sandbox import synth

# kind -> (file suffix, muxer, audio codec, has video)
KINDS = {
    "aac": (".aac", "adts", "aac", False),
    "m4a": (".m4a", "ipod", "aac", False),
    "mp4": (".mp4", "mp4", "aac", True),
    "mov": (".mov", "mov", "pcm_s16le", True),
}
VIDEO_SIZE = 32
VIDEO_RATE = 10


def _audio_frames(stream: av.audio.stream.AudioStream, mixture: np.ndarray, rate: int):
    size = stream.codec_context.frame_size or 1024
    pcm = stream.codec_context.name.startswith("pcm")
    for start in range(0, mixture.shape[0], size):
        chunk = mixture[start : start + size]
        if pcm:  # packed 16-bit: one plane of interleaved samples
            data = (np.clip(chunk, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
        else:
            data = np.ascontiguousarray(chunk.T, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        yield frame


def write_media(
    path: Path, kind: str, *, seconds: float = 3.0, song: synth.Song | None = None
) -> Path:
    """A `kind` file (aac, m4a, mp4, mov) at `path` (its suffix is replaced to match) holding
    `seconds` of the synthetic song (or the given one, whose length then counts), and a video
    track for mp4 and mov."""
    suffix, muxer, codec, video = KINDS[kind]
    path = path.with_suffix(suffix)
    song = song or synth.song(seconds=seconds)
    seconds = song.mixture.shape[0] / song.sample_rate
    with av.open(str(path), mode="w", format=muxer) as out:
        picture = None
        if video:
            picture = out.add_stream("mpeg4", rate=VIDEO_RATE)
            picture.width = picture.height = VIDEO_SIZE
            picture.pix_fmt = "yuv420p"
        audio = out.add_stream(codec, rate=song.sample_rate, layout="stereo")
        for frame in _audio_frames(audio, song.mixture, song.sample_rate):
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
        if picture is not None:
            for n in range(int(seconds * VIDEO_RATE)):
                ramp = np.linspace(0, 255, VIDEO_SIZE, dtype=np.float32)
                gray = ((ramp[None, :] + 8 * n) % 256).astype(np.uint8)
                rgb = np.repeat(np.broadcast_to(gray, (VIDEO_SIZE, VIDEO_SIZE))[..., None], 3, 2)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = n
                for packet in picture.encode(frame):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
    return path


def streams(path: Path) -> dict[str, float]:
    """{"video": seconds, "audio": seconds} of the file's streams (by their headers)."""
    found: dict[str, float] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.type in ("audio", "video") and stream.type not in found:
                seconds = stream.duration * stream.time_base if stream.duration else 0.0
                found[stream.type] = float(seconds)
    return found


def video_packets(path: Path) -> list[bytes]:
    """The bytes of every packet of the first video stream (to show it was copied as is)."""
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
