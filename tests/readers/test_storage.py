"""Listing and reading export files on S3, GCS and local disks."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ctjobs.readers.exports import scan_export
from ctjobs.readers.storage import list_files, read_bytes

from .conftest import Store, gz

CSV = "ts,eventName,profile.identity,eventProps.Amount\n"
ROW = "20240301101500,Charged,u{n},{n}.5\n"


def _export(n: int) -> bytes:
    return gz(CSV + ROW.format(n=n))


def _names(files: list) -> list[str]:
    return [f.name for f in files]


@pytest.fixture(params=["s3", "gcs"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each test runs once against S3 and once against GCS."""
    return request.getfixturevalue(request.param)


def test_glob_lists_matching_files_with_days_and_versions(store: Store) -> None:
    store.put("events/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    store.put("events/1-2-Charged-20240302-0-0.csv.gz", _export(2))
    store.put("events/notes.txt", b"not an export")
    store.put("profiles/1-2-0.csv.gz", _export(3))

    files = list_files(f"{store.url}/events/*.csv.gz", storage_options=store.options)

    assert [f.path for f in files] == [
        f"{store.url}/events/1-2-Charged-20240301-0-0.csv.gz",
        f"{store.url}/events/1-2-Charged-20240302-0-0.csv.gz",
    ]
    assert [f.day for f in files] == [date(2024, 3, 1), date(2024, 3, 2)]
    assert all(f.version and f.size > 0 for f in files)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2024, 3, 2), None, ["2024-03-02", "2024-03-03"]),
        (None, date(2024, 3, 1), ["2024-03-01"]),
        (date(2024, 3, 2), date(2024, 3, 2), ["2024-03-02"]),
    ],
)
def test_date_folders_bound_the_listing(
    store: Store, start: date | None, end: date | None, expected: list[str]
) -> None:
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        store.put(f"events/{day}/100-1-0.csv.gz", _export(1))

    files = list_files(
        f"{store.url}/events/**/*.csv.gz",
        storage_options=store.options,
        date_from=start,
        date_to=end,
    )

    assert [f.day.isoformat() for f in files if f.day] == expected


def test_file_names_bound_the_listing_under_a_prefix(store: Store) -> None:
    for day in ("20240301", "20240302", "20240303"):
        store.put(f"exp/1709-1709-App Launched-{day}-0-7.json.gz", b"{}\n")

    files = list_files(
        f"{store.url}/exp/",
        storage_options=store.options,
        date_from=date(2024, 3, 2),
        date_to=date(2024, 3, 2),
    )

    assert _names(files) == ["1709-1709-App Launched-20240302-0-7.json.gz"]


def test_gzip_and_plain_files_read_alike(store: Store) -> None:
    packed = store.put("a/x.csv.gz", gz("a,b\n1,2\n"))
    plain = store.put("a/y.csv", b"a,b\n1,2\n")

    assert read_bytes(packed, store.options) == read_bytes(plain, store.options)


def test_a_file_landing_between_two_listings_is_seen(store: Store) -> None:
    pattern = f"{store.url}/events/*.csv.gz"
    store.put("events/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    first = list_files(pattern, storage_options=store.options)

    store.put("events/1-2-Charged-20240302-0-0.csv.gz", _export(2))
    second = list_files(pattern, storage_options=store.options)

    assert len(first) == 1
    assert _names(second) == [
        "1-2-Charged-20240301-0-0.csv.gz",
        "1-2-Charged-20240302-0-0.csv.gz",
    ]


def test_a_rewritten_file_gets_a_new_version(store: Store) -> None:
    path = store.put("events/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    before = list_files(path, storage_options=store.options)[0]

    store.put("events/1-2-Charged-20240301-0-0.csv.gz", _export(22))
    after = list_files(path, storage_options=store.options)[0]

    assert before.version != after.version


def test_scan_export_reads_a_cloud_glob(store: Store) -> None:
    store.put("ev/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    store.put("ev/1-2-Charged-20240302-0-0.csv", (CSV + ROW.format(n=2)).encode())

    frame = scan_export(f"{store.url}/ev/*", storage_options=store.options).collect()

    assert frame["profile.identity"].to_list() == ["u1", "u2"]
    assert frame["eventProps.Amount"].to_list() == [1.5, 2.5]
    assert frame["ts"].dtype == pl.Datetime("us", "UTC")
    assert frame["_source_file"].to_list()[0].startswith(store.url)


def test_local_files_are_versioned_by_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "1-2-Charged-20240301-0-0.csv.gz"
    path.write_bytes(_export(1))
    os.utime(path, (time.time() - 60, time.time() - 60))
    before = list_files(str(tmp_path / "*.csv.gz"))[0]

    path.write_bytes(_export(1))
    after = list_files(str(tmp_path / "*.csv.gz"))[0]

    assert before.version != after.version
    assert before.day == date(2024, 3, 1)


def test_polars_style_s3_options_are_understood(s3: Store) -> None:
    s3.put("e/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    options = {
        "aws_endpoint_url": s3.options["endpoint_url"],
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }

    files = list_files(f"{s3.url}/e/*.csv.gz", storage_options=options)

    assert _names(files) == ["1-2-Charged-20240301-0-0.csv.gz"]
