"""The task page and its live status fragment, output playback and downloads, the ZIP of a
task's outputs, A/B comparison and the transcript viewer.

No view here calls AudioShake: a missing mirror is asked of the poller (a work item due now)
and the page waits for it."""

import json
import mimetypes
from datetime import datetime
from http import HTTPStatus

from django.db.models import Prefetch
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect

import audit
from accounts.http import HtmxHttpRequest, varies_with_htmx
from jobs import outbox
from jobs.audiofile import download_name
from jobs.models import Output, Target, Task, WorkItem
from jobs.ranged import private_redirect, ranged_file_response
from jobs.results import (
    AUDIO_FORMATS,
    comparable_models,
    compare_candidates,
    kept_outputs,
    model_names,
    output_download_name,
    parse_transcript,
    source_stem,
    stem_rows,
    target_hint,
    task_zip_stream,
    without_costs,
)
from jobs.services.tasks import RERUNNABLE_STATUSES, rerun_fixes
from jobs.status import (
    PollerHealth,
    StalledSubmission,
    health_token,
    is_target_late,
    poller_health,
    stalled_submission,
)
from jobs.stem_peaks import output_peaks
from jobs.storage import open_stream, signed_url

TRANSCRIPT_MAX_BYTES = 5 * 1024 * 1024


def _task_with_targets(pk: int) -> Task:
    targets = Target.objects.prefetch_related("outputs").order_by("position", "id")
    return get_object_or_404(
        Task.objects.select_related(
            "project", "created_by", "source_asset", "rerun_of", "budget_override_by"
        ).prefetch_related(Prefetch("targets", queryset=targets)),
        pk=pk,
    )


def _optional_url(name: str, *args: object) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _status_context(task: Task, *, show_costs: bool) -> dict:
    """What the status fragment and the page show. `show_costs` (the viewer's permission)
    decides whether any credit figure is rendered, the out-of-band cost partial included."""
    targets = list(task.targets.all())
    now = timezone.now()
    outputs = [o for t in targets for o in t.outputs.all()]
    mirroring = any(o.mirror_state == Output.MirrorState.PENDING for o in outputs)
    state = task.overall_state(targets)
    done = sum(1 for t in targets if t.status == "completed")
    errors = sum(1 for t in targets if t.status == "error")
    names = model_names({t.model for t in targets})
    fixes = rerun_fixes(task=task)
    for target in targets:
        target.hint = target_hint(target, url_source=bool(task.source_url))
        target.late = is_target_late(task, target, now)
        target.label = names.get(target.model, target.model)
        target.fixed_by = fixes[target.pk].task if target.pk in fixes else None
    failed = sum(1 for t in targets if t.status in RERUNNABLE_STATUSES)
    fixed_by = sorted({f.task for f in fixes.values()}, key=lambda t: t.pk)
    stems = stem_rows(
        [
            o
            for o in outputs
            if o.format in AUDIO_FORMATS and o.mirror_state == Output.MirrorState.MIRRORED
        ],
        names,
    )
    # Whether any target asked for an audio format: a transcription-only task never has
    # anything to play, and its Listen card says so instead of waiting for stems.
    audio_expected = any(set(t.formats) & AUDIO_FORMATS for t in targets) or any(
        o.format in AUDIO_FORMATS for o in outputs
    )
    health = poller_health(now=now)
    stalled = stalled_submission(task, now=now)
    return {
        "task": task,
        "targets": targets,
        "poll_token": _poll_token(task, targets, health, stalled, now=now),
        "stalled": stalled,
        "state": state,
        "done": done,
        "errors": errors,
        "total": len(targets),
        "mirroring": mirroring,
        "polling": not task.is_finished or mirroring,
        "stems": stems,
        "fixes": fixes,
        "fixed_by": fixed_by,
        "all_fixed": bool(failed) and len(fixes) == failed,
        # The latest re-run while failures are left: its state is shown next to the task's.
        "latest_rerun": (
            task.reruns.only("pk", "attempt", "state").order_by("-attempt", "-pk").first()
            if failed > len(fixes)
            else None
        ),
        "audio_expected": audio_expected,
        "kept": any(o.file and o.mirror_state == Output.MirrorState.MIRRORED for o in outputs),
        "comparable": comparable_models(task, [stem.play for stem in stems]),
        "health": health,
        "cost": task.remote_cost if show_costs else None,
        "show_costs": show_costs,
    }


def _poll_token(
    task: Task,
    targets: list[Target],
    health: PollerHealth,
    stalled: StalledSubmission | None,
    *,
    now: datetime,
) -> str:
    """Everything the status fragment shows that can change, in a few characters: the task's
    version (bumped by every change of it, its targets or outputs: `jobs.progress`), the
    pollers' health, which targets are late and whether its submission's poller stopped (both
    a matter of time, not of a write)."""
    late = ",".join(str(t.pk) for t in targets if is_target_late(task, t, now))
    stall = f".s{int(stalled.retry_at.timestamp())}" if stalled else ""
    return f"{task.version}.{health_token(health)}.{late}{stall}"


