"""The client over real HTTP against a stub server, for the shapes the sandbox cannot produce:
HTTP-date Retry-After, a dropped connection, error bodies in other shapes, redirects, envelopes,
numbers where strings are documented. (Everything the sandbox can do is in test_contract.py.)"""

import email
import email.policy
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from jobs import audioshake
from jobs.audioshake import (
    AuthenticationError,
    BadResponse,
    InsufficientCredits,
    OutcomeUnknown,
    RateLimited,
    TargetSpec,
    Unavailable,
    ValidationFailed,
    multipart,
)
from jobs.audioshake import client as client_module
from tests.client.conftest import SECRET, reply

VOCALS = [TargetSpec("vocals", ("wav",))]


def send_json(status, data, headers=None):
    return lambda h: reply(h, status, json.dumps(data).encode(), {**(headers or {})})


def drop_connection(handler):
    """Read the request, then close the socket without answering."""
    handler.close_connection = True
    handler.connection.shutdown(2)


def test_create_task_never_resends_after_a_dropped_connection(stub_server, make_client, sleeps):
    """A connection dropped after POST /tasks went out is OutcomeUnknown, sent exactly once."""
    stub_server.routes["POST", "/tasks"] = drop_connection
    client = make_client(stub_server.url)
    with pytest.raises(OutcomeUnknown) as caught:
        client.create_task(targets=VOCALS, asset_id="a1")
    assert caught.value.retryable is False
    assert isinstance(caught.value, Unavailable)
    assert [r[:2] for r in stub_server.received] == [("POST", "/tasks")]
    assert sleeps.calls == []


def test_create_task_retries_only_while_nothing_was_sent(closed_port, make_client, sleeps):
    """Connection refused means nothing reached AudioShake: retried, then plain Unavailable."""
    client = make_client(f"http://127.0.0.1:{closed_port}", max_retries=2)
    with pytest.raises(Unavailable) as caught:
        client.create_task(targets=VOCALS, asset_id="a1")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert "not sent" in str(caught.value)
    assert len(sleeps.calls) == 2


def test_upload_is_not_repeated_after_the_body_went_out(stub_server, make_client, tmp_path):
    """An upload whose connection drops after sending raises Unavailable, uploaded once."""
    stub_server.routes["POST", "/assets"] = drop_connection
    source = tmp_path / "song.wav"
    source.write_bytes(b"RIFF" + bytes(5000))
    client = make_client(stub_server.url)
    with pytest.raises(Unavailable) as caught:
        client.upload_asset(path=source, filename="song.wav")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(stub_server.received) == 1


def test_upload_is_multipart_with_the_file_its_name_and_type(stub_server, make_client, tmp_path):
    """The file goes out byte for byte as multipart field `file`, with a safe file name and an
    audio content type, under a Content-Length (not chunked)."""
    captured = {}

    def assets(handler):
        captured["headers"] = dict(handler.headers)
        captured["body"] = handler.body
        reply(handler, 200, b'{"id": "a1", "name": "song.flac", "format": "flac"}')

    stub_server.routes["POST", "/assets"] = assets
    source = tmp_path / "x.flac"
    content = b"fLaC" + os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(content)
    asset = make_client(stub_server.url).upload_asset(path=source, filename='so"ng\r\n.flac')
    assert asset.id == "a1"
    headers = captured["headers"]
    assert "Transfer-Encoding" not in headers
    boundary = headers["Content-Type"].removeprefix("multipart/form-data; boundary=")
    message = email.message_from_bytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + captured["body"],
        policy=email.policy.HTTP,
    )
    (part,) = message.iter_parts()
    assert part.get_content_type() == "audio/flac"
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "so_ng_.flac"
    assert part.get_payload(decode=True) == content
    assert captured["body"].endswith(f"\r\n--{boundary}--\r\n".encode())


