"""Content sniffing, probing and names (`jobs.audiofile`) and peaks (`jobs.peaks`), on real
files."""

import sys
from pathlib import Path

import pytest

from jobs import peaks
from jobs.audiofile import (
    AudioRejected,
    clean_display_name,
    download_name,
    probe,
    sanitise_name,
)
from jobs.peaks import compute_peaks
from tests.assets.media import encoded, fixture, protected_m4a, wav_bytes, with_pssh


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


ACCEPTED = [
    ("wav", lambda: wav_bytes(seconds=1.5, channels=2), 1.5, 2),
    ("aiff", lambda: encoded("AIFF", "PCM_24"), 1.0, 2),
    ("flac", lambda: encoded("FLAC", "PCM_16", channels=1), 1.0, 1),
    ("mp3", lambda: encoded("MP3", "MPEG_LAYER_III"), 1.0, 2),
    ("aac", lambda: fixture("tone.aac"), 1.0, 2),
    ("m4a", lambda: fixture("tone.m4a"), 1.0, 2),
    ("mp4", lambda: fixture("video.mp4"), 1.0, 2),
    ("mov", lambda: fixture("video.mov"), 1.0, 1),
]


@pytest.mark.parametrize(("fmt", "make", "seconds", "channels"), ACCEPTED)
def test_probe_reads_format_duration_and_channels(tmp_path, fmt, make, seconds, channels):
    """Every accepted format is recognised by content (under a misleading name) and probed."""
    info = probe(write(tmp_path, "misnamed.txt", make()))
    assert info.format == fmt
    assert info.duration_seconds == pytest.approx(seconds, abs=0.06)
    assert info.channels == channels
    assert info.sample_rate >= 8000


REJECTED = [
    ("empty", b"", "empty (0 bytes)"),
    ("text", b"These are my lyrics\nline two\n" * 20, "looks like a text file"),
    ("pdf", b"%PDF-1.7\n" + bytes(range(256)) * 4, "a PDF document"),
    ("random", bytes([0x00, 0x01, 0xFE, 0x80]) * 300, "no audio or video format"),
    ("ogg", encoded("OGG", "VORBIS"), "Ogg audio"),
    ("surround-wav", wav_bytes(seconds=0.2, channels=6), "6 channels (5.1 surround)"),
    ("surround-flac", encoded("FLAC", "PCM_16", channels=6), "6 channels (5.1 surround)"),
    ("surround-m4a", fixture("tone-5.1.m4a"), "6 channels (5.1 surround)"),
    ("quad-wav", wav_bytes(seconds=0.2, channels=4), "4 channels"),
    ("enca", protected_m4a(b"enca"), "DRM-protected"),
    ("drms", protected_m4a(b"drms"), "DRM-protected"),
    ("pssh", with_pssh(fixture("video.mp4")), "DRM-protected"),
    ("m4p", fixture("tone.m4a").replace(b"M4A ", b"M4P ", 1), "DRM-protected iTunes"),
    ("no-audio-track", fixture("silent-video.mp4"), "no audio track"),
    ("truncated-wav", wav_bytes()[:30], "cannot be read"),
    ("zero-padded-mp3", bytes(512) + encoded("MP3", "MPEG_LAYER_III"), "zero padding"),
]


@pytest.mark.parametrize(("case", "data", "message"), REJECTED, ids=[r[0] for r in REJECTED])
def test_probe_rejects_with_a_message(tmp_path, case, data, message):
    """Each bad input is refused with a message that says what is wrong."""
    with pytest.raises(AudioRejected) as caught:
        probe(write(tmp_path, f"{case}.wav", data))
    assert message in caught.value.message


def test_peaks_follow_the_loudness(tmp_path):
    """Peaks are absolute levels: a half-scale tone peaks near 0.5, silence near 0."""
    loud = probe_peaks(write(tmp_path, "loud.wav", wav_bytes(amplitude=0.5)))
    quiet = probe_peaks(write(tmp_path, "quiet.wav", wav_bytes(amplitude=0.05)))
    assert len(loud) == peaks.PEAK_BUCKETS
    assert min(loud) > 0.45
    assert max(loud) < 0.51
    assert max(quiet) < 0.06


def probe_peaks(path: Path) -> list[float]:
    return compute_peaks(path, probe(path).format)


