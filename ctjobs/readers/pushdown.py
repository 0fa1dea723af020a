"""Running a job's leading transform steps inside BigQuery instead of Polars.

Job files write conditions and computed columns in the SQL that Polars reads
(`polars.sql_expr`). The common part of that SQL and BigQuery's means the same in
both, so the leading ``filter``, ``rename``, ``select``, ``drop`` and
``with_columns`` steps whose expressions stay inside that common part are compiled
into the query, and BigQuery returns fewer rows and columns. The first step that
cannot be compiled, and every step after it, runs in Polars as usual.

What is compiled: column names (bare, or double-quoted as Polars SQL writes them),
single-quoted strings, numbers, comparisons, ``AND``/``OR``/``NOT``, ``IS [NOT]
NULL``, ``[NOT] IN``, ``[NOT] LIKE``, ``BETWEEN``, ``CASE``, ``+ - * ||``,
``CAST``/``TRY_CAST`` to plain types, and a few functions with the same meaning in
both dialects (``UPPER``, ``LOWER``, ``TRIM``, ``COALESCE``...). Division is not
compiled: integer division differs between the two.

The split is decided from the steps alone (`split_pushdown`), so the runner and the
reader always agree on which steps ran where.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ctjobs.errors import UsageError
from ctjobs.job.spec import (
    ComputeStep,
    DropStep,
    FilterStep,
    RenameStep,
    SelectStep,
    Step,
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")+")
    | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<operator><>|!=|<=|>=|\|\||[=<>+\-*(),])
    """,
    re.VERBOSE,
)
_KEYWORDS = {
    "AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "IN", "LIKE", "BETWEEN",
    "CASE", "WHEN", "THEN", "ELSE", "END", "AS",
}  # fmt: skip
_FUNCTIONS = {
    "UPPER", "LOWER", "TRIM", "LTRIM", "RTRIM", "COALESCE", "NULLIF", "ABS",
    "CONCAT", "LENGTH",
}  # fmt: skip
_CASTS = {"CAST": "CAST", "TRY_CAST": "SAFE_CAST"}
_TYPES = {
    "DOUBLE": "FLOAT64", "FLOAT": "FLOAT64", "REAL": "FLOAT64", "FLOAT64": "FLOAT64",
    "INT": "INT64", "INTEGER": "INT64", "BIGINT": "INT64", "INT64": "INT64",
    "VARCHAR": "STRING", "TEXT": "STRING", "STRING": "STRING",
    "BOOLEAN": "BOOL", "BOOL": "BOOL", "DATE": "DATE",
}  # fmt: skip
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_PUSHABLE = (FilterStep, RenameStep, SelectStep, DropStep, ComputeStep)


class NotPushable(ValueError):
    """An expression or step outside the SQL that BigQuery and Polars share."""


@dataclass(frozen=True)
class Expression:
    """An expression in BigQuery SQL and the column names it reads."""

    sql: str
    columns: tuple[str, ...]


def translate(text: str) -> Expression:
    """The BigQuery form of a Polars SQL expression, or `NotPushable`.

    Example:
        >>> translate('"amount" > 10 AND eventName = \\'Charged\\'').sql
        '`amount` > 10 AND `eventName` = \\'Charged\\''
    """
    parts: list[str] = []
    columns: list[str] = []
    tokens = _tokens(text)
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        previous = tokens[index - 1][1].upper() if index else ""
        parts.append(_translate_token(kind, value, following, previous, columns))
    return Expression(_join(parts), tuple(dict.fromkeys(columns)))


def _join(parts: Sequence[str]) -> str:
    """Tokens joined as a person would write them: ``f(a, b)``, not ``f ( a , b )``."""
    text = ""
    for index, part in enumerate(parts):
        before = parts[index - 1] if index else "("
        glued = (
            part in {")", ","}
            or before == "("
            or (part == "(" and before.isupper() and before not in _KEYWORDS)
        )
        text += part if glued else " " + part
    return text


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            raise NotPushable(f"{text[position : position + 10]!r} is not compiled")
        position = found.end()
        if found.lastgroup != "space":
            tokens.append((str(found.lastgroup), found.group()))
    return tokens


def _translate_token(
    kind: str, value: str, following: str, previous: str, columns: list[str]
) -> str:
    """One token in BigQuery's spelling; column names are collected in `columns`."""
    if kind == "string":
        return _string_literal(value[1:-1].replace("''", "'"))
    if kind == "quoted":
        columns.append(value[1:-1].replace('""', '"'))
        return quote(columns[-1])
    if kind in {"number", "operator"}:
        return value
    word = value.upper()
    if previous == "AS":
        if word not in _TYPES:
            raise NotPushable(f"the type {value!r} is not compiled")
        return _TYPES[word]
    if word in _KEYWORDS:
        return word
    if following == "(":
        if word in _CASTS:
            return _CASTS[word]
        if word not in _FUNCTIONS:
            raise NotPushable(f"the function {value}() is not compiled")
        return word
    columns.append(value)
    return quote(value)


