"""The sandbox worker: really processes each target, at a realistic pace.

A target goes through two steps, each run by `run_once()` when due:

1. **Measure.** The task's source (the asset's file, or the `url` downloaded with requests,
   streamed to disk) is decoded with `dsp.read_audio`; every target gets its `duration` and a
   `ready_at` = task creation + `processing_seconds(duration, model, variant)` / SANDBOX_SPEED
   (now, with the `instant` fault). A source that cannot be fetched or decoded fails all the
   task's targets with "Error fetching or processing asset"; a source longer than a model's
   `maxInputDurationSeconds` fails that target.
2. **Finish** (once `ready_at` has passed). Audio models: `dsp.separate` then `dsp.write_audio`
   for each requested format; each stem is an output named after it (`vocals`; `speaker_1`,
   `speaker_2` for multi_voice) and, with `residual: true`, `<model>_residual` (e.g.
   `vocals_residual`). Text models: `textout.text_output` per format, named after the model.
   `mp4` is the stem put back into the source's video (`dsp.write_video`: the video stream
   copied, the stem encoded as AAC); for a source without a video stream the target fails with
   code 415 before any DSP work. Then the target's cost and the webhook.

Decoded sources are cached for the duration of one `run_once()` (one task at a time), so N
targets on one task decode it once.
Targets are claimed with a conditional UPDATE (`claimed_until`), so two workers never process
the same target twice.
"""

import logging
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from sandbox import dsp, textout
from sandbox.catalogue import model_get
from sandbox.faults import fault_config
from sandbox.models import FaultConfig, SandboxTarget, SandboxTask, media_path
from sandbox.services import (
    OUTPUTS_DIR,
    Failure,
    OutputFile,
    assets_purge_expired,
    target_finish,
)
from sandbox.uploads import starts_with_padding
from sandbox.webhooks import webhook_send

logger = logging.getLogger(__name__)

SOURCES_DIR = "sandbox/sources"
CLAIM_SECONDS = 600
FETCH_TIMEOUT = (5.0, 30.0)
FETCH_ERROR = Failure(400, "Error fetching or processing asset")
# Processing pace at SANDBOX_SPEED = 1: a fixed start-up plus a share of the media's length.
STARTUP_SECONDS = 4.0
PACE = {"audio": 0.25, "text": 0.15}
SLOWER = {"multi_voice": 2.0, "high_quality": 1.6}


def processing_seconds(
    *, duration: float, model: str, variant: str = "", position: int = 0
) -> float:
    """How long the target takes at SANDBOX_SPEED = 1 (later targets a little later, so they
    complete one by one, like the real API's)."""
    entry = model_get(model)
    factor = PACE.get(entry.kind if entry else "audio", 0.25)
    factor *= SLOWER.get(model, 1.0) * SLOWER.get(variant, 1.0)
    return STARTUP_SECONDS + duration * factor + 1.5 * position


class SourceError(Exception):
    pass


@dataclass
class RunCache:
    """Decoded sources of the current run: a task's N targets decode its source once.
    (Separations are not shared: targets are unique by model and variant.)"""

    audio: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    videos: dict[str, bool] = field(default_factory=dict)

    def source(self, task: SandboxTask, config: FaultConfig) -> "dsp.Audio":
        if task.id not in self.audio:
            try:
                path = _source_path(task, config)
                self.audio[task.id] = dsp.read_audio(path)
                self.paths[task.id] = path
            except (dsp.UndecodableAudio, SourceError, OSError, requests.RequestException) as exc:
                self.audio[task.id] = SourceError(str(exc))
        result = self.audio[task.id]
        if isinstance(result, SourceError):
            raise result
        return result

    def has_video(self, task: SandboxTask) -> bool:
        """Whether the (already decoded) source has a video stream for `mp4` output."""
        if task.id not in self.videos:
            path = self.paths.get(task.id)
            self.videos[task.id] = path is not None and dsp.has_video(path)
        return self.videos[task.id]

    def drop(self, task_id: str) -> None:
        """Forget a task's audio (memory holds one task's worth at a time)."""
        self.audio.pop(task_id, None)
        self.paths.pop(task_id, None)
        self.videos.pop(task_id, None)