def test_peaks_without_soundfile_match(tmp_path, monkeypatch):
    """Without soundfile installed, PCM WAV and AIFF peaks come from the standard library and
    agree with libsndfile's."""
    wav = write(tmp_path, "a.wav", wav_bytes(amplitude=0.3))
    aiff = write(tmp_path, "a.aiff", encoded("AIFF", "PCM_24"))
    expected = [compute_peaks(wav, "wav"), compute_peaks(aiff, "aiff")]
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    assert [compute_peaks(wav, "wav"), compute_peaks(aiff, "aiff")] == expected
    assert compute_peaks(write(tmp_path, "a.flac", encoded("FLAC", "PCM_16")), "flac") == []


def test_long_file_peaks_read_only_windows(tmp_path):
    """A long file is sampled in a bounded number of windows per bucket."""
    windows = list(peaks._windows(48000 * 3600, peaks.PEAK_BUCKETS))
    assert len(windows) == peaks.PEAK_BUCKETS * peaks.WINDOWS_PER_BUCKET
    assert all(count == peaks.WINDOW_FRAMES for _, _, count in windows)


def test_compressed_audio_has_no_waveform(tmp_path):
    """AAC (M4A) has no decoder here: no waveform rather than an invented one."""
    assert compute_peaks(write(tmp_path, "a.m4a", fixture("tone.m4a")), "m4a") == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.wav", "passwd.wav"),
        ("..\\..\\boot.ini.wav", "boot.ini.wav"),
        ("evil\u202egpj.wav", "evilgpj.wav"),
        ("nul\x00byte.wav", "nulbyte.wav"),
        ("zero\u200bwidth  and   tabs\t.wav", "zerowidth and tabs.wav"),
        (".hidden.mp3", "hidden.mp3"),
        ("...", "untitled"),
        ("", "untitled"),
        ("Café déjà vu.flac", "Café déjà vu.flac"),
    ],
)
def test_sanitise_name(raw, clean):
    """Directories, control and invisible characters and leading dots are removed."""
    assert sanitise_name(raw) == clean


def test_sanitise_name_truncates_keeping_the_extension():
    """A 300-character name is cut to 150 characters and keeps its extension."""
    name = sanitise_name("a" * 300 + ".wav")
    assert len(name) == 150
    assert name.endswith("a.wav")


def test_download_name_matches_the_content():
    """The download name carries the real format's extension and no Windows-reserved
    characters."""
    assert download_name('mix: "final"?.exe', "wav") == "mix_ _final__.exe.wav"
    assert download_name("take.WAV", "wav") == "take.WAV"
    assert download_name("song.m4a", "m4a") == "song.m4a"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("My <b>song</b> mix.wav", "My <b>song</b> mix.wav"),
        ("AC/DC - X.wav", "AC/DC - X.wav"),
        ("Live 2024/05/01 \\ take 2", "Live 2024/05/01 \\ take 2"),
        ("../Final mix.wav", "../Final mix.wav"),
        ("evil\u202egpj\u2066.wav", "evilgpj.wav"),
        ("nul\x00byte\u200b.wav", "nulbyte.wav"),
        ("  line\none\ttab  \u2028 sep  ", "line one tab sep"),
        ("Cafe\u0301 déjà vu", "Café déjà vu"),
        ("\u202e\u200b \t", ""),
    ],
)
def test_clean_display_name_keeps_what_was_typed(typed, kept):
    """A typed name keeps its text, slashes and markup; only control and bidi characters go
    and whitespace is collapsed (nothing printable left gives "")."""
    assert clean_display_name(typed) == kept


def test_clean_display_name_limits_the_length_keeping_the_extension():
    """A 300-character typed name is cut to 150 characters and keeps its extension."""
    name = clean_display_name("a/" * 150 + ".wav")
    assert len(name) == 150
    assert name.endswith(".wav")


@pytest.mark.parametrize(
    ("name", "offered"),
    [
        ("AC/DC - X.wav", "AC-DC - X.wav"),
        ("Live 2024/05/01\\take 2", "Live 2024-05-01-take 2.wav"),
        ("../../etc/passwd", "-..-etc-passwd.wav"),
        ("/", "-.wav"),
    ],
)
def test_download_name_turns_slashes_into_hyphens(name, offered):
    """A slash in a display name keeps every part of the name in the download name, as a
    hyphen: never a directory."""
    assert download_name(name, "wav") == offered
