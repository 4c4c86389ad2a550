"""Hostile request headers never make a 500: `Range` variants (a 5,000-digit number,
negative, multi-range, garbage) and htmx headers (garbage `HX-Current-URL`, a very long
`HX-Target`, `HX-Request` on pages that are not fragments), sent by a viewer to every
read-only page and file address."""

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Project, User
from jobs.models import Asset, Output, RemoteStatus
from jobs.ranged import parse_range
from tests.results.conftest import make_task, wav_bytes

HUGE = "9" * 5000

RANGES = [
    f"bytes={HUGE}-",
    f"bytes=0-{HUGE}",
    f"bytes=-{HUGE}",
    f"bytes={HUGE}-{HUGE}",
    "bytes=-0",
    "bytes=-5",
    "bytes=-5-10",
    "bytes=10-5",
    "bytes=0-0,5-9,100-",
    "bytes=0-1, 3-4",
    "bytes=",
    "bytes=-",
    "bytes=abc-def",
    "bytes=0x10-0x20",
    "bytes=1e3-",
    "bytes=\u0661\u0662-",  # Arabic-Indic digits: \d in Python's re
    "items=0-10",
    "bytes 0-10",
    "=",
    "\x00\x01\x02",
    "bytes=0-10" * 1000,
]

HTMX = [
    {"HX-Request": "true"},
    {"HX-Request": "true", "HX-Current-URL": "\x00:::not a url::://"},
    {"HX-Request": "true", "HX-Current-URL": "http://[::1"},
    {"HX-Request": "true", "HX-Target": "x" * 100_000},
    {"HX-Request": "true", "HX-Trigger": "%" * 5000, "HX-Trigger-Name": "\u202e\u0000"},
    {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    {"HX-Request": "false", "HX-Boosted": "yes please"},
    {"HX-Request": "\u00e9\u00e9", "HX-Prompt": HUGE},
]


@pytest.fixture
def addresses(member: User, project: Project) -> list[str]:
    """Every page and file a viewer can read, with real rows behind them."""
    task = make_task(user=member, project=project, status="completed", mirrored=True)
    running = make_task(user=member, project=project, status="processing")
    output = Output.objects.filter(target__task=task).first()
    transcript = Output.objects.create(
        target=output.target, name="lyrics", format="json", mirror_state="mirrored"
    )
    transcript.file.save("lyrics.json", ContentFile(b'{"lines": []}'))
    asset = Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="take.wav",
        format="wav",
        duration_seconds=0.5,
        remote_status=RemoteStatus.READY,
        sha256="a" * 64,
    )
    asset.file.save("take.wav", ContentFile(wav_bytes()))
    return [
        "/",
        "/tasks/",
        f"/tasks/?row={running.pk}",
        f"/tasks/{task.pk}/",
        f"/tasks/{running.pk}/",
        f"/tasks/{task.pk}/outputs.zip",
        f"/outputs/{output.pk}/play/",
        f"/outputs/{output.pk}/download/",
        f"/outputs/{output.pk}/compare/",
        f"/outputs/{output.pk}/peaks/",
        f"/outputs/{transcript.pk}/transcript/",
        "/assets/",
        f"/assets/{asset.pk}/",
        f"/assets/{asset.pk}/status/",
        f"/assets/{asset.pk}/audio/",
        f"/assets/{asset.pk}/download/",
        "/costs/",
        "/team/",
        "/tasks/new/",
    ]


def _get(client: Client, address: str, headers: dict[str, str]) -> int:
    response = client.get(address, headers=headers)
    if response.streaming:
        b"".join(response.streaming_content)  # a generator's error would surface here
    return response.status_code


@pytest.mark.parametrize("value", RANGES, ids=range(len(RANGES)))
def test_range_variants_never_500(viewer: User, addresses: list[str], value: str) -> None:
    """Every `Range` variant on every page: an answer (200, 206, 416, 403 ...), never a 500."""
    client = Client()
    client.force_login(viewer)
    for address in addresses:
        status = _get(client, address, {"Range": value, "If-Range": value[:200]})
        assert status < 500, (address, value[:40], status)


@pytest.mark.parametrize("headers", HTMX, ids=range(len(HTMX)))
def test_htmx_headers_never_500(viewer: User, addresses: list[str], headers: dict) -> None:
    """Garbage or oversized htmx headers on every page, fragments or not: never a 500."""
    client = Client()
    client.force_login(viewer)
    for address in addresses:
        status = _get(client, address, headers)
        assert status < 500, (address, list(headers), status)


def test_huge_range_number_is_unsatisfiable_not_an_error(viewer: User, addresses: list) -> None:
    """A 5,000-digit first byte is past the end of the file: 416 with the real size."""
    client = Client()
    client.force_login(viewer)
    play = next(a for a in addresses if a.endswith("/play/"))
    response = client.get(play, headers={"Range": f"bytes={HUGE}-"})
    assert response.status_code == 416
    assert response["Content-Range"].startswith("bytes */")
    whole = client.get(play, headers={"Range": f"bytes=0-{HUGE}"})
    assert whole.status_code == 206
    assert whole["Content-Range"] == f"bytes 0-{len(wav_bytes()) - 1}/{len(wav_bytes())}"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda a, b: f"bytes={a}-{b}",
            st.text(alphabet="0123456789-, ", max_size=30),
            st.text(alphabet="0123456789-, ", max_size=30),
        ),
        st.builds(
            lambda digits, suffix: f"bytes={digits}-" if suffix else f"bytes=0-{digits}",
            st.text(alphabet="0123456789", min_size=1, max_size=6000),
            st.booleans(),
        ),
    ),
    size=st.integers(min_value=1, max_value=10**12),
)
def test_parse_range_never_raises(header: str, size: int) -> None:
    """Any header, any file size: None, False or a range inside the file."""
    wanted = parse_range(header, size)
    if isinstance(wanted, tuple):
        first, last = wanted
        assert 0 <= first <= last < size


def test_ranged_media_is_private_no_store_and_seekable(viewer: User, addresses: list) -> None:
    """Outputs and assets played in the page: 206 for a byte range, `private, no-store`."""
    client = Client()
    client.force_login(viewer)
    for address in (a for a in addresses if a.endswith(("/play/", "/audio/"))):
        response = client.get(address, headers={"Range": "bytes=10-19"})
        assert response.status_code == 206, address
        assert response["Content-Range"].startswith("bytes 10-19/")
        assert b"".join(response.streaming_content) == wav_bytes()[10:20]
        assert response["Cache-Control"] == "private, no-store"