def _poll_unchanged(request: HtmxHttpRequest, pk: int) -> bool:
    """Whether the token the fragment's poll sent back (`v`) is still current: read from the
    task row, its targets' statuses and the pollers' health only, in four small queries."""
    sent = request.GET.get("v", "")
    if not sent:
        return False
    task = (
        Task.objects.filter(pk=pk)
        .only(
            "version",
            "source_duration",
            "remote_created_at",
            "submit_started_at",
            "created_at",
            "remote_id",
            "submission_state",
        )
        .first()
    )
    if task is None:
        return False  # the full path answers 404
    targets = list(Target.objects.filter(task_id=pk).only("id", "status", "duration_seconds"))
    now = timezone.now()
    health = poller_health(now=now)
    return sent == _poll_token(task, targets, health, stalled_submission(task, now=now), now=now)


@require_GET
@varies_with_htmx
def task_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The task page; with htmx, just the status fragment (polled every 2 s while unfinished,
    answered 204 with no body while nothing it shows changed, and with 286 and no trigger
    once everything is terminal and mirrored)."""
    polled = request.htmx and not request.htmx.history_restore_request
    if polled and _poll_unchanged(request, pk):
        return HttpResponse(status=HTTPStatus.NO_CONTENT)
    task = _task_with_targets(pk)
    show_costs = request.user.sees_costs
    context = _status_context(task, show_costs=show_costs)
    if polled:
        response = render(request, "jobs/results/task.html#status", context)
        if not context["polling"]:
            response.status_code = HTMX_STOP_POLLING
        return response
    context |= {
        "asset_play_url": _optional_url("jobs:asset_audio", task.source_asset_id)
        if task.source_asset_id
        else "",
        "raw_json": json.dumps(
            task.raw if show_costs else without_costs(task.raw), indent=2, sort_keys=True
        )
        if task.raw
        else "",
        "reruns": list(task.reruns.order_by("attempt").only("pk", "attempt", "created_at")),
    }
    return render(request, "jobs/results/task.html", context)


def _mirrored_output(pk: int) -> Output:
    return get_object_or_404(
        Output.objects.select_related("target__task__source_asset"),
        pk=pk,
    )


def _serve_output(request: HtmxHttpRequest, output: Output, *, as_attachment: bool) -> HttpResponse:
    """The file, with byte ranges: from a bucket as a redirect to a short-lived presigned link
    (S3 answers the ranges), from a local folder through `jobs.ranged`."""
    storage = output.file.storage
    content_type = mimetypes.guess_type(f"x.{output.format}")[0] or "application/octet-stream"
    filename = output_download_name(output)
    link = signed_url(
        storage,
        output.file.name,
        filename=filename,
        content_type=content_type,
        as_attachment=as_attachment,
    )
    if link is not None:
        return private_redirect(link)
    try:
        f = storage.open(output.file.name, "rb")
    except FileNotFoundError:
        raise Http404("The kept copy of this file is missing.") from None
    return ranged_file_response(
        request,
        f,
        size=output.size_bytes if output.size_bytes is not None else storage.size(output.file.name),
        content_type=content_type,
        filename=filename,
        as_attachment=as_attachment,
    )


def _request_mirror(output: Output) -> None:
    """Ask the poller for this output now: refresh the task (fresh link) and download it."""
    task = output.target.task
    outbox.enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    outbox.enqueue(
        kind=WorkItem.Kind.OUTPUT_DOWNLOAD, key=f"output_download:{output.pk}", output=output
    )


@require_GET
@varies_with_htmx
def output_download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Download one output through the dashboard. Without a mirror yet, ask the poller for it
    and show a page that waits (htmx) and then starts the download."""
    output = _mirrored_output(pk)
    if output.file and output.mirror_state == Output.MirrorState.MIRRORED:
        if request.htmx:
            return HttpResponseClientRedirect(request.path)
        audit.record(request, audit.Action.OUTPUT_DOWNLOADED, output, task=output.target.task_id)
        return _serve_output(request, output, as_attachment=True)
    if not request.htmx:  # the first visit asks; the page's polls only look
        _request_mirror(output)
    template = "jobs/results/preparing.html"
    return render(
        request,
        f"{template}#waiting" if request.htmx else template,
        {"output": output, "task": output.target.task},
    )


