"""What the results screens need beyond the ORM: download names, error hints, the ZIP stream
with its manifest, A/B candidates, transcript parsing and the system health shown on rows."""

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from jobs.audiofile import download_name
from jobs.models import Output, RemoteModel, Task
from jobs.storage import open_stream
from shakeweb.spreadsheet import neutralise

AUDIO_FORMATS = frozenset({"wav", "mp3", "flac", "aiff", "mp4"})
# The format a stem is played in when a target asked for several: lossless first.
PLAY_PREFERENCE = ("wav", "flac", "aiff", "mp3", "mp4")


@dataclass(frozen=True)
class Stem:
    """One row of the stem player: an output name of a target, played in its best format
    (`play`), with the same stem's other formats (`others`) offered as downloads only."""

    play: Output
    others: tuple[Output, ...]
    label: str = ""


def _play_rank(output: Output) -> int:
    fmt = output.format.lower()
    return PLAY_PREFERENCE.index(fmt) if fmt in PLAY_PREFERENCE else len(PLAY_PREFERENCE)


def output_label(output: Output, names: dict[str, str]) -> str:
    """An output as people read it, by its own name: "Vocals", "Vocals residual", "Speaker 1"
    (the model's display name from `names` where the name starts with the model's key), with
    the target's variant in brackets."""
    model = output.target.model
    display = names.get(model, model.replace("_", " ").capitalize())
    if output.name == model:
        label = display
    elif output.name.startswith(f"{model}_"):
        label = f"{display} {output.name[len(model) + 1 :].replace('_', ' ')}"
    else:
        label = output.name.replace("_", " ").capitalize()
    return f"{label} ({output.target.variant})" if output.target.variant else label


def stem_rows(outputs: list[Output], names: dict[str, str] | None = None) -> list[Stem]:
    """Group kept audio outputs into one player row per (target, output name), in the order
    they come: a Vocals target with wav + mp3 + flac and residual is two rows, not six. Each
    row is labelled by `output_label` (`names`: the models' display names)."""
    groups: dict[tuple[int, str], list[Output]] = {}
    for output in outputs:
        groups.setdefault((output.target_id, output.name), []).append(output)
    rows = []
    for group in groups.values():
        ranked = sorted(group, key=_play_rank)
        label = output_label(ranked[0], names or {})
        rows.append(Stem(play=ranked[0], others=tuple(ranked[1:]), label=label))
    return rows


# Known AudioShake error messages and what the user can do about them.
HINTS = (
    (
        "error fetching or processing asset",
        "AudioShake could not read the source. Files with leading zero-byte padding (some MP3s) "
        "or unusual metadata (some FLACs) fail this way: re-encode it (for example to WAV) and "
        "upload it again.",
    ),
    ("mp4", "This output format needs a video source; choose wav, flac, mp3 or aiff instead."),
    ("duration", "The source is longer than this model accepts; trim it or choose another model."),
    ("credit", "The AudioShake account is out of credits; buy credits in AudioShake's dashboard."),
)


URL_HINT = (
    "AudioShake could not fetch or read the source URL: check that it is public, reachable "
    "over HTTPS without a login, and serves the audio file itself (not a web page)."
)


def target_hint(target: object, *, url_source: bool = False) -> str:
    """What the user can do about a target's error, where the message is a known one."""
    message = (getattr(target, "error_message", "") or "").lower()
    if getattr(target, "status", "") != "error" or not message:
        return ""
    if url_source and "error fetching or processing asset" in message:
        return URL_HINT
    return next((hint for needle, hint in HINTS if needle in message), "")


def model_names(keys: set[str]) -> dict[str, str]:
    """Display names from the cached catalogue (one query): {"vocals": "Vocals", ...}."""
    return dict(RemoteModel.objects.filter(key__in=keys).values_list("key", "name"))


