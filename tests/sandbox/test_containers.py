"""AAC, M4A, MP4 and MOV through PyAV: decoding to the mixture they hold, telling video from
audio-only, the `mp4` output (the video copied packet for packet, the stem as AAC, in the
source's container family), and the padded-file threshold."""

from pathlib import Path

import numpy as np
import pytest

from sandbox import dsp
from sandbox.uploads import PADDING_THRESHOLD, content_matches, starts_with_padding
from tests.sandbox import avmedia, synth

KINDS = ["aac", "m4a", "mp4", "mov"]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {kind: avmedia.write_media(folder / "song", kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_containers_decode_to_the_mixture_they_hold(media, kind):
    """Each container decodes to 3 s of stereo at 44.1 kHz at the mixture's level (PCM in MOV
    to the sample, AAC within its coding error)."""
    audio = dsp.read_audio(media[kind])
    mixture = synth.song(seconds=3.0).mixture
    assert audio.sample_rate == synth.RATE
    assert audio.channels == 2
    assert audio.duration == pytest.approx(3.0, abs=0.06)  # ADTS keeps the encoder's priming
    assert dsp.probe_duration(media[kind]) == pytest.approx(3.0, abs=0.06)
    assert rms(audio.samples) == pytest.approx(rms(mixture), rel=0.1)
    if kind == "mov":
        assert np.max(np.abs(audio.samples - np.clip(mixture, -1, 1))) < 1e-3


@pytest.mark.parametrize(("kind", "video"), [("aac", False), ("m4a", False), ("mp4", True)])
def test_has_video_tells_video_from_audio_only(media, kind, video, tmp_path):
    """MP4 and MOV have a video stream; AAC, M4A and WAV have none."""
    assert dsp.has_video(media[kind]) is video
    assert dsp.has_video(media["mov"]) is True
    dsp.write_audio(tmp_path / "a.wav", np.zeros((100, 2)), 8000, "wav")
    assert dsp.has_video(tmp_path / "a.wav") is False


@pytest.mark.parametrize(("kind", "brand"), [("mp4", b"isom"), ("mov", b"qt  ")])
def test_mp4_output_copies_the_video_and_carries_the_stem(media, kind, brand, tmp_path):
    """write_video: the source's video packets byte for byte, the stem encoded as AAC for the
    stem's duration, in the source's container family (QuickTime for a MOV)."""
    audio = dsp.read_audio(media[kind])
    stem = dsp.separate("vocals", audio)["vocals"]
    out = tmp_path / "vocals.mp4"
    dsp.write_video(out, stem, audio.sample_rate, source=media[kind])
    assert out.read_bytes()[8:12] == brand
    durations = avmedia.streams(out)
    assert durations["video"] == pytest.approx(3.0, abs=0.15)
    assert durations["audio"] == pytest.approx(stem.shape[0] / audio.sample_rate, abs=0.06)
    assert avmedia.video_packets(out) == avmedia.video_packets(media[kind])
    back = dsp.read_audio(out)
    assert rms(back.samples) == pytest.approx(rms(stem), rel=0.15)
    assert rms(back.samples) < 0.9 * rms(audio.samples)  # the stem, not the mixture


@pytest.mark.parametrize("kind", ["aac", "m4a"])
def test_mp4_output_needs_a_source_video(media, kind, tmp_path):
    """An audio-only source has no video to put the stem back into: UnsupportedOutputFormat."""
    with pytest.raises(dsp.UnsupportedOutputFormat, match="no video stream"):
        dsp.write_video(tmp_path / "x.mp4", np.zeros((4410, 2)), 44100, source=media[kind])
    assert list(tmp_path.iterdir()) == []


def test_a_broken_container_is_undecodable(media, tmp_path):
    """An M4A cut after its first kilobyte, or with no audio track, is UndecodableAudio with a
    message naming the file."""
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(media["m4a"].read_bytes()[:1024])
    with pytest.raises(dsp.UndecodableAudio, match="cut.m4a"):
        dsp.read_audio(cut)


def test_padding_threshold_is_the_live_apis(tmp_path):
    """731 leading zero bytes or more is the padded-file failure; 730 is not."""
    assert PADDING_THRESHOLD == 731
    below, at = tmp_path / "below.mp3", tmp_path / "at.mp3"
    below.write_bytes(b"\0" * 730 + b"ID3\x04" + b"\1" * 64)
    at.write_bytes(b"\0" * 731 + b"ID3\x04" + b"\1" * 64)
    assert (starts_with_padding(below), starts_with_padding(at)) == (False, True)


def test_a_padded_mp4_still_sniffs_as_mp4(media, tmp_path):
    """Upload sniffing skips leading zeros even when they run into the first box's size."""
    padded = tmp_path / "padded.mp4"
    padded.write_bytes(b"\0" * 1000 + media["mp4"].read_bytes())
    assert content_matches("mp4", padded)
    assert not content_matches("wav", padded)
