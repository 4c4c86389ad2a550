"""The sandbox's audio processing: separation quality on known sources, codecs, text outputs.

No database: these call ``sandbox.dsp`` directly on synthetic signals (tests/sandbox/synth.py).
Run with ``-s`` to see the SDR figures.
"""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sandbox import audio_io, containers, dsp, masks, speakers, spectra, textout
from tests.sandbox import synth

RATE = synth.RATE
# sandbox.dsp and the modules it is built from (it re-exports their public names)
DSP_MODULES = (containers, audio_io, spectra, masks, speakers, dsp)


@pytest.fixture(scope="module")
def song() -> synth.Song:
    return synth.song(seconds=8.0)


@pytest.fixture(scope="module")
def song_audio(song: synth.Song) -> dsp.Audio:
    return dsp.Audio(song.mixture, song.sample_rate)


def stereo(mono: np.ndarray) -> np.ndarray:
    return np.stack([mono, mono], axis=1).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --------------------------------------------------------------------------------------------
# Separation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "variant"),
    [("vocals", None), ("vocals", "high_quality"), ("drums", None), ("bass", None)],
)
def test_stem_is_closer_to_its_source_than_the_mixture(
    song: synth.Song, song_audio: dsp.Audio, model: str, variant: str | None
) -> None:
    """The vocals, drums and bass stems have a clearly higher SDR than the mixture has."""
    source = song.sources[model]
    stems = dsp.separate(model, song_audio, variant=variant)
    before = synth.sdr(source, song.mixture)
    after = synth.sdr(source, stems[model])
    print(f"\nSDR {model} ({variant or 'default'}): mixture {before:.2f} dB, stem {after:.2f} dB")
    assert after > before + 6.0


def test_instrumental_is_closer_to_the_accompaniment_than_the_mixture(
    song: synth.Song, song_audio: dsp.Audio
) -> None:
    """instrumental = mixture - vocals estimate: better than the mixture as the accompaniment."""
    accompaniment = song.mixture - song.sources["vocals"]
    stems = dsp.separate("instrumental", song_audio)
    before = synth.sdr(accompaniment, song.mixture)
    after = synth.sdr(accompaniment, stems["instrumental"])
    print(f"\nSDR instrumental: mixture {before:.2f} dB, stem {after:.2f} dB")
    assert after > before + 3.0


@pytest.mark.parametrize("model", dsp.STEM_MODELS)
def test_stems_are_audible_and_add_up_to_the_mixture(song_audio: dsp.Audio, model: str) -> None:
    """Every model gives non-silent stems shaped like the input; stems + residual == mixture."""
    stems = dsp.separate(model, song_audio)
    assert "residual" in stems
    expected = {"multi_voice": {"speaker_1", "speaker_2"}}.get(model, {model})
    assert set(stems) - {"residual"} == expected
    for name, stem in stems.items():
        assert stem.shape == song_audio.samples.shape
        assert stem.dtype == np.float32
        assert rms(stem) > 0.01 * rms(song_audio.samples), f"{name} is silent"
    total = sum(stems.values())
    assert np.allclose(total, song_audio.samples, atol=1e-5)


def test_stems_of_a_mono_file_stay_mono(song: synth.Song) -> None:
    """Mono input gives mono stems (no centre cue: the harmonic and band masks still apply)."""
    mono = dsp.Audio(song.mixture.mean(axis=1, keepdims=True), RATE)
    stems = dsp.separate("vocals", mono)
    assert stems["vocals"].shape == (len(song.mixture), 1)
    assert synth.sdr(song.sources["vocals"][:, :1], stems["vocals"]) > synth.sdr(
        song.sources["vocals"][:, :1], mono.samples
    )


