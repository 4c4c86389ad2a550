"""SQL expressions that produce the CSV export's cells ready-made, on SQLite and PostgreSQL.

The export writes a million rows at a third of the database's own CSV dump speed or better
(bench/export_costs.py) because Python does nothing per cell: the database formats times,
credits and formats, and neutralises formulas, in the same pass that reads the rows. Django
then has no per-value converters to run (every cell arrives as text, an integer or a float)
and `csv.writer` takes the fetched tuples as they are.

`shakeweb.spreadsheet.neutralise` is the same rule in Python, for the small summary exports
and the manifest inside a task's ZIP.
"""

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, CharField, Expression, Func, TextField, Value, When
from django.db.models.functions import Cast, Concat, Left, Length, Replace, Substr
from django.db.models.lookups import In, LessThanOrEqual
from django.db.models.sql.compiler import SQLCompiler

from shakeweb.spreadsheet import FORMULA_START, LEADING_BLANKS

SqlParams = tuple[str, list]


class LTrimBlanks(Func):
    """`LTRIM(text, blanks)`: the same on SQLite and PostgreSQL."""

    function = "LTRIM"
    output_field = TextField()

    def __init__(self, expression: Expression) -> None:
        super().__init__(expression, Value(LEADING_BLANKS))


def neutralised(expression: Expression) -> Case:
    """Text a spreadsheet shows and never runs: a leading `'` before `=`, `+`, `-`, `@`, a tab
    or a carriage return, also after leading blanks (`shakeweb.spreadsheet`). NULL stays NULL
    (an empty cell)."""
    starts = list(FORMULA_START)
    return Case(
        When(
            In(Left(expression.copy(), 1), starts)
            | In(Left(LTrimBlanks(expression.copy()), 1), starts),
            then=Concat(Value("'"), expression.copy(), output_field=TextField()),
        ),
        default=expression.copy(),
        output_field=TextField(),
    )


class UtcIso(Func):
    """A timestamp as `2026-11-03T10:15:00Z` (UTC, to the second); NULL stays NULL."""

    output_field = CharField()

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: object
    ) -> SqlParams:
        # Django stores SQLite timestamps as UTC text: strftime reads them as they are. A
        # literal % is written %% in Django's SQL.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', {sql})", params

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: object
    ) -> SqlParams:
        return self.as_sql(
            compiler,
            connection,
            template=(
                "to_char(%(expressions)s AT TIME ZONE 'UTC', "
                """'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
            ),
        )


class CreditsText(Func):
    """Credits with two decimal places (`4.00`, `-1.50`); NULL stays NULL. Pass
    `nullable=False` for a value known not to be NULL: SQLite then skips a check."""

    output_field = CharField()

    def __init__(self, expression: Expression, *, nullable: bool = True) -> None:
        super().__init__(expression)
        self.nullable = nullable

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: object
    ) -> SqlParams:
        # printf() turns NULL into 0.00, hence the CASE for a value that may be NULL.
        sql, params = compiler.compile(self.source_expressions[0])
        if not self.nullable:
            return f"printf('%%.2f', {sql})", params
        return f"CASE WHEN ({sql}) IS NULL THEN NULL ELSE printf('%%.2f', {sql}) END", [
            *params,
            *params,
        ]

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: object
    ) -> SqlParams:
        return self.as_sql(
            compiler, connection, template="CAST(CAST(%(expressions)s AS numeric(30, 2)) AS text)"
        )


def formats_cell(expression: Expression) -> Case:
    """A JSON list of format names, `["wav", "mp3"]`, as the cell `wav mp3`, neutralised.

    Format names are plain words from the catalogue, and both databases write such a list as
    `["a", "b"]` (Django's JSON on SQLite, jsonb's text on PostgreSQL): the cell is the text
    between `["` and `"]` with `", "` turned into spaces. Its first character is the JSON's
    third, so the formula check reads that without building the cell twice."""
    text = Cast(expression, TextField())

    def joined() -> Replace:
        inner = Substr(text.copy(), 3, Length(text.copy()) - 4)
        return Replace(inner, Value('", "'), Value(" "), output_field=TextField())

    return Case(
        When(LessThanOrEqual(Length(text.copy()), 2), then=Value("")),
        When(
            In(Substr(text.copy(), 3, 1), list(FORMULA_START)),
            then=Concat(Value("'"), joined(), output_field=TextField()),
        ),
        default=joined(),
        output_field=TextField(),
    )
