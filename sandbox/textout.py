"""Text outputs of the sandbox's text models, from real (if simple) analysis of the audio.

- ``transcription`` / ``alignment``: the words are placeholders (``la``), every line starts
  with ``[sandbox]`` and the JSON says ``metadata.generator = "shakeweb sandbox (not a real
  transcription)"``; the *timings* are real: voice activity of the vocal estimate (the vocals
  model's centre x harmonic x voice-band mask), lines split at pauses, words at syllable dips.
- ``music_detection``: 10-second intervals scored from harmonicity, continuity and rhythm
  (spectral-flux periodicity); intervals with music are returned, adjacent ones merged, as the
  API documents (``[{start_time, end_time, confidence}]``).
- ``music_identification`` (partner access at AudioShake): the same detection as ``events``,
  never identified.

Entry point: ``text_output(model, audio, fmt, language=...)``, called by ``sandbox.worker``
for text models (``sandbox.dsp.separate`` for audio ones). This module builds on
``sandbox.dsp``'s helpers; ``dsp`` never imports it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import find_peaks

from sandbox.dsp import (
    Audio,
    Spectra,
    UnsupportedModel,
    UnsupportedOutputFormat,
    analyse,
    vocals_mask,
)

TRANSCRIPT_GENERATOR = "shakeweb sandbox (not a real transcription)"
DETECTION_GENERATOR = "shakeweb sandbox (not a real music detector)"
MARK = "[sandbox]"
WORD = "la"
DEFAULT_LANGUAGE = "en"  # the sandbox detects no language; it reports the one asked for, or this

FORMATS = {
    "transcription": ("json", "srt", "txt"),
    "alignment": ("json", "srt", "txt"),
    "music_detection": ("json", "txt"),
    "music_identification": ("json",),
}


def text_output(model: str, audio: Audio, fmt: str, *, language: str | None = None) -> str:
    """The text output of ``model`` for ``audio`` in ``fmt``: transcription/alignment (json,
    srt, txt) or music detection (json, txt)."""
    if model not in FORMATS:
        raise UnsupportedModel(
            f"{model!r} does not produce text; text models: {', '.join(FORMATS)}."
        )
    fmt = fmt.lower()
    if fmt not in FORMATS[model]:
        raise UnsupportedOutputFormat(f"{model} produces {', '.join(FORMATS[model])}, not {fmt!r}.")
    if model in ("transcription", "alignment"):
        lines = transcript_lines(audio)
        if fmt == "json":
            return _transcript_json(lines, language or DEFAULT_LANGUAGE)
        return _srt(lines, audio.duration) if fmt == "srt" else _txt(lines)
    intervals = music_intervals(audio)
    if model == "music_identification":
        return _identification_json(intervals)
    return _detection_json(intervals) if fmt == "json" else _detection_txt(intervals)


# --------------------------------------------------------------------------------------------
# Transcription and alignment: voice activity -> lines -> words
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return " ".join([MARK, *(w.text for w in self.words)])


_MIN_GAP = 0.15  # s: shorter silences do not split a region
_MIN_REGION = 0.15  # s: shorter regions are dropped
_LINE_PAUSE = 0.6  # s: a pause this long starts a new line
_MAX_LINE = 6.0  # s: longer lines are split at their quietest point
_MIN_WORD = 0.15  # s
_DIP_DB = 4.0  # a syllable boundary dips this far below both neighbouring peaks


def _vocal_level(s: Spectra) -> np.ndarray:
    return s.frame_level(vocals_mask(s))


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def voice_activity(audio: Audio) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Frame times, smoothed vocal level (dB) and the active [start, end) frame runs.

    The threshold adapts to the file: a third of the way from the noise floor (10th
    percentile) to the peak (99th), and at least 6 dB above the floor; nothing is active when
    the loudest frames are below -60 dBFS or the level barely varies (steady noise or a tone).
    """
    times, mean_square = analyse(audio, _vocal_level)
    if len(times) < 2:
        return times, np.full(len(times), -120.0), []
    step = float(np.median(np.diff(times)))
    level = 10 * np.log10(mean_square + 1e-12)
    level = ndimage.uniform_filter1d(level, size=max(1, round(0.05 / step)))
    floor, peak = np.percentile(level, 10), np.percentile(level, 99)
    if peak < -60 or peak - floor < 6:
        return times, level, []
    active = level > floor + max(6.0, (peak - floor) / 3)
    # close short gaps, then drop short regions
    gap = max(1, round(_MIN_GAP / step))
    active = ndimage.binary_closing(np.pad(active, gap), structure=np.ones(gap))[gap:-gap]
    runs = [(a, b) for a, b in _runs(active) if (b - a) * step >= _MIN_REGION]
    return times, level, runs