def _string_literal(text: str) -> str:
    """A BigQuery string literal: backslashes are escapes there, not in Polars."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote(name: str) -> str:
    """A column or table name quoted for BigQuery."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def pushable(step: Step) -> bool:
    """Whether `step` can run inside BigQuery."""
    try:
        _check(step)
    except NotPushable:
        return False
    return True


def why_not(step: Step) -> str:
    """Why `step` cannot run inside BigQuery ('' when it can)."""
    try:
        _check(step)
    except NotPushable as reason:
        return str(reason)
    return ""


def _check(step: Step) -> None:
    if not isinstance(step, _PUSHABLE):
        raise NotPushable(f"{step.step} steps run in Polars")
    if isinstance(step, FilterStep):
        translate(step.where)
    elif isinstance(step, ComputeStep):
        for name, text in step.columns.items():
            _check_name(name)
            translate(text)
    elif isinstance(step, RenameStep):
        for name in step.columns.values():
            _check_name(name)


def _check_name(name: str) -> None:
    if not _PLAIN_NAME.match(name):
        raise NotPushable(f"{name!r} is not a BigQuery column name")


def split_pushdown(steps: Sequence[Step]) -> tuple[list[Step], list[Step]]:
    """The leading steps BigQuery can run, and the rest, in order.

    Example:
        >>> pushed, remaining = split_pushdown(spec.transforms)
    """
    count = 0
    while count < len(steps) and pushable(steps[count]):
        count += 1
    return list(steps[:count]), list(steps[count:])


def compile_steps(
    sql: str, columns: Sequence[str], steps: Sequence[Step]
) -> tuple[str, list[str]]:
    """`sql` wrapped once per step, and the columns it returns after them.

    `columns` are the columns `sql` returns; a step naming a column that is not
    there raises `UsageError` with the columns that are.
    """
    current = list(columns)
    for number, step in enumerate(steps, start=1):
        try:
            sql, current = _compile_step(sql, current, step)
        except UsageError as error:
            raise UsageError(f"transform {number} ({step.step}): {error}") from None
    return sql, current


def _compile_step(sql: str, columns: list[str], step: Step) -> tuple[str, list[str]]:
    if isinstance(step, FilterStep):
        condition = _expression(step.where, columns)
        return f"SELECT * FROM ({sql}) AS source WHERE {condition}", columns
    if isinstance(step, RenameStep):
        _require(step.columns, columns, "rename")
        pairs = [(c, step.columns.get(c, c)) for c in columns]
        return _select(sql, [_alias(quote(old), new) for old, new in pairs]), [
            new for _, new in pairs
        ]
    if isinstance(step, SelectStep):
        _require(step.columns, columns, "select")
        return _select(sql, [quote(c) for c in step.columns]), list(step.columns)
    if isinstance(step, DropStep):
        _require(step.columns, columns, "drop")
        kept = [c for c in columns if c not in step.columns]
        return _select(sql, [quote(c) for c in kept]), kept
    if isinstance(step, ComputeStep):
        for name, text in step.columns.items():
            sql, columns = _compute(sql, columns, name, text)
        return sql, columns
    raise NotPushable(f"{step.step} steps run in Polars")


def _compute(
    sql: str, columns: list[str], name: str, text: str
) -> tuple[str, list[str]]:
    """One computed column, replacing a column of that name in place or appended."""
    expression = _expression(text, columns)
    items = [_alias(expression, c) if c == name else quote(c) for c in columns]
    if name not in columns:
        items.append(_alias(expression, name))
        columns = [*columns, name]
    return _select(sql, items), columns


def _expression(text: str, columns: Sequence[str]) -> str:
    compiled = translate(text)
    _require(compiled.columns, columns, "expression")
    return compiled.sql


def _require(
    names: Sequence[str] | dict[str, str], columns: Sequence[str], what: str
) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        message = (
            f"{what}: no column {', '.join(map(repr, missing))}; "
            f"available: {', '.join(columns)}"
        )
        raise UsageError(message)


def _alias(expression: str, name: str) -> str:
    return f"{expression} AS {quote(name)}"


def _select(sql: str, items: Sequence[str]) -> str:
    return f"SELECT {', '.join(items)} FROM ({sql}) AS source"
