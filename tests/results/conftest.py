"""Factories for tasks with targets and kept outputs, built directly in the database."""

import io
import uuid
import wave
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import Project, User
from jobs.models import Output, SubmissionState, Target, Task
from jobs.progress import task_changed


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x10" * int(seconds * rate))
    return buffer.getvalue()


def make_task(
    *,
    user: User,
    project: Project,
    models: tuple[str, ...] = ("vocals", "drums"),
    status: str = "processing",
    mirrored: bool = False,
    source_name: str = "song.wav",
) -> Task:
    now = timezone.now()
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=user,
        source_name=source_name,
        source_url="https://example.com/song.wav",
        metadata="client: ACME\nline two",
        submission_state=SubmissionState.SUBMITTED,
        remote_id=f"c{uuid.uuid4().hex[:24]}",
        remote_created_at=now,
        estimated_cost=Decimal(len(models)),
        completed_at=now if status in ("completed", "error") else None,
    )
    for position, model in enumerate(models):
        target = Target.objects.create(
            task=task,
            position=position,
            model=model,
            formats=["wav"],
            status=status,
            remote_id=f"t{position}{uuid.uuid4().hex[:20]}",
            duration_seconds=61.0,
            estimated_cost=Decimal(2),
            cost=Decimal(2) if status == "completed" else None,
            error_message="Error fetching or processing asset" if status == "error" else "",
            error_code=400 if status == "error" else None,
        )
        if status == "completed":
            output = Output(target=target, name=model, format="wav", remote_link="https://x/y")
            if mirrored:
                data = wav_bytes()
                output.file.save(f"{model}.wav", ContentFile(data), save=False)
                output.size_bytes = len(data)
                output.mirror_state = Output.MirrorState.MIRRORED
                output.mirrored_at = now
            output.save()
    return task


@pytest.fixture
def task_factory(member: User, project: Project):
    def factory(**kwargs: object) -> Task:
        kwargs.setdefault("user", member)
        kwargs.setdefault("project", project)
        return make_task(**kwargs)

    return factory


def add_output(target: Target, name: str, fmt: str, data: bytes | None = None) -> Output:
    """A kept output `name.fmt` of `target` (WAV bytes unless `data` is given)."""
    data = wav_bytes() if data is None else data
    output = Output(target=target, name=name, format=fmt, remote_link="https://x/y")
    output.file.save(f"{name}.{fmt}", ContentFile(data), save=False)
    output.size_bytes = len(data)
    output.mirror_state = Output.MirrorState.MIRRORED
    output.mirrored_at = timezone.now()
    output.save()
    return output


def vocals_in_three_formats(task: Task) -> Target:
    """Turn `task`'s vocals target into wav + mp3 + flac with residual: six kept outputs."""
    target = task.targets.get(model="vocals")
    Target.objects.filter(pk=target.pk).update(formats=["wav", "mp3", "flac"], residual=True)
    for name in ("vocals", "vocals_residual"):
        for fmt in ("mp3", "flac", "wav"):
            if not Output.objects.filter(target=target, name=name, format=fmt).exists():
                add_output(target, name, fmt)
    return target


def text_only(task: Task) -> Task:
    """Make `task`'s targets transcriptions in json + txt, their outputs text files."""
    for target in task.targets.all():
        Target.objects.filter(pk=target.pk).update(formats=["json", "txt"])
        for output in target.outputs.all():
            Output.objects.filter(pk=output.pk).update(format="json")
            if output.mirror_state == Output.MirrorState.MIRRORED:
                add_output(target, output.name, "txt", b"hello world\n")
    return task


def fixed_by_rerun(
    task_factory: object, *, fixed: tuple[str, ...] = ("drums", "bass")
) -> tuple[Task, Task]:
    """A task whose vocals completed and drums and bass failed, and a re-run of its failed
    targets in which those of `fixed` completed (kept) and the others failed again."""
    original = task_factory(status="completed", mirrored=True, models=("vocals", "drums", "bass"))
    Target.objects.filter(task=original, model__in=("drums", "bass")).update(
        status="error", error_message="Error fetching or processing asset", cost=None
    )
    Output.objects.filter(target__task=original, target__model__in=("drums", "bass")).delete()
    rerun = task_factory(status="completed", mirrored=True, models=("drums", "bass"))
    Task.objects.filter(pk=rerun.pk).update(rerun_of=original, attempt=2)
    Target.objects.filter(task=rerun).exclude(model__in=fixed).update(status="error", cost=None)
    Output.objects.filter(target__task=rerun).exclude(target__model__in=fixed).delete()
    task_changed([original.pk, rerun.pk])
    original.refresh_from_db()
    rerun.refresh_from_db()
    return original, rerun