def test_a_file_that_shrinks_during_upload_is_abandoned(stub_server, make_client, tmp_path):
    """A file cut short mid-upload fails clearly instead of leaving the server waiting."""
    source = tmp_path / "song.wav"
    source.write_bytes(b"RIFF" + bytes(8 * 1024 * 1024))

    def assets(handler):
        reply(handler, 200, b'{"id": "a1"}')

    stub_server.routes["POST", "/assets"] = assets
    real_read = multipart._MultipartFile.read

    def read_then_shrink(self, size=-1):
        piece = real_read(self, size)
        if self._remaining:  # the body has started going out: cut the file short
            source.write_bytes(b"RIFF")
        return piece

    client = make_client(stub_server.url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(multipart._MultipartFile, "read", read_then_shrink)
        with pytest.raises(audioshake.AudioShakeError, match="got shorter"):
            client.upload_asset(path=source, filename="song.wav")


def test_retry_after_as_an_http_date_is_honoured(stub_server, make_client, sleeps):
    """A 429 whose Retry-After is an HTTP date waits until that date, then succeeds."""
    when = datetime.now(UTC) + timedelta(seconds=4)
    answers = [
        send_json(429, {"message": "slow down"}, {"Retry-After": format_datetime(when, True)}),
        send_json(200, []),
    ]
    stub_server.routes["GET", "/assets"] = lambda h: answers.pop(0)(h)
    assert make_client(stub_server.url).list_assets() == []
    (waited,) = sleeps.calls
    assert 2 < waited <= 4


def test_retry_after_beyond_the_cap_is_left_to_the_caller(stub_server, make_client, sleeps):
    """A Retry-After longer than the cap is not slept on: RateLimited carries it at once."""
    stub_server.routes["GET", "/tasks"] = send_json(429, {}, {"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        make_client(stub_server.url, backoff_cap=30).list_tasks()
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429
    assert sleeps.calls == []
    assert len(stub_server.received) == 1


def test_5xx_with_retry_after_waits_that_long(stub_server, make_client, sleeps):
    """A 503 with Retry-After is retried after the delay it asks for."""
    answers = [send_json(503, {"message": "maintenance"}, {"Retry-After": "2"}), send_json(200, [])]
    stub_server.routes["GET", "/tasks"] = lambda h: answers.pop(0)(h)
    assert make_client(stub_server.url).list_tasks() == []
    assert sleeps.calls == [2.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"statusCode": 400, "error": "Bad Request", "message": "targets too long"}, "targets too"),
        ({"error": {"code": 7, "message": "unknown model"}}, "unknown model"),
        ({"error": "format not allowed"}, "format not allowed"),
        ({"message": [{"message": "a"}, "b"]}, "a; b"),
        ({"detail": "nope"}, "nope"),
    ],
)
def test_validation_message_is_read_from_any_error_shape(stub_server, make_client, body, message):
    """The API's own message is found in the error body shapes seen in the wild."""
    stub_server.routes["POST", "/tasks"] = send_json(422, body)
    with pytest.raises(ValidationFailed) as caught:
        make_client(stub_server.url).create_task(targets=VOCALS, asset_id="a1")
    assert caught.value.message.startswith(message)
    assert caught.value.status_code == 422


def test_a_credit_message_on_400_is_insufficient_credits(stub_server, make_client):
    """An error whose message says the credits ran out is InsufficientCredits, whatever 4xx."""
    stub_server.routes["POST", "/tasks"] = send_json(400, {"message": "Insufficient credits"})
    with pytest.raises(InsufficientCredits):
        make_client(stub_server.url).create_task(targets=VOCALS, asset_id="a1")


def test_error_pages_are_quoted_short_and_without_the_key(stub_server, make_client):
    """An HTML error page that echoes the key becomes a short excerpt with the key masked."""
    page = f"<html><head><style>p{{}}</style></head><body><h1>Forbidden</h1><p>key {SECRET}</p>"
    stub_server.routes["GET", "/models"] = lambda h: reply(
        h, 403, (page + "x" * 5000).encode(), {"Content-Type": "text/html"}
    )
    with pytest.raises(AuthenticationError) as caught:
        make_client(stub_server.url).list_models()
    text = str(caught.value)
    assert "Forbidden key ****" in text
    assert "HTTP 403" in text
    assert SECRET not in text
    assert "<" not in text
    assert len(text) < 300


