"""Mirroring output links: only AudioShake's hosts, never the key, never more than asked."""

import gzip
import io
import socket

import pytest

from jobs.audioshake import NotFound, OutputHostRefused, OutputTooLarge, Unavailable
from tests.client.conftest import reply

BASE = "https://api.audioshake.ai"


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test if anything resolves or connects to a host other than 127.0.0.1."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if address[0] != "127.0.0.1":
            attempts.append(address)
            raise AssertionError(f"the client connected to {address}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host != "127.0.0.1":
            attempts.append(host)
            raise AssertionError(f"the client resolved {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.com/stem.wav",
        "https://cdn.audioshake.ai.evil.example.com/stem.wav",
        "https://cdn.audioshake.ai@evil.example.com/stem.wav",
        "https://user:pw@cdn.audioshake.ai/stem.wav",
        "http://cdn.audioshake.ai/stem.wav",
        "ftp://cdn.audioshake.ai/stem.wav",
        "file:///etc/passwd",
        "https://cdn.audioshake.ai:notaport/x",
        "https://cdn.audioshake.ai:22/stem.wav",  # the right host on another port
        "https://cdn.audioshake.ai:8443/stem.wav",
        "https://api.audioshake.ai:444/stem.wav",  # the API's own host: its own port only
        "//cdn.audioshake.ai/stem.wav",
        "stem.wav",
    ],
)
def test_links_off_the_output_hosts_are_refused_without_connecting(link, make_client, no_network):
    """Foreign hosts, credentials, plain http and odd schemes are refused before any socket."""
    client = make_client(BASE, output_hosts=["cdn.audioshake.ai"])
    target = io.BytesIO()
    with pytest.raises(OutputHostRefused):
        client.download(link=link, fileobj=target, max_bytes=1000)
    assert no_network == []
    assert target.getvalue() == b""


@pytest.mark.parametrize(
    ("base", "link"),
    [
        (BASE, "https://cdn.audioshake.ai/stem.wav"),
        (BASE, "https://cdn.audioshake.ai:443/stem.wav"),
        (BASE, "https://api.audioshake.ai/files/stem.wav"),
        ("https://api.audioshake.ai:8443", "https://api.audioshake.ai:8443/files/stem.wav"),
    ],
)
def test_output_hosts_on_their_default_port_pass_the_check(base, link, make_client, monkeypatch):
    """https on the default port (or the API's own port for the API's host) is allowed: the
    client goes on to connect (stopped here before any socket)."""
    client = make_client(base, output_hosts=["cdn.audioshake.ai"])

    def stop(url: str) -> None:
        raise RuntimeError(f"would connect to {url}")

    monkeypatch.setattr(client, "_download_response", stop)
    with pytest.raises(RuntimeError, match="would connect"):
        client.download(link=link, fileobj=io.BytesIO(), max_bytes=1000)


def test_a_redirect_to_another_host_is_refused(stub_server, make_client, no_network):
    """Each redirect hop is checked: one leaving the output hosts is never connected to."""
    stub_server.routes["GET", "/out/a.wav"] = lambda h: reply(
        h, 302, b"", {"Location": "https://evil.example.com/a.wav"}
    )
    client = make_client(stub_server.url)
    with pytest.raises(OutputHostRefused, match="evil.example.com"):
        client.download(link=f"{stub_server.url}/out/a.wav", fileobj=io.BytesIO(), max_bytes=10)
    assert no_network == []


def test_a_redirect_on_the_same_host_is_followed(stub_server, make_client):
    """A redirect to another path of an allowed host is followed and re-checked."""
    stub_server.routes["GET", "/out/a.wav"] = lambda h: reply(h, 307, b"", {"Location": "/b.wav"})
    stub_server.routes["GET", "/b.wav"] = lambda h: reply(h, 200, b"RIFFdata")
    target = io.BytesIO()
    written = make_client(stub_server.url).download(
        link=f"{stub_server.url}/out/a.wav", fileobj=target, max_bytes=100
    )
    assert (written, target.getvalue()) == (8, b"RIFFdata")


