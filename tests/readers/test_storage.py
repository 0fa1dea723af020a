"""Listing and reading export files on S3, GCS and local disks."""

from __future__ import annotations

import io
import os
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ctjobs.readers.exports import scan_export
from ctjobs.readers.storage import filesystem, list_files, read_bytes

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


def test_profile_exports_are_dated_by_their_epoch_timestamp(store: Store) -> None:
    # Enhanced profile exports: <account>-<request id>-<epoch>-<database id>.csv.gz
    for epoch in (1709251200, 1709337600, 1709424000):  # 2024-03-01, 02, 03 UTC
        store.put(f"profile/100000000-{epoch}-{epoch + 59}-0.csv.gz", _export(1))
    store.put("profile/custom_name-1709337600-12.parquet", b"")
    store.put("profile/100-17-1709337600-3-csv.gz", _export(2))  # legacy profiles

    files = list_files(
        f"{store.url}/profile/",
        storage_options=store.options,
        date_from=date(2024, 3, 2),
        date_to=date(2024, 3, 2),
    )

    assert _names(files) == [
        "100-17-1709337600-3-csv.gz",
        "100000000-1709337600-1709337659-0.csv.gz",
        "custom_name-1709337600-12.parquet",
    ]
    assert {f.day for f in files} == {date(2024, 3, 2)}


def test_undated_files_left_out_of_a_range_are_named_in_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.put("mixed/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    store.put("mixed/notes.csv.gz", _export(2))
    store.put("mixed/1-2-0.csv.gz", _export(3))

    with caplog.at_level("WARNING", logger="ctjobs.readers.storage"):
        files = list_files(
            f"{store.url}/mixed/*.csv.gz",
            storage_options=store.options,
            date_from=date(2024, 3, 1),
        )
        unbounded = list_files(
            f"{store.url}/mixed/*.csv.gz", storage_options=store.options
        )

    assert _names(files) == ["1-2-Charged-20240301-0-0.csv.gz"]
    assert len(unbounded) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert f"{store.url}/mixed/notes.csv.gz" in warnings[0]
    assert f"{store.url}/mixed/1-2-0.csv.gz" in warnings[0]
    assert "left out" in warnings[0]


def test_an_s3_credentials_file_is_used(
    s3: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put("e/1-2-Charged-20240301-0-0.csv.gz", _export(1))
    shared = tmp_path / "ct-credentials"
    shared.write_text(
        "[exports]\naws_access_key_id = from-file\naws_secret_access_key = x\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    options = {**s3.options, "credentials_file": str(shared), "profile": "exports"}

    files = list_files(f"{s3.url}/e/*.csv.gz", storage_options=options)
    fs = filesystem(s3.url, options)

    # With no keys in the environment or the default files, botocore could sign
    # the listing only with the keys from the named file and profile.
    assert _names(files) == ["1-2-Charged-20240301-0-0.csv.gz"]
    assert fs.session.get_config_variable("credentials_file") == str(shared)
    assert fs.session.get_config_variable("profile") == "exports"


def test_flat_parquet_on_s3_is_scanned_natively(
    s3: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pl.DataFrame({"identity": ["u1", "u2"], "eventProps.Amount": [1.5, 2.5]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    path = s3.put("pq/1-2-Charged-20240301-0-0.parquet", buffer.getvalue())

    def whole_file(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the file was downloaded whole through fsspec")

    monkeypatch.setattr("ctjobs.readers.exports.read_bytes", whole_file)
    lf = scan_export(f"{s3.url}/pq/*.parquet", storage_options=s3.options)

    result = lf.select("eventProps.Amount", "_source_file").collect()
    assert result["eventProps.Amount"].to_list() == [1.5, 2.5]
    assert result["_source_file"].to_list() == [path, path]


def test_parquet_on_s3_falls_back_to_fsspec_when_polars_cannot_scan_it(
    s3: Store,
) -> None:
    frame = pl.DataFrame({"identity": ["u1"], "eventProps": [{"Amount": 1.5}]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    s3.put("pq/1-2-Charged-20240301-0-0.parquet", buffer.getvalue())
    options = {**s3.options, "profile": None}  # no Polars spelling: s3fs reads it

    for given in (s3.options, options):
        result = scan_export(f"{s3.url}/pq/*.parquet", storage_options=given).collect()
        assert result["eventProps.Amount"].to_list() == [1.5]