def test_block_boundaries_leave_no_trace(
    song_audio: dsp.Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processing in 2-second blocks gives the same stems as one block (hop-aligned frames)."""
    whole = dsp.separate("vocals", song_audio)["vocals"]
    original = dsp._params

    def small_blocks(rate: int, *, high_quality: bool = False) -> dsp._Params:
        p = original(rate, high_quality=high_quality)
        return dataclasses.replace(p, block=2 * p.margin)

    monkeypatch.setattr(dsp, "_params", small_blocks)
    blocked = dsp.separate("vocals", song_audio)["vocals"]
    assert np.abs(blocked - whole).max() < 1e-5


def test_a_file_shorter_than_one_frame_is_processed() -> None:
    """A few milliseconds of audio still give stems of the same length."""
    short = dsp.Audio(np.full((100, 2), 0.1, dtype=np.float32), RATE)
    stems = dsp.separate("drums", short)
    assert stems["drums"].shape == (100, 2)
    assert np.allclose(stems["drums"] + stems["residual"], short.samples, atol=1e-6)


def test_unknown_models_and_variants_are_refused(song_audio: dsp.Audio) -> None:
    """Text models, unknown models and unknown variants raise UnsupportedModel (a DspError)."""
    with pytest.raises(dsp.UnsupportedModel, match="text model"):
        dsp.separate("transcription", song_audio)
    with pytest.raises(dsp.UnsupportedModel, match="not a known model"):
        dsp.separate("kazoo", song_audio)
    with pytest.raises(dsp.DspError, match="no variant 'high_quality'"):
        dsp.separate("drums", song_audio, variant="high_quality")


# --------------------------------------------------------------------------------------------
# Speech models
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    return synth.speech(seconds=8.0, f0=130.0)


def test_speech_denoise_removes_noise(talk: np.ndarray) -> None:
    """White noise at 5 dB SNR: the denoised speech is closer to the clean speech."""
    noise = np.random.default_rng(1).standard_normal(len(talk)).astype(np.float32)
    noise *= rms(talk) / rms(noise) * 10 ** (-5 / 20)
    noisy = dsp.Audio((talk + noise)[:, None], RATE)
    cleaned = dsp.separate("speech_denoise", noisy)["speech_denoise"][:, 0]
    before, after = synth.sdr(talk, talk + noise), synth.sdr(talk, cleaned)
    print(f"\nSDR speech_denoise: noisy {before:.2f} dB, stem {after:.2f} dB")
    assert after > before + 3.0


def test_speech_dereverb_removes_the_late_tail(talk: np.ndarray) -> None:
    """A room with T60 = 0.8 s: the dereverberated speech is closer to the dry speech."""
    wet = synth.reverberate(talk, t60=0.8)
    dry = dsp.separate("speech_dereverb", dsp.Audio(wet[:, None], RATE))["speech_dereverb"]
    before, after = synth.sdr(talk, wet), synth.sdr(talk, dry[:, 0])
    print(f"\nSDR speech_dereverb: reverberant {before:.2f} dB, stem {after:.2f} dB")
    assert after > before + 0.5


def test_dialogue_is_pulled_out_of_music(song: synth.Song) -> None:
    """Centred speech over a song without vocals: dialogue beats the mixture, music_fx too."""
    speech = synth.speech(seconds=8.0, f0=150.0, seed=21)
    speech = stereo(speech * 0.12 / rms(speech))
    music = song.mixture - song.sources["vocals"]
    mixture = dsp.Audio((music + speech).astype(np.float32), RATE)
    dialogue = dsp.separate("dialogue", mixture)["dialogue"]
    music_fx = dsp.separate("music_fx", mixture)["music_fx"]
    print(
        f"\nSDR dialogue: mixture {synth.sdr(speech, mixture.samples):.2f} dB, "
        f"stem {synth.sdr(speech, dialogue):.2f} dB"
    )
    assert synth.sdr(speech, dialogue) > synth.sdr(speech, mixture.samples) + 6.0
    assert synth.sdr(music, music_fx) > synth.sdr(music, mixture.samples) + 3.0


def two_speakers(stereo_pan: bool) -> tuple[np.ndarray, np.ndarray]:
    """A low voice (110 Hz) and a high one (220 Hz) taking 2.5 s turns; mask of A's turns."""
    low = synth.speech(seconds=10.0, f0=110.0, seed=11)
    high = synth.speech(seconds=10.0, f0=220.0, seed=12)
    turn_a = (np.arange(len(low)) / RATE) % 5.0 < 2.5
    a, b = np.where(turn_a, low, 0), np.where(turn_a, 0, high)
    if stereo_pan:  # A on the left, B on the right, each a little in the other channel
        mixture = np.stack([0.9 * a + 0.3 * b, 0.3 * a + 0.9 * b], axis=1)
    else:
        mixture = (a + b)[:, None]
    return mixture.astype(np.float32), turn_a


@pytest.mark.parametrize("stereo_pan", [False, True], ids=["by-pitch", "by-pan"])
def test_multi_voice_gives_each_speaker_a_stem(stereo_pan: bool) -> None:
    """Two speakers in turns: each speaker stem holds one voice, 20 dB above the other."""
    mixture, turn_a = two_speakers(stereo_pan)
    stems = dsp.separate("multi_voice", dsp.Audio(mixture, RATE))
    energy = {
        name: (np.sum(stems[name][turn_a] ** 2), np.sum(stems[name][~turn_a] ** 2))
        for name in ("speaker_1", "speaker_2")
    }
    # speaker_1 is the lower voice (by pitch) or the left one (by pan): both are A
    assert energy["speaker_1"][0] > 100 * energy["speaker_1"][1]
    assert energy["speaker_2"][1] > 100 * energy["speaker_2"][0]


def test_multi_voice_n_speaker_counts_the_voices() -> None:
    """n_speaker finds two voices in a two-voice file and one in a one-voice file."""
    mixture, _ = two_speakers(stereo_pan=False)
    two = dsp.separate("multi_voice", dsp.Audio(mixture, RATE), variant="n_speaker")
    one_voice = synth.speech(seconds=10.0, f0=140.0)[:, None]
    one = dsp.separate("multi_voice", dsp.Audio(one_voice, RATE), variant="n_speaker")
    assert sorted(two) == ["residual", "speaker_1", "speaker_2"]
    assert sorted(one) == ["residual", "speaker_1"]


# --------------------------------------------------------------------------------------------
# Reading and writing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "bit_depth", "channels", "rate"),
    [
        ("wav", 16, 2, 44100),
        ("wav", 24, 1, 48000),
        ("flac", 16, 2, 44100),
        ("flac", 24, 2, 96000),
        ("aiff", 16, 2, 22050),
        ("aiff", 24, 1, 44100),
        ("mp3", 16, 2, 44100),
        ("mp3", 16, 1, 32000),
    ],
)
def test_written_audio_reads_back(
    tmp_path: Path, fmt: str, bit_depth: int, channels: int, rate: int
) -> None:
    """write_audio then read_audio keeps the sample rate, channels, duration and the signal."""
    t = np.arange(int(2.5 * rate)) / rate
    tone = 0.4 * np.sin(2 * np.pi * 330 * t) * np.sin(np.pi * t / 2.5)
    samples = np.stack([tone, 0.5 * tone][:channels], axis=1).astype(np.float32)
    path = tmp_path / f"stem.{fmt}"
    dsp.write_audio(path, samples, rate, fmt, bit_depth=bit_depth)
    back = dsp.read_audio(path)
    assert back.sample_rate == rate
    assert back.channels == channels
    assert back.duration == pytest.approx(2.5, abs=0.001)
    assert dsp.probe_duration(path) == pytest.approx(2.5, abs=0.001)
    correlation = np.corrcoef(samples[:, 0], back.samples[:, 0])[0, 1]
    assert correlation > (0.99 if fmt == "mp3" else 0.9999)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left


