"""Per-output waveform peaks for the stem player: measured once, cached next to the output,
served as JSON; duration and RMS level (the A/B player's level matching) measured from the
same windows, with and without soundfile."""

import io
import json
import math
import wave

import numpy as np
import pytest
import soundfile
from django.core.files.base import ContentFile
from django.urls import reverse

from jobs import peaks
from jobs.models import Output
from jobs.stem_peaks import CACHE_VERSION, STEM_BUCKETS, peaks_name
from tests.results.conftest import add_output

pytestmark = pytest.mark.django_db

RATE = 8000


@pytest.fixture
def viewer_client(client, viewer):
    """Peaks are for everyone who can open the task page, viewers included."""
    client.force_login(viewer)
    return client


def sine_wav(seconds: float, amplitude: float, *, width: int = 2, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    signal = amplitude * np.sin(2 * np.pi * 440 * t)
    if width == 1:
        samples = np.round(signal * 127 + 128).astype("u1")
    else:
        samples = np.round(signal * 32767).astype("<i2")
    if channels == 2:
        samples = np.repeat(samples, 2)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return buffer.getvalue()


@pytest.fixture
def kept(task_factory) -> Output:
    task = task_factory(status="completed", mirrored=True, models=("vocals",))
    output = Output.objects.get(target__task=task)
    data = sine_wav(3, 0.5)
    output.file.save("vocals-tone.wav", ContentFile(data), save=False)
    output.size_bytes = len(data)
    output.save()
    return output


def url(output: Output) -> str:
    return reverse("jobs:output_peaks", args=[output.pk])


def test_peaks_endpoint_measures_and_caches(viewer_client, kept):
    """The first GET measures (peaks, duration, level) and writes the cache file next to it."""
    response = viewer_client.get(url(kept))
    assert response.status_code == 200
    data = response.json()
    assert len(data["peaks"]) == STEM_BUCKETS
    assert max(data["peaks"]) == pytest.approx(0.5, abs=0.01)
    assert data["duration"] == pytest.approx(3.0)
    # a sine of amplitude 0.5: RMS 0.5/sqrt(2), -9.03 dBFS
    assert data["rms_db"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.05)
    assert "private" in response["Cache-Control"]
    storage = kept.file.storage
    with storage.open(peaks_name(kept)) as f:
        assert json.loads(f.read())["version"] == CACHE_VERSION


def test_peaks_come_from_the_cache_once_written(viewer_client, kept):
    """A second GET reads the cache file (what it says is what is served), not the audio."""
    viewer_client.get(url(kept))
    storage = kept.file.storage
    storage.delete(peaks_name(kept))
    cached = {"version": CACHE_VERSION, "peaks": [0.25], "duration": 9.0, "rms_db": -20.0}
    storage.save(peaks_name(kept), ContentFile(json.dumps(cached).encode()))
    assert viewer_client.get(url(kept)).json() == {
        "peaks": [0.25],
        "duration": 9.0,
        "rms_db": -20.0,
    }


def test_stale_or_broken_cache_is_measured_again(viewer_client, kept):
    """A cache file of another version, or not JSON, is replaced by a fresh measurement."""
    storage = kept.file.storage
    for content in (b'{"version": 0, "peaks": [1]}', b"not json"):
        if storage.exists(peaks_name(kept)):
            storage.delete(peaks_name(kept))
        storage.save(peaks_name(kept), ContentFile(content))
        data = viewer_client.get(url(kept)).json()
        assert len(data["peaks"]) == STEM_BUCKETS
        with storage.open(peaks_name(kept)) as f:
            assert json.loads(f.read())["version"] == CACHE_VERSION


def test_peaks_refused_for_what_has_no_waveform(viewer_client, kept, task_factory):
    """Not kept yet, a text output, or a kept file gone missing: 404, never a 500."""
    pending = task_factory(status="completed", mirrored=False, models=("drums",))
    unkept = Output.objects.get(target__task=pending)
    assert viewer_client.get(url(unkept)).status_code == 404
    text = add_output(kept.target, "vocals", "json", b"{}")
    assert viewer_client.get(url(text)).status_code == 404
    kept.file.storage.delete(kept.file.name)
    assert viewer_client.get(url(kept)).status_code == 404


@pytest.mark.parametrize(("width", "channels"), [(1, 1), (2, 1), (2, 2)])
def test_pcm_reader_matches_soundfile(tmp_path, width, channels):
    """The standard-library PCM path gives the same peaks, duration and level as soundfile."""
    import soundfile

    path = tmp_path / "tone.wav"
    path.write_bytes(sine_wav(2, 0.8, width=width, channels=channels))
    with open(path, "rb") as f:
        plain = peaks._peaks_pcm(f, "wav", 50)
    with open(path, "rb") as f:
        library = peaks._peaks_soundfile(soundfile, f, 50)
    assert plain.duration == pytest.approx(library.duration) == pytest.approx(2.0)
    assert plain.rms_db == pytest.approx(library.rms_db, abs=0.1)
    assert plain.peaks == pytest.approx(library.peaks, abs=0.01)


def test_silence_has_no_level(tmp_path):
    """All-zero samples: peaks at zero and no RMS level (nothing to match against)."""
    path = tmp_path / "quiet.wav"
    path.write_bytes(sine_wav(1, 0.0))
    result = peaks.compute_peaks(path, "wav")
    assert result == [0.0] * peaks.PEAK_BUCKETS
    with open(path, "rb") as f:
        assert peaks.measure(f, "wav").rms_db is None


def test_mp3_peaks_cover_the_whole_file(tmp_path):
    """A steady 60 s stereo MP3 tone has a peak in every slice: libsndfile's MP3 seeks land on
    silence past the first part of such a file, so MP3 is read in one pass instead."""
    rate = 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate * 60) / rate)
    path = tmp_path / "tone.mp3"
    soundfile.write(path, np.stack([tone, tone], axis=1).astype("float32"), rate, format="MP3")
    with open(path, "rb") as fileobj:
        measured = peaks.measure(fileobj, "mp3")
    assert len(measured.peaks) == peaks.PEAK_BUCKETS
    assert min(measured.peaks) > 0.4
    assert measured.duration == pytest.approx(60, abs=0.1)
