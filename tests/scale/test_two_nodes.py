"""The production shape: two web processes and two pollers on PostgreSQL sharing one S3 bucket
and nothing on disk. Upload on one web process, submit on the other, both pollers working,
every output mirrored once and playable from either web process."""

import re
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.conf import global_settings
from django.db import connection
from django.urls import reverse

from jobs.catalogue import seed_fallback
from jobs.models import Asset, Output, RemoteStatus, Task
from sandbox.models import SandboxAsset
from tests.conftest import PASSWORD
from tests.poller.conftest import wav_bytes
from tests.poller.helpers import sandbox_work
from tests.scale.conftest import player_links
from tests.storage.conftest import Bucket
from tests.tasks.helpers import form_body

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="several web processes and pollers on one database is a PostgreSQL deployment; "
        "run with DATABASE_URL=postgres://...",
    ),
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]

TARGETS = [
    {"model": "vocals", "formats": ["wav", "mp3"]},
    {"model": "drums", "formats": ["wav", "flac"]},
    {"model": "bass", "formats": ["wav"]},
    {"model": "other", "formats": ["wav"]},
]


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _wait(check: object, what: str, timeout: float = 90) -> None:
    """Let the sandbox work (it runs in this process) until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        sandbox_work()
        time.sleep(0.2)


def test_two_web_processes_and_two_pollers_share_only_the_bucket(
    sandbox, bucket: Bucket, web_processes, pollers, member, project, tmp_path, settings
) -> None:
    """Upload on web A, submit on web B; two pollers forward (streamed from S3), submit,
    refresh and mirror every output once into S3; each output plays from A and from B, and a
    ranged request through the presigned link moves only the bytes asked for."""
    seed_fallback()
    # The web processes verify passwords with the shipped hashers (this process uses a fast one).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    member.set_password(PASSWORD)
    member.save(update_fields=["password"])
    storage = {
        "UPLOADS_STORAGE": bucket.url("uploads"),
        "OUTPUTS_STORAGE": bucket.url("outputs"),
        "POLLER_BATCH_SIZE": "1",  # one item per cycle: the work is shared out
    }
    roots = {name: tmp_path / name / "media" for name in ("web-a", "web-b", "poll-1", "poll-2")}
    web_a = web_processes("web-a", MEDIA_ROOT=str(roots["web-a"]), **storage)
    web_b = web_processes("web-b", MEDIA_ROOT=str(roots["web-b"]), **storage)
    fleet = [
        pollers("--name", name, MEDIA_ROOT=str(roots[name]), **storage)
        for name in ("poll-1", "poll-2")
    ]
    for poller in fleet:
        poller.wait_for(lambda line: "event=started" in line)

    # Upload on A.
    on_a = web_a.login(member.username)
    on_a.get(f"{web_a.base}{reverse('jobs:asset_upload')}", timeout=10)
    song = wav_bytes(seconds=10.0)
    uploaded = web_a.post(
        on_a,
        reverse("jobs:asset_upload"),
        data={"project": str(project.pk), "rights": "on"},
        files={"files": ("two nodes.wav", song, "audio/wav")},
    )
    assert uploaded.status_code == 200, uploaded.text[:2000]
    assert Asset.objects.exists(), re.findall(r'class="errorlist"[^>]*>(.*?)</ul>', uploaded.text)
    asset = Asset.objects.get()
    assert bucket.keys("uploads/") == [f"uploads/{asset.file.name}"]
    _wait(
        lambda: Asset.objects.get(pk=asset.pk).remote_status == RemoteStatus.READY,
        "the upload to be forwarded",
    )
    assert SandboxAsset.objects.get().file_path.read_bytes() == song

    # Submit on B.
    on_b = web_b.login(member.username)
    on_b.get(f"{web_b.base}{reverse('jobs:task_create')}", timeout=10)
    body = form_body(asset=asset, project=project, targets=TARGETS, step="confirm")
    submitted = web_b.post(on_b, reverse("jobs:task_create"), data=body)
    assert submitted.status_code == 302, submitted.text[:2000]
    task = Task.objects.get()
    assert submitted.headers["Location"] == task.get_absolute_url()

    def mirrored() -> bool:
        outputs = Output.objects.filter(target__task=task)
        return (
            outputs.count() == 6
            and not outputs.exclude(mirror_state=Output.MirrorState.MIRRORED).exists()
        )

    _wait(mirrored, "every output to be mirrored")
    for poller in fleet:
        assert poller.stop() == 0
    outputs = list(Output.objects.filter(target__task=task).order_by("pk"))

    # Both pollers worked, each output was downloaded exactly once, and all of it is in S3.
    rows = [row for poller in fleet for row in poller.items()]
    periodic = ("catalogue_sync", "usage_refresh")  # these come round again: state "ready"
    assert {row["state"] for row in rows if row["kind"] not in periodic} == {"done"}
    assert set(Counter(row["poller"] for row in rows)) == {"poll-1", "poll-2"}, rows
    downloads = Counter(row["item"] for row in rows if row["kind"] == "output_download")
    assert len(downloads) == len(outputs) == 6
    assert set(downloads.values()) == {1}
    assert sorted(bucket.keys("outputs/")) == sorted(f"outputs/{o.file.name}" for o in outputs)
    assert bucket.pending_uploads() == []
    for name, root in roots.items():
        assert _files_under(root) == [], name

    # Every output plays from either web process, through a presigned link.
    pages = {
        web.name: session.get(f"{web.base}{task.get_absolute_url()}", timeout=10)
        for web, session in ((web_a, on_a), (web_b, on_b))
    }
    for page in pages.values():
        assert page.status_code == 200
        players = player_links(page.text)  # one player per stem
        assert len(players) == len(TARGETS)
        assert players <= {o.pk for o in outputs}
    for output in outputs:
        stored = bucket.read(f"outputs/{output.file.name}")
        assert len(stored) == output.size_bytes
        for web, session in ((web_a, on_a), (web_b, on_b)):
            play = f"{web.base}{reverse('jobs:output_play', args=[output.pk])}"
            redirect = session.get(play, allow_redirects=False, timeout=10)
            assert redirect.status_code == 302, (web.name, redirect.text[:500])
            link = redirect.headers["Location"]
            assert link.startswith(bucket.server.endpoint)
            before = bucket.served
            ranged = requests.get(link, headers={"Range": "bytes=100-115"}, timeout=10)
            served = bucket.served - before
            assert ranged.status_code == 206
            assert ranged.content == stored[100:116]
            assert served < 16 + 4096, (served, len(stored))  # headers, not the stem
            assert requests.get(link, timeout=10).content == stored
        anonymous = requests.get(play, allow_redirects=False, timeout=10)
        assert anonymous.status_code == 302
        assert "/accounts/login/" in anonymous.headers["Location"]