def test_mp3_from_a_high_rate_source_is_resampled(tmp_path: Path) -> None:
    """MPEG audio stops at 48 kHz: a 96 kHz stem becomes a 48 kHz mp3 of the same length."""
    samples = np.zeros((96000, 2), dtype=np.float32)
    samples[::100] = 0.5
    dsp.write_audio(tmp_path / "hi.mp3", samples, 96000, "mp3")
    back = dsp.read_audio(tmp_path / "hi.mp3")
    assert back.sample_rate == 48000
    assert back.duration == pytest.approx(1.0, abs=0.001)


def test_writing_clips_instead_of_wrapping(tmp_path: Path) -> None:
    """Samples beyond full scale are clipped (PCM would wrap them to the other sign)."""
    loud = np.array([[2.0], [-3.0], [0.5], [np.nan]], dtype=np.float32)
    dsp.write_audio(tmp_path / "loud.wav", loud, RATE, "wav")
    back = dsp.read_audio(tmp_path / "loud.wav").samples[:, 0]
    assert back[0] == pytest.approx(1.0, abs=1e-4)
    assert back[1] == pytest.approx(-1.0, abs=1e-4)
    assert back[2] == pytest.approx(0.5, abs=1e-4)
    assert back[3] == 0.0


@pytest.mark.parametrize("fmt", ["mp4", "ogg", "aac"])
def test_formats_the_sandbox_cannot_write_are_refused(tmp_path: Path, fmt: str) -> None:
    """mp4 (and anything else outside wav/flac/aiff/mp3) raises UnsupportedOutputFormat."""
    with pytest.raises(dsp.UnsupportedOutputFormat, match=f"cannot write '{fmt}'"):
        dsp.write_audio(tmp_path / f"x.{fmt}", np.zeros((10, 2)), RATE, fmt)
    assert not list(tmp_path.iterdir())


