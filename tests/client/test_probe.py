"""`manage.py audioshake_probe` against the live sandbox over real HTTP: it reports each
endpoint's shape against the parsers' assumptions, spends nothing, and says clearly (with a
non-zero exit) when it cannot talk to the API."""

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.audioshake import TargetSpec
from tests.client.conftest import SandboxControl

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def probe() -> str:
    out = io.StringIO()
    call_command("audioshake_probe", "--retries=0", stdout=out)
    return out.getvalue()


def section(output: str, label: str) -> str:
    """The lines of one endpoint's report."""
    return output.split(f"\n{label}:", 1)[1].split("\nGET ", 1)[0]


def test_probe_reports_the_documented_shapes(sandbox: SandboxControl) -> None:
    """Each endpoint answers in the assumed container; /models has only documented fields
    (no variants, no residual); an empty task list is said to be empty; GETs only."""
    output = probe()
    models = section(output, "GET /models")
    assert models.startswith(' {"models": [...]} [as assumed]')
    assert "model: 26 item(s)" in models
    assert "extra (not read by the dashboard): none" in models
    assert "undocumented" not in models
    assert "type differences: none" in models
    assert "limits (4 of 26)" in models  # keys, speech_*, music_identification: no limit
    tasks = section(output, "GET /tasks?take=1")
    assert tasks.startswith(" a bare array [as assumed]")
    assert "(nothing to compare)" in tasks
    usage = section(output, "GET /tasks/statistics?name=usage")
    assert usage.startswith(" a bare array [as assumed]")
    assert "All endpoints answered." in output
    received = sandbox.received()
    assert not any(key.startswith("POST") for key in received), received


def test_probe_reads_a_task_and_its_targets(sandbox: SandboxControl, api, asset_id) -> None:
    """With a task on the account, the task, target and output fields are compared."""
    sandbox.faults(instant=True)
    api.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset_id)
    tasks = section(probe(), "GET /tasks?take=1")
    assert "task: 1 item(s)" in tasks
    assert "present: id, createdAt" in tasks
    assert "target: 1 item(s)" in tasks
    assert "extra (not read by the dashboard): none" in tasks


def test_probe_names_the_extended_fields(sandbox: SandboxControl, settings) -> None:
    """With the sandbox's extended /models, its own fields are reported as undocumented."""
    settings.SANDBOX_MODELS_EXTENDED = True
    models = section(probe(), "GET /models")
    assert "undocumented, read when sent: variants, residual" in models


def test_probe_without_a_key_fails_clearly(settings) -> None:
    """No key configured: exit 1 and the setting to set."""
    settings.AUDIOSHAKE_API_KEY = ""
    settings.SANDBOX_ENABLED = False
    with pytest.raises(CommandError, match="AUDIOSHAKE_API_KEY") as caught:
        probe()
    assert caught.value.returncode == 1


def test_probe_with_a_refused_key_fails_clearly(sandbox: SandboxControl, settings) -> None:
    """A 401: exit 1, saying the key was refused."""
    settings.AUDIOSHAKE_API_KEY = "not-the-sandbox-key"
    with pytest.raises(CommandError, match="refused the key") as caught:
        probe()
    assert caught.value.returncode == 1
    assert "not-the-sandbox-key" not in str(caught.value)


def test_probe_of_an_unreachable_api_fails_clearly(settings, sandbox_api: str) -> None:
    """Nothing listening: exit 1, 'Cannot reach'."""
    settings.AUDIOSHAKE_BASE_URL = "http://127.0.0.1:9/api"
    with pytest.raises(CommandError, match="Cannot reach AudioShake") as caught:
        probe()
    assert caught.value.returncode == 1


def test_probe_reports_an_endpoint_error_and_goes_on(sandbox: SandboxControl) -> None:
    """A 503 on one endpoint: the others are still reported, exit 2."""
    sandbox.faults(fail_5xx_next=1, fail_status=503, scope=["GET /tasks/statistics"])
    out = io.StringIO()
    with pytest.raises(CommandError, match="statistics") as caught:
        call_command("audioshake_probe", "--retries=0", stdout=out)
    assert caught.value.returncode == 2
    assert '{"models": [...]} [as assumed]' in out.getvalue()
    assert "GET /tasks/statistics?name=usage: error:" in out.getvalue()


def test_probe_says_when_it_probes_the_sandbox(sandbox: SandboxControl, settings) -> None:
    """Without AUDIOSHAKE_API_KEY the client uses the sandbox's key, and the report says so."""
    settings.SANDBOX_API_KEY = settings.AUDIOSHAKE_API_KEY
    settings.AUDIOSHAKE_API_KEY = ""
    settings.SANDBOX_ENABLED = True
    assert "(the sandbox: AUDIOSHAKE_API_KEY is not set)" in probe().splitlines()[0]
