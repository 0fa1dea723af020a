"""The sample generator writes CleverTap's export layouts, reproducibly to the byte."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctjobs.errors import UsageError
from ctjobs.samples import (
    EVENT_NAMES,
    EXPORT_REQUEST_ID,
    event_file_stem,
    generate_events,
    generate_samples,
    main,
)

# <request id>-<run ts>-<event name>-<yyyymmdd>-<file index>-<database id>
LEGACY_NAME = re.compile(
    r"^(?P<request>\d+)-(?P<run>\d+)-(?P<event>[^-]+)-(?P<day>\d{8})"
    r"-(?P<index>\d+)-(?P<db>\d+)\.(?:csv\.gz|json\.gz|parquet)$"
)
ITEM = pl.Struct(
    {"sku": pl.String, "name": pl.String, "qty": pl.Int64, "price": pl.Float64}
)
DAYS, USERS = 2, 60


def small_samples(out: Path, seed: int = 7) -> None:
    generate_samples(out, seed=seed, days=DAYS, users=USERS, events_per_day=250)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    small_samples(out)
    return out


def event_file(root: Path, fmt: str, event: str, day: str) -> Path:
    suffix = {"csv": ".csv.gz", "json": ".json.gz", "parquet": ".parquet"}[fmt]
    (path,) = (root / "events" / fmt).glob(f"*-{event}-{day}-0-0{suffix}")
    return path


def name_parts(path: Path) -> dict[str, str]:
    parts = LEGACY_NAME.match(path.name)
    assert parts, f"{path.name} does not follow the legacy export file name"
    return parts.groupdict()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


def digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_identical_bytes(samples: Path, tmp_path: Path) -> None:
    small_samples(tmp_path / "again")
    small_samples(tmp_path / "other", seed=8)

    assert digest(tmp_path / "again") == digest(samples)
    assert digest(tmp_path / "other") != digest(samples)


def test_event_file_names_follow_the_legacy_pattern(samples: Path) -> None:
    names = [path.name for path in (samples / "events").rglob("*") if path.is_file()]

    assert len(names) == 3 * DAYS * len(EVENT_NAMES)
    for name in names:
        parts = LEGACY_NAME.match(name)
        assert parts, name
        day = datetime.strptime(parts["day"], "%Y%m%d").replace(tzinfo=UTC)
        assert parts["request"] == EXPORT_REQUEST_ID
        assert int(parts["run"]) == day.timestamp() + 86_400
        assert parts["event"] in EVENT_NAMES
        assert (parts["index"], parts["db"]) == ("0", "0")
    assert "1709251200-1709337600-Product Viewed-20240301-0-0.csv.gz" in names


def test_coupon_column_appears_from_the_second_day(samples: Path) -> None:
    day1 = csv_rows(event_file(samples, "csv", "Charged", "20240301"))
    day2 = csv_rows(event_file(samples, "csv", "Charged", "20240302"))

    assert "eventProps.Coupon" not in day1[0]
    assert "eventProps.Coupon" in day2[0]
    assert {row["eventProps.Coupon"] for row in day2} >= {"", "SAVE10"}


def test_identities_and_order_ids_stay_text_in_csv(samples: Path) -> None:
    path = event_file(samples, "csv", "Charged", "20240301")
    text = gzip.decompress(path.read_bytes()).decode()
    rows = csv_rows(path)
    typed = pl.read_parquet(event_file(samples, "parquet", "Charged", "20240301"))

    identities = [row["profile.identity"] for row in rows]
    assert any(re.fullmatch(r"0\d{5}", identity) for identity in identities)
    assert all(re.fullmatch(r"\d{25}", row["eventProps.Order Id"]) for row in rows)
    assert identities == typed["profile.identity"].to_list()
    for order_id in typed["eventProps.Order Id"].head(20):
        assert f",{order_id}," in text


def test_awkward_values_survive_csv_quoting(samples: Path) -> None:
    viewed = csv_rows(event_file(samples, "csv", "Product Viewed", "20240301"))
    charged = csv_rows(event_file(samples, "csv", "Charged", "20240301"))

    assert viewed[3]["eventProps.Product Name"] == 'Café "Deluxe", 500g'
    assert charged[3]["eventProps.Payment Mode"] == "Credit Card\nEMI"
    assert (
        json.loads(viewed[0]["profile.all_identities"])[0]
        == viewed[0]["profile.identity"]
    )


def test_price_is_whole_for_200_rows_then_fractional(samples: Path) -> None:
    rows = csv_rows(event_file(samples, "csv", "Product Viewed", "20240301"))
    prices = [row["eventProps.Price"] for row in rows]

    assert len(prices) > 200
    assert all(price.isdigit() for price in prices[:200])
    assert all("." in price for price in prices[200:])


def test_parquet_is_typed(samples: Path) -> None:
    charged = pl.read_parquet(event_file(samples, "parquet", "Charged", "20240302"))
    viewed = pl.read_parquet(
        event_file(samples, "parquet", "Product Viewed", "20240301")
    )

    assert charged.schema["eventProps.Items"] == pl.List(ITEM)
    assert (charged["eventProps.Items"].list.len() >= 1).all()
    expected = {
        "ts": pl.Int64,
        "profile.identity": pl.String,
        "profile.phone": pl.String,
        "profile.all_identities": pl.List(pl.String),
        "deviceInfo.sdkVersion": pl.String,
        "deviceInfo.dpi": pl.Int64,
        "eventProps.Amount": pl.Float64,
        "eventProps.Order Id": pl.String,
    }
    assert {name: charged.schema[name] for name in expected} == expected
    assert viewed.schema["eventProps.Price"] == pl.Float64
    assert str(viewed["ts"][0]).startswith("20240301")


def test_json_nests_objects_and_drops_absent_keys(samples: Path) -> None:
    path = event_file(samples, "json", "Charged", "20240302")
    events = [
        json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    typed = pl.read_parquet(event_file(samples, "parquet", "Charged", "20240302"))

    assert len(events) == typed.height
    first = events[0]
    assert list(first)[:2] == ["ts", "eventName"]
    assert first["ts"] == typed["ts"][0]
    assert isinstance(first["eventProps"]["Items"], list)
    assert set(first["eventProps"]["Items"][0]) == {"sku", "name", "qty", "price"}
    assert all(None not in flatten(event).values() for event in events)
    web = next(e for e in events if e["profile"]["platform"] == "Web")
    assert "dimensions" not in web["deviceInfo"]
    assert any(e["eventProps"].get("Coupon") == "" for e in events)
    assert any("Coupon" not in e["eventProps"] for e in events)


def flatten(event: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


@pytest.mark.parametrize("column", ["profileProps", "device", "commPrefs"])
def test_profile_maps_hold_one_union_member_per_value(
    samples: Path, column: str
) -> None:
    (path,) = (samples / "profiles").glob("*.parquet")
    table = pq.read_table(path)

    assert path.name == "100000000-1709337600-1709510400-0.parquet"
    assert table.num_rows == USERS
    assert pa.types.is_map(table.schema.field(column).type)
    values = table[column].combine_chunks().items
    members = [
        values.field(i).is_valid().to_numpy(zero_copy_only=False)
        for i in range(values.type.num_fields)
    ]
    set_per_value = sum(member.astype(int) for member in members)

    assert len(values) > 0
    assert (set_per_value == 1).all()


def test_profile_props_carry_their_documented_members(samples: Path) -> None:
    (path,) = (samples / "profiles").glob("*.parquet")
    row = pq.read_table(path).slice(0, 1).to_pylist()[0]
    props = dict(row["profileProps"])

    assert isinstance(props["DOB"]["member2"], int)
    assert isinstance(props["Lifetime Orders"]["member1"], int)
    assert isinstance(props["Score"]["member4"], float)
    assert isinstance(props["Name"]["member5"], str)
    groups = dict(row["commPrefs"])["subscriptionGroups"]["member6"]
    assert {key for key, _ in groups} == {"Offers", "Newsletter"}


def test_tiers_cover_most_users_with_padded_region_codes(samples: Path) -> None:
    tiers = pl.read_csv(samples / "lookups" / "tiers.csv", infer_schema=False)
    (path,) = (samples / "profiles").glob("*.parquet")
    identities = set(pq.read_table(path)["identity"].to_pylist())

    assert tiers.columns == ["identity", "tier", "region_code"]
    assert set(tiers["identity"]) < identities
    assert 0.5 < tiers.height / len(identities) < 0.9
    assert set(tiers["tier"]) == {"Gold", "Silver", "Bronze"}
    assert tiers["region_code"].str.contains(r"^00\d{3}$").all()


@pytest.mark.parametrize(
    ("fmt", "rows_per_file"),
    [("parquet", 1_000_000), ("csv", 4_000)],
)
def test_generate_events_writes_exactly_n_rows(
    tmp_path: Path, fmt: str, rows_per_file: int
) -> None:
    paths = generate_events(100_000, tmp_path, fmt=fmt, rows_per_file=rows_per_file)

    counts = [row_count(path) for path in paths]
    assert sum(counts) == 100_000
    assert max(counts) <= rows_per_file
    assert {name_parts(path)["event"] for path in paths} == set(EVENT_NAMES)
    if fmt == "csv":
        assert any(name_parts(path)["index"] != "0" for path in paths)


def row_count(path: Path) -> int:
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    return pl.read_csv(
        io.BytesIO(gzip.decompress(path.read_bytes())), infer_schema=False
    ).height


def test_file_stem_keeps_spaces_in_event_names() -> None:
    stem = event_file_stem("Added To Cart", date(2024, 3, 7), 2)

    assert stem == "1709251200-1709856000-Added To Cart-20240307-2-0"


@pytest.mark.parametrize(
    "call",
    [
        lambda out: generate_samples(out, formats=["xml"]),
        lambda out: generate_events(-1, out),
        lambda out: generate_events(10, out, rows_per_file=0),
    ],
)
def test_impossible_arguments_raise_usage_errors(
    tmp_path: Path, call: Callable[[Path], object]
) -> None:
    with pytest.raises(UsageError):
        call(tmp_path)


def test_command_line_writes_benchmark_events(tmp_path: Path) -> None:
    code = main(["--out", str(tmp_path), "--rows", "500", "--format", "csv"])

    files = list((tmp_path / "events" / "csv").glob("*.csv.gz"))
    assert code == 0
    assert sum(row_count(path) for path in files) == 500
