"""The record frame: one row per CleverTap record, the contract every writer consumes.

A record frame is a `polars.DataFrame` (or LazyFrame) with these columns:

``type``          "event" or "profile"
``identity``      String; also ``objectId``, ``FBID``, ``GPID`` when mapped (one or more)
``ts``            Int64 epoch seconds, or null when CleverTap should stamp it
``evtName``       String, events only
``evtData``       Struct of event properties keyed by their CleverTap names
``profileData``   Struct of profile properties keyed by their CleverTap names
``_source_file``  String: the file (or table) the row was read from
``_source_row``   Int64: the 0-based row within that file
``_record_key``   String: a key stable across re-runs of the same input

Frames built by `ctjobs.records.build` also carry ``_ts_source``, ``_ts_unit`` and
``_identity_issue`` (see below) for the pre-flight check; writers ignore them.

Property values inside the structs are already in CleverTap's form: dates are
``"$D_<epoch seconds>"`` strings, booleans are booleans, `Items` of `Charged` is a
list of structs. A null field means "absent": it is left out of the JSON record.

A rejection frame carries ``_source_file``, ``_source_row``, ``_record_key``,
``type``, ``code`` (Int64, CleverTap's code where one exists), ``reason`` (String)
and ``record`` (String, the JSON the record would have been sent as).
"""

from __future__ import annotations

import polars as pl

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
RECORD_KEY = "_record_key"
PROVENANCE = (SOURCE_FILE, SOURCE_ROW)
#: Set by the record builder for the pre-flight check, never sent: the source's
#: ts as text where it was not plain epoch seconds (text, a float, packed digits,
#: milli- or microseconds, or unreadable), ...
TS_SOURCE = "_ts_source"
#: ... ``"ms"``/``"us"`` where the source ts was epoch milli- or microseconds, ...
TS_UNIT = "_ts_unit"
#: ... and why the identity column's value cannot be an identifier.
IDENTITY_ISSUE = "_identity_issue"

EVENT = "event"
PROFILE = "profile"

IDENTITY_FIELDS = ("identity", "objectId", "FBID", "GPID")
EVENT_DATA = "evtData"
PROFILE_DATA = "profileData"
DATE_PREFIX = "$D_"

REJECTION_SCHEMA: dict[str, pl.DataType] = {
    SOURCE_FILE: pl.String(),
    SOURCE_ROW: pl.Int64(),
    RECORD_KEY: pl.String(),
    "type": pl.String(),
    "code": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
}


def empty_rejections() -> pl.DataFrame:
    """A rejection frame with no rows and the full schema."""
    return pl.DataFrame(schema=REJECTION_SCHEMA)


def data_column(kind: str) -> str:
    """The struct column that holds a record's properties for `kind`."""
    return EVENT_DATA if kind == EVENT else PROFILE_DATA
