"""Where the client's key comes from: the settings only (AUDIOSHAKE_API_KEY, else the sandbox's
key that the settings resolved), never the sandbox app; and how that sandbox key is made."""

import stat

import pytest
from django.conf import settings as django_settings

from jobs.audioshake import AuthenticationError, get_client
from sandbox.keys import sandbox_api_key
from shakeweb import sandbox_mode
from tests.client.conftest import SECRET, reply


@pytest.fixture
def models_route(stub_server):
    stub_server.routes["GET", "/models"] = lambda h: reply(h, 200, b"[]")
    return stub_server


def sent_key(stub_server) -> str:
    (_method, _path, headers) = stub_server.received[-1]
    return headers["x-api-key"]


def test_without_an_audioshake_key_the_client_sends_the_settings_sandbox_key(
    models_route, settings
):
    """With AUDIOSHAKE_API_KEY empty and the sandbox on, get_client sends SANDBOX_API_KEY."""
    settings.AUDIOSHAKE_BASE_URL = models_route.url
    settings.AUDIOSHAKE_API_KEY = ""
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_API_KEY = SECRET
    with get_client() as client:
        client.list_models()
    assert sent_key(models_route) == SECRET


def test_an_audioshake_key_wins_over_the_sandbox_key(models_route, settings):
    """A configured AUDIOSHAKE_API_KEY is the key sent, even with the sandbox on."""
    settings.AUDIOSHAKE_BASE_URL = models_route.url
    settings.AUDIOSHAKE_API_KEY = SECRET
    settings.SANDBOX_API_KEY = "the-sandbox-key-not-sent"
    with get_client() as client:
        client.list_models()
    assert sent_key(models_route) == SECRET


def test_without_any_key_get_client_refuses_in_plain_words(settings):
    """No AudioShake key and no sandbox: an AuthenticationError that names the setting."""
    settings.AUDIOSHAKE_API_KEY = ""
    settings.SANDBOX_ENABLED = False
    with pytest.raises(AuthenticationError, match="AUDIOSHAKE_API_KEY"):
        get_client()


def test_the_sandbox_app_and_the_settings_hold_the_same_key():
    """The sandbox checks requests against the very key the settings resolved for the client."""
    assert django_settings.SANDBOX_ENABLED
    assert django_settings.SANDBOX_API_KEY
    assert sandbox_api_key() == django_settings.SANDBOX_API_KEY


def test_the_sandbox_key_is_generated_once_private_and_whole(tmp_path):
    """Without a configured key one is written once (mode 0600) and read back the same."""
    first = sandbox_mode.sandbox_api_key(configured="", var_dir=tmp_path / "var")
    again = sandbox_mode.sandbox_api_key(configured="", var_dir=tmp_path / "var")
    path = tmp_path / "var" / "sandbox-key"
    assert first == again == path.read_text()
    assert len(first) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["sandbox-key"]  # no draft left


def test_a_configured_sandbox_key_is_used_as_given(tmp_path):
    """SANDBOX_API_KEY, when set, is the key, and nothing is written."""
    key = sandbox_mode.sandbox_api_key(configured="given-key", var_dir=tmp_path / "var")
    assert key == "given-key"
    assert not (tmp_path / "var").exists()


def test_an_existing_key_file_is_kept(tmp_path):
    """A key already in var/sandbox-key (another process wrote it first) is the one used."""
    (tmp_path / "sandbox-key").write_text("written-by-another-process\n")
    assert sandbox_mode.sandbox_api_key(configured="", var_dir=tmp_path) == (
        "written-by-another-process"
    )
