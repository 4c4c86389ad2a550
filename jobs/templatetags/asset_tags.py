"""Filters of the asset screens: durations, expiry countdowns and the waveform outline."""

from datetime import datetime

from django import template
from django.utils import timezone

from jobs.peaks import waveform_points as _waveform_points
from shakeweb.formatting import clock

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """3:05, or 1:02:03 from an hour up; an em dash when unknown."""
    return clock(seconds, unknown="—")


def _span(delta_seconds: float) -> str:
    minutes = max(int(delta_seconds // 60), 0)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 96:  # uploads live 72 h: hours read better than "2 days" for 71 h
        return f"{hours} h"
    return f"{hours // 24} days"


@register.filter
def expires_in(when: datetime | None, now: datetime | None = None) -> str:
    """ "expires in 5 h" or "expired 2 h ago" (empty when there is no expiry)."""
    if when is None:
        return ""
    now = now or timezone.now()
    seconds = (when - now).total_seconds()
    if seconds > 0:
        return f"expires in {_span(seconds)}"
    return f"expired {_span(-seconds)} ago"


@register.filter
def khz(rate: int | None) -> str:
    """44100 -> "44.1 kHz"."""
    if not rate:
        return "—"
    return f"{rate / 1000:g} kHz"


@register.filter
def waveform_points(peaks: list[float] | None) -> str:
    return _waveform_points(list(peaks or []))