def test_redirects_are_not_followed_with_the_key(stub_server, make_client):
    """A redirect from the API is a BadResponse; the key never goes to the new location."""
    stub_server.routes["GET", "/tasks"] = lambda h: reply(
        h, 302, b"", {"Location": f"{stub_server.url}/elsewhere"}
    )
    with pytest.raises(BadResponse, match="redirect"):
        make_client(stub_server.url, max_retries=0).list_tasks()
    assert [r[1] for r in stub_server.received] == ["/tasks"]
    assert stub_server.received[0][2]["x-api-key"] == SECRET


def test_numbers_where_strings_are_documented(stub_server, make_client):
    """`totalMinutes` as a number (documented as a string) still reads as a Decimal."""
    stub_server.routes["GET", "/tasks/statistics"] = send_json(
        200, [{"month": "2026-03", "totalTargets": 2, "totalMinutes": 7.5}]
    )
    (month,) = make_client(stub_server.url).usage_statistics()
    assert month.total_minutes == Decimal("7.5")


def test_envelopes_around_lists_are_accepted(stub_server, make_client):
    """A list wrapped in an envelope (`{"tasks": [...]}`) is read like the bare array."""
    stub_server.routes["GET", "/tasks"] = send_json(200, {"tasks": [{"id": "c1"}], "total": 1})
    stub_server.routes["GET", "/models"] = send_json(200, [{"id": "vocals"}])
    client = make_client(stub_server.url)
    assert [t.id for t in client.list_tasks()] == ["c1"]
    assert [m.id for m in client.list_models()] == ["vocals"]


def test_a_json_value_of_the_wrong_shape_is_a_bad_response(stub_server, make_client):
    """JSON that is not the expected shape (a string for a list) is a BadResponse."""
    stub_server.routes["GET", "/assets"] = send_json(200, "ok")
    with pytest.raises(BadResponse, match="where a list was expected"):
        make_client(stub_server.url).list_assets()


def test_distribution_as_a_mapping_of_models(stub_server, make_client):
    """Per-model usage sent as `{model: {...}}` reads like a list of rows."""
    stub_server.routes["GET", "/tasks/statistics"] = send_json(
        200, {"vocals": {"totalTargets": 3, "totalMinutes": "9"}}
    )
    (usage,) = make_client(stub_server.url).distribution_statistics()
    assert (usage.model, usage.total_targets, usage.total_minutes) == ("vocals", 3, Decimal(9))


def test_an_oversized_body_is_refused(stub_server, make_client, monkeypatch):
    """A response bigger than any API answer is a BadResponse, not a memory spike."""
    monkeypatch.setattr(client_module, "MAX_JSON_BYTES", 1000)
    stub_server.routes["GET", "/assets"] = send_json(200, [{"id": "a" * 2000}])
    with pytest.raises(BadResponse, match="more than 1000 bytes"):
        make_client(stub_server.url).list_assets()


def test_task_ids_are_quoted_into_the_path(stub_server, make_client):
    """A task id cannot step out of /tasks/ (it is percent-encoded)."""
    with pytest.raises(audioshake.NotFound):
        make_client(stub_server.url).get_task("../models")
    assert stub_server.received[0][1] == "/tasks/..%2Fmodels"


def test_a_connect_timeout_on_create_is_safe_to_retry(unresponsive_port, make_client, sleeps):
    """A connect timeout sends nothing: create_task retries it and ends in plain Unavailable."""
    client = make_client(f"http://127.0.0.1:{unresponsive_port}", connect_timeout=0.2)
    with pytest.raises(Unavailable, match="timed out connecting") as caught:
        client.create_task(targets=VOCALS, asset_id="a1")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.retryable
    assert len(sleeps.calls) == client.max_retries


def test_a_connect_timeout_on_a_get_is_retried_then_unavailable(
    unresponsive_port, make_client, sleeps
):
    """GETs that cannot connect are retried with backoff, then Unavailable."""
    client = make_client(f"http://127.0.0.1:{unresponsive_port}", connect_timeout=0.2)
    with pytest.raises(Unavailable):
        client.list_models()
    assert len(sleeps.calls) == client.max_retries


def test_a_malformed_base_url_is_a_configuration_error(make_client, sleeps):
    """A base URL that is not a URL fails at once, without retries."""
    with pytest.raises(audioshake.AudioShakeError, match="not a usable URL") as caught:
        make_client("api.audioshake.ai").list_models()
    assert not caught.value.retryable
    assert sleeps.calls == []
