"""`manage.py poll_tasks` with a pause around `POST /tasks`, for the crash tests (a poller
killed, or its lease lost, at a precise moment). Test code only: shipped code has no such seam.

    SHAKEWEB_POLLER_HOOK=after_create:60 python tests/poller/paused_poller.py --name victim

prints `poller-hook <name>` and sleeps there: `before_create` once the task is marked
"submitting" (committed) and just before the request is sent; `after_create` once AudioShake
answered and before the answer is recorded. The same pair around the other kinds' calls:
`before_upload`/`after_upload` (asset_forward's `POST /assets`), `before_get`/`after_get`
(`GET /tasks/{id}`: task_refresh, and output_download's fresh link), `before_download`/
`after_download` (output_download's file)."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shakeweb.test_settings")

import django

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402

from jobs.audioshake.client import AudioShakeClient  # noqa: E402

WANTED, _, SECONDS = os.environ.get("SHAKEWEB_POLLER_HOOK", "").partition(":")


def _pause(name: str) -> None:
    if name == WANTED:
        print(f"poller-hook {name}", flush=True)
        time.sleep(float(SECONDS or 30))


def _paused(method: str, name: str) -> None:
    original = getattr(AudioShakeClient, method)

    def call(self: AudioShakeClient, *args: object, **kwargs: object) -> object:
        _pause(f"before_{name}")
        result = original(self, *args, **kwargs)
        _pause(f"after_{name}")
        return result

    setattr(AudioShakeClient, method, call)


for _method, _name in (
    ("create_task", "create"),
    ("upload_asset", "upload"),
    ("get_task", "get"),
    ("download", "download"),
):
    _paused(_method, _name)
execute_from_command_line(["manage.py", "poll_tasks", *sys.argv[1:]])
