"""A mirrored output is kept only when its bytes are what its format says: an HTML error page
(or any other body) behind a signed link is never stored as `.wav`."""

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from jobs.audiofile import output_content_problem
from jobs.models import Output, Target, Task, WorkItem
from jobs.outbox import enqueue
from tests.poller.conftest import make_task, wav_bytes
from tests.poller.helpers import cycle

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n"
FLAC = b"fLaC\x00\x00\x00\x22" + b"\x00" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 400
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


@pytest.mark.parametrize(
    ("body", "fmt", "problem"),
    [
        (wav_bytes(0.1), "wav", None),
        (FLAC, "flac", None),
        (MP3, "mp3", None),
        (MP4, "mp4", None),
        (b'{"lines": []}', "json", None),
        (b"1\n00:00:00,000 --> 00:00:01,000\nhello\n", "srt", None),
        ("caf\u00e9 text".encode(), "txt", None),
        (b"\x00\x01binary", "xyz", None),  # a format we do not know is not judged
        (HTML, "wav", "is not WAV audio (it looks like an HTML page)"),
        (b"%PDF-1.7 ...", "mp3", "is not MP3 audio (it looks like a PDF document)"),
        (FLAC, "wav", "is FLAC, not WAV"),
        (b"", "wav", "is not WAV audio"),
        (HTML, "json", "is not JSON"),
        (HTML, "txt", "is an HTML page, not TXT"),
        (b"\x00\x01\x02\xff" * 100, "srt", "is not SRT text"),
        (b"   \n", "txt", "is empty"),
    ],
)
def test_output_content_problem(body: bytes, fmt: str, problem: str | None) -> None:
    """Audio formats by magic bytes, text formats as UTF-8 text, each mismatch explained."""
    found = output_content_problem(io.BytesIO(body), fmt)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.fixture
def host() -> Iterator[str]:
    """An "output host" on loopback answering 200 with an HTML page for every path, except
    /good.wav (a real WAV)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = wav_bytes(0.2) if self.path.startswith("/good.wav") else HTML
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _output(project, member, link: str) -> Output:
    task = make_task(
        project=project, user=member, source_url="https://example.com/a.wav", submit=False
    )
    Task.objects.filter(pk=task.pk).update(
        remote_id="ccontentcontentcontent01", submission_state="submitted"
    )
    output = Output.objects.create(
        target=Target.objects.get(task=task),
        name="vocals",
        format="wav",
        remote_link=link,
        link_seen_at=timezone.now(),
    )
    enqueue(kind=WorkItem.Kind.OUTPUT_DOWNLOAD, key=f"output_download:{output.pk}", output=output)
    return output


@SANDBOX_DB
def test_an_html_page_behind_an_output_link_is_not_kept(sandbox, project, member, host) -> None:
    """A 200 with an HTML body for a WAV output fails for good, says why, and keeps no file."""
    output = _output(project, member, f"{host}/stem.wav?sig=x")
    cycle()
    output.refresh_from_db()
    assert output.mirror_state == Output.MirrorState.FAILED
    assert "not WAV audio (it looks like an HTML page)" in output.mirror_error
    assert not output.file
    assert WorkItem.objects.get(output=output).state == WorkItem.State.FAILED


@SANDBOX_DB
def test_a_real_wav_behind_an_output_link_is_kept(sandbox, project, member, host) -> None:
    """The same path with WAV bytes is mirrored (the check passes real audio)."""
    output = _output(project, member, f"{host}/good.wav?sig=x")
    cycle()
    output.refresh_from_db()
    assert output.mirror_state == Output.MirrorState.MIRRORED
    assert output.file.read(4) == b"RIFF"