def test_ogg_vorbis_is_decoded(tmp_path: Path) -> None:
    """OGG input decodes (libsndfile's Vorbis)."""
    sf.write(tmp_path / "in.ogg", np.zeros((RATE, 2)), RATE, format="OGG", subtype="VORBIS")
    audio = dsp.read_audio(tmp_path / "in.ogg")
    assert audio.channels == 2
    assert audio.duration == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is a text file, not audio\n" * 20, "Format not recognised"),
        (b"", "Format not recognised"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "Could not decode"),
    ],
    ids=["text-renamed", "zero-bytes", "truncated-header"],
)
def test_undecodable_files_raise_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """Text renamed to .wav, an empty file and a cut-off header raise UndecodableAudio."""
    path = tmp_path / "song.wav"
    path.write_bytes(content)
    with pytest.raises(dsp.UndecodableAudio, match=message) as caught:
        dsp.read_audio(path)
    assert str(tmp_path) not in caught.value.message  # no server paths in user messages
    with pytest.raises(dsp.UndecodableAudio):
        dsp.probe_duration(path)


def test_files_without_samples_or_with_surround_are_refused(tmp_path: Path) -> None:
    """A WAV with no frames, a 6-channel WAV and a missing file raise UndecodableAudio."""
    sf.write(tmp_path / "empty.wav", np.zeros((0, 2)), RATE)
    sf.write(tmp_path / "surround.wav", np.zeros((100, 6)), RATE)
    with pytest.raises(dsp.UndecodableAudio, match="no audio samples"):
        dsp.read_audio(tmp_path / "empty.wav")
    with pytest.raises(dsp.UndecodableAudio, match="6 channels"):
        dsp.read_audio(tmp_path / "surround.wav")
    with pytest.raises(dsp.UndecodableAudio, match="does not exist"):
        dsp.read_audio(tmp_path / "missing.wav")


# --------------------------------------------------------------------------------------------
# Text outputs
# --------------------------------------------------------------------------------------------


def test_transcription_json_has_the_documented_shape(talk: np.ndarray) -> None:
    """{text, lines[{text, start, end, words[{text, start, end}]}], metadata{language, ...}}."""
    audio = dsp.Audio(stereo(talk), RATE)
    document = json.loads(textout.text_output("transcription", audio, "json", language="de"))
    assert set(document) == {"text", "lines", "metadata"}
    assert document["metadata"] == {
        "language": "de",
        "generator": "shakeweb sandbox (not a real transcription)",
    }
    assert document["lines"], "speech should give lines"
    assert document["text"] == "\n".join(line["text"] for line in document["lines"])
    previous_end = 0.0
    for line in document["lines"]:
        assert line["text"].startswith("[sandbox] la")
        assert line["words"]
        assert line["start"] == line["words"][0]["start"]
        assert line["end"] == line["words"][-1]["end"]
        for word in line["words"]:
            assert word["text"] == "la"
            assert previous_end <= word["start"] < word["end"] <= audio.duration
            previous_end = word["end"]


def test_transcript_timings_follow_the_voice(talk: np.ndarray) -> None:
    """Lines cover the spoken parts and leave out the pauses (energy-based voice activity)."""
    audio = dsp.Audio(talk[:, None], RATE)
    document = json.loads(textout.text_output("alignment", audio, "json"))
    times = np.arange(len(talk)) / RATE
    envelope = np.convolve(np.abs(talk), np.ones(441) / 441, "same")
    speaking = envelope > 0.05 * envelope.max()
    covered = np.zeros(len(talk), dtype=bool)
    for line in document["lines"]:
        for word in line["words"]:
            covered |= (times >= word["start"]) & (times < word["end"])
    assert np.mean(covered[speaking]) > 0.85  # most speech is inside a word
    assert np.mean(covered[~speaking]) < 0.5  # most silence is not
    words = sum(len(line["words"]) for line in document["lines"])
    assert 0.5 * 8.0 < words < 8.0 * 8.0  # syllable-ish words, not one per frame