@require_GET
def output_play(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Stream a mirrored output inline (with byte ranges, so the players can seek)."""
    output = _mirrored_output(pk)
    if not output.file or output.mirror_state != Output.MirrorState.MIRRORED:
        raise Http404("This output is not kept yet.")
    return _serve_output(request, output, as_attachment=False)


def _zip_response(
    request: HtmxHttpRequest, task: Task, outputs: list[Output], name: str
) -> StreamingHttpResponse:
    """`outputs` streamed as one ZIP with its manifest, downloaded as `name`."""
    response = StreamingHttpResponse(
        task_zip_stream(task, outputs, requested_by=request.user), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(True, download_name(name, "zip"))
    return response


@require_GET
def task_zip(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """All kept outputs of a task in one ZIP, with a manifest, streamed as it is written."""
    task = _task_with_targets(pk)
    outputs = kept_outputs(o for t in task.targets.all() for o in t.outputs.all())
    if not outputs:
        raise Http404("No output of this task is kept yet.")
    audit.record(request, audit.Action.OUTPUT_DOWNLOADED, task, zip="task", files=len(outputs))
    return _zip_response(request, task, outputs, f"{source_stem(task)} - task {task.pk}.zip")


@require_GET
def task_combined_zip(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The latest good output of each target in one ZIP: the task's own completed targets,
    and for a failed one the outputs of the re-run that completed it (`rerun_fixes`); each
    manifest row names the task its file comes from."""
    task = _task_with_targets(pk)
    fixes = rerun_fixes(task=task)
    if not fixes:
        raise Http404("No re-run of this task completed a failed target.")
    outputs = kept_outputs(o for t in task.targets.all() for o in fixes.get(t.pk, t).outputs.all())
    if not outputs:
        raise Http404("No output of this task or its re-runs is kept yet.")
    name = f"{source_stem(task)} - task {task.pk} with re-runs.zip"
    audit.record(request, audit.Action.OUTPUT_DOWNLOADED, task, zip="combined", files=len(outputs))
    return _zip_response(request, task, outputs, name)


@require_GET
def output_compare(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A/B: this output against the same stem from another task, played in sync."""
    output = _mirrored_output(pk)
    candidates = compare_candidates(output)
    other = None
    other_pk = request.GET.get("with", "")
    if other_pk.isdigit():
        other = next((c for c in candidates if c.pk == int(other_pk)), None)
    return render(
        request,
        "jobs/results/compare.html",
        {"a": output, "b": other, "candidates": candidates, "task": output.target.task},
    )


@require_GET
def output_waveform(request: HtmxHttpRequest, pk: int) -> JsonResponse:
    """The waveform peaks, duration and RMS level of a kept audio output, as JSON: measured
    on the first request and cached next to the file (`jobs.stem_peaks`)."""
    output = _mirrored_output(pk)
    if not output.file or output.mirror_state != Output.MirrorState.MIRRORED:
        raise Http404("This output is not kept yet.")
    if output.format.lower() not in AUDIO_FORMATS:
        raise Http404("Only audio outputs have a waveform.")
    try:
        data = output_peaks(output)
    except FileNotFoundError:
        raise Http404("The kept copy of this file is missing.") from None
    response = JsonResponse(data)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def output_transcript(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A readable transcript (lines with timestamps; words light up while the source plays)."""
    output = _mirrored_output(pk)
    transcript, problem = None, ""
    if output.format != "json":
        problem = "Only JSON transcripts can be shown here; download the other formats."
    elif not output.file or output.mirror_state != Output.MirrorState.MIRRORED:
        problem = "This transcript is not kept yet."
    else:
        with open_stream(output.file.storage, output.file.name) as f:
            data = f.read(TRANSCRIPT_MAX_BYTES + 1)
        if len(data) > TRANSCRIPT_MAX_BYTES:
            problem = "This transcript is too large to show; download it instead."
        else:
            transcript, problem = parse_transcript(data)
    task = output.target.task
    siblings = [o for o in output.target.outputs.all() if o.pk != output.pk]
    return render(
        request,
        "jobs/results/transcript.html",
        {
            "output": output,
            "task": task,
            "transcript": transcript,
            "problem": problem,
            "siblings": siblings,
            "asset_play_url": _optional_url("jobs:asset_audio", task.source_asset_id)
            if task.source_asset_id
            else "",
        },
    )


urlpatterns = [
    path("tasks/<int:pk>/", task_detail, name="task_detail"),
    path("tasks/<int:pk>/outputs.zip", task_zip, name="task_zip"),
    path("tasks/<int:pk>/combined.zip", task_combined_zip, name="task_combined_zip"),
    path("outputs/<int:pk>/download/", output_download, name="output_download"),
    path("outputs/<int:pk>/play/", output_play, name="output_play"),
    path("outputs/<int:pk>/compare/", output_compare, name="output_compare"),
    path("outputs/<int:pk>/peaks/", output_waveform, name="output_peaks"),
    path("outputs/<int:pk>/transcript/", output_transcript, name="output_transcript"),
]