def _download(url: str, destination: Path) -> None:
    limit = settings.SANDBOX_MAX_UPLOAD_BYTES
    partial = destination.with_name(destination.name + ".partial")
    received = 0
    try:
        with requests.get(url, stream=True, timeout=FETCH_TIMEOUT) as response:
            response.raise_for_status()
            with partial.open("wb") as f:
                for chunk in response.iter_content(chunk_size=256 * 1024):
                    received += len(chunk)
                    if received > limit:
                        raise SourceError(f"{url} is larger than {limit} bytes")
                    f.write(chunk)
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


def _source_path(task: SandboxTask, config: FaultConfig) -> Path:
    if task.url:
        suffix = Path(urlsplit(task.url).path).suffix.lower()[:6]
        path = media_path(f"{SOURCES_DIR}/{task.id}{suffix}")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _download(task.url, path)
    elif task.asset is not None:
        path = task.asset.file_path
    else:
        raise SourceError(f"asset {task.asset_ref} no longer exists")
    if config.reject_padded and starts_with_padding(path):
        raise SourceError("the file starts with zero-byte padding")
    return path


def _claim(ids: list[str]) -> list[str]:
    """Claim these targets for this worker; returns the ids it got."""
    now = timezone.now()
    got = []
    for target_id in ids:
        claimed = (
            SandboxTarget.objects.processing()
            .filter(pk=target_id)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        if claimed:
            got.append(target_id)
    return got


def _finish(target: SandboxTarget, config: FaultConfig, **outcome: Any) -> bool:
    if outcome.get("failure") is not None:
        logger.info("sandbox target %s (%s): error %s", target.id, target.model, outcome["failure"])
    finished = target_finish(target_id=target.id, charge_errors=config.charge_errors, **outcome)
    if finished:
        webhook_send(task_id=target.task_id, target_id=target.id)
    return finished


def _measure(cache: RunCache, config: FaultConfig) -> int:
    """Step 1 for every task with unmeasured targets. Returns the targets it failed."""
    failed = 0
    pending = (
        SandboxTarget.objects.processing()
        .filter(ready_at__isnull=True)
        .values_list("task_id", "id")
        .order_by("task__created_at", "position")
    )
    by_task: dict[str, list[str]] = {}
    for task_id, target_id in pending:
        by_task.setdefault(task_id, []).append(target_id)
    speed = max(settings.SANDBOX_SPEED, 1e-6)
    for task_id, target_ids in by_task.items():
        claimed = _claim(target_ids)
        if not claimed:
            continue
        task = SandboxTask.objects.select_related("asset").get(pk=task_id)
        targets = list(SandboxTarget.objects.filter(pk__in=claimed))
        try:
            audio = cache.source(task, config)
        except SourceError as exc:
            logger.info("sandbox task %s: source failed: %s", task.id, exc)
            failed += sum(_finish(t, config, failure=FETCH_ERROR) for t in targets)
            continue
        now = timezone.now()
        earliest = None
        for target in targets:
            target.duration = audio.duration
            entry = model_get(target.model)
            limit = entry.max_input_seconds if entry else None
            if limit and audio.duration > limit:
                SandboxTarget.objects.filter(pk=target.id).update(duration=audio.duration)
                message = (
                    f"The source is {audio.duration:.0f} s long; {target.model} accepts at most "
                    f"{limit} s"
                )
                failed += _finish(target, config, failure=Failure(400, message))
                continue
            if config.instant:
                ready_at = now
            else:
                seconds = processing_seconds(
                    duration=audio.duration,
                    model=target.model,
                    variant=target.variant,
                    position=target.position,
                )
                ready_at = task.created_at + timedelta(seconds=seconds / speed)
            SandboxTarget.objects.filter(pk=target.id).update(
                duration=audio.duration, ready_at=ready_at, claimed_until=None
            )
            earliest = ready_at if earliest is None else min(earliest, ready_at)
        if earliest is None or earliest > timezone.now():
            cache.drop(task.id)  # finishing comes in a later run: free the memory now
    return failed


def _injected_error(config: FaultConfig) -> bool:
    """A deterministic draw: the n-th target processed since the seed was set fails when
    Random(f"{seed}:{n}") < rate."""
    if config.target_error_rate <= 0:
        return False
    FaultConfig.objects.filter(pk=config.pk).update(target_error_draws=F("target_error_draws") + 1)
    draw = FaultConfig.objects.values_list("target_error_draws", flat=True).get(pk=config.pk)
    return random.Random(f"{config.target_error_seed}:{draw}").random() < config.target_error_rate


def _outputs(target: SandboxTarget, cache: RunCache, directory: Path) -> Iterator[OutputFile]:
    task = target.task
    entry = model_get(target.model)
    audio = cache.audio[task.id]
    if entry is not None and entry.kind == "text":
        for fmt in target.formats:
            path = directory / f"{target.model}.{fmt}"
            text = textout.text_output(target.model, audio, fmt, language=target.language or None)
            path.write_text(text, encoding="utf-8")
            yield OutputFile(target.model, fmt, path)
        return
    stems = dsp.separate(target.model, audio, variant=target.variant or None)
    named = [(name, samples) for name, samples in stems.items() if name != "residual"]
    if target.residual:
        named.append((f"{target.model}_residual", stems["residual"]))
    for name, samples in named:
        for fmt in target.formats:
            path = directory / f"{name}.{fmt}"
            if fmt in dsp.VIDEO_FORMATS:
                dsp.write_video(path, samples, audio.sample_rate, source=cache.paths[task.id])
            else:
                dsp.write_audio(path, samples, audio.sample_rate, fmt)
            yield OutputFile(name, fmt, path)


def _process(target: SandboxTarget, cache: RunCache, config: FaultConfig) -> bool:
    """Step 2 for one claimed target; returns whether it reached a terminal state."""
    try:
        cache.source(target.task, config)
    except SourceError:
        return _finish(target, config, failure=FETCH_ERROR)
    if _injected_error(config):
        return _finish(
            target, config, failure=Failure(500, "Processing failed (injected by the sandbox)")
        )
    entry = model_get(target.model)
    writable = (*dsp.AUDIO_FORMATS, *(dsp.VIDEO_FORMATS if cache.has_video(target.task) else ()))
    unwritable = [
        f for f in target.formats if entry and entry.kind == "audio" and f not in writable
    ]
    if unwritable:  # before any DSP work: the target fails anyway
        why = (
            "the stem put back into the source's video, and this source has no video stream"
            if set(unwritable) <= set(dsp.VIDEO_FORMATS)
            else f"it writes {', '.join(writable)}"
        )
        message = f"The sandbox cannot write {', '.join(unwritable)} output: {why}"
        return _finish(target, config, failure=Failure(415, message))
    directory = media_path(f"{OUTPUTS_DIR}/{target.task_id}/{target.id}")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        outputs = list(_outputs(target, cache, directory))
    except dsp.UnsupportedOutputFormat as exc:
        shutil.rmtree(directory, ignore_errors=True)
        return _finish(target, config, failure=Failure(415, exc.message))
    except Exception as exc:  # any DSP failure ends this target only, never the worker
        logger.exception("sandbox target %s failed", target.id)
        shutil.rmtree(directory, ignore_errors=True)
        return _finish(target, config, failure=Failure(500, f"Processing failed: {exc}"))
    return _finish(target, config, outputs=outputs)


def _cleanup_sources() -> None:
    """Downloaded url sources of finished tasks are no longer needed."""
    directory = media_path(SOURCES_DIR)
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        task_id = path.name.split(".")[0]
        if not SandboxTask.objects.filter(pk=task_id, completed_at__isnull=True).exists():
            path.unlink(missing_ok=True)


def run_once() -> int:
    """Measure new targets and finish every target that is due now. Returns the number of
    targets that reached `completed` or `error`."""
    config = fault_config()
    cache = RunCache()
    finished = _measure(cache, config)
    due = (
        SandboxTarget.objects.processing()
        .filter(ready_at__lte=timezone.now())
        .order_by("task__created_at", "task_id", "position")
        .values_list("id", flat=True)
    )
    current_task = None
    for target_id in _claim(list(due)):
        target = SandboxTarget.objects.select_related("task__asset").get(pk=target_id)
        if current_task not in (None, target.task_id):
            cache.drop(current_task)
        current_task = target.task_id
        finished += _process(target, cache, config)
    assets_purge_expired()
    _cleanup_sources()
    return finished
