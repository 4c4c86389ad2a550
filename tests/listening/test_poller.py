"""The poller renders mix exports: the view only writes the export and its `mix_render` work
item; a real poller cycle (the engine's registry, leases and fencing) renders the file into
the outputs storage, and the page's fragment then offers the download."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import ApiHealth, Output, Task, WorkItem
from listening.models import MixExport
from tests.listening.conftest import STEMS, mix_post, rendered, sine, weighted_sum
from tests.poller.helpers import LINES, cycle
from tests.results.conftest import add_output

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

HALF = 10 ** (-6.0206 / 20)
MINUS_6 = 10 ** (-6 / 20)


def test_the_poller_renders_the_weighted_sum(
    sandbox_api: str, member_client: Client, stems_task: Task
) -> None:
    """POST writes a queued export and its work item and renders nothing; one poller cycle
    renders it: the kept FLAC's samples are 0.5 x vocals + (-6 dB) x drums."""
    response = mix_post(member_client, stems_task, {"vocals": -6.0206, "drums": -6}, fmt="flac")
    assert response.status_code == 200
    export = MixExport.objects.get()
    assert (export.state, export.progress, export.format, bool(export.file)) == (
        "queued",
        0,
        "flac",
        False,
    )
    item = WorkItem.objects.get(key=f"mix_render:{export.pk}")
    assert item.kind == WorkItem.Kind.MIX_RENDER
    assert [s.gain_db for s in export.stems.all()] == [-6.0206, -6.0]

    LINES.clear()
    cycle()  # the catalogue's sync (seeded from the fallback file) may run in it too
    assert [line for line in LINES if "kind=mix_render" in line and "state=done" in line], LINES
    export.refresh_from_db()
    item.refresh_from_db()
    assert (export.state, export.progress, item.state) == ("done", 100, "done")
    assert export.file.name.startswith(f"mixes/{stems_task.pk}/")
    assert (export.sample_rate, export.channels, export.frames) == (44100, 1, 3 * 44100)
    assert export.clipped_samples == 0
    assert export.message == ""
    expected = weighted_sum([(STEMS["vocals"], HALF), (STEMS["drums"], MINUS_6)])
    assert abs(rendered(export)[:, 0] - expected).max() <= 1.5 / 2**23

    fragment = member_client.get(f"/listening/mixes/{export.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 286  # finished: the poll stops
    assert "hx-trigger" not in fragment.content.decode()
    assert f"/listening/mixes/{export.pk}/download/" in fragment.content.decode()
    download = member_client.get(f"/listening/mixes/{export.pk}/download/")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert f"task {stems_task.pk} mix {export.pk}.flac" in download["Content-Disposition"]
    with export.file.open("rb") as f:
        assert b"".join(download.streaming_content) == f.read()


def test_a_clipping_mix_is_reported_on_the_page(
    sandbox_api: str, member_client: Client, stems_task: Task
) -> None:
    """+12 dB on both stems clips: the export is done and its row says how much clipped."""
    mix_post(member_client, stems_task, {"vocals": 12, "drums": 12})
    cycle()
    export = MixExport.objects.get()
    assert export.state == "done"
    assert export.clipped_samples > 0
    page = member_client.get(stems_task.get_absolute_url()).content.decode()
    assert "The mix clipped:" in page
    assert "Normalise" in page


def test_stems_of_two_rates_end_in_an_error_with_the_reason(
    sandbox_api: str, member_client: Client, stems_task: Task
) -> None:
    """A stem at 48 kHz among 44.1 kHz ones: the poller fails the export (and its item, for
    good) with the message, and the fragment shows it and stops polling."""
    drums = Output.objects.get(target__task=stems_task, name="drums")
    drums.delete()
    add_output(drums.target, "drums", "wav", sine(660, 1.0, 0.5, rate=48000))
    mix_post(member_client, stems_task, {"vocals": 0, "drums": 0})
    cycle()
    export = MixExport.objects.get()
    assert export.state == "error"
    assert "different sample rates" in export.message
    assert "48000 Hz" in export.message
    assert WorkItem.objects.get(key=export.work_key).state == "failed"
    fragment = member_client.get(f"/listening/mixes/{export.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 286
    assert "different sample rates" in fragment.content.decode()
    assert member_client.get(f"/listening/mixes/{export.pk}/download/").status_code == 404


def test_a_stem_file_gone_from_storage_is_an_error_not_a_crash(
    sandbox_api: str, member_client: Client, stems_task: Task
) -> None:
    """The kept file of a stem deleted from storage: the export fails with a message."""
    mix_post(member_client, stems_task, {"vocals": 0})
    vocals = Output.objects.get(target__task=stems_task, name="vocals")
    vocals.file.storage.delete(vocals.file.name)
    cycle()
    export = MixExport.objects.get()
    assert export.state == "error"
    assert "missing" in export.message


def test_a_mix_renders_while_audioshake_is_paused(
    sandbox_api: str, member_client: Client, stems_task: Task
) -> None:
    """With the circuit open (AudioShake failing), the poller still renders mixes (a local
    kind) and leaves the AudioShake work alone until the pause is over."""
    mix_post(member_client, stems_task, {"vocals": 0, "drums": 0}, fmt="wav")
    export = MixExport.objects.get()
    remote, _ = WorkItem.objects.update_or_create(
        key="catalogue_sync",
        defaults={
            "kind": WorkItem.Kind.CATALOGUE_SYNC,
            "state": "ready",
            "attempts": 0,
            "next_attempt_at": timezone.now(),
        },
    )
    ApiHealth.objects.update_or_create(
        pk=1,
        defaults={
            "consecutive_failures": 3,
            "paused_until": timezone.now() + timedelta(minutes=5),
        },
    )
    LINES.clear()
    cycle()
    export.refresh_from_db()
    remote.refresh_from_db()
    assert export.state == "done", LINES
    assert remote.state == "ready"
    assert remote.attempts == 0
