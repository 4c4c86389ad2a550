"""Settings for the benchmarks' own server: the shipped settings, with the benchmark's URLconf
(the shipped one plus a floor view) and static files collected into a temporary directory.

    DJANGO_SETTINGS_MODULE=bench._settings BENCH_STATIC_ROOT=/tmp/... gunicorn shakeweb.wsgi
"""

import os
from pathlib import Path

from shakeweb.settings import *  # noqa: F403

ROOT_URLCONF = "bench._urls"
if os.environ.get("BENCH_STATIC_ROOT"):
    STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