def test_the_key_is_never_sent_to_an_output_host(stub_server, make_client):
    """Output links are signed: the download carries no x-api-key."""
    stub_server.routes["GET", "/o.wav"] = lambda h: reply(h, 200, b"x" * 3_000_000)
    target = io.BytesIO()
    client = make_client(stub_server.url)
    assert client.download(link=f"{stub_server.url}/o.wav", fileobj=target, max_bytes=4_000_000)
    assert len(target.getvalue()) == 3_000_000
    headers = {k.lower() for k in stub_server.received[0][2]}
    assert "x-api-key" not in headers


def test_a_declared_size_over_the_limit_is_refused_before_reading(stub_server, make_client):
    """A Content-Length above max_bytes raises OutputTooLarge with nothing written."""
    stub_server.routes["GET", "/o.wav"] = lambda h: reply(h, 200, b"x" * 5000)
    target = io.BytesIO()
    with pytest.raises(OutputTooLarge):
        make_client(stub_server.url).download(
            link=f"{stub_server.url}/o.wav", fileobj=target, max_bytes=4999
        )
    assert target.getvalue() == b""


def test_an_undeclared_size_stops_at_the_limit(stub_server, make_client):
    """A chunked body is cut off once it passes max_bytes; no more than that is written."""

    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(20):
            block = b"y" * 100_000
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        handler.wfile.write(b"0\r\n\r\n")

    stub_server.routes["GET", "/o.wav"] = chunked
    target = io.BytesIO()
    with pytest.raises(OutputTooLarge):
        make_client(stub_server.url).download(
            link=f"{stub_server.url}/o.wav", fileobj=target, max_bytes=250_000
        )
    assert len(target.getvalue()) <= 250_000


def test_a_body_shorter_than_its_content_length_is_unavailable(stub_server, make_client):
    """A download that breaks off before Content-Length bytes is Unavailable (try again)."""

    def truncated(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        handler.wfile.write(b"z" * 4000)
        handler.close_connection = True

    stub_server.routes["GET", "/o.wav"] = truncated
    with pytest.raises(Unavailable) as caught:
        make_client(stub_server.url).download(
            link=f"{stub_server.url}/o.wav", fileobj=io.BytesIO(), max_bytes=20_000
        )
    assert caught.value.retryable


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_link_is_not_found(stub_server, make_client, status):
    """Expired or unknown output links are NotFound: refresh the task for fresh links."""
    stub_server.routes["GET", "/o.wav"] = lambda h: reply(h, status, b"<Error>Expired</Error>")
    with pytest.raises(NotFound):
        make_client(stub_server.url).download(
            link=f"{stub_server.url}/o.wav", fileobj=io.BytesIO(), max_bytes=100
        )


def test_a_5xx_before_the_body_is_retried(stub_server, make_client, sleeps):
    """A 503 from the output host before any byte is retried like a GET."""
    answers = [lambda h: reply(h, 503, b"busy"), lambda h: reply(h, 200, b"ok")]
    stub_server.routes["GET", "/o.wav"] = lambda h: answers.pop(0)(h)
    target = io.BytesIO()
    make_client(stub_server.url).download(
        link=f"{stub_server.url}/o.wav", fileobj=target, max_bytes=100
    )
    assert target.getvalue() == b"ok"
    assert len(sleeps.calls) == 1


def test_a_compressed_body_is_measured_by_what_is_written(stub_server, make_client):
    """A server that compresses anyway: the decoded size counts, and max_bytes still holds."""
    body = gzip.compress(b"w" * 500_000)
    stub_server.routes["GET", "/o.json"] = lambda h: reply(
        h, 200, body, {"Content-Encoding": "gzip"}
    )
    client = make_client(stub_server.url)
    target = io.BytesIO()
    assert client.download(link=f"{stub_server.url}/o.json", fileobj=target, max_bytes=600_000)
    assert target.getvalue() == b"w" * 500_000
    with pytest.raises(OutputTooLarge):
        client.download(link=f"{stub_server.url}/o.json", fileobj=io.BytesIO(), max_bytes=400_000)
