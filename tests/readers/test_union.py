"""Many export files read as one: the union of their columns, types reconciled."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ctjobs.errors import SchemaConflictError
from ctjobs.readers.exports import read_export

from .conftest import gz


def test_a_column_added_on_day_two_is_null_on_day_one(tmp_path: Path) -> None:
    day1 = "identity,ts,eventName\nu1,20240301101500,Charged\n"
    day2 = "identity,ts,eventName,eventProps.Coupon\nu2,20240302101500,Charged,SAVE5\n"
    (tmp_path / "1-2-Charged-20240301-0-0.csv.gz").write_bytes(gz(day1))
    (tmp_path / "1-2-Charged-20240302-0-0.csv.gz").write_bytes(gz(day2))

    frame = read_export(str(tmp_path / "*.csv.gz"))

    assert frame.columns[:4] == ["identity", "ts", "eventName", "eventProps.Coupon"]
    assert frame["eventProps.Coupon"].to_list() == [None, "SAVE5"]
    assert frame["identity"].to_list() == ["u1", "u2"]


def _parquet_pair(folder: Path) -> tuple[Path, Path]:
    first, second = folder / "a-20240301-0-0.parquet", folder / "a-20240302-0-0.parquet"
    pl.DataFrame({"identity": ["u1"], "eventProps.Size": [42]}).write_parquet(first)
    pl.DataFrame({"identity": ["u2"], "eventProps.Size": ["unknown"]}).write_parquet(
        second
    )
    return first, second


def test_int_and_text_widen_to_text(tmp_path: Path) -> None:
    _parquet_pair(tmp_path)

    frame = read_export(str(tmp_path / "*.parquet"), widening="widen")

    assert frame.schema["eventProps.Size"] == pl.String
    assert frame["eventProps.Size"].to_list() == ["42", "unknown"]


def test_int_and_text_under_error_names_both_files(tmp_path: Path) -> None:
    first, second = _parquet_pair(tmp_path)

    with pytest.raises(SchemaConflictError) as raised:
        read_export(str(tmp_path / "*.parquet"), widening="error")

    message = str(raised.value)
    assert "'eventProps.Size'" in message
    assert str(first) in message and str(second) in message
