"""Small audio files for the client's tests, made with the standard library."""

import io
import math
import struct
import wave


def wav_bytes(*, seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A stereo 16-bit PCM WAV: a 440 Hz sine left, 880 Hz right."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = []
        for n in range(int(seconds * rate)):
            left = 0.5 * math.sin(2 * math.pi * 440 * n / rate)
            right = 0.25 * math.sin(2 * math.pi * 880 * n / rate)
            frames.append(struct.pack("<hh", int(left * 32767), int(right * 32767)))
        w.writeframes(b"".join(frames))
    return buffer.getvalue()
