"""The mix itself: the weighted sum of stems, read and written in blocks so a long stem is
never in memory whole. Plain numpy and soundfile, no ORM: `listening.handlers` feeds it the
kept outputs and stores what it wrote.

- Gains are linear factors; pan is a balance (-1 all left, 0 centre, 1 all right: the far
  channel is turned down, the near one kept), so a centred stem adds itself to both channels
  and the mix of centred stems is exactly sum(gain * stem).
- Mono stems, all centred, give a mono mix; any stereo stem or any pan gives stereo (a mono
  stem then feeds both channels). More than two channels is refused.
- The stems must share a sample rate (no resampling): otherwise `MixProblem` says which.
- Clip-safe: samples beyond full scale are clipped and counted (the caller reports it), unless
  `normalise` was asked for, which scales the whole mix to a -1 dBFS peak (a first pass finds
  the peak)."""

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import soundfile as sf

BLOCK_FRAMES = 65536  # per read: 65536 frames x stems x 2 channels x 8 bytes, a few MB at most
NORMALISE_PEAK = 10 ** (-1 / 20)  # -1 dBFS
FORMATS = {
    "wav": ("WAV", "PCM_24"),
    "flac": ("FLAC", "PCM_24"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


class MixProblem(Exception):
    """The stems cannot be mixed as asked; the message says why, for the user."""


@dataclass(frozen=True)
class StemSource:
    label: str
    open: Callable[[], IO[bytes]]  # a readable, seekable file of the stem
    gain: float = 1.0
    pan: float = 0.0  # -1 .. 1


@dataclass(frozen=True)
class MixResult:
    sample_rate: int
    channels: int
    frames: int
    peak: float  # of the sum, before clipping or normalising
    clipped_samples: int  # samples beyond full scale that were clipped (0 when normalised)
    scale: float  # the normalising factor applied (1.0 when not asked)


def _matrix(channels: int, out_channels: int, gain: float, pan: float) -> np.ndarray:
    """The (stem channels x mix channels) weights of one stem."""
    if out_channels == 1:
        return np.array([[gain]])
    left, right = gain * min(1.0, 1.0 - pan), gain * min(1.0, 1.0 + pan)
    if channels == 1:
        return np.array([[left, right]])
    return np.array([[left, 0.0], [0.0, right]])


@contextlib.contextmanager
def _opened(stems: list[StemSource]) -> Iterator[list[sf.SoundFile]]:
    with contextlib.ExitStack() as stack:
        files = []
        for stem in stems:
            raw = stack.enter_context(stem.open())
            try:
                files.append(stack.enter_context(sf.SoundFile(raw)))
            except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
                raise MixProblem(f"{stem.label} could not be read as audio ({exc}).") from exc
        yield files


def _blocks(
    files: list[sf.SoundFile], matrices: list[np.ndarray], out_channels: int
) -> Iterator[tuple[np.ndarray, int]]:
    """The mix, block by block, with the frames read so far (the longest stem sets the
    length; shorter ones are silent after their end)."""
    for f in files:
        f.seek(0)
    done = 0
    while True:
        mix = np.zeros((BLOCK_FRAMES, out_channels))
        length = 0
        for f, weights in zip(files, matrices, strict=True):
            data = f.read(BLOCK_FRAMES, dtype="float64", always_2d=True)
            if len(data):
                mix[: len(data)] += data @ weights
                length = max(length, len(data))
        if not length:
            return
        done += length
        yield mix[:length], done


def mix_render(
    stems: list[StemSource],
    *,
    path: str,
    fmt: str,
    normalise: bool = False,
    progress: Callable[[float], None] = lambda fraction: None,
) -> MixResult:
    """Write the weighted sum of `stems` to `path` as `fmt` (wav, flac or mp3), calling
    `progress(0..1)` after each block. Raises `MixProblem` for stems that cannot be mixed."""
    if not stems:
        raise MixProblem("Choose at least one stem to mix.")
    if fmt not in FORMATS:
        raise MixProblem(f"Unknown format {fmt!r}: choose wav, flac or mp3.")
    with _opened(stems) as files:
        rates = {f.samplerate for f in files}
        if len(rates) > 1:
            listed = "; ".join(
                f"{stem.label} {f.samplerate} Hz" for stem, f in zip(stems, files, strict=True)
            )
            raise MixProblem(
                f"The stems have different sample rates ({listed}); mixing them would need "
                "resampling, which the export does not do. Choose stems of one rate."
            )
        wide = [s.label for s, f in zip(stems, files, strict=True) if f.channels > 2]
        if wide:
            raise MixProblem(f"Only mono and stereo stems can be mixed: {', '.join(wide)}.")
        stereo = any(f.channels == 2 for f in files) or any(s.pan for s in stems)
        out_channels = 2 if stereo else 1
        matrices = [
            _matrix(f.channels, out_channels, s.gain, max(-1.0, min(1.0, s.pan)))
            for s, f in zip(stems, files, strict=True)
        ]
        rate = rates.pop()
        total = max(1, max(f.frames for f in files))
        passes = 2 if normalise else 1
        peak = 0.0
        if normalise:
            for block, done in _blocks(files, matrices, out_channels):
                peak = max(peak, float(np.max(np.abs(block), initial=0.0)))
                progress(min(1.0, done / total) / passes)
        scale = NORMALISE_PEAK / peak if normalise and peak > 0 else 1.0
        clipped = 0
        frames = 0
        container, subtype = FORMATS[fmt]
        with sf.SoundFile(
            path, "w", samplerate=rate, channels=out_channels, format=container, subtype=subtype
        ) as out:
            for block, done in _blocks(files, matrices, out_channels):
                if not normalise:
                    peak = max(peak, float(np.max(np.abs(block), initial=0.0)))
                scaled = block * scale if scale != 1.0 else block
                over = np.abs(scaled) > 1.0
                clipped += int(np.count_nonzero(over))
                out.write(np.clip(scaled, -1.0, 1.0))
                frames = done
                progress((passes - 1 + min(1.0, done / total)) / passes)
    return MixResult(
        sample_rate=rate,
        channels=out_channels,
        frames=frames,
        peak=peak,
        clipped_samples=clipped,
        scale=scale,
    )
