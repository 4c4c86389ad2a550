"""Tasks whose kept stems are known signals (sines), so a mix can be checked sample by
sample; the clients and factories of tests/tasks and tests/results are reused."""

import io

import numpy as np
import pytest
import soundfile as sf
from django.test import Client

from jobs.models import Asset, Output, Task
from jobs.progress import task_changed
from jobs.storage import outputs
from listening.models import MixExport
from tests.results.conftest import add_output, task_factory  # noqa: F401 (fixture)
from tests.tasks.conftest import (  # noqa: F401 (fixtures)
    catalogue,
    make_asset,
    member_client,
    ready_asset,
    viewer_client,
)

RATE = 44100


def sine(freq: float, seconds: float, amplitude: float, *, rate: int = RATE) -> bytes:
    """A 16-bit mono WAV of a sine."""
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, amplitude * np.sin(2 * np.pi * freq * t), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def read(data: bytes) -> np.ndarray:
    samples, _ = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return samples


def weighted_sum(parts: list[tuple[bytes, float]]) -> np.ndarray:
    """sum(gain x stem), the shorter stems padded with silence (mono)."""
    arrays = [(read(data)[:, 0], gain) for data, gain in parts]
    total = np.zeros(max(len(a) for a, _ in arrays))
    for samples, gain in arrays:
        total[: len(samples)] += gain * samples
    return total


def rendered(export: MixExport) -> np.ndarray:
    with outputs.open(export.file.name, "rb") as f:
        return read(f.read())


# Vocals: 3 s of 440 Hz at 0.6; drums: 2 s of 660 Hz at 0.5 (three blocks of the renderer).
STEMS = {"vocals": sine(440, 3.0, 0.6), "drums": sine(660, 2.0, 0.5)}


@pytest.fixture
def stems_task(task_factory, ready_asset: Asset) -> Task:  # noqa: F811
    """A completed task (source in the library) whose vocals and drums stems are kept WAVs of
    known sines."""
    task = task_factory(status="completed", models=("vocals", "drums"))
    Output.objects.filter(target__task=task).delete()
    for target in task.targets.order_by("position"):
        add_output(target, target.model, "wav", STEMS[target.model])
    Task.objects.filter(pk=task.pk).update(source_asset=ready_asset, source_url="")
    task_changed([task.pk])
    task.refresh_from_db()
    return task


def stem_pk(task: Task, name: str) -> int:
    return Output.objects.get(target__task=task, name=name).pk


def mix_post(
    client: Client, task: Task, gains: dict[str, float], fmt: str = "wav", **extra: str
) -> object:
    """The Export mix form as a member posts it: the stems of `gains` ticked with their gain."""
    data = {"format": fmt, **extra}
    for name, gain in gains.items():
        pk = stem_pk(task, name)
        data |= {f"use_{pk}": "on", f"gain_{pk}": str(gain), f"pan_{pk}": "0"}
    return client.post(f"/listening/tasks/{task.pk}/mix/", data, headers={"HX-Request": "true"})
