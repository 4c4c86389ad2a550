"""The one rule for text that goes into a CSV a person may open in a spreadsheet (the Costs
export, the manifest inside a task's ZIP): a cell that a spreadsheet would run as a formula
gets a leading `'`, so it is shown as text.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and
some also when blanks come first (`  =HYPERLINK(...)`, a no-break space, a line feed): such a
cell is neutralised too. `costs.cells.neutralised` is the same rule in SQL, for the export
that the database formats itself.
"""

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Blanks a spreadsheet may skip before it looks for a formula (SQL LTRIM takes the same set).
LEADING_BLANKS = " \t\r\n\x0b\x0c\u00a0"


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_START) or value.lstrip(LEADING_BLANKS).startswith(FORMULA_START)


def neutralise(value: str | None) -> str:
    """A text cell a spreadsheet will show as text, never run."""
    if not value:
        return ""
    return "'" + value if looks_like_formula(value) else value


class _Chunk(io.StringIO):
    """The file `csv.writer` writes to: it keeps the lines written since the last `take()`."""

    def take(self) -> str:
        text = self.getvalue()
        self.seek(0)
        self.truncate()
        return text


def csv_stream(
    header: Iterable[str], rows: Iterable[Iterable[object]], *, chunk_size: int = 500
) -> Iterator[str]:
    """CSV text for a streamed response: the header at once, then `chunk_size` rows at a
    time; every text cell goes through `neutralise` (numbers and empty cells are left as they
    are)."""
    buffer = _Chunk()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.take()
    for n, row in enumerate(rows, start=1):
        writer.writerow(
            [
                neutralise(cell) if isinstance(cell, str) else ("" if cell is None else cell)
                for cell in row
            ]
        )
        if n % chunk_size == 0:
            yield buffer.take()
    yield buffer.take()
