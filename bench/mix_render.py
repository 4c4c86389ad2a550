"""Mix export against its floor, in one run.

    .venv/bin/python bench/mix_render.py [--seconds 300] [--stems 4] [--runs 3]

What it does:
1. Writes ``--stems`` stereo 44.1 kHz 24-bit WAV stems of ``--seconds`` (tones and noise).
2. Times, for WAV, FLAC and MP3 output, best of ``--runs``:
   - the floor: ``soundfile.read`` of every stem whole, the weighted sum in numpy, one
     ``soundfile.write`` (the least any mixer does, holding every stem in memory);
   - ``listening.render.mix_render``: the same sum block by block (65,536 frames), clip
     counting and progress, as the poller runs it.
3. Prints a Markdown table for docs/performance.md: seconds, "x floor", and the real-time
   factor (processing seconds / audio seconds).
"""

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from listening.render import StemSource, mix_render  # noqa: E402

RATE = 44100


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def make_stems(folder: Path, count: int, seconds: int) -> list[Path]:
    rng = np.random.default_rng(7)
    t = np.arange(RATE * seconds) / RATE
    paths = []
    for n in range(count):
        tone = 0.2 * np.sin(2 * np.pi * (110 * (n + 1)) * t)
        noise = 0.05 * rng.standard_normal(t.size)
        stereo = np.stack([tone + noise, tone - noise], axis=1).astype("float32")
        path = folder / f"stem{n}.wav"
        sf.write(path, stereo, RATE, subtype="PCM_24")
        paths.append(path)
    return paths


def floor(paths: list[Path], gains: list[float], out: Path, fmt: str) -> None:
    total = None
    for path, gain in zip(paths, gains, strict=True):
        data, _ = sf.read(path, dtype="float32", always_2d=True)
        total = data * gain if total is None else total + data * gain
    subtype = {"wav": "PCM_24", "flac": "PCM_24", "mp3": None}[fmt]
    sf.write(out, np.clip(total, -1, 1), RATE, format=fmt.upper(), subtype=subtype)


def render(paths: list[Path], gains: list[float], out: Path, fmt: str) -> None:
    stems = [
        StemSource(label=p.stem, open=lambda p=p: open(p, "rb"), gain=g)  # noqa: SIM115 (mix_render closes it)
        for p, g in zip(paths, gains, strict=True)
    ]
    mix_render(stems, path=str(out), fmt=fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--stems", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="wav,flac,mp3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_stems(folder, args.stems, args.seconds)
        gains = [0.5, 0.7, 1.0, 0.25][: args.stems] + [1.0] * max(0, args.stems - 4)
        print(f"## Mix export ({args.stems} stereo stems of {args.seconds} s, {platform.node()})")
        print()
        print("| format | floor (read whole, sum, write) s | mix_render s | x floor | RTF |")
        print("|---|---:|---:|---:|---:|")
        for fmt in args.formats.split(","):
            out = folder / f"mix.{fmt}"
            runs = 1 if fmt == "mp3" else args.runs
            base = best_of(runs, lambda fmt=fmt, out=out: floor(paths, gains, out, fmt))
            ours = best_of(runs, lambda fmt=fmt, out=out: render(paths, gains, out, fmt))
            print(
                f"| {fmt} | {base:.2f} | {ours:.2f} | {ours / base:.2f} | "
                f"{ours / args.seconds:.4f} |"
            )


if __name__ == "__main__":
    main()