def comparable_models(task: Task, stems: list[Output]) -> set[str]:
    """The models of `stems` that another task on the same source also has a kept output of
    (one query), so "Compare" is offered only where there is something to compare with."""
    if not stems:
        return set()
    source = (
        {"target__task__source_asset_id": task.source_asset_id}
        if task.source_asset_id
        else {"target__task__source_url": task.source_url}
    )
    return set(
        Output.objects.filter(
            mirror_state=Output.MirrorState.MIRRORED,
            target__model__in={o.target.model for o in stems},
            **source,
        )
        .exclude(target__task=task)
        .values_list("target__model", flat=True)
        .distinct()
    )


def without_costs(data: object) -> object:
    """AudioShake's JSON without its credit figures (`cost`, `creditsPerMinute`, ... at any
    depth), for people who may not see costs."""
    if isinstance(data, dict):
        return {
            k: without_costs(v)
            for k, v in data.items()
            if not any(word in str(k).lower() for word in ("cost", "credit"))
        }
    if isinstance(data, list):
        return [without_costs(v) for v in data]
    return data


def source_stem(task: Task) -> str:
    """The source's name without its extension ("Live take" for "Live take.wav")."""
    name = task.source_name or "audio"
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and len(ext) <= 5 else name


def output_download_name(output: Output) -> str:
    """`<asset name> - <model>[ (variant)][ residual].<ext>`, sanitised."""
    target = output.target
    source = source_stem(target.task)
    label = output.name or target.model
    if target.variant:
        label += f" ({target.variant})"
    return download_name(f"{source} - {label}.{output.format}", output.format)


class _Pipe(io.RawIOBase):
    """A write-only, unseekable stream whose written bytes are collected for a generator."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(b))
        self.position += len(b)
        return len(b)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def manifest_rows(task: Task, outputs: list[Output], requested_by: object) -> list[dict]:
    rows = []
    for output in outputs:
        target = output.target
        source = target.task  # `task` itself, or in a combined ZIP the re-run it comes from
        rows.append(
            {
                "file": output_download_name(output),
                "task": source.pk,
                "remote_task": source.remote_id or "",
                "model": target.model,
                "variant": target.variant,
                "output": output.name,
                "format": output.format,
                "size_bytes": output.size_bytes,
                **(
                    {"cost": str(target.cost) if target.cost is not None else ""}
                    if getattr(requested_by, "sees_costs", False)
                    else {}
                ),
                "submitted_by": source.created_by.get_username(),
                "submitted_at": source.created_at.isoformat(),
                "completed_at": source.completed_at.isoformat() if source.completed_at else "",
            }
        )
    return rows


def kept_outputs(outputs: Iterable[Output]) -> list[Output]:
    """The outputs among `outputs` whose file is mirrored here (what a ZIP holds)."""
    return [o for o in outputs if o.file and o.mirror_state == Output.MirrorState.MIRRORED]


def task_zip_stream(task: Task, outputs: list[Output], *, requested_by: object) -> Iterator[bytes]:
    """Yield a ZIP (stored, not recompressed: audio does not shrink) of the outputs, then a
    `manifest.json` and `manifest.csv`, chunk by chunk: memory stays flat in file size."""
    return tasks_zip_stream([("", task, outputs)], requested_by=requested_by)


def tasks_zip_stream(
    entries: Iterable[tuple[str, Task, list[Output]]], *, requested_by: object
) -> Iterator[bytes]:
    """One ZIP of several tasks, each `(folder, task, outputs)` written as `task_zip_stream`
    writes one task (its files and manifests) under `folder/` ("" for the top level)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for folder, task, outputs in entries:
            yield from _zip_task(zf, pipe, task, outputs, requested_by, folder)
    yield pipe.drain()


