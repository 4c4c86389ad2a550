"""The worker end to end with the real DSP: measuring, pacing, stems in every writable format,
text outputs, failures, caching, claims, and the management command."""

import io
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from sandbox import dsp, worker
from sandbox.faults import fault_config, faults_update
from sandbox.models import SandboxAsset, SandboxTarget
from sandbox.worker import processing_seconds, run_once
from tests.sandbox.conftest import API, wav_bytes

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture
def instant(api):
    faults_update(changes={"instant": True})


@pytest.fixture
def song(upload) -> str:
    """A 2 s stereo WAV at 16 kHz, uploaded; returns its asset id."""
    response = upload("song.wav", wav_bytes(seconds=2, rate=16000))
    return response.json()["id"]


def fetch(api, link: str) -> bytes:
    response = api.get(link.removeprefix("http://testserver"))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def get_task(api, task_id: str) -> dict:
    return api.get(f"{API}/tasks/{task_id}").json()


def test_stems_in_every_writable_format_with_residual(api, create_task, song, instant):
    """vocals with residual in wav/flac/mp3/aiff: one output per stem and format, each a real
    decodable file as long as the source; stem + residual gives the mixture back."""
    body = {
        "assetId": song,
        "targets": [
            {"model": "vocals", "formats": ["wav", "flac", "mp3", "aiff"], "residual": True},
            {"model": "drums", "formats": ["wav"]},
        ],
    }
    task_id = create_task(body).json()["id"]
    assert run_once() == 2
    task = get_task(api, task_id)
    vocals, drums = task["targets"]
    assert task["completedAt"] is not None
    assert (vocals["status"], drums["status"]) == ("completed", "completed")
    assert (vocals["duration"], vocals["cost"], drums["cost"], task["cost"]) == (2.0, 1, 1, 2)
    assert [(o["name"], o["format"]) for o in vocals["output"]] == [
        ("vocals", "wav"), ("vocals", "flac"), ("vocals", "mp3"), ("vocals", "aiff"),
        ("vocals_residual", "wav"), ("vocals_residual", "flac"), ("vocals_residual", "mp3"),
        ("vocals_residual", "aiff"),
    ]  # fmt: skip
    decoded = {}
    for output in vocals["output"]:
        samples, rate = sf.read(io.BytesIO(fetch(api, output["link"])), always_2d=True)
        assert rate == 16000
        assert samples.shape[1] == 2
        assert abs(samples.shape[0] - 32000) <= 2400  # mp3 adds encoder padding
        decoded[(output["name"], output["format"])] = samples
    mixture, _ = sf.read(io.BytesIO(wav_bytes(seconds=2, rate=16000)), always_2d=True)
    rebuilt = decoded[("vocals", "wav")] + decoded[("vocals_residual", "wav")]
    assert np.max(np.abs(rebuilt - mixture)) < 1e-3


def test_text_models_write_their_formats(api, create_task, song, instant):
    """transcription (json, srt, txt) and music_detection (json) produce text outputs that say
    they come from the sandbox."""
    body = {
        "assetId": song,
        "targets": [
            {"model": "transcription", "formats": ["json", "srt", "txt"], "language": "fr"},
            {"model": "music_detection", "formats": ["json"]},
        ],
    }
    task_id = create_task(body).json()["id"]
    assert run_once() == 2
    transcription, detection = get_task(api, task_id)["targets"]
    assert [o["format"] for o in transcription["output"]] == ["json", "srt", "txt"]
    assert {o["name"] for o in transcription["output"]} == {"transcription"}
    transcript = json.loads(fetch(api, transcription["output"][0]["link"]))
    assert "sandbox" in json.dumps(transcript)
    assert transcript["metadata"]["language"] == "fr"
    assert isinstance(json.loads(fetch(api, detection["output"][0]["link"])), list)
    assert detection["cost"] == 0.5


def test_mp4_fails_only_that_target(api, create_task, song, instant):
    """mp4 output of an audio-only source is a 415 target error (there is no video to put the
    stem back into); other targets complete."""
    body = {
        "assetId": song,
        "targets": [
            {"model": "bass", "formats": ["wav", "mp4"]},
            {"model": "drums", "formats": ["flac"]},
        ],
    }
    task_id = create_task(body).json()["id"]
    assert run_once() == 2
    task = get_task(api, task_id)
    bass, drums = task["targets"]
    assert bass["status"] == "error"
    assert bass["error"]["code"] == 415
    assert bass["error"]["message"].startswith("The sandbox cannot write mp4 output")
    assert "no video stream" in bass["error"]["message"]
    assert (bass["output"], bass["cost"]) == ([], 0)
    assert drums["status"] == "completed"
    assert task["cost"] == 1
    outputs_dir = Path(settings.MEDIA_ROOT) / "sandbox" / "outputs" / task_id
    assert not (outputs_dir / bass["id"]).exists()


