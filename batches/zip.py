"""The batch ZIP: every kept output of the batch's tasks, one folder per task
("01 - Song one/…", each with the task's own manifest.json and manifest.csv), streamed as it
is written (`jobs.results.tasks_zip_stream`)."""

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from batches.models import Batch, BatchTask
from jobs.audiofile import download_name
from jobs.models import Output, Target, Task
from jobs.results import kept_outputs, source_stem, tasks_zip_stream


def batch_folders(batch: Batch) -> list[tuple[str, Task, list[Output]]]:
    """(folder, task, kept outputs) for each task of the batch that has any, in batch order,
    in four queries whatever the batch's size."""
    targets = Target.objects.prefetch_related("outputs").order_by("position", "id")
    items = (
        BatchTask.objects.filter(batch=batch)
        .select_related("task__project", "task__created_by")
        .prefetch_related(Prefetch("task__targets", queryset=targets))
        .order_by("position", "id")
    )
    items = list(items)
    width = max(2, len(str(len(items))))
    folders = []
    for item in items:
        task = item.task
        outputs = kept_outputs(o for t in task.targets.all() for o in t.outputs.all())
        if outputs:
            label = item.title or source_stem(task)
            name = download_name(f"{item.position + 1:0{width}d} - {label}", "")
            folders.append((name, task, outputs))
    return folders


def batch_zip_response(batch: Batch, *, requested_by: object) -> StreamingHttpResponse | None:
    """The batch's ZIP as a download, or None when no output of it is kept yet."""
    folders = batch_folders(batch)
    if not folders:
        return None
    response = StreamingHttpResponse(
        tasks_zip_stream(folders, requested_by=requested_by), content_type="application/zip"
    )
    name = download_name(f"{batch.name} - batch {batch.pk}.zip", "zip")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
