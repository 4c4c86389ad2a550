"""Media made by the tests: real files in every accepted format, and the rejection corpus's
bad inputs. The M4A/MP4/MOV/ADTS inputs are small committed fixtures (fixtures/
make_fixtures.sh regenerates them with ffmpeg); DRM variants are derived from them."""

import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
import soundfile

FIXTURES = Path(__file__).parent / "fixtures"


def wav_bytes(
    *,
    seconds: float = 1.0,
    rate: int = 8000,
    channels: int = 2,
    amplitude: float = 0.5,
    swell: bool = False,
) -> bytes:
    """16-bit PCM: a 440 Hz sine on every channel, made with the standard library; `swell`
    makes its level rise and fall twice (a waveform worth looking at)."""
    frames = int(seconds * rate)
    peak = amplitude * 32767

    def level(i: int) -> float:
        return abs(math.sin(2 * math.pi * i / frames)) if swell else 1.0

    one = [int(peak * level(i) * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames)]
    samples = [value for value in one for _ in range(channels)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


def encoded(fmt: str, subtype: str, *, seconds: float = 1.0, channels: int = 2) -> bytes:
    """AIFF, FLAC, MP3 or Ogg bytes written by libsndfile."""
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype("float32")
    data = np.repeat(tone[:, None], channels, axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def protected_m4a(entry: bytes) -> bytes:
    """tone.m4a with its audio sample entry renamed to a protected one (`enca`, `drms`), as
    in CENC-encrypted and FairPlay files."""
    data = bytearray(fixture("tone.m4a"))
    stsd = data.index(b"stsd")
    at = data.index(b"mp4a", stsd)
    data[at : at + 4] = entry
    return bytes(data)


def with_pssh(data: bytes) -> bytes:
    """An MP4 whose movie box carries a `pssh` (a DRM system's key information)."""
    out = bytearray(data)
    moov = out.index(b"moov") - 4
    size = struct.unpack(">I", out[moov : moov + 4])[0]
    pssh = struct.pack(">I4s", 32, b"pssh") + bytes(24)
    out[moov + size : moov + size] = pssh
    out[moov : moov + 4] = struct.pack(">I", size + len(pssh))
    return bytes(out)
