"""The listening app's work for the poller: `mix_render` renders one `MixExport` (key
`mix_render:<pk>`) into the outputs storage. No AudioShake call: the stems are the kept
outputs. Registered with the engine from `ListeningConfig.ready()`, like `costs.handlers`.

Progress is written under the item's fence as the blocks go by (at most every 5 %), the end
(file, figures, `done`) in the transaction that settles the item; a render whose lease was
lost deletes the file it saved. A re-armed item of a finished export does nothing."""

import math
import tempfile
import time
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from jobs.engine import registry
from jobs.engine.leases import Lease, LeaseLost, Outcome, fenced, record, settle
from jobs.handlers.common import Client
from jobs.models import WorkItem
from jobs.results import output_label
from jobs.storage import outputs
from listening.models import MixExport, mix_upload_to
from listening.render import MixProblem, MixResult, StemSource, mix_render

PROGRESS_STEP = 5  # percent between two progress writes


def _export_for(lease: Lease) -> MixExport | None:
    key = WorkItem.objects.filter(pk=lease.item_id).values_list("key", flat=True).first() or ""
    pk = key.removeprefix("mix_render:")
    if not pk.isdigit():
        return None
    return MixExport.objects.filter(pk=int(pk)).first()


def _sources(export: MixExport) -> list[StemSource]:
    sources = []
    for stem in export.stems.select_related("output__target").order_by("position", "id"):
        output = stem.output
        sources.append(
            StemSource(
                label=output_label(output, {}),
                open=lambda name=output.file.name: outputs.open(name, "rb"),
                gain=stem.gain,
                pan=stem.pan / 100,
            )
        )
    return sources


def _note(export: MixExport, result: MixResult) -> str:
    if export.normalise and result.scale != 1.0:
        return f"Normalised: scaled by {20 * math.log10(result.scale):+.1f} dB to a -1 dBFS peak."
    if result.clipped_samples:
        return (
            f"The mix clipped: {result.clipped_samples:,} samples went beyond full scale (peak "
            f"{20 * math.log10(result.peak):+.1f} dBFS) and were cut off. Lower the gains, or "
            "export again with “Normalise”."
        )
    return ""


def _fail(lease: Lease, export: MixExport, message: str) -> Outcome:
    outcome = Outcome.failed(message)
    with settle(lease, outcome):
        MixExport.objects.filter(pk=export.pk).update(
            state=MixExport.State.ERROR, message=message, finished_at=timezone.now()
        )
    return outcome


def mix_render_item(lease: Lease, client: Client) -> Outcome:
    """Render the export's stems with their gains into its format, then keep the file."""
    export = _export_for(lease)
    if export is None:
        outcome = Outcome.done("export deleted")
        record(lease, outcome)
        return outcome
    if export.state == MixExport.State.DONE and export.file:
        outcome = Outcome.done("already rendered")
        record(lease, outcome)
        return outcome
    with fenced(lease):
        MixExport.objects.filter(pk=export.pk).update(
            state=MixExport.State.RENDERING, progress=0, message=""
        )
    written = [0]

    def progress(fraction: float) -> None:
        percent = min(99, int(fraction * 100))
        if percent - written[0] >= PROGRESS_STEP:
            with fenced(lease):
                MixExport.objects.filter(pk=export.pk).update(progress=percent)
            written[0] = percent

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shakeweb-mix-") as folder:
        path = str(Path(folder) / f"mix.{export.format}")
        try:
            result = mix_render(
                _sources(export),
                path=path,
                fmt=export.format,
                normalise=export.normalise,
                progress=progress,
            )
        except MixProblem as exc:
            return _fail(lease, export, str(exc))
        except FileNotFoundError:
            return _fail(lease, export, "A stem's kept file is missing; download it again first.")
        with open(path, "rb") as f:
            name = outputs.save(mix_upload_to(export, path), File(f))
    size = outputs.size(name)
    outcome = Outcome.done(f"{result.frames} frames in {time.monotonic() - started:.1f} s")
    try:
        with settle(lease, outcome):
            MixExport.objects.filter(pk=export.pk).update(
                state=MixExport.State.DONE,
                progress=100,
                file=name,
                size_bytes=size,
                sample_rate=result.sample_rate,
                channels=result.channels,
                frames=result.frames,
                peak=result.peak,
                clipped_samples=result.clipped_samples,
                message=_note(export, result),
                finished_at=timezone.now(),
            )
    except LeaseLost:
        outputs.delete(name)
        raise
    return outcome


def register_handlers() -> None:
    registry.register(WorkItem.Kind.MIX_RENDER, mix_render_item, local=True)
