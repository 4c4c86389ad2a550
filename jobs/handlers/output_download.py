"""`output_download`: mirror one output into `storages["outputs"]` before its signed link
(1 h) and AudioShake's copy expire."""

import io
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import storages
from django.utils import timezone

from jobs.audiofile import output_content_problem
from jobs.audioshake import AudioShakeError, NotFound, OutputHostRefused, OutputTooLarge
from jobs.engine.leases import Lease, LeaseLost, Outcome, fenced, record, settle
from jobs.engine.schedule import backoff_delay
from jobs.handlers.common import Client, error_message, redact_links, retry_for
from jobs.models import Output, WorkItem
from jobs.progress import task_changed
from jobs.storage import Writer, open_writer

LINK_FRESH_FOR = timedelta(minutes=50)  # output links last an hour; older ones are re-fetched
# The bytes the content check sees (`output_content_problem` reads the first 64 KiB, and past
# an ID3 tag a few KiB more: 1 MiB covers a tag with cover art).
HEAD_KEEP = 1024 * 1024


def _refresh_link(lease: Lease, client: Client, output: Output) -> str | None:
    """A fresh signed link from `GET /tasks/{id}` (links expire after an hour)."""
    task = output.target.task
    if not task.remote_id:
        return None
    remote = client.get_task(task.remote_id)
    now = timezone.now()
    link = None
    for target in remote.targets:
        if target.id != output.target.remote_id:
            continue
        for item in target.output:
            if item.name == output.name and item.format == output.format and item.link:
                link = item.link
    with fenced(lease):
        if link:
            Output.objects.filter(pk=output.pk).update(remote_link=link, link_seen_at=now)
    return link


def _host(link: str) -> str:
    try:
        return urlsplit(link).hostname or "(none)"
    except ValueError:
        return "(invalid)"


def output_download(lease: Lease, client: Client) -> Outcome:
    """Mirror one output into `storages["outputs"]`: stream it straight into the storage (size
    capped, no local copy first), verify its size and content, commit, record. Once per output:
    the item's unique key and lease, and the mirrored state checked first."""
    item = WorkItem.objects.select_related("output__target__task").get(pk=lease.item_id)
    output = item.output
    if output is None:
        outcome = Outcome.done("output deleted")
        record(lease, outcome)
        return outcome
    if output.mirror_state == Output.MirrorState.MIRRORED and output.file:
        outcome = Outcome.done("already kept")
        record(lease, outcome)
        return outcome
    now = timezone.now()
    link: str | None = output.remote_link
    refreshed = False
    if not link or not output.link_seen_at or now - output.link_seen_at > LINK_FRESH_FOR:
        link = _refresh_link(lease, client, output)
        refreshed = True
    if not link:
        return _download_failed(
            lease, output, "AudioShake no longer lists this output, so it cannot be kept."
        )
    # storages["outputs"] at call time (the field's storage was resolved at import).
    storage = storages["outputs"]
    name = output.file.field.generate_filename(output, f"{output.name}.{output.format}")
    while True:
        sink = _Sink(open_writer(storage, name))
        try:
            size = client.download(link=link, fileobj=sink, max_bytes=settings.OUTPUT_MAX_BYTES)
            break
        except NotFound as exc:  # the link expired (401/403/404/410 from the host)
            sink.abort()
            if refreshed:
                outcome = retry_for(exc, lease)
                if outcome.state == WorkItem.State.FAILED:
                    return _download_failed(lease, output, f"Not kept: {outcome.error}")
                record(lease, outcome)
                return outcome
            link = _refresh_link(lease, client, output)
            refreshed = True
            if not link:
                return _download_failed(lease, output, "AudioShake no longer lists this output.")
        except OutputHostRefused as exc:
            sink.abort()
            return _download_failed(
                lease,
                output,
                f"Not downloaded: the link points at {_host(link)}, which is not an "
                f"AudioShake output host ({error_message(exc)}).",
            )
        except OutputTooLarge as exc:
            sink.abort()
            return _download_failed(lease, output, f"Not kept: {error_message(exc)}.")
        except AudioShakeError as exc:
            sink.abort()
            outcome = retry_for(exc, lease)
            if outcome.state == WorkItem.State.FAILED:
                return _download_failed(lease, output, f"Not kept: {outcome.error}")
            with settle(lease, outcome):
                Output.objects.filter(pk=output.pk).update(
                    mirror_error=f"Download failed, retrying: {redact_links(str(exc))}"
                )
                task_changed([output.target.task_id])
            return outcome
        except BaseException:
            sink.abort()
            raise
    if sink.written != size:
        sink.abort()
        outcome = Outcome.retry(
            backoff_delay(lease.attempt), f"Wrote {sink.written} bytes of {size}; retrying"
        )
        record(lease, outcome)
        return outcome
    # An error page or garbage under a signed link is never kept as audio: judged on the
    # first bytes, before the file is committed to the storage.
    problem = output_content_problem(io.BytesIO(bytes(sink.head)), output.format)
    if problem:
        sink.abort()
        return _download_failed(lease, output, f"Not kept: {problem}.")
    try:
        name = sink.commit()
    except BaseException:
        sink.abort()
        raise
    try:
        stored = storage.size(name)
    except (NotImplementedError, OSError):
        stored = size
    if stored != size:
        storage.delete(name)
        outcome = Outcome.retry(
            backoff_delay(lease.attempt), f"Storage holds {stored} bytes of {size}; retrying"
        )
        record(lease, outcome)
        return outcome
    outcome = Outcome.done(f"kept {size} bytes")
    try:
        with settle(lease, outcome):
            Output.objects.filter(pk=output.pk).update(
                file=name,
                size_bytes=size,
                mirror_state=Output.MirrorState.MIRRORED,
                mirror_error="",
                mirrored_at=timezone.now(),
            )
            task_changed([output.target.task_id])
    except LeaseLost:
        storage.delete(name)  # the new holder records its own copy
        raise
    return outcome


class _Sink:
    """What the client writes a download into: the storage's writer, keeping the first bytes
    (HEAD_KEEP) in memory for the content check."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self.head = bytearray()

    @property
    def written(self) -> int:
        return self._writer.written

    def write(self, data: bytes) -> int:
        if len(self.head) < HEAD_KEEP:
            self.head += data[: HEAD_KEEP - len(self.head)]
        return self._writer.write(data)

    def commit(self) -> str:
        return self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()


def _download_failed(lease: Lease, output: Output, message: str) -> Outcome:
    outcome = Outcome.failed(message)
    with settle(lease, outcome):
        Output.objects.filter(pk=output.pk).update(
            mirror_state=Output.MirrorState.FAILED, mirror_error=message
        )
        task_changed([output.target.task_id])
    return outcome