def test_transcription_srt_and_txt(talk: np.ndarray) -> None:
    """SRT cues are numbered, in order, within the audio; TXT has one marked line per line."""
    audio = dsp.Audio(talk[:, None], RATE)
    lines = json.loads(textout.text_output("transcription", audio, "json"))["lines"]
    srt = textout.text_output("transcription", audio, "srt")
    cues = re.findall(
        r"^(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)$",
        srt,
        flags=re.MULTILINE,
    )
    assert len(cues) == len(lines)
    previous = 0.0
    for number, cue in enumerate(cues, start=1):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(v) for v in cue[1:9])
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert int(cue[0]) == number
        assert previous <= start < end <= audio.duration + 0.001
        assert cue[9].startswith("[sandbox]")
        previous = end
    txt = textout.text_output("transcription", audio, "txt")
    assert txt.splitlines() == [line["text"] for line in lines]


def test_transcription_of_silence_says_so() -> None:
    """Silence gives no lines in JSON and a marked notice in SRT and TXT."""
    audio = dsp.Audio(np.zeros((RATE * 3, 2), dtype=np.float32), RATE)
    document = json.loads(textout.text_output("transcription", audio, "json"))
    assert document["lines"] == []
    assert document["text"] == ""
    assert "[sandbox] no voice activity" in textout.text_output("transcription", audio, "srt")
    assert textout.text_output("transcription", audio, "txt").startswith("[sandbox]")


def test_music_detection_finds_the_music_interval(song: synth.Song, talk: np.ndarray) -> None:
    """10 s of speech, 10 s of song, 10 s of silence: only 10-20 s is returned as music."""
    speech = stereo(talk * 0.1)
    music = np.tile(song.mixture, (2, 1))[: 10 * RATE]
    silence = np.zeros((10 * RATE, 2), dtype=np.float32)
    speech = np.concatenate([speech, speech])[: 10 * RATE]
    audio = dsp.Audio(np.concatenate([speech, music, silence]), RATE)
    items = json.loads(textout.text_output("music_detection", audio, "json"))
    assert [(i["start_time"], i["end_time"]) for i in items] == [(10.0, 20.0)]
    assert 0.5 <= items[0]["confidence"] <= 1.0
    assert set(items[0]) == {"start_time", "end_time", "confidence", "generator"}
    txt = textout.text_output("music_detection", audio, "txt")
    assert txt.splitlines()[0].startswith("# shakeweb sandbox")
    assert "00:00:10.000 --> 00:00:20.000  music" in txt


def test_music_detection_merges_adjacent_intervals(song: synth.Song) -> None:
    """25 s of music is one item from 0 to 25 s (the last interval is shorter)."""
    music = np.tile(song.mixture, (4, 1))[: 25 * RATE]
    items = json.loads(textout.text_output("music_detection", dsp.Audio(music, RATE), "json"))
    assert [(i["start_time"], i["end_time"]) for i in items] == [(0.0, 25.0)]


def test_music_detection_of_speech_and_noise_is_empty(talk: np.ndarray) -> None:
    """Speech and steady noise are not music."""
    noise = 0.05 * np.random.default_rng(2).standard_normal((len(talk), 2)).astype(np.float32)
    for samples in (stereo(talk * 0.1), noise):
        audio = dsp.Audio(samples, RATE)
        assert json.loads(textout.text_output("music_detection", audio, "json")) == []
        assert "no music detected" in textout.text_output("music_detection", audio, "txt")


@pytest.mark.parametrize(
    ("model", "fmt"),
    [("transcription", "wav"), ("alignment", "pdf"), ("music_detection", "srt")],
)
def test_text_formats_outside_the_model_are_refused(
    song_audio: dsp.Audio, model: str, fmt: str
) -> None:
    """A format the model does not offer raises UnsupportedOutputFormat."""
    with pytest.raises(dsp.UnsupportedOutputFormat, match=f"not '{fmt}'"):
        textout.text_output(model, song_audio, fmt)


def test_text_output_refuses_audio_models(song_audio: dsp.Audio) -> None:
    """Asking an audio model for text raises UnsupportedModel."""
    with pytest.raises(dsp.UnsupportedModel):
        textout.text_output("vocals", song_audio, "json")


def test_dsp_never_imports_textout() -> None:
    """The text outputs live in textout, which builds on dsp; dsp and the modules it is built
    from import no sandbox module but each other (so never textout)."""
    import ast

    for module in DSP_MODULES:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {
            alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        outside = [
            name
            for name in imported
            if name.startswith(("sandbox", "None."))
            and not name.startswith(tuple(f"{m.__name__}." for m in DSP_MODULES))
            and name not in {m.__name__ for m in DSP_MODULES}
        ]
        assert not outside, f"{module.__name__} imports {outside}"
    assert not hasattr(dsp, "text_output")