def transcript_lines(audio: Audio) -> list[Line]:
    """Placeholder lyric lines timed on the audio's voice activity."""
    times, level, runs = voice_activity(audio)
    if not runs:
        return []
    step = float(np.median(np.diff(times)))
    half = step / 2
    # group regions into lines at long pauses
    groups: list[list[tuple[int, int]]] = [[runs[0]]]
    for run in runs[1:]:
        if (run[0] - groups[-1][-1][1]) * step >= _LINE_PAUSE:
            groups.append([run])
        else:
            groups[-1].append(run)
    lines = []
    for group in groups:
        pieces: list[tuple[int, int]] = []
        for a, b in group:
            pieces.extend(_syllables(level, a, b, step))
        for chunk in _split_long(pieces, level, step):
            words = tuple(
                Word(
                    WORD,
                    round(max(times[a] - half, 0.0), 3),
                    round(min(times[b - 1] + half, audio.duration), 3),
                )
                for a, b in chunk
            )
            lines.append(Line(words))
    return lines


def _syllables(level: np.ndarray, a: int, b: int, step: float) -> list[tuple[int, int]]:
    """Split the region [a, b) at level dips of at least _DIP_DB between syllable peaks."""
    distance = max(1, round(_MIN_WORD / step))
    dips, _ = find_peaks(-level[a:b], prominence=_DIP_DB, distance=distance)
    cuts = [a] + [a + int(d) for d in dips] + [b]
    pieces = [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1)]
    merged: list[tuple[int, int]] = []
    for lo, hi in pieces:  # fold too-short pieces into their predecessor
        if merged and (hi - lo) * step < _MIN_WORD:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    if len(merged) > 1 and (merged[0][1] - merged[0][0]) * step < _MIN_WORD:
        merged[1] = (merged[0][0], merged[1][1])
        merged.pop(0)
    return merged


def _split_long(
    pieces: list[tuple[int, int]], level: np.ndarray, step: float
) -> list[list[tuple[int, int]]]:
    """Split a line's words into lines of at most _MAX_LINE seconds, at the quietest joint."""
    if len(pieces) < 2 or (pieces[-1][1] - pieces[0][0]) * step <= _MAX_LINE:
        return [pieces]
    joints = range(1, len(pieces))
    best = min(joints, key=lambda i: (level[pieces[i][0]], abs(i - len(pieces) / 2)))
    return _split_long(pieces[:best], level, step) + _split_long(pieces[best:], level, step)


def _transcript_json(lines: list[Line], language: str) -> str:
    document = {
        "text": "\n".join(line.text for line in lines),
        "lines": [
            {
                "text": line.text,
                "start": line.start,
                "end": line.end,
                "words": [{"text": w.text, "start": w.start, "end": w.end} for w in line.words],
            }
            for line in lines
        ],
        "metadata": {"language": language, "generator": TRANSCRIPT_GENERATOR},
    }
    return json.dumps(document, indent=2) + "\n"


def _timestamp(seconds: float, separator: str = ",") -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _srt(lines: list[Line], duration: float) -> str:
    """SubRip cues, one per line. With no voice activity, one cue saying so (an empty .srt
    would not show that it came from the sandbox)."""
    if not lines:
        end = _timestamp(max(duration, 0.001))
        return f"1\n00:00:00,000 --> {end}\n{MARK} no voice activity detected\n"
    cues = [
        f"{i}\n{_timestamp(line.start)} --> {_timestamp(line.end)}\n{line.text}\n"
        for i, line in enumerate(lines, start=1)
    ]
    return "\n".join(cues)


def _txt(lines: list[Line]) -> str:
    if not lines:
        return f"{MARK} no voice activity detected\n"
    return "".join(f"{line.text}\n" for line in lines)


# --------------------------------------------------------------------------------------------
# Music detection
# --------------------------------------------------------------------------------------------

INTERVAL = 10.0  # s, as AudioShake documents
_SILENCE_DB = -60.0
_THRESHOLD = 0.5


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    confidence: float  # 0-1: how music-like

    @property
    def music(self) -> bool:
        return self.confidence >= _THRESHOLD


def _music_frame_features(s: Spectra) -> np.ndarray:
    """Per frame: mean-square level, harmonic share of it, spectral flux (positive log-magnitude
    change averaged over bins)."""
    energy = s.frame_level()
    harmonic = s.frame_level(np.sqrt(s.harmonic)) / (energy + 1e-20)
    log_mag = np.log(s.magnitude + 1e-6)
    flux = np.zeros(len(energy), dtype=np.float32)
    flux[1:] = np.maximum(np.diff(log_mag, axis=0), 0).mean(axis=1)
    return np.stack([energy, harmonic, flux], axis=1)


