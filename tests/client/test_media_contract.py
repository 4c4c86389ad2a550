"""The client against the live sandbox over real HTTP with every container AudioShake takes:
AAC, M4A, MP4 and MOV sources (made with PyAV at test time) give real stems, video sources
give `mp4` outputs (their video copied, the stem's audio), and the padded-MP3 failure starts
at the live API's threshold."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from jobs.audioshake import AudioShakeClient, TargetSpec, ValidationFailed
from sandbox import dsp
from sandbox.uploads import PADDING_THRESHOLD
from tests.client.test_contract import finish
from tests.sandbox import avmedia, synth

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

SECONDS = 3.0


def similarity(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Peak normalised cross-correlation of the mono downmixes within +-50 ms (AAC may shift
    the signal by its encoder delay)."""
    a, b = estimate.mean(axis=1), reference.mean(axis=1)
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    lags = correlate(a, b, mode="full", method="fft")
    middle, reach = n - 1, int(0.05 * synth.RATE)
    best = np.max(np.abs(lags[middle - reach : middle + reach + 1]))
    return float(best / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def download(api: AudioShakeClient, link: str, path: Path) -> Path:
    with path.open("wb") as f:
        api.download(link=link, fileobj=f, max_bytes=50_000_000)
    return path


@pytest.mark.parametrize("kind", ["aac", "m4a", "mp4", "mov"])
def test_each_container_gives_real_stems(api, sandbox, tmp_path, kind):
    """vocals and drums of an AAC/M4A/MP4/MOV source: non-silent WAV stems that differ from
    each other and follow their own source (the voice in vocals, the drums in drums); video
    sources also get an mp4 output with the video copied and the stem's audio."""
    sandbox.faults(instant=True)
    source = avmedia.write_media(tmp_path / "song", kind, seconds=SECONDS)
    video = kind in ("mp4", "mov")
    formats = ("wav", "mp4") if video else ("wav",)
    asset = api.upload_asset(path=source, filename=source.name)
    assert asset.format == kind
    created = api.create_task(
        targets=[TargetSpec("vocals", formats), TargetSpec("drums", formats)], asset_id=asset.id
    )
    task = finish(api, created.id)
    song = synth.song(seconds=SECONDS)
    stems = {}
    for target in task.targets:
        assert target.status == "completed", target.error
        assert target.duration == pytest.approx(SECONDS, abs=0.06)
        assert [o.format for o in target.output] == list(formats)
        wav = download(api, target.output[0].link, tmp_path / f"{target.model}.wav")
        samples, rate = sf.read(wav, dtype="float32", always_2d=True)
        assert rate == synth.RATE
        assert float(np.sqrt(np.mean(samples**2))) > 0.01  # not silence
        stems[target.model] = samples
        if video:
            mp4 = download(api, target.output[1].link, tmp_path / f"{target.model}.mp4")
            durations = avmedia.streams(mp4)
            assert set(durations) == {"video", "audio"}
            assert durations["audio"] == pytest.approx(target.duration, abs=0.06)
            assert avmedia.video_packets(mp4) == avmedia.video_packets(source)
            muxed = dsp.read_audio(mp4).samples
            assert similarity(muxed, samples) > 0.9  # the stem, not the mixture
    vocals, drums = stems["vocals"], stems["drums"]
    assert similarity(vocals, drums) < 0.8
    assert similarity(vocals, song.sources["vocals"]) > similarity(drums, song.sources["vocals"])
    assert similarity(drums, song.sources["drums"]) > similarity(vocals, song.sources["drums"])


def test_mp4_output_of_an_audio_only_source_is_a_target_error(api, sandbox, tmp_path):
    """An M4A has no video to put the stem back into: the mp4 target fails with 415 and says
    why; the wav target of the same task completes."""
    sandbox.faults(instant=True)
    source = avmedia.write_media(tmp_path / "song", "m4a", seconds=1.0)
    asset = api.upload_asset(path=source, filename=source.name)
    created = api.create_task(
        targets=[TargetSpec("bass", ("mp4",)), TargetSpec("drums", ("wav",))], asset_id=asset.id
    )
    bass, drums = finish(api, created.id).targets
    assert bass.status == "error"
    assert bass.error.code == 415
    assert "no video stream" in bass.error.message
    assert drums.status == "completed"


def mp3_bytes(seconds: float = 2.0) -> bytes:
    buffer = io.BytesIO()
    song = synth.song(seconds=seconds)
    sf.write(buffer, song.mixture, song.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    return buffer.getvalue()


def test_a_padded_mp3_fails_from_the_threshold_on(api, sandbox, tmp_path):
    """An MP3 after 731 zero bytes uploads, then POST /tasks answers 400 "Error fetching or
    processing asset"; after 730 it is processed into real stems."""
    sandbox.faults(instant=True)
    mp3 = mp3_bytes()
    padded = tmp_path / "padded.mp3"
    padded.write_bytes(b"\0" * PADDING_THRESHOLD + mp3)
    asset = api.upload_asset(path=padded, filename="padded.mp3")
    with pytest.raises(ValidationFailed, match="Error fetching or processing asset"):
        api.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset.id)
    below = tmp_path / "below.mp3"
    below.write_bytes(b"\0" * (PADDING_THRESHOLD - 1) + mp3)
    asset = api.upload_asset(path=below, filename="below.mp3")
    created = api.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset.id)
    (vocals,) = finish(api, created.id).targets
    assert vocals.status == "completed", vocals.error
    samples, _ = sf.read(download(api, vocals.output[0].link, tmp_path / "v.wav"))
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