def _zip_task(
    zf: zipfile.ZipFile,
    pipe: "_Pipe",
    task: Task,
    outputs: list[Output],
    requested_by: object,
    folder: str,
) -> Iterator[bytes]:
    prefix = f"{folder}/" if folder else ""
    rows = manifest_rows(task, outputs, requested_by)
    used: set[str] = set()
    for output, row in zip(outputs, rows, strict=True):
        name = row["file"]
        n = 2
        while name in used:  # two outputs with one name (e.g. two tasks' stems): number them
            stem, _, ext = row["file"].rpartition(".")
            name = f"{stem} ({n}).{ext}"
            n += 1
        used.add(name)
        row["file"] = name
        with (
            open_stream(output.file.storage, output.file.name) as src,
            zf.open(
                zipfile.ZipInfo(prefix + name, date_time=_zip_time(task)), "w", force_zip64=True
            ) as dst,
        ):
            while chunk := src.read(256 * 1024):
                dst.write(chunk)
                yield pipe.drain()
    manifest = {
        "task": task.pk,
        "remote_task": task.remote_id,
        "source": task.source_name or task.source_url,
        "project": task.project.name,
        "metadata": task.metadata,
        "submitted_by": task.created_by.get_username(),
        "submitted_at": task.created_at.isoformat(),
        "downloaded_by": getattr(requested_by, "username", ""),
        "files": rows,
    }
    zf.writestr(prefix + "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    if rows:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        # Names, models and usernames are typed by people: never a formula in a spreadsheet.
        writer.writerows(
            {k: neutralise(v) if isinstance(v, str) and k != "cost" else v for k, v in r.items()}
            for r in rows
        )
        zf.writestr(prefix + "manifest.csv", text.getvalue())
    yield pipe.drain()


def _zip_time(task: Task) -> tuple[int, int, int, int, int, int]:
    t = task.completed_at or task.created_at
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)


def compare_candidates(output: Output) -> list[Output]:
    """Kept outputs of the same stem (model family) from other tasks on the same source, the
    ones of the same output name first (vocals before vocals_residual for a vocals stem), each
    with its `label` (`output_label`) so that candidates can be told apart."""
    task = output.target.task
    base_model = output.target.model
    family = {base_model, base_model.split("_")[0]}
    queryset = Output.objects.select_related("target__task").filter(
        mirror_state=Output.MirrorState.MIRRORED,
        target__model__in=family | {f"{m}_lead" for m in family} | {f"{m}_backing" for m in family},
    )
    if task.source_asset_id:
        queryset = queryset.filter(target__task__source_asset_id=task.source_asset_id)
    else:
        queryset = queryset.filter(target__task__source_url=task.source_url)
    candidates = list(queryset.exclude(pk=output.pk).order_by("-target__task__created_at")[:50])
    names = model_names({c.target.model for c in candidates} | {base_model})
    output.label = output_label(output, names)
    for candidate in candidates:
        candidate.label = output_label(candidate, names)
    return sorted(candidates, key=lambda c: c.name != output.name)


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Line:
    text: str
    start: float
    end: float
    words: tuple[Word, ...]


def _seconds(value: object) -> float:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def parse_transcript(data: bytes) -> tuple[list[Line] | None, str]:
    """Parse AudioShake's transcription/alignment JSON (`{text, lines: [{text, words: [{text,
    start, end}]}]}`) tolerantly. Returns (lines, "") or (None, a reason)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "This file is not valid JSON."
    except RecursionError:
        return None, "This JSON is nested too deeply to be a transcript."
    raw_lines = doc.get("lines") if isinstance(doc, dict) else None
    if not isinstance(raw_lines, list):
        return None, "This JSON has no lines to show."
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            continue
        words = tuple(
            Word(str(w.get("text", "")), _seconds(w.get("start")), _seconds(w.get("end")))
            for w in raw.get("words") or []
            if isinstance(w, dict)
        )
        start = _seconds(raw.get("start", words[0].start if words else 0))
        end = _seconds(raw.get("end", words[-1].end if words else start))
        text = str(raw.get("text") or " ".join(w.text for w in words))
        lines.append(Line(text, start, end, words))
    return lines, ""
