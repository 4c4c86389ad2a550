from django import template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as m:ss.t (or h:mm:ss for long media): 83.4 -> "1:23.4"."""
    if seconds is None:
        return ""
    tenths = round(float(seconds) * 10)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    secs = f"{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"
