"""Waveform peaks of a kept output, computed once and cached next to it in the outputs
storage (`<file>.peaks.json`): the stem player draws each stem's waveform from them and the
A/B player matches levels with their RMS. A cache file rather than a column: nothing else
reads it, it goes wherever the output's file goes, and writing it changes no task state."""

import json
from dataclasses import asdict

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from jobs.models import Output
from jobs.peaks import measure

# Finer than the asset page's 160: a stem lane is the page's full width.
STEM_BUCKETS = 400
# Bumped when the cached shape changes: an older cache file is recomputed, not misread.
CACHE_VERSION = 1


def peaks_name(output: Output) -> str:
    return f"{output.file.name}.peaks.json"


def output_peaks(output: Output) -> dict:
    """{"peaks": [...], "duration": s, "rms_db": dBFS or None} of a kept output, read from its
    cache file, else measured (a few windows per slice, never a full decode) and cached."""
    storage = output.file.storage
    name = peaks_name(output)
    try:
        with storage.open(name, "rb") as f:
            cached = json.loads(f.read())
        if cached.get("version") == CACHE_VERSION:
            return {k: cached[k] for k in ("peaks", "duration", "rms_db")}
    except (FileNotFoundError, ValueError, KeyError, AttributeError):
        pass
    with storage.open(output.file.name, "rb") as f:
        result = asdict(measure(f, output.format.lower(), buckets=STEM_BUCKETS))
    _save(storage, name, {"version": CACHE_VERSION, **result})
    return result


def _save(storage: Storage, name: str, data: dict) -> None:
    if storage.exists(name):  # a stale or broken cache: replace it under the same name
        storage.delete(name)
    storage.save(name, ContentFile(json.dumps(data).encode()))