def _rhythm(flux: np.ndarray, step: float) -> float:
    """Periodicity of the onset envelope: the highest normalised autocorrelation of the
    spectral flux at lags of 0.3-1.5 s (40-200 beats per minute)."""
    onset = flux - ndimage.uniform_filter1d(flux, size=max(1, round(0.5 / step)))
    onset = np.maximum(onset, 0)
    onset = onset - onset.mean()
    lo, hi = round(0.3 / step), round(1.5 / step)
    if len(onset) <= hi + 1 or not onset.any():
        return 0.0
    spectrum = np.fft.rfft(onset, n=2 * len(onset))
    ac = np.fft.irfft(np.abs(spectrum) ** 2)[: len(onset)]
    ac /= ac[0] + 1e-12
    ac *= len(onset) / (len(onset) - np.arange(len(onset)))  # unbias the longer lags
    return float(np.clip(ac[lo:hi].max(), 0, 1))


def interval_score(features: np.ndarray, step: float) -> float:
    """Music confidence (0-1) of one interval's frame features.

    - tonal: harmonic share of the energy above the 0.5 that noise gives, scaled to 0-1;
    - continuity: 1 - share of frames below half the mean energy (speech pauses, sparse hits);
    - rhythm: onset periodicity (``_rhythm``).
    Music is tonal and continuous, or rhythmic: ``x = max(tonal x continuity, rhythm)``, and the
    confidence is a logistic of x around 0.45. Silence scores 0.
    """
    energy, harmonic, flux = features.T
    if 10 * np.log10(energy.mean() + 1e-20) < _SILENCE_DB:
        return 0.0
    tonal = float(np.clip(2 * (np.average(harmonic, weights=energy + 1e-20) - 0.5), 0, 1))
    continuity = 1.0 - float(np.mean(energy < 0.5 * energy.mean()))
    x = max(tonal * continuity, _rhythm(flux, step))
    return float(1 / (1 + math.exp(-12 * (x - 0.45))))


def music_intervals(audio: Audio) -> list[Interval]:
    """A confidence for each 10-second interval (the last one may be shorter)."""
    times, features = analyse(audio, _music_frame_features)
    if len(times) < 2:
        return []
    step = float(np.median(np.diff(times)))
    duration = audio.duration
    out = []
    for k in range(math.ceil(duration / INTERVAL)):
        start, end = k * INTERVAL, min((k + 1) * INTERVAL, duration)
        inside = (times >= start) & (times < end)
        if inside.sum() < 2:
            continue
        score = interval_score(features[inside], step)
        out.append(Interval(round(start, 3), round(end, 3), round(score, 4)))
    return out


def detections(intervals: list[Interval]) -> list[Interval]:
    """The intervals with music, adjacent ones merged (confidence: their mean)."""
    merged: list[list[Interval]] = []
    for interval in intervals:
        if not interval.music:
            continue
        if merged and merged[-1][-1].end == interval.start:
            merged[-1].append(interval)
        else:
            merged.append([interval])
    return [
        Interval(run[0].start, run[-1].end, round(float(np.mean([i.confidence for i in run])), 4))
        for run in merged
    ]


def _detection_json(intervals: list[Interval]) -> str:
    """AudioShake's shape, plus a ``generator`` field on each item marking sandbox output."""
    items = [
        {
            "start_time": i.start,
            "end_time": i.end,
            "confidence": i.confidence,
            "generator": DETECTION_GENERATOR,
        }
        for i in detections(intervals)
    ]
    return json.dumps(items, indent=2) + "\n"


def _detection_txt(intervals: list[Interval]) -> str:
    found = detections(intervals)
    lines = [f"# {DETECTION_GENERATOR}: music in 10-second intervals"]
    lines += [
        f"{_timestamp(i.start, '.')} --> {_timestamp(i.end, '.')}  music"
        f"  (confidence {i.confidence:.2f})"
        for i in found
    ]
    if not found:
        lines.append("no music detected")
    return "\n".join(lines) + "\n"


def _identification_json(intervals: list[Interval]) -> str:
    events = [
        {
            "start_time_s": i.start,
            "end_time_s": i.end,
            "music_detected": i.music,
            "music_identified": False,
            "detection_confidence": i.confidence,
        }
        for i in intervals
    ]
    document = {"events": events, "metadata": {"generator": DETECTION_GENERATOR}}
    return json.dumps(document, indent=2) + "\n"
