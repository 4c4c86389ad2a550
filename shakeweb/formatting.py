"""Durations as people read them, one formatter for every screen.

`clock()` is the one seconds-to-clock formatter: m:ss, or h:mm:ss from an hour up, with an
optional tenth of a second (the player's m:ss.t) and the text to show for an unknown length
(each screen has its own: "unknown" on the task form, an em dash on the asset pages, nothing
under the player). `minutes_in_words()` splits the same way for sentences ("1 hour 30
minutes").
"""


def _split(whole_seconds: int) -> tuple[int, int, int]:
    hours, rest = divmod(whole_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return hours, minutes, secs


def clock(seconds: float | int | None, *, tenths: bool = False, unknown: str = "") -> str:
    """3725.4 -> "1:02:05", 200 -> "3:20"; with `tenths`, 83.4 -> "1:23.4"; None -> `unknown`."""
    if seconds is None:
        return unknown
    unit = 10 if tenths else 1
    whole, fraction = divmod(round(float(seconds) * unit), unit)
    hours, minutes, secs = _split(whole)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"{text}.{fraction}" if tenths else text


def minutes_in_words(seconds: float) -> str:
    """A length in whole minutes (at least one), in words: "15 minutes", "1 hour 30 minutes"."""
    minutes = max(1, round(seconds / 60))
    hours, minutes, _ = _split(minutes * 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)
