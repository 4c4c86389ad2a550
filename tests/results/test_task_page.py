"""The task page, its live status fragment, downloads, the ZIP and the transcript viewer."""

import html
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs.models import Output, PollerHeartbeat, Target, Task, WorkItem
from jobs.progress import task_changed
from jobs.results import stem_rows
from jobs.services.tasks import rerun_targets
from tests.results.conftest import (
    add_output,
    fixed_by_rerun,
    text_only,
    vocals_in_three_formats,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_task_page_shows_metadata_exactly_and_targets(member_client, task_factory):
    """The page shows the metadata exactly as typed and one row per target."""
    task = task_factory()
    task.metadata = "  <b>raw</b>\n\ttabbed & 'quoted'  "
    task.save()
    response = member_client.get(reverse("jobs:task_detail", args=[task.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "  &lt;b&gt;raw&lt;/b&gt;\n\ttabbed &amp; &#x27;quoted&#x27;  " in body
    assert body.count('id="target-') == 2


def test_status_fragment_polls_while_processing(member_client, task_factory):
    """While targets process, the fragment keeps its 2 s trigger and answers 200."""
    task = task_factory(status="processing")
    response = member_client.get(
        reverse("jobs:task_detail", args=[task.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'hx-trigger="every 2s, tab-shown from:document"' in body
    assert "<html" not in body


def test_status_fragment_stops_polling_when_finished(member_client, task_factory):
    """Once every target is terminal and kept: status 286 and no trigger, player sent OOB."""
    task = task_factory(status="completed", mirrored=True)
    response = member_client.get(
        reverse("jobs:task_detail", args=[task.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 286
    body = response.content.decode()
    assert "hx-trigger" not in body
    assert 'id="stem-player"' in body
    assert 'hx-swap-oob="true"' in body


def test_status_fragment_keeps_polling_until_outputs_are_kept(member_client, task_factory):
    """A completed task whose files are not mirrored yet still polls (keeping files…)."""
    task = task_factory(status="completed", mirrored=False)
    response = member_client.get(
        reverse("jobs:task_detail", args=[task.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "keeping" in response.content.decode()


def test_status_fragment_query_count_is_constant(
    member_client, task_factory, django_assert_max_num_queries
):
    """The fragment's query count does not grow with the number of targets."""
    small = task_factory(models=("vocals",))
    big = task_factory(models=tuple(f"m{i}" for i in range(20)))
    url_small = reverse("jobs:task_detail", args=[small.pk])
    url_big = reverse("jobs:task_detail", args=[big.pk])
    member_client.get(url_small, headers={"HX-Request": "true"})  # warm the session/user cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        member_client.get(url_small, headers={"HX-Request": "true"})
    with CaptureQueriesContext(connection) as twenty:
        member_client.get(url_big, headers={"HX-Request": "true"})
    assert len(one) == len(twenty)
    assert len(twenty) <= 10


def test_status_fragment_writes_nothing(member_client, task_factory):
    """A poll writes nothing: no session save, no row changed, no Set-Cookie."""
    task = task_factory()
    url = reverse("jobs:task_detail", args=[task.pk])
    member_client.get(url, headers={"HX-Request": "true"})
    session_before = list(Session.objects.values_list("session_key", "session_data", "expire_date"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = member_client.get(url, headers={"HX-Request": "true"})
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies
    assert list(Session.objects.values_list("session_key", "session_data", "expire_date")) == (
        session_before
    )


def poll_token(body: str) -> str:
    """The token the status fragment's poll sends back (its `hx-vals`)."""
    match = re.search(r"""hx-vals='([^']*)'""", body)
    assert match, "the fragment does not poll"
    return json.loads(html.unescape(match.group(1)))["v"]


def test_unchanged_status_poll_gets_204_with_no_body(member_client, task_factory):
    """The fragment's poll, sent back while nothing it shows changed: 204, empty, in at most
    the session's queries plus four, and no write."""
    PollerHeartbeat.objects.create(name="p1", last_seen_at=timezone.now())
    task = task_factory(status="processing", models=tuple(f"m{i}" for i in range(20)))
    url = reverse("jobs:task_detail", args=[task.pk])
    token = poll_token(member_client.get(url, headers={"HX-Request": "true"}).content.decode())
    with CaptureQueriesContext(connection) as queries:
        response = member_client.get(url, {"v": token}, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.content == b""
    assert len(queries) <= 6  # session, user, task, targets, heartbeats, API health
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]


@pytest.mark.parametrize("change", ["target", "output", "poller", "late"])
def test_status_poll_gets_the_fragment_when_something_shown_changed(
    member_client, task_factory, change, settings
):
    """A target's status, an output kept, the pollers' health or a target turning late: the
    poll gets the fragment again (200), not 204."""
    beat = PollerHeartbeat.objects.create(name="p1", last_seen_at=timezone.now())
    task = task_factory(status="processing")
    url = reverse("jobs:task_detail", args=[task.pk])
    token = poll_token(member_client.get(url, headers={"HX-Request": "true"}).content.decode())
    target = task.targets.first()
    if change == "target":
        Target.objects.filter(pk=target.pk).update(status="completed")
        task_changed([task.pk])
    elif change == "output":
        output = Output.objects.create(target=target, name="vocals", format="wav")
        Output.objects.filter(pk=output.pk).update(mirror_state=Output.MirrorState.FAILED)
        task_changed([task.pk])
    elif change == "poller":
        beat.delete()
    else:
        Task.objects.filter(pk=task.pk).update(
            remote_created_at=timezone.now() - timedelta(hours=5)
        )
    response = member_client.get(url, {"v": token}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert poll_token(response.content.decode()) != token


def test_status_fragment_says_when_no_poller_runs(member_client, task_factory):
    """Rows that cannot move say why instead of spinning."""
    task = task_factory()
    response = member_client.get(
        reverse("jobs:task_detail", args=[task.pk]), headers={"HX-Request": "true"}
    )
    assert "No poller is running" in response.content.decode()


def test_error_target_shows_code_message_and_hint(member_client, task_factory):
    """A failed target on an uploaded file shows its code, message and the re-encode hint."""
    task = task_factory(status="error")
    task.source_url = ""  # an uploaded asset (since deleted from the library)
    task.save()
    body = member_client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert "Error 400: Error fetching or processing asset" in body
    assert "re-encode it" in body
    assert "(deleted from the library)" in body


def test_error_on_a_url_source_points_at_the_url(member_client, task_factory):
    """The same error on a URL source says to check the URL, not to re-encode a file."""
    task = task_factory(status="error")
    body = member_client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert "check that it is public" in body
    assert "re-encode" not in body
    assert "https://example.com/song.wav" in body


def test_credits_hidden_from_members_without_the_cost_permission(
    client, viewer, member, task_factory
):
    """Credits show to those who see costs, not to a viewer without the permission."""
    task = task_factory(status="completed", mirrored=True)
    client.force_login(viewer)
    body = client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert ">Credits<" not in body
    assert "estimated" not in body
    manifest = _zip_manifest(client, task)
    assert all("cost" not in row for row in manifest["files"])
    viewer.can_view_costs = True
    viewer.save()
    body = client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert ">Credits<" in body
    assert all("cost" in row for row in _zip_manifest(client, task)["files"])


def _zip_manifest(client, task):
    response = client.get(reverse("jobs:task_zip", args=[task.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return json.loads(archive.read("manifest.json"))


def test_download_serves_the_kept_file_with_a_clean_name(member_client, task_factory):
    """A kept output downloads through the dashboard as `<asset> - <model>.<ext>`."""
    task = task_factory(status="completed", mirrored=True)
    output = Output.objects.filter(target__task=task, name="vocals").get()
    response = member_client.get(reverse("jobs:output_download", args=[output.pk]))
    assert response.status_code == 200
    assert 'filename="song - vocals.wav"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content)[:4] == b"RIFF"


def test_play_supports_byte_ranges(member_client, task_factory):
    """The inline player URL honours Range so audio elements can seek."""
    task = task_factory(status="completed", mirrored=True)
    output = Output.objects.filter(target__task=task).first()
    response = member_client.get(
        reverse("jobs:output_play", args=[output.pk]), headers={"Range": "bytes=4-11"}
    )
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 4-11/{output.size_bytes}"
    assert b"".join(response.streaming_content) == output.file.open("rb").read()[4:12]


def test_download_without_mirror_asks_the_poller(member_client, task_factory):
    """A missing mirror becomes due work (refresh for a fresh link, then download), never a
    remote call in the request; the page waits and polls."""
    task = task_factory(status="completed", mirrored=False)
    output = Output.objects.filter(target__task=task).first()
    response = member_client.get(reverse("jobs:output_download", args=[output.pk]))
    assert response.status_code == 200
    assert 'hx-trigger="every 2s, tab-shown from:document"' in response.content.decode()
    keys = set(WorkItem.objects.values_list("key", flat=True))
    assert {f"task_refresh:{task.pk}", f"output_download:{output.pk}"} <= keys


def test_zip_contains_outputs_and_manifest(member_client, task_factory):
    """The ZIP holds every kept output under its download name plus a manifest."""
    task = task_factory(status="completed", mirrored=True)
    response = member_client.get(reverse("jobs:task_zip", args=[task.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert names == ["manifest.csv", "manifest.json", "song - drums.wav", "song - vocals.wav"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["task"] == task.pk
    assert manifest["metadata"] == task.metadata
    assert {f["model"] for f in manifest["files"]} == {"vocals", "drums"}
    assert archive.read("song - vocals.wav")[:4] == b"RIFF"


def test_transcript_viewer_shows_lines_and_words(member_client, task_factory):
    """A transcription JSON is shown as timestamped lines with word spans."""
    task = task_factory(models=("transcription",), status="completed", mirrored=True)
    output = Output.objects.get(target__task=task)
    doc = {
        "text": "hello world",
        "lines": [
            {
                "text": "hello world",
                "words": [
                    {"text": "hello", "start": 0.5, "end": 0.9},
                    {"text": "world", "start": 1.0, "end": 1.4},
                ],
            }
        ],
    }
    output.format = "json"
    output.file.save("t.json", ContentFile(json.dumps(doc).encode()))
    body = member_client.get(reverse("jobs:output_transcript", args=[output.pk])).content.decode()
    assert 'class="word" data-start="0.500" data-end="0.900">hello</span>' in body
    assert "0:00.5" in body


def test_transcript_viewer_explains_bad_json(member_client, task_factory):
    """Garbage in a transcript gives a message, not a 500."""
    task = task_factory(models=("transcription",), status="completed", mirrored=True)
    output = Output.objects.get(target__task=task)
    output.format = "json"
    output.file.save("t.json", ContentFile(b"\xff not json"))
    response = member_client.get(reverse("jobs:output_transcript", args=[output.pk]))
    assert response.status_code == 200
    assert "not valid JSON" in response.content.decode()


def test_transcript_viewer_explains_deeply_nested_json(member_client, task_factory):
    """A transcript of 100,000 nested arrays (RecursionError in json) gives a message."""
    task = task_factory(models=("transcription",), status="completed", mirrored=True)
    output = Output.objects.get(target__task=task)
    output.format = "json"
    output.file.save("t.json", ContentFile(b'{"lines": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    response = member_client.get(reverse("jobs:output_transcript", args=[output.pk]))
    assert response.status_code == 200
    assert "nested too deeply" in response.content.decode()


def test_compare_offered_only_when_another_run_exists(member_client, task_factory):
    """ "Compare" appears on a stem only once another task on the source kept the same stem."""
    first = task_factory(status="completed", mirrored=True)
    url = reverse("jobs:task_detail", args=[first.pk])
    assert "Compare with another run" not in member_client.get(url).content.decode()
    task_factory(status="completed", mirrored=True)
    assert "Compare with another run" in member_client.get(url).content.decode()


def test_compare_lists_the_same_stem_from_other_tasks(member_client, task_factory, member, project):
    """A/B candidates are the same stem of the same source from other tasks."""
    first = task_factory(status="completed", mirrored=True)
    second = task_factory(status="completed", mirrored=True)
    a = Output.objects.get(target__task=first, name="vocals")
    b = Output.objects.get(target__task=second, name="vocals")
    response = member_client.get(reverse("jobs:output_compare", args=[a.pk]), {"with": b.pk})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'value="{b.pk}"' in body
    assert reverse("jobs:output_play", args=[b.pk]) in body


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00.0"), (83.44, "1:23.4"), (3725.0, "1:02:05.0"), (None, "")]
)
def test_clock_filter(seconds, text):
    """Transcript timestamps read as m:ss.t (h:mm:ss.t past an hour)."""
    from jobs.templatetags.results import clock

    assert clock(seconds) == text


def test_player_has_one_row_per_stem_played_in_its_best_format(member_client, task_factory):
    """Vocals in wav + mp3 + flac with residual is two player rows (wav), mp3/flac download."""
    task = task_factory(status="completed", mirrored=True, models=("vocals",))
    target = vocals_in_three_formats(task)
    body = member_client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    player = body.split('id="stem-player"')[1]
    assert player.count("data-stem ") == 2
    played = re.findall(r'data-stem data-src="([^"]+)"', player)
    wavs = Output.objects.filter(target=target, format="wav").order_by("name")
    assert played == [reverse("jobs:output_play", args=[o.pk]) for o in wavs]
    for other in Output.objects.filter(target=target).exclude(format="wav"):
        assert reverse("jobs:output_download", args=[other.pk]) in player
        assert reverse("jobs:output_play", args=[other.pk]) not in player
        assert reverse("jobs:output_peaks", args=[other.pk]) not in player


def test_player_prefers_lossless_over_mp3():
    """wav > flac > aiff > mp3 > mp4, whatever order the outputs come in."""
    target = Target(pk=1, model="drums")
    outputs = [
        Output(pk=n, target=target, name="drums", format=fmt)
        for n, fmt in enumerate(("mp3", "aiff", "flac"))
    ]
    (row,) = stem_rows(outputs)
    assert row.play.format == "flac"
    assert [o.format for o in row.others] == ["aiff", "mp3"]
    assert row.label == "Drums"


def test_compare_candidates_are_labelled_by_output_name(member_client, task_factory):
    """A/B candidates vocals and vocals_residual read differently, the same name first."""
    first = task_factory(status="completed", mirrored=True, models=("vocals",))
    second = task_factory(status="completed", mirrored=True, models=("vocals",))
    add_output(second.targets.get(), "vocals_residual", "wav")
    a = Output.objects.get(target__task=first, name="vocals")
    body = member_client.get(reverse("jobs:output_compare", args=[a.pk])).content.decode()
    options = re.findall(r"<option [^>]*>([^<]*)</option>", body)
    assert [o.split(" · ")[1] for o in options] == ["Vocals", "Vocals residual"]
    assert "<h1>A/B: Vocals</h1>" in body


def test_text_only_task_offers_its_zip_and_says_there_is_nothing_to_play(
    member_client, task_factory
):
    """A completed transcription-only task: a ZIP of its text files, no waiting Listen card."""
    task = text_only(task_factory(models=("transcription",), status="completed", mirrored=True))
    body = member_client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert "Download all (ZIP)" in body
    assert "Nothing to listen to: this task made text only." in body
    assert "The stems appear here" not in body
    response = member_client.get(reverse("jobs:task_zip", args=[task.pk]))
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "song - transcription.json" in names
    assert "song - transcription.txt" in names


def test_finished_task_without_kept_stems_does_not_wait(member_client, task_factory):
    """Every audio target failed: the Listen card says nothing was kept, and no ZIP."""
    task = task_factory(status="error")
    body = member_client.get(reverse("jobs:task_detail", args=[task.pk])).content.decode()
    assert "Nothing to listen to: no stem of this task was kept" in body
    assert "The stems appear here" not in body
    assert "Download all (ZIP)" not in body


def test_failures_fixed_by_a_rerun_show_the_rerun_instead(member_client, task_factory):
    """After a re-run completed both failed targets: its state in place of "Completed with
    errors", no "Re-run 2 failed targets", and the combined ZIP as the first action."""
    original, rerun = fixed_by_rerun(task_factory)
    assert original.state == "partial"  # the stored state keeps its own rule
    body = member_client.get(reverse("jobs:task_detail", args=[original.pk])).content.decode()
    header = body.split('id="task-state"')[1].split("</span>")[0]
    assert f"Failures fixed by re-run #{rerun.pk}" in header
    assert "Completed with errors" not in header
    assert "failed target" not in body.split('id="task-actions"')[1].split("</div>")[0]
    assert "?failed_only=1" not in body
    assert reverse("jobs:task_combined_zip", args=[original.pk]) in body
    assert "Download with re-run fixes (ZIP)" in body


def test_combined_zip_has_the_latest_good_output_of_each_target(member_client, task_factory):
    """The original's vocals and the re-run's drums and bass, each row naming its task."""
    original, rerun = fixed_by_rerun(task_factory)
    response = member_client.get(reverse("jobs:task_combined_zip", args=[original.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    tasks = {f["model"]: f["task"] for f in manifest["files"]}
    assert tasks == {"vocals": original.pk, "drums": rerun.pk, "bass": rerun.pk}
    assert "song - drums.wav" in archive.namelist()
    nothing = task_factory(status="completed", mirrored=True)
    url = reverse("jobs:task_combined_zip", args=[nothing.pk])
    assert member_client.get(url).status_code == 404


def test_partly_fixed_failures_offer_only_the_rest(member_client, task_factory):
    """A re-run fixed drums, not bass: "Re-run 1 failed target" (bass only), the task's own
    state and the re-run's next to it."""
    original, rerun = fixed_by_rerun(task_factory, fixed=("drums",))
    body = member_client.get(reverse("jobs:task_detail", args=[original.pk])).content.decode()
    header = body.split('id="task-state"')[1].split("</h1>")[0]
    assert "Completed with errors" in header
    assert f"Re-run #{rerun.pk}: Completed with errors" in header
    assert "Re-run 1 failed target</a>" in body
    assert "(1 fixed by re-run)" in body
    assert [t.model for t in rerun_targets(task=original, failed_only=True)] == ["bass"]
