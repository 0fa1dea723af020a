"""Reading CleverTap export layouts into the normalised shape."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import ctjobs as ct
from ctjobs.errors import SchemaConflictError, SourceError
from tests.conftest import SAMPLES

HEADER = (
    "ts,eventName,profile.identity,profile.phone,eventProps.Amount,eventProps.Ref\n"
)


def write_csv_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_packed_ts_in_the_source_timezone(tmp_path: Path) -> None:
    path = write_csv_gz(
        tmp_path / "1-2-Plan Renewed-20240301-0-0.csv.gz",
        HEADER + "20240301091500,Plan Renewed,u-001,,1,\n",
    )
    row = ct.read_export(str(path), timezone="Asia/Kolkata").row(0, named=True)
    expected = datetime(2024, 3, 1, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert row["ts"].timestamp() == expected.timestamp() == 1709264700


def test_sample_row_ts_matches_an_independent_conversion() -> None:
    path = next((SAMPLES / "events" / "csv").glob("*Charged-20240301-0-0.csv.gz"))
    raw = pl.read_csv(path, infer_schema=False).row(0, named=True)
    read = ct.read_export(str(path), timezone="Asia/Kolkata").row(0, named=True)
    local = datetime.strptime(raw["ts"], "%Y%m%d%H%M%S").replace(
        tzinfo=ZoneInfo("Asia/Kolkata")
    )
    assert int(read["ts"].timestamp()) == int(local.timestamp())


def test_identities_phones_and_long_references_stay_text(tmp_path: Path) -> None:
    path = write_csv_gz(
        tmp_path / "a-1-Charged-20240301-0-0.csv.gz",
        HEADER
        + "20240301091500,Charged,007421,+919800000001,10,1234567890123456789012345\n"
        + "20240301091600,Charged,000913,,12,0042\n",
    )
    frame = ct.read_export(str(path))
    assert frame["profile.identity"].to_list() == ["007421", "000913"]
    assert frame["profile.phone"].to_list() == ["+919800000001", None]
    assert frame["eventProps.Ref"].to_list() == ["1234567890123456789012345", "0042"]
    assert frame.schema["eventProps.Amount"] == pl.Int64


def test_csv_types_come_from_every_row_not_the_first(tmp_path: Path) -> None:
    rows = [f"20240301091500,Charged,u{i},,{i}," for i in range(150)]
    rows.append("20240301091500,Charged,u150,,99.5,")
    path = write_csv_gz(
        tmp_path / "a-1-Charged-20240301-0-0.csv.gz", HEADER + "\n".join(rows) + "\n"
    )
    amounts = ct.read_export(str(path))["eventProps.Amount"]
    assert amounts.dtype == pl.Float64
    assert amounts.null_count() == 0
    assert amounts[150] == 99.5


def test_the_three_event_formats_read_alike() -> None:
    events = SAMPLES / "events"
    csv = ct.read_export(str(events / "csv" / "*Charged*.csv.gz"))
    parquet = ct.read_export(str(events / "parquet" / "*Charged*.parquet"))
    json = ct.read_export(str(events / "json" / "*Charged*.json.gz"))
    assert set(csv.columns) == set(parquet.columns) == set(json.columns)
    for column in (
        "ts",
        "profile.identity",
        "eventProps.Amount",
        "eventProps.Order Id",
    ):
        assert csv[column].equals(parquet[column])
        assert csv[column].equals(json[column])
    assert isinstance(csv.schema["eventProps.Items"], pl.List)


def test_a_property_that_appears_on_day_two_is_null_on_day_one() -> None:
    frame = ct.read_export(str(SAMPLES / "events" / "csv" / "*Charged*.csv.gz"))
    day_one = frame.filter(pl.col("_source_file").str.contains("-20240301-"))
    later = frame.filter(~pl.col("_source_file").str.contains("-20240301-"))
    assert day_one["eventProps.Coupon"].null_count() == day_one.height
    assert later["eventProps.Coupon"].drop_nulls().len() > 0


def test_enhanced_profile_maps_become_columns() -> None:
    frame = ct.read_export(str(SAMPLES / "profiles" / "*.parquet"))
    for column in ("identity", "Email", "Phone", "Gender", "MSG-email", "device.token"):
        assert column in frame.columns
    assert frame.schema["identity"] == pl.String
    assert frame["identity"].n_unique() == frame.height


def test_provenance_columns_address_every_row(tmp_path: Path) -> None:
    path = write_csv_gz(
        tmp_path / "a-1-Charged-20240301-0-0.csv.gz",
        HEADER + "20240301091500,Charged,a,,1,\n20240301091500,Charged,b,,2,\n",
    )
    frame = ct.read_export(str(path))
    assert frame["_source_file"].to_list() == [str(path), str(path)]
    assert frame["_source_row"].to_list() == [0, 1]


def test_date_range_selects_files_by_their_names() -> None:
    files = ct.list_files(
        str(SAMPLES / "events" / "csv" / "*.csv.gz"),
        date_from=datetime(2024, 3, 2).date(),
        date_to=datetime(2024, 3, 3).date(),
    )
    assert files
    assert {f.day.isoformat() for f in files if f.day} == {"2024-03-02", "2024-03-03"}


def test_conflicting_types_widen_or_fail_naming_both_files(tmp_path: Path) -> None:
    first = tmp_path / "a-1-Charged-20240301-0-0.parquet"
    second = tmp_path / "a-1-Charged-20240302-0-0.parquet"
    pl.DataFrame({"ts": [20240301091500], "eventProps.Size": [3]}).write_parquet(first)
    pl.DataFrame(
        {"ts": [20240302091500], "eventProps.Size": ["unknown"]}
    ).write_parquet(second)
    widened = ct.read_export(str(tmp_path / "*.parquet"))
    assert widened["eventProps.Size"].to_list() == ["3", "unknown"]
    with pytest.raises(SchemaConflictError) as error:
        ct.read_export(str(tmp_path / "*.parquet"), widening="error")
    assert str(first) in str(error.value)
    assert str(second) in str(error.value)
    assert "eventProps.Size" in str(error.value)


def test_missing_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no export files match"):
        ct.read_export(str(tmp_path / "nothing-*.csv.gz"))


def test_declared_types_win_and_unreadable_cells_are_named(tmp_path: Path) -> None:
    path = write_csv_gz(
        tmp_path / "a-1-Charged-20240301-0-0.csv.gz",
        HEADER + "20240301091500,Charged,a,,0042,7\n20240301091500,Charged,b,,12,x7\n",
    )
    frame = ct.read_export(
        str(path), schema_overrides={"eventProps.Amount": pl.Float64()}
    )
    assert frame["eventProps.Amount"].to_list() == [42.0, 12.0]
    with pytest.raises(SourceError) as error:
        ct.read_export(str(path), schema_overrides={"eventProps.Ref": pl.Int64()})
    message = str(error.value)
    assert str(path) in message and "row 1" in message
    assert "'eventProps.Ref'" in message and "'x7'" in message


def test_csv_number_and_text_across_files_under_the_error_rule(tmp_path: Path) -> None:
    first = write_csv_gz(
        tmp_path / "a-1-Charged-20240301-0-0.csv.gz",
        HEADER + "20240301091500,Charged,a,,1,123\n",
    )
    second = write_csv_gz(
        tmp_path / "a-1-Charged-20240302-0-0.csv.gz",
        HEADER + "20240302091500,Charged,b,,,ABC\n",
    )
    glob = str(tmp_path / "*.csv.gz")
    assert ct.read_export(glob)["eventProps.Ref"].to_list() == ["123", "ABC"]
    with pytest.raises(SchemaConflictError) as error:
        ct.read_export(glob, widening="error")
    message = str(error.value)
    assert "'eventProps.Ref'" in message and str(first) in message
    assert str(second) in message
    # A column empty in one file is no conflict: Amount is blank in the second.
    assert "Amount" not in message


def test_a_ts_that_is_not_a_time_is_rejected_with_what_was_there(
    tmp_path: Path,
) -> None:
    source = tmp_path / "times.csv"
    source.write_text(
        "profile.identity,ts,eventName\n"
        "u1,20240301091500,Charged\nu2,yesterday,Charged\n"
        "u3,,Charged\nu4,20241301091500,Charged\n",
        encoding="utf-8",
    )
    rows = ct.scan_export(str(source), timezone="Asia/Kolkata")

    records = ct.build_events(
        rows, identity="profile.identity", ts="ts", event_name="eventName"
    )
    checked = ct.validate(records)

    assert checked.accepted.get_column("ts").to_list() == [1709264700]
    assert checked.rejected.select("_source_row", "code", "reason").rows() == [
        (1, 525, "ts 'yesterday' is not a time"),
        (2, 525, "ts is missing"),
        (3, 525, "ts '20241301091500' is not a time"),
    ]


@pytest.mark.parametrize(
    ("content", "where", "problem"),
    [
        (b"a,b\n1,2\n3,4\n5,6,7\n", "line 4", "more fields"),
        (b"a,b\n1,2\n1,\xe9t\xe9\n", "line 3", "utf-8"),
    ],
    ids=["a row with an extra field", "a byte that is not UTF-8"],
)
def test_an_unreadable_csv_names_its_first_bad_line_and_what_to_do(
    tmp_path: Path, content: bytes, where: str, problem: str
) -> None:
    source = tmp_path / "broken.csv"
    source.write_bytes(content)

    with pytest.raises(SourceError) as caught:
        ct.read_export(str(source))

    message = str(caught.value)
    assert message.startswith(f"{source} {where}: cannot be read as csv")
    assert problem in message.lower() and "re-encode it as UTF-8" in message
