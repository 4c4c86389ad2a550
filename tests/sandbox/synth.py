"""Synthetic test signals with known sources, for the DSP tests and bench/sandbox_rtf.py.

``song()`` builds a stereo mixture from four known parts: a voice-like harmonic line with
vibrato and a formant envelope in the centre, drums (kick, snare and hi-hat noise bursts with
fast decays), a low bass line in the centre, and two chord pads panned left and right.
"""

from dataclasses import dataclass

import numpy as np

RATE = 44100
TEMPO = 120  # beats per minute: a beat every 0.5 s


@dataclass(frozen=True)
class Song:
    mixture: np.ndarray  # (frames, 2) float32
    sources: dict[str, np.ndarray]  # vocals, drums, bass, chords: each (frames, 2)
    sample_rate: int


def _midi(note: np.ndarray) -> np.ndarray:
    return 440.0 * 2 ** ((note - 69) / 12)


def _notes(pattern: list[float], note_seconds: float, frames: int, rate: int) -> np.ndarray:
    """Per-sample MIDI note, looping over ``pattern``, with 30 ms glides between notes."""
    index = (np.arange(frames) / rate / note_seconds).astype(int) % len(pattern)
    notes = np.asarray(pattern, dtype=np.float64)[index]
    glide = max(1, int(0.03 * rate))
    return np.convolve(np.pad(notes, (glide - 1, 0), mode="edge"), np.ones(glide) / glide, "valid")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def voice(frames: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A sung line (A3-E4): harmonics to 8 kHz, 5.5 Hz vibrato, vowel formants, phrasing."""
    t = np.arange(frames) / rate
    pattern = [57, 60, 62, 64, 62, 60, 59, 57]
    note = _notes(pattern, 0.5, frames, rate)
    note += 0.4 * np.sin(2 * np.pi * 5.5 * t) * np.clip((t % 0.5) / 0.15, 0, 1)  # vibrato
    f0 = _midi(note)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    # vowel formants change every note: (F1, F2, F3)
    vowels = np.array([(700, 1220, 2600), (300, 2300, 3000), (500, 900, 2400), (400, 2000, 2600)])
    vowel = vowels[(t / 0.5).astype(int) % len(vowels)]
    out = np.zeros(frames)
    for k in range(1, 40):
        fk = k * f0
        audible = fk < 8000
        if not audible.any():
            break
        envelope = sum(
            np.exp(-0.5 * ((fk - vowel[:, j]) / (80 + 40 * j)) ** 2) / (j + 1) for j in range(3)
        )
        envelope += 0.05 / k
        out += audible * envelope * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    # phrases: 3.5 s sung, 0.5 s breath; soft attacks on each note
    phrase = ((t % 4.0) < 3.5).astype(float)
    attack = np.clip((t % 0.5) / 0.04, 0, 1)
    amp = np.convolve(phrase * attack, np.ones(441) / 441, "same")
    return out * amp


def drums(frames: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on eighths (stereo)."""
    beat = 60.0 / TEMPO
    out = np.zeros((frames, 2))
    kick_t = np.arange(int(0.3 * rate)) / rate
    kick_f = 45 + 75 * np.exp(-kick_t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(kick_f) / rate) * np.exp(-kick_t / 0.07)
    snare_t = np.arange(int(0.2 * rate)) / rate
    hat_t = np.arange(int(0.08 * rate)) / rate
    for i, start in enumerate(np.arange(0, frames / rate, beat / 2)):
        s = int(start * rate)
        if i % 2 == 0:  # on the beat
            if (i // 2) % 2 == 0:
                hit, pan = kick, (1.0, 1.0)
            else:
                noise = rng.standard_normal(len(snare_t))
                body = 0.5 * np.sin(2 * np.pi * 190 * snare_t)
                hit, pan = (0.6 * noise + body) * np.exp(-snare_t / 0.045), (1.0, 0.9)
        else:
            noise = np.diff(rng.standard_normal(len(hat_t) + 1))  # tilted to the highs
            hit, pan = 0.3 * noise * np.exp(-hat_t / 0.012), (0.6, 1.0)
        n = min(len(hit), frames - s)
        out[s : s + n, 0] += pan[0] * hit[:n]
        out[s : s + n, 1] += pan[1] * hit[:n]
    return out


def bass(frames: int, rate: int) -> np.ndarray:
    """A bass line (A1-E2, 55-82 Hz) with six harmonics, plucked envelope, one note a beat."""
    t = np.arange(frames) / rate
    note = _notes([33, 33, 36, 38, 40, 38, 36, 31], 0.5, frames, rate)
    f0 = _midi(note)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    out = sum(np.sin(k * phase) / k**2 for k in range(1, 7))
    envelope = 0.4 + 0.6 * np.exp(-(t % 0.5) / 0.25)
    attack = np.clip((t % 0.5) / 0.01, 0, 1)
    return out * envelope * attack


def chords(frames: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Two pads of triads (C, Am, F, G), one panned left, one panned right, 2 s a chord."""
    t = np.arange(frames) / rate
    progression = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    index = (t / 2.0).astype(int) % len(progression)
    out = np.zeros((frames, 2))
    for (gain_l, gain_r), octave in (((0.95, 0.3), 0), ((0.3, 0.95), 12)):
        pad = np.zeros(frames)
        for voice_index in range(3):
            notes = np.array([c[voice_index] + octave for c in progression])[index]
            phase = 2 * np.pi * np.cumsum(_midi(notes)) / rate
            for k in range(1, 6):
                pad += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**1.5
        swell = 0.6 + 0.4 * np.sin(np.pi * (t % 2.0) / 2.0)
        out[:, 0] += gain_l * pad * swell
        out[:, 1] += gain_r * pad * swell
    return out


def song(seconds: float = 8.0, rate: int = RATE, seed: int = 7) -> Song:
    """The four-part stereo mixture and its sources, scaled to typical mix levels."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * rate)
    v = voice(frames, rate, rng)
    parts = {
        "vocals": np.stack([v, v], axis=1),
        "drums": drums(frames, rate, rng),
        "bass": np.stack([bass(frames, rate)] * 2, axis=1),
        "chords": chords(frames, rate, rng),
    }
    levels = {"vocals": 0.12, "drums": 0.10, "bass": 0.10, "chords": 0.08}
    sources = {
        name: (part * levels[name] / _rms(part)).astype(np.float32) for name, part in parts.items()
    }
    mixture = sum(sources.values()).astype(np.float32)
    return Song(mixture=mixture, sources=sources, sample_rate=rate)


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-distortion ratio in dB: 10 log10(|s|^2 / |s - s_hat|^2)."""
    reference = reference.astype(np.float64)
    error = reference - estimate.astype(np.float64)
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum(error**2), 1e-20)))


def speech(seconds: float, f0: float, rate: int = RATE, seed: int = 3) -> np.ndarray:
    """Mono speech-like signal: phrases of 4-10 syllables (0.12-0.32 s each) of voiced sound
    around ``f0`` with falling intonation and changing formants, fricative noise before some,
    and 0.3-0.8 s pauses between phrases."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    # syllable boundaries (and which syllables are pauses)
    bounds, pauses, phrase_starts, now = [0.0], [], [], 0.0
    while now < seconds:
        phrase_starts.append(now)
        for _ in range(rng.integers(4, 11)):
            now += rng.uniform(0.12, 0.32)
            bounds.append(now)
            pauses.append(False)
        now += rng.uniform(0.3, 0.8)
        bounds.append(now)
        pauses.append(True)
    edges = np.asarray(bounds)
    index = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(pauses) - 1)
    count = len(pauses)
    within = (t - edges[index]) / (edges[index + 1] - edges[index])
    since_phrase = t - np.asarray(phrase_starts)[np.searchsorted(phrase_starts, t, "right") - 1]
    offsets = rng.uniform(-3, 3, count)
    vowels = np.array([(700, 1220, 2600), (300, 2300, 3000), (500, 900, 2400), (400, 2000, 2600)])
    vowel = vowels[rng.integers(0, len(vowels), count)][index]
    contour = f0 * 2 ** ((offsets[index] - 1.5 * np.minimum(since_phrase, 2.5)) / 12)
    contour = np.convolve(np.pad(contour, (440, 0), mode="edge"), np.ones(441) / 441, "valid")
    phase = 2 * np.pi * np.cumsum(contour) / rate
    voiced = np.zeros(frames)
    for k in range(1, 60):
        fk = k * contour
        if (fk > 7000).all():
            break
        envelope = sum(
            np.exp(-0.5 * ((fk - vowel[:, j]) / (60 + 40 * j)) ** 2) / (j + 1) for j in range(3)
        )
        voiced += (fk < 7000) * (envelope + 0.02) * np.sin(k * phase)
    shape = np.sin(np.pi * np.clip((within - 0.1) / 0.8, 0, 1)) ** 2  # syllable envelope
    talking = ~np.asarray(pauses)[index]
    fricative = np.diff(rng.standard_normal(frames + 1)) * 0.15
    fricative *= (within < 0.1) * (rng.uniform(size=count) < 0.4)[index]
    return ((voiced * shape + fricative) * talking).astype(np.float32)


def reverberate(dry: np.ndarray, t60: float, rate: int = RATE, seed: int = 5) -> np.ndarray:
    """Convolve with a synthetic room: the direct sound plus an exponentially decaying noise
    tail (starting after 10 ms) with reverberation time ``t60``."""
    rng = np.random.default_rng(seed)
    n = int(t60 * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-3 * np.log(10) * t / t60) * (t > 0.01)
    response = 0.3 * tail / np.sqrt(np.sum(tail**2))
    response[0] = 1.0
    from scipy.signal import fftconvolve

    return fftconvolve(dry, response)[: len(dry)].astype(np.float32)
