"""Fixtures for the sandbox's tests: an API client with the sandbox key, tiny WAV files made
with the standard library, an uploaded asset, and helpers to create tasks."""

import io
import math
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sandbox.keys import sandbox_api_key

API = "/sandbox/api"


def wav_bytes(
    *,
    seconds: float = 1.0,
    rate: int = 8000,
    channels: int = 2,
    freq: float = 440.0,
    padding: int = 0,
) -> bytes:
    """A 16-bit PCM sine (a quieter octave on the right channel), optionally preceded by
    `padding` zero bytes (the padded-file failure)."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = []
        for n in range(frames):
            left = 0.5 * math.sin(2 * math.pi * freq * n / rate)
            right = 0.25 * math.sin(2 * math.pi * 2 * freq * n / rate)
            samples.extend([left, right][:channels])
        w.writeframes(struct.pack(f"<{len(samples)}h", *(int(s * 32767) for s in samples)))
    return b"\0" * padding + buffer.getvalue()


def write_wav(path: Path, **kwargs: Any) -> Path:
    path.write_bytes(wav_bytes(**kwargs))
    return path


@pytest.fixture
def api() -> Client:
    """Django's test client sending the sandbox's x-api-key."""
    return Client(headers={"x-api-key": sandbox_api_key()})


@pytest.fixture
def upload(api: Client, tmp_path: Path):
    """upload(name, content) -> the response of POST /assets."""

    def do(name: str = "song.wav", content: bytes | None = None) -> Any:
        path = tmp_path / name
        path.write_bytes(wav_bytes() if content is None else content)
        with path.open("rb") as f:
            return api.post(f"{API}/assets", {"file": f})

    return do


@pytest.fixture
def asset_id(upload: Any) -> str:
    response = upload()
    assert response.status_code == 200, response.content
    return response.json()["id"]


@pytest.fixture
def create_task(api: Client):
    """create_task(body) -> the response of POST /tasks."""

    def do(body: Any) -> Any:
        return api.post(f"{API}/tasks", body, content_type="application/json")

    return do
