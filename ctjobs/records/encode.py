"""Record frames to CleverTap's JSON, one string per record, vectorised.

Null fields are left out of the record (never sent as ``null`` or ``"null"``), and
the keys come in a fixed order: ``type``, the identity, ``ts``, ``evtName``, then
the properties. Each value is encoded by Polars' JSON writer, so strings are
escaped correctly whatever they hold.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ctjobs.records.frame import EVENT_DATA, IDENTITY_FIELDS, PROFILE_DATA

RECORD_JSON = "_json"
_TOP_LEVEL = ("type", *IDENTITY_FIELDS, "ts", "evtName")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _nested_pair(name: str) -> Any:
    prefix = json.dumps(name, ensure_ascii=False) + ":"

    def encode(value: Any) -> str:
        text = json.dumps(
            _without_nulls(value),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        return prefix + text

    return encode


def _member(value: pl.Expr, name: str, nested: bool = False) -> pl.Expr:
    """``"name":value`` for a non-null value, else null."""
    if nested:
        # Polars writes nulls inside nested values (a missing field of one `Items`
        # entry); CleverTap must never see `null`, so nested values are encoded
        # in Python with nulls left out. They are rare: `Items` and profile objects.
        pair = value.map_elements(_nested_pair(name), return_dtype=pl.String)
        return pl.when(value.is_not_null()).then(pair)
    pair = pl.struct(value.alias(name)).struct.json_encode()
    return pl.when(value.is_not_null()).then(
        pair.str.strip_prefix("{").str.strip_suffix("}")
    )


def _object(members: list[pl.Expr]) -> pl.Expr:
    if not members:
        return pl.lit("{}")
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    return pl.concat_str(pl.lit("{"), body, pl.lit("}"))


def _data_object(column: str, dtype: pl.DataType) -> pl.Expr:
    assert isinstance(dtype, pl.Struct)
    members = [
        _member(pl.col(column).struct.field(f.name), f.name, f.dtype.is_nested())
        for f in dtype.fields
        if not f.name.startswith("__")
    ]
    return _object(members)


def record_json(schema: pl.Schema) -> pl.Expr:
    """The expression that turns each row of a record frame into its JSON text."""
    members = [_member(pl.col(name), name) for name in _TOP_LEVEL if name in schema]
    for column in (EVENT_DATA, PROFILE_DATA):
        if column in schema:
            data = _data_object(column, schema[column])
            present = pl.col(column).is_not_null()
            pair = pl.concat_str(pl.lit(f'"{column}":'), data)
            members.append(pl.when(present).then(pair))
    return _object(members).alias(RECORD_JSON)


def encode_records(records: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The record frame with a ``_json`` column holding each record's JSON text."""
    lf = records.lazy()
    return lf.with_columns(record_json(lf.collect_schema()))
