"""The transform steps, each a pure LazyFrame -> LazyFrame function."""

from __future__ import annotations

import polars as pl
import pytest

import ctjobs as ct
from ctjobs.errors import UsageError


@pytest.fixture
def rows() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "profile.identity": ["007421", "u2", "u3", "u2"],
            "eventProps.Amount": ["10", "20.5", None, "20.5"],
            "eventName": ["Charged", "Charged", "App Launched", "Charged"],
            "_source_file": ["f"] * 4,
            "_source_row": [0, 1, 2, 3],
        }
    )


def test_filter_with_sql_and_nulls_as_false(rows: pl.LazyFrame) -> None:
    out = ct.filter(rows, "eventName = 'Charged' AND \"eventProps.Amount\" IS NOT NULL")
    assert out.collect()["_source_row"].to_list() == [0, 1, 3]


def test_rename_select_drop_keep_provenance(rows: pl.LazyFrame) -> None:
    out = ct.select(ct.rename(rows, {"profile.identity": "id"}), ["id"]).collect()
    assert out.columns == ["id", "_source_file", "_source_row"]
    dropped = ct.drop(rows, ["eventName", "_source_row"]).collect()
    assert "_source_row" in dropped.columns


def test_cast_and_computed_columns(rows: pl.LazyFrame) -> None:
    out = ct.with_columns(
        ct.cast(rows, {"eventProps.Amount": "float"}),
        {"double": '"eventProps.Amount" * 2'},
    ).collect()
    assert out["double"].to_list() == [20.0, 41.0, None, 41.0]


def test_lookup_with_defaults_keeps_leading_zeros(rows: pl.LazyFrame) -> None:
    tiers = pl.DataFrame({"identity": ["007421"], "tier": ["Gold"]})
    out = ct.lookup(
        rows,
        tiers,
        on="profile.identity",
        lookup_on="identity",
        defaults={"tier": "Free"},
    ).collect()
    assert out["tier"].to_list() == ["Gold", "Free", "Free", "Free"]
    assert out.height == 4


def test_lookup_refuses_duplicate_keys(rows: pl.LazyFrame) -> None:
    tiers = pl.DataFrame({"identity": ["u2", "u2"], "tier": ["Gold", "Silver"]})
    with pytest.raises(UsageError, match="not unique"):
        ct.lookup(rows, tiers, on="profile.identity", lookup_on="identity")


def test_deduplicate_and_aggregate(rows: pl.LazyFrame) -> None:
    unique = ct.deduplicate(rows).collect()
    assert unique["_source_row"].to_list() == [0, 1, 2]
    totals = ct.aggregate(
        ct.cast(rows, {"eventProps.Amount": "float"}),
        ["profile.identity"],
        {"total": 'SUM("eventProps.Amount")'},
    ).collect()
    by_id = dict(zip(totals["profile.identity"], totals["total"], strict=True))
    assert by_id == {"007421": 10.0, "u2": 41.0, "u3": None}
    assert totals.filter(pl.col("profile.identity") == "u2")["_source_row"].item() == 1


def test_flatten_json_text() -> None:
    lf = pl.LazyFrame(
        {
            "address": ['{"city": "Pune", "zip": "411001"}'],
            "_source_file": ["f"],
            "_source_row": [0],
        }
    )
    out = ct.flatten(lf, "address", separator=" ").collect()
    assert out.row(0, named=True)["address zip"] == "411001"


def test_unknown_columns_are_named_with_what_is_available(rows: pl.LazyFrame) -> None:
    with pytest.raises(UsageError) as error:
        ct.select(rows, ["nope"])
    assert "nope" in str(error.value)
    assert "profile.identity" in str(error.value)
