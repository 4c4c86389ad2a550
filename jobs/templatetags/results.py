from django import template

from shakeweb.formatting import clock as _clock

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as m:ss.t (or h:mm:ss.t for long media): 83.4 -> "1:23.4"."""
    return _clock(seconds, tenths=True)
