"""Real-time factor of the sandbox's DSP on this machine.

    .venv/bin/python bench/sandbox_rtf.py [--seconds 180] [--long-minutes 10]

What it does:
1. Builds a synthetic stereo 44.1 kHz song of ``--seconds`` (tests/sandbox/synth.py: a sung
   line with vibrato in the centre, drums, bass, chords panned left and right).
2. Times, in the same run: the baseline (STFT and its inverse, the least any mask model
   does), ``separate()`` for every audio model (and the ``high_quality`` variant), the text
   models, and decoding/encoding the stem as WAV, FLAC and MP3. Each is the best of
   ``--runs`` runs. RTF = processing seconds / audio seconds (0.01 = 100x faster than real
   time); "x baseline" is the ratio to the baseline in this run.
3. Times ``separate("vocals")`` on a ``--long-minutes`` file (the song tiled) and reports the
   process's peak RSS growth across that call.
4. Reports the SDR of the vocals, drums and bass stems on the song (mixture vs stem).
5. Prints a Markdown section to paste under ``## Sandbox processing`` in docs/performance.md.
"""

import argparse
import contextlib
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from sandbox import dsp, textout  # noqa: E402
from tests.sandbox import avmedia, synth  # noqa: E402


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mb() -> float:
    """VmHWM (peak resident set) in MB; reset beforehand through /proc/self/clear_refs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # not Linux: the peak is then the process's lifetime peak
        Path("/proc/self/clear_refs").write_text("5")


def baseline(audio: dsp.Audio) -> None:
    """STFT and inverse of every block, no mask: the floor under every model."""
    p = dsp._params(audio.sample_rate)
    for block in dsp._blocks(audio.samples.shape[0], p):
        spec = dsp._stft(dsp._segment(audio.samples, block), p)
        dsp._istft(spec, p, block.seg_end - block.seg_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    print(f"building a {args.seconds:.0f} s synthetic song...", file=sys.stderr)
    song = synth.song(seconds=args.seconds)
    audio = dsp.Audio(song.mixture, song.sample_rate)
    seconds = audio.duration

    load = os.getloadavg()
    rows: list[tuple[str, float]] = []
    base = best_of(args.runs, lambda: baseline(audio))
    rows.append(("baseline: STFT + inverse, no mask", base))
    jobs: list[tuple[str, Callable[[], object]]] = []
    for model in dsp.STEM_MODELS:
        jobs.append((model, lambda m=model: dsp.separate(m, audio)))
        if model in ("vocals", "instrumental"):
            jobs.append(
                (
                    f"{model} (high_quality)",
                    lambda m=model: dsp.separate(m, audio, variant="high_quality"),
                )
            )
    jobs.append(
        ("transcription (json)", lambda: textout.text_output("transcription", audio, "json"))
    )
    jobs.append(
        ("music_detection (json)", lambda: textout.text_output("music_detection", audio, "json"))
    )
    stem = song.sources["vocals"]
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("wav", "flac", "mp3"):
            path = Path(tmp) / f"stem.{fmt}"
            jobs.append(
                (
                    f"write_audio {fmt}",
                    lambda p=path, f=fmt: dsp.write_audio(p, stem, synth.RATE, f),
                )
            )
            jobs.append((f"read_audio {fmt}", lambda p=path: dsp.read_audio(p)))
        # PyAV: an M4A and an MP4 (32x32 mpeg4 video) holding the song; the mp4 output copies
        # the video and encodes the stem as AAC.
        m4a = avmedia.write_media(Path(tmp) / "song", "m4a", song=song)
        video = avmedia.write_media(Path(tmp) / "song", "mp4", song=song)
        jobs.append(("read_audio m4a (PyAV)", lambda: dsp.read_audio(m4a)))
        jobs.append(("read_audio mp4 (PyAV)", lambda: dsp.read_audio(video)))
        out = Path(tmp) / "stem.mp4"
        jobs.append(
            ("write_video mp4", lambda: dsp.write_video(out, stem, synth.RATE, source=video))
        )
        for name, work in jobs:
            print(f"  {name}...", file=sys.stderr)
            rows.append((name, best_of(args.runs, work)))

    # one long file: time and peak memory
    reps = int(np.ceil(args.long_minutes * 60 / seconds))
    long_audio = dsp.Audio(
        np.tile(song.mixture, (reps, 1))[: int(args.long_minutes * 60 * synth.RATE)], synth.RATE
    )
    print(f"  vocals on {args.long_minutes:.0f} min...", file=sys.stderr)
    before = current_rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    dsp.separate("vocals", long_audio)
    long_time = time.perf_counter() - start
    growth = peak_rss_mb() - before
    input_mb = long_audio.samples.nbytes / 2**20

    quality = []
    for model in ("vocals", "drums", "bass"):
        out = dsp.separate(model, audio)[model]
        source = song.sources[model]
        quality.append((model, synth.sdr(source, song.mixture), synth.sdr(source, out)))

    print("\n## Sandbox processing\n")
    print(
        f"`bench/sandbox_rtf.py`: a synthetic {seconds:.0f} s stereo 44.1 kHz song, best of "
        f"{args.runs} runs, on {os.cpu_count()} cores ({platform.machine()}),"
        f" Python {platform.python_version()}, numpy {np.__version__}; load average"
        f" {load[0]:.1f} before and {os.getloadavg()[0]:.1f} after the run (other work on the"
        f" machine slows every row alike). RTF = processing time / "
        f'audio time; "x baseline" compares with the STFT + inverse alone in the same run.\n'
    )
    print("| model | audio s | processing s | RTF | x baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, elapsed in rows:
        print(
            f"| {name} | {seconds:.0f} | {elapsed:.2f} | {elapsed / seconds:.4f}"
            f" | {elapsed / base:.1f} |"
        )
    print(
        f'\nA {args.long_minutes:.0f}-minute stereo file through `separate("vocals")`: '
        f"{long_time:.1f} s (RTF {long_time / long_audio.duration:.4f}); peak RSS grew by "
        f"{growth:.0f} MB over the {input_mb:.0f} MB of decoded input (the stem and residual "
        f"outputs are {2 * input_mb:.0f} MB of that).\n"
    )
    print("Separation quality on the same song (SDR = 10 log10(|s|^2 / |s - s_hat|^2)):\n")
    print("| source | mixture SDR dB | stem SDR dB | gain dB |")
    print("|---|---:|---:|---:|")
    for model, before_db, after_db in quality:
        print(f"| {model} | {before_db:.2f} | {after_db:.2f} | {after_db - before_db:+.2f} |")


if __name__ == "__main__":
    main()
