"""The mix is the weighted sum of the stems: sample for sample in WAV and FLAC (within the
24-bit quantisation), duration and signal in MP3; rendered in blocks; refused with a message
when it cannot be done as asked; clipping reported, normalising only when asked."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listening.render import BLOCK_FRAMES, NORMALISE_PEAK, MixProblem, StemSource, mix_render
from tests.listening.conftest import RATE, STEMS, read, sine, weighted_sum

LSB_24 = 1 / 2**23
HALF = 10 ** (-6.0206 / 20)  # 0.5
MINUS_6 = 10 ** (-6 / 20)


def source(name: str, data: bytes, gain: float, pan: float = 0.0) -> StemSource:
    return StemSource(label=name, open=lambda: io.BytesIO(data), gain=gain, pan=pan)


def two_stems() -> list[StemSource]:
    return [source("vocals", STEMS["vocals"], HALF), source("drums", STEMS["drums"], MINUS_6)]


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_mix_equals_the_weighted_sum(tmp_path: Path, fmt: str) -> None:
    """WAV and FLAC: every sample is 0.5 x vocals + (-6 dB) x drums, within 1.5 LSB of 24 bits."""
    path = tmp_path / f"mix.{fmt}"
    result = mix_render(two_stems(), path=str(path), fmt=fmt)
    expected = weighted_sum([(STEMS["vocals"], HALF), (STEMS["drums"], MINUS_6)])
    got = read(path.read_bytes())
    assert sf.info(str(path)).format == fmt.upper()
    assert sf.info(str(path)).subtype == "PCM_24"
    assert got.shape == (3 * RATE, 1)
    assert result.frames == 3 * RATE > 2 * BLOCK_FRAMES  # more than two blocks
    assert np.max(np.abs(got[:, 0] - expected)) <= 1.5 * LSB_24
    assert result.clipped_samples == 0
    assert result.peak == pytest.approx(np.max(np.abs(expected)), abs=1e-9)
    # The drums end after 2 s: from there on the mix is the vocals alone.
    assert np.max(np.abs(got[2 * RATE :, 0] - HALF * read(STEMS["vocals"])[2 * RATE :, 0])) <= (
        1.5 * LSB_24
    )


def test_mp3_mix_has_the_duration_and_a_signal(tmp_path: Path) -> None:
    """MP3 (lossy): as long as the longest stem (give or take the encoder's padding), and not
    silent: its level is about the weighted sum's."""
    path = tmp_path / "mix.mp3"
    mix_render(two_stems(), path=str(path), fmt="mp3")
    info = sf.info(str(path))
    assert info.format == "MP3"
    assert info.duration == pytest.approx(3.0, abs=0.1)
    got = read(path.read_bytes())[:, 0]
    expected = weighted_sum([(STEMS["vocals"], HALF), (STEMS["drums"], MINUS_6)])
    rms = float(np.sqrt(np.mean(got**2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(expected**2))), rel=0.1)


def test_centred_pan_keeps_the_sum_and_a_hard_pan_moves_the_stem(tmp_path: Path) -> None:
    """A pan makes the mix stereo: the vocals panned hard left are only in the left channel,
    the centred drums in both at their gain."""
    path = tmp_path / "mix.wav"
    stems = [
        source("vocals", STEMS["vocals"], HALF, pan=-1.0),
        source("drums", STEMS["drums"], HALF),
    ]
    result = mix_render(stems, path=str(path), fmt="wav")
    got = read(path.read_bytes())
    vocals, drums = read(STEMS["vocals"])[:, 0], read(STEMS["drums"])[:, 0]
    assert result.channels == 2
    padded = np.zeros(len(vocals))
    padded[: len(drums)] = drums
    assert np.max(np.abs(got[:, 0] - HALF * (vocals + padded))) <= 1.5 * LSB_24
    assert np.max(np.abs(got[:, 1] - HALF * padded)) <= 1.5 * LSB_24


def test_a_mix_that_clips_is_clipped_and_counted(tmp_path: Path) -> None:
    """+12 dB on both stems goes beyond full scale: the file holds full scale there, and the
    result counts the clipped samples and the peak before clipping."""
    path = tmp_path / "mix.wav"
    stems = [source("vocals", STEMS["vocals"], 4.0), source("drums", STEMS["drums"], 4.0)]
    result = mix_render(stems, path=str(path), fmt="wav")
    got = read(path.read_bytes())[:, 0]
    expected = weighted_sum([(STEMS["vocals"], 4.0), (STEMS["drums"], 4.0)])
    assert result.clipped_samples == int(np.count_nonzero(np.abs(expected) > 1.0)) > 0
    assert result.peak > 4
    assert np.max(np.abs(got)) == pytest.approx(1.0, abs=LSB_24)


def test_normalise_scales_to_minus_one_dbfs_only_when_asked(tmp_path: Path) -> None:
    """Asked to normalise, the same hot mix is scaled down to a -1 dBFS peak, unclipped: the
    weighted sum times one factor."""
    path = tmp_path / "mix.flac"
    stems = [source("vocals", STEMS["vocals"], 4.0), source("drums", STEMS["drums"], 4.0)]
    result = mix_render(stems, path=str(path), fmt="flac", normalise=True)
    expected = weighted_sum([(STEMS["vocals"], 4.0), (STEMS["drums"], 4.0)])
    got = read(path.read_bytes())[:, 0]
    assert result.clipped_samples == 0
    assert result.scale == pytest.approx(NORMALISE_PEAK / np.max(np.abs(expected)))
    assert np.max(np.abs(got - expected * result.scale)) <= 1.5 * LSB_24


def test_progress_is_reported_up_to_the_end(tmp_path: Path) -> None:
    """Progress goes up block by block and ends at 1 (two passes when normalising)."""
    seen: list[float] = []
    mix_render(two_stems(), path=str(tmp_path / "m.wav"), fmt="wav", progress=seen.append)
    assert seen == sorted(seen)
    assert len(seen) == 3
    assert seen[-1] == 1.0
    seen.clear()
    mix_render(
        two_stems(), path=str(tmp_path / "n.wav"), fmt="wav", normalise=True, progress=seen.append
    )
    assert len(seen) == 6
    assert seen[2] == 0.5
    assert seen[-1] == 1.0


def test_stems_of_different_rates_are_refused_with_a_message(tmp_path: Path) -> None:
    """No resampling: stems at 44.1 and 48 kHz are refused, naming both rates."""
    stems = [
        source("vocals", STEMS["vocals"], 1.0),
        source("drums", sine(660, 1.0, 0.5, rate=48000), 1.0),
    ]
    with pytest.raises(MixProblem, match=r"vocals 44100 Hz; drums 48000 Hz.*resampling"):
        mix_render(stems, path=str(tmp_path / "m.wav"), fmt="wav")
    assert not (tmp_path / "m.wav").exists()


@pytest.mark.parametrize(
    ("stems", "fmt", "message"),
    [
        ([], "wav", "at least one stem"),
        ([source("vocals", STEMS["vocals"], 1.0)], "ogg", "Unknown format"),
        ([source("vocals", b"not audio at all", 1.0)], "wav", "vocals could not be read"),
    ],
    ids=["no stems", "unknown format", "not audio"],
)
def test_what_cannot_be_mixed_gets_a_message(
    tmp_path: Path, stems: list[StemSource], fmt: str, message: str
) -> None:
    """No stems, an unknown format or a file that is not audio: `MixProblem` says which."""
    with pytest.raises(MixProblem, match=message):
        mix_render(stems, path=str(tmp_path / "m.wav"), fmt=fmt)
