"""Mix exports (the form, its polled status, the download) and ratings of targets (the
form, and the re-run of a flagged target with `high_quality` through the usual confirmation).

No view renders audio or calls AudioShake: an export is a row and a work item that the poller
renders; a re-run is shown with its cost first, like any task, and created by its Submit."""

import mimetypes
from http import HTTPStatus

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

from accounts.http import HtmxHttpRequest, varies_with_htmx
from accounts.permissions import member_required
from jobs.catalogue import catalogue_load
from jobs.forms.tasks import TaskCreateForm
from jobs.forms.taskstate import rerun_state, state_data
from jobs.models import Target, Task
from jobs.ranged import ranged_file_response
from jobs.services.tasks import task_source_in_library
from jobs.views.tasks import _form_page, _review_or_submit
from listening.context import mix_context, rating_context
from listening.forms import MixExportForm, RatingForm
from listening.models import MixExport
from listening.services import (
    mix_candidates,
    mix_export_create,
    ratings_by_target,
    rerun_high_quality_offered,
    rerun_high_quality_target,
    target_rating_save,
)

MIX_PAGE = "listening/mix.html"
RATINGS = "listening/ratings.html"


def _task_with_outputs(pk: int) -> Task:
    targets = Target.objects.prefetch_related("outputs").order_by("position", "id")
    return get_object_or_404(
        Task.objects.prefetch_related(Prefetch("targets", queryset=targets)), pk=pk
    )


@member_required
@require_http_methods(["GET", "POST"])
def mix_export_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """`/listening/tasks/<pk>/mix/`: the Export mix form (GET; the page without JavaScript),
    POST creates the export and its work item. With htmx the block answers itself (200, the
    form's errors included, the gains kept); without, a valid export goes to its status
    page."""
    task = _task_with_outputs(pk)
    stems = mix_candidates(task=task)
    if request.method == "GET":
        return render(request, MIX_PAGE, mix_context(task, MixExportForm(stems=stems)))
    form = MixExportForm(request.POST, stems=stems)
    if form.is_valid():
        try:
            export = mix_export_create(
                task=task,
                user=request.user,
                stems=form.choices(),
                fmt=form.cleaned_data["format"],
                normalise=form.cleaned_data["normalise"],
            )
        except ValidationError as exc:  # a stem went away between the page and the post
            form.add_error(None, exc)
        else:
            if not request.htmx:
                messages.success(request, "Mix queued: the poller renders it in a moment.")
                return redirect("listening:mix_export_status", pk=export.pk)
            # htmx: the block again, the form keeping the gains just used, the new row polling.
    template = f"{MIX_PAGE}#export_block" if request.htmx else MIX_PAGE
    return render(request, template, mix_context(task, form))


@require_GET
@varies_with_htmx
def mix_export_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One export's state: a page, or (htmx) its row, polled every 2 s while it is queued or
    rendering: 204 while the `v` it sent (state.progress) is current, 286 once finished."""
    export = get_object_or_404(MixExport.objects.select_related("task", "created_by"), pk=pk)
    context = {"export": export, "task": export.task}
    if not request.htmx or request.htmx.history_restore_request:
        return render(request, "listening/mix_status.html", context)
    if not export.is_finished and request.GET.get("v") == f"{export.state}.{export.progress}":
        return HttpResponse(status=HTTPStatus.NO_CONTENT)
    response = render(request, f"{MIX_PAGE}#export_row", context)
    if export.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


@require_GET
def mix_export_download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The rendered mix as a download (byte ranges too), for anyone logged in."""
    export = get_object_or_404(MixExport, pk=pk)
    if export.state != MixExport.State.DONE or not export.file:
        raise Http404("This mix is not rendered (yet).")
    try:
        f = export.file.storage.open(export.file.name, "rb")
    except FileNotFoundError:
        raise Http404("The rendered file of this mix is missing.") from None
    size = export.size_bytes if export.size_bytes is not None else export.file.size
    return ranged_file_response(
        request,
        f,
        size=size,
        content_type=mimetypes.guess_type(f"x.{export.format}")[0] or "application/octet-stream",
        filename=export.download_name,
        as_attachment=True,
    )


# Ratings ------------------------------------------------------------------------------------


@member_required
@require_POST
def target_rating_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Save the user's verdict and note on a target (one per user, updated in place). htmx
    gets the target's rating partial back (200, errors included); a plain form post goes back
    to where it came from (`next`, same site only) or the task page."""
    target = get_object_or_404(Target.objects.select_related("task"), pk=pk)
    form = RatingForm(request.POST, prefix=f"rating-{target.pk}")
    if form.is_valid():
        target_rating_save(
            target=target,
            user=request.user,
            verdict=form.cleaned_data["verdict"],
            note=form.cleaned_data["note"],
        )
        form = None
        if not request.htmx:
            messages.success(request, "Rating saved.")
            back = request.POST.get("next", "")
            safe = url_has_allowed_host_and_scheme(
                back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            return redirect(back if safe and back else target.task.get_absolute_url())
    elif not request.htmx:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(target.task)
    ratings = ratings_by_target(targets=[target])[target.pk]
    row = rating_context(
        target,
        ratings,
        request.user,
        catalogue=catalogue_load(),
        form=form,
        next_url=request.POST.get("next", ""),
    )
    return render(request, f"{RATINGS}#target_rating", {"row": row})


@member_required
@require_GET
def target_rerun_high_quality(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """`/listening/targets/<pk>/rerun-high-quality/`: the confirmation of a re-run of this one
    target with the `high_quality` variant, its cost and budget shown first (the re-run flow
    of `jobs.views.tasks`: nothing is created before its Submit). It writes nothing."""
    target = get_object_or_404(
        Target.objects.select_related("task__project", "task__source_asset"), pk=pk
    )
    task = target.task
    catalogue = catalogue_load()
    if not rerun_high_quality_offered(target=target, catalogue=catalogue):
        messages.error(
            request,
            f"Not re-run: {target.model} offers no high_quality variant, uses it already, "
            "or has not completed.",
        )
        return redirect(task)
    source = task_source_in_library(task=task)
    if source is None:
        messages.error(
            request,
            "Not re-run: the source of this task was deleted from the library. "
            "Use “Edit and re-run” with another source.",
        )
        return redirect(task)
    changed = rerun_high_quality_target(target=target)
    state = rerun_state(task=task, source=source, targets=[changed])
    form = TaskCreateForm(state_data(state), catalogue=catalogue)
    if not form.is_valid():
        note = f"Re-run of {target} with high_quality: change what is marked, then review."
        return _form_page(request, form, notes=[note])
    return _review_or_submit(request, form, confirmed=False)


urlpatterns = [
    path("tasks/<int:pk>/mix/", mix_export_view, name="mix_export"),
    path("mixes/<int:pk>/", mix_export_status, name="mix_export_status"),
    path("mixes/<int:pk>/download/", mix_export_download, name="mix_export_download"),
    path("targets/<int:pk>/rating/", target_rating_view, name="target_rating"),
    path(
        "targets/<int:pk>/rerun-high-quality/",
        target_rerun_high_quality,
        name="target_rerun_high_quality",
    ),
]