def test_multi_voice_gives_one_stem_per_speaker(api, create_task, song, instant):
    """multi_voice (two_speaker) names its outputs speaker_1 and speaker_2."""
    body = {"assetId": song, "targets": [{"model": "multi_voice", "formats": ["wav"]}]}
    task_id = create_task(body).json()["id"]
    run_once()
    (target,) = get_task(api, task_id)["targets"]
    assert [o["name"] for o in target["output"]] == ["speaker_1", "speaker_2"]
    assert target["cost"] == 10


def test_undecodable_source_fails_every_target(api, create_task, upload, instant):
    """A file the DSP cannot decode fails all targets with the real API's message."""
    broken = b"RIFF\x24\0\0\0WAVEfmt " + b"\x07" * 200
    asset_id = upload("broken.wav", broken).json()["id"]
    body = {"assetId": asset_id, "targets": [{"model": "vocals", "formats": ["wav"]},
                                             {"model": "bass", "formats": ["wav"]}]}  # fmt: skip
    task_id = create_task(body).json()["id"]
    assert run_once() == 2
    task = get_task(api, task_id)
    for target in task["targets"]:
        assert target["status"] == "error"
        assert target["error"] == {"code": 400, "message": "Error fetching or processing asset"}
        assert target["cost"] == 0
    assert task["completedAt"] is not None


def test_targets_wait_for_their_ready_time(api, create_task, song, settings):
    """At SANDBOX_SPEED 1 the first run only measures: the duration is known, the targets
    stay processing until ready_at, then complete one by one."""
    settings.SANDBOX_SPEED = 1.0
    body = {"assetId": song, "targets": [{"model": "vocals", "formats": ["wav"]},
                                         {"model": "drums", "formats": ["wav"]}]}  # fmt: skip
    task_id = create_task(body).json()["id"]
    assert run_once() == 0
    task = get_task(api, task_id)
    assert [t["status"] for t in task["targets"]] == ["processing", "processing"]
    assert task["targets"][0]["duration"] == 2.0
    vocals, drums = SandboxTarget.objects.order_by("position")
    assert timezone.now() < vocals.ready_at < drums.ready_at
    SandboxTarget.objects.filter(pk=vocals.pk).update(ready_at=timezone.now())
    assert run_once() == 1
    task = get_task(api, task_id)
    assert [t["status"] for t in task["targets"]] == ["completed", "processing"]
    assert task["completedAt"] is None


def test_high_speed_finishes_in_one_run(api, create_task, song, settings):
    """A high SANDBOX_SPEED makes targets due as soon as they are measured."""
    settings.SANDBOX_SPEED = 1e6
    body = {"assetId": song, "targets": [{"model": "vocals", "formats": ["wav"]}]}
    task_id = create_task(body).json()["id"]
    assert run_once() == 1
    assert get_task(api, task_id)["targets"][0]["status"] == "completed"


def test_processing_time_grows_with_length_and_model():
    """Longer media, slower models and later targets take longer."""
    short = processing_seconds(duration=60, model="vocals")
    assert processing_seconds(duration=600, model="vocals") > short
    assert processing_seconds(duration=60, model="multi_voice") > short
    assert processing_seconds(duration=60, model="vocals", variant="high_quality") > short
    assert processing_seconds(duration=60, model="vocals", position=3) > short
    assert processing_seconds(duration=60, model="transcription") < short


@pytest.mark.parametrize("how", ["instant", "fast"])
def test_source_is_decoded_once_per_task(api, create_task, song, monkeypatch, settings, how):
    """Three targets on one task decode its source once in a run (measured and finished in
    the same run, by the instant switch or a high SANDBOX_SPEED)."""
    if how == "instant":
        faults_update(changes={"instant": True})
    else:
        settings.SANDBOX_SPEED = 1e6
    calls = []
    real = dsp.read_audio

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(worker.dsp, "read_audio", counting)
    targets = [{"model": m, "formats": ["wav"]} for m in ("vocals", "drums", "bass")]
    create_task({"assetId": song, "targets": targets})
    assert run_once() == 3
    assert len(calls) == 1


def test_claimed_targets_are_left_to_their_worker(create_task, song, instant):
    """A target another worker claimed is not processed until the claim lapses."""
    create_task({"assetId": song, "targets": [{"model": "vocals", "formats": ["wav"]}]})
    SandboxTarget.objects.update(claimed_until=timezone.now() + timedelta(minutes=5))
    assert run_once() == 0
    SandboxTarget.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert run_once() == 1


def run_error_pattern(create_task, song) -> list[str]:
    from sandbox.faults import faults_reset

    faults_reset()
    faults_update(changes={"instant": True, "target_error_rate": 0.5, "target_error_seed": 3})
    models = ["vocals", "drums", "bass", "guitar", "piano", "strings", "wind", "keys"]
    targets = [{"model": m, "formats": ["wav"]} for m in models]
    task_id = create_task({"assetId": song, "targets": targets}).json()["id"]
    run_once()
    return list(
        SandboxTarget.objects.filter(task_id=task_id)
        .order_by("position")
        .values_list("status", flat=True)
    )


