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


def _json_pair(folder: Path, first: str, second: str) -> tuple[Path, Path]:
    one, two = folder / "a-20240301-0-0.json", folder / "a-20240302-0-0.json"
    one.write_text(f'{{"identity": "u1", "eventProps": {{"Sizes": {first}}}}}\n')
    two.write_text(f'{{"identity": "u2", "eventProps": {{"Sizes": {second}}}}}\n')
    return one, two


def test_lists_of_integers_and_of_text_widen_to_lists_of_text(tmp_path: Path) -> None:
    _json_pair(tmp_path, "[1, 2]", '["S", "M"]')

    frame = read_export(str(tmp_path / "*.json"), widening="widen")

    assert frame.schema["eventProps.Sizes"] == pl.List(pl.String)
    assert frame["eventProps.Sizes"].to_list() == [["1", "2"], ["S", "M"]]


def test_lists_of_integers_and_of_text_under_error_name_both_files(
    tmp_path: Path,
) -> None:
    first, second = _json_pair(tmp_path, "[1, 2]", '["S", "M"]')

    with pytest.raises(SchemaConflictError) as raised:
        read_export(str(tmp_path / "*.json"), widening="error")

    message = str(raised.value)
    assert "'eventProps.Sizes'" in message
    assert str(first) in message and str(second) in message


@pytest.mark.parametrize("widening", ["widen", "error"])
def test_a_list_and_a_plain_value_never_meet(tmp_path: Path, widening: str) -> None:
    first, second = _json_pair(tmp_path, "[1, 2]", '"S"')

    with pytest.raises(SchemaConflictError) as raised:
        read_export(str(tmp_path / "*.json"), widening=widening)

    message = str(raised.value)
    assert "'eventProps.Sizes'" in message
    assert str(first) in message and str(second) in message


def test_list_items_widen_field_by_field(tmp_path: Path) -> None:
    _json_pair(
        tmp_path,
        '[{"name": "pen", "price": 2}]',
        '[{"name": "ink", "price": 2.5, "qty": 3}]',
    )

    for widening in ("widen", "error"):
        frame = read_export(str(tmp_path / "*.json"), widening=widening)

        items = pl.List(
            pl.Struct({"name": pl.String, "price": pl.Float64, "qty": pl.Int64})
        )
        assert frame.schema["eventProps.Sizes"] == items
        assert frame["eventProps.Sizes"].to_list() == [
            [{"name": "pen", "price": 2.0, "qty": None}],
            [{"name": "ink", "price": 2.5, "qty": 3}],
        ]


def _bool_and_float(folder: Path) -> tuple[Path, Path]:
    first, second = folder / "a-20240301-0-0.parquet", folder / "a-20240302-0-0.parquet"
    pl.DataFrame({"identity": ["u1"], "eventProps.Paid": [1.5]}).write_parquet(first)
    pl.DataFrame({"identity": ["u2"], "eventProps.Paid": [True]}).write_parquet(second)
    return first, second


def test_a_boolean_and_a_number_conflict_under_error(tmp_path: Path) -> None:
    first, second = _bool_and_float(tmp_path)

    with pytest.raises(SchemaConflictError) as raised:
        read_export(str(tmp_path / "*.parquet"), widening="error")

    message = str(raised.value)
    assert "'eventProps.Paid'" in message
    assert "Float64" in message and "Boolean" in message
    assert str(first) in message and str(second) in message


def test_a_boolean_and_a_number_widen_to_text_not_to_one(tmp_path: Path) -> None:
    _bool_and_float(tmp_path)

    frame = read_export(str(tmp_path / "*.parquet"), widening="widen")

    assert frame["eventProps.Paid"].to_list() == ["1.5", "true"]


def test_boolean_and_number_csv_files_conflict_under_error(tmp_path: Path) -> None:
    (tmp_path / "1-2-Charged-20240301-0-0.csv.gz").write_bytes(
        gz("identity,eventProps.Paid\nu1,true\n")
    )
    (tmp_path / "1-2-Charged-20240302-0-0.csv.gz").write_bytes(
        gz("identity,eventProps.Paid\nu2,1\n")
    )

    with pytest.raises(SchemaConflictError, match=r"'eventProps\.Paid'"):
        read_export(str(tmp_path / "*.csv.gz"), widening="error")
