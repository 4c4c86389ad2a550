from datetime import timedelta

from django import template

from shakeweb.formatting import minutes_in_words

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """A lock-out length in words: '15 minutes', '1 hour', '1 hour 30 minutes'."""
    if not isinstance(value, timedelta):
        return ""
    return minutes_in_words(value.total_seconds())