def test_target_error_rate_is_deterministic_for_a_seed(create_task, song):
    """The same seed gives the same errors; about the rate's share of targets fail."""
    first = run_error_pattern(create_task, song)
    second = run_error_pattern(create_task, song)
    assert first == second
    assert 0 < first.count("error") < len(first)
    message = SandboxTarget.objects.filter(status="error").values_list("error_message", flat=True)
    assert set(message) == {"Processing failed (injected by the sandbox)"}


def test_target_error_rate_one_fails_everything(api, create_task, song, instant):
    """A rate of 1 fails every target with code 500."""
    faults_update(changes={"target_error_rate": 1.0})
    body = {"assetId": song, "targets": [{"model": "vocals", "formats": ["wav"]}]}
    task_id = create_task(body).json()["id"]
    run_once()
    assert get_task(api, task_id)["targets"][0]["error"]["code"] == 500


def test_completion_takes_credits(create_task, song, instant):
    """Charged costs come off a limited credit balance."""
    faults_update(changes={"credits_balance": Decimal(5)})
    targets = [{"model": "vocals", "formats": ["wav"], "variant": "high_quality"}]
    create_task({"assetId": song, "targets": targets})
    run_once()
    assert fault_config().credits_balance == Decimal("3.5")


def test_run_once_purges_expired_assets(upload):
    """Expired assets and their files are deleted by the worker."""
    asset_id = upload().json()["id"]
    asset = SandboxAsset.objects.get(pk=asset_id)
    SandboxAsset.objects.filter(pk=asset_id).update(expires_at=timezone.now())
    run_once()
    assert not SandboxAsset.objects.exists()
    assert not asset.file_path.exists()


def test_command_once(create_task, song, instant):
    """`sandbox_worker --once` makes one pass and reports what it finished."""
    create_task({"assetId": song, "targets": [{"model": "vocals", "formats": ["wav"]}]})
    out = io.StringIO()
    call_command("sandbox_worker", "--once", stdout=out)
    assert "1 target(s) finished" in out.getvalue()
    assert SandboxTarget.objects.get().status == "completed"


def database_url(alias: str) -> str:
    config = connections[alias].settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    return (
        f"postgres://{config['USER']}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}"
        f"/{config['NAME']}"
    )


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_command_stops_cleanly_on_sigterm(tmp_path):
    """The long-running worker exits 0 after SIGTERM, saying it stopped."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url("default"),
        "SANDBOX_DATABASE_URL": database_url("sandbox"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox_worker", "--sleep", "0.2"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "sandbox worker: started"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip().endswith("sandbox worker: stopped")


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_url_source_is_downloaded(api, create_task, upload, live_server, instant):
    """A url source is fetched over HTTP (here the live server's own asset link, on localhost)
    and processed like an uploaded one; the downloaded copy is removed afterwards."""
    content = wav_bytes(seconds=1.5, rate=8000)
    link = upload("remote.wav", content).json()["link"]
    url = live_server.url + link.removeprefix("http://testserver")
    task_id = create_task({"url": url, "targets": [{"model": "bass", "formats": ["wav"]}]})
    assert run_once() == 1
    (target,) = get_task(api, task_id.json()["id"])["targets"]
    assert target["status"] == "completed"
    assert target["duration"] == 1.5
    assert not any((Path(settings.MEDIA_ROOT) / "sandbox" / "sources").iterdir())


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_unreachable_url_source_fails_its_targets(api, create_task, live_server, instant):
    """A url that answers 404 fails the task's targets with the real API's message."""
    url = f"{live_server.url}/sandbox/files/nope/missing.wav"
    task_id = create_task({"url": url, "targets": [{"model": "bass", "formats": ["wav"]}]})
    assert run_once() == 1
    (target,) = get_task(api, task_id.json()["id"])["targets"]
    assert target["error"] == {"code": 400, "message": "Error fetching or processing asset"}


def test_source_longer_than_the_model_limit_fails_that_target(api, create_task, upload, instant):
    """A source past the model's maxInputDurationSeconds (45 min for transcription) fails the
    target with a message giving both lengths. (A 1 Hz WAV keeps the file tiny.)"""
    asset_id = upload("long.wav", wav_bytes(seconds=2701, rate=1, channels=1)).json()["id"]
    body = {"assetId": asset_id, "targets": [{"model": "transcription", "formats": ["json"]}]}
    task_id = create_task(body).json()["id"]
    assert run_once() == 1
    (target,) = get_task(api, task_id)["targets"]
    assert target["error"] == {
        "code": 400,
        "message": "The source is 2701 s long; transcription accepts at most 2700 s",
    }
    assert target["duration"] == 2701
    assert target["cost"] == 0
