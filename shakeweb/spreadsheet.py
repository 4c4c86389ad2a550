"""The one rule for text that goes into a CSV a person may open in a spreadsheet (the Costs
export, the manifest inside a task's ZIP): a cell that a spreadsheet would run as a formula
gets a leading `'`, so it is shown as text.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and
some also when blanks come first (`  =HYPERLINK(...)`, a no-break space, a line feed): such a
cell is neutralised too. `costs.cells.neutralised` is the same rule in SQL, for the export
that the database formats itself.
"""

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
