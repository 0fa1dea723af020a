"""Record frames to CleverTap's JSON, one string per record, vectorised.

Null fields are left out of the record (never sent as ``null`` or ``"null"``), at
every depth: a missing field of one ``Items`` entry is left out of that entry, and
a null element of a list is left out of the list. The keys come in a fixed order:
``type``, the identity, ``ts``, ``evtName``, then the properties. Scalars are
written by Polars' JSON writer, so strings are escaped correctly whatever they
hold; objects and lists are assembled around them with string expressions, so no
value ever passes through Python.
"""

from __future__ import annotations

import json

import polars as pl
from polars.datatypes import DataTypeClass

from ctjobs.records.frame import EVENT_DATA, IDENTITY_FIELDS, PROFILE_DATA

RECORD_JSON = "_json"
_TOP_LEVEL = ("type", *IDENTITY_FIELDS, "ts", "evtName")
# The key a scalar is wrapped under for Polars to write it; stripped off again.
_SCALAR_KEY = "v"
_SCALAR_PREFIX = '{"v":'
_DType = pl.DataType | DataTypeClass


def _scalar(value: pl.Expr) -> pl.Expr:
    """The JSON text of a scalar value (null stays null)."""
    wrapped = pl.struct(value.alias(_SCALAR_KEY)).struct.json_encode()
    text = wrapped.str.strip_prefix(_SCALAR_PREFIX).str.strip_suffix("}")
    return pl.when(value.is_not_null()).then(text)


def json_value(value: pl.Expr, dtype: _DType) -> pl.Expr:
    """The JSON text of `value` of type `dtype`, nulls left out at every depth."""
    if isinstance(dtype, pl.Struct):
        members = [
            _pair(value.struct.field(f.name), f.name, f.dtype)
            for f in dtype.fields
            if not f.name.startswith("__")
        ]
        return pl.when(value.is_not_null()).then(_object(members))
    if isinstance(dtype, pl.List | pl.Array):
        inner = json_value(pl.element(), dtype.inner).drop_nulls()
        items = value.cast(pl.List(dtype.inner)).list.eval(inner).list.join(",")
        return pl.concat_str(pl.lit("["), items, pl.lit("]"))
    return _scalar(value)


def _pair(value: pl.Expr, name: str, dtype: _DType) -> pl.Expr:
    """``"name":value`` for a non-null value, else null."""
    key = json.dumps(name, ensure_ascii=False) + ":"
    return pl.concat_str(pl.lit(key), json_value(value, dtype))


def _object(members: list[pl.Expr]) -> pl.Expr:
    if not members:
        return pl.lit("{}")
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    return pl.concat_str(pl.lit("{"), body, pl.lit("}"))


def record_json(schema: pl.Schema) -> pl.Expr:
    """The expression that turns each row of a record frame into its JSON text."""
    members = [
        _pair(pl.col(name), name, schema[name]) for name in _TOP_LEVEL if name in schema
    ]
    for column in (EVENT_DATA, PROFILE_DATA):
        if column in schema:
            members.append(_pair(pl.col(column), column, schema[column]))
    return _object(members).alias(RECORD_JSON)


def encode_records(records: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The record frame with a ``_json`` column holding each record's JSON text.

    Example:
        >>> events = build_events(lf, identity="profile.identity", ts="ts")
        >>> encode_records(validate(events).accepted).collect()["_json"]
    """
    lf = records.lazy()
    return lf.with_columns(record_json(lf.collect_schema()))
