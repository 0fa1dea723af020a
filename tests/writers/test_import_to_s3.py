"""The files import writer with an S3 URL for `out`, on moto's S3 server.

The moto fixtures come from tests/readers/conftest.py, through this folder's
conftest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from readers.conftest import Store

from ctjobs.job.ledger import Ledger
from ctjobs.records.encode import encode_records
from ctjobs.records.frame import RECORD_KEY, SOURCE_FILE, SOURCE_ROW
from ctjobs.writers.base import WriteContext
from ctjobs.writers.sftp import FileImportWriter

EMAIL = "data-team@example.org"
RUN = "20250101T000000Z-aaaaaa"


def _events() -> pl.DataFrame:
    rows = range(3)
    frame = pl.DataFrame(
        {
            "type": ["event"] * 3,
            "identity": ["007421", "cust-1", "cust-2"],
            "ts": [1735689600, 1735689601, 1735689602],
            "evtName": ["Charged", "Plan Renewed", "Charged"],
            "Product": ['Café "Deluxe", 500g', "日本語", "line one\nline two"],
            "Amount": [119.0, 12.5, None],
            "Gift": [True, False, None],
            SOURCE_FILE: ["events.csv"] * 3,
            SOURCE_ROW: list(rows),
        }
    )
    key = pl.concat_str(SOURCE_FILE, pl.lit("#"), pl.col(SOURCE_ROW).cast(pl.String))
    records = frame.select(
        "type",
        "identity",
        "ts",
        "evtName",
        pl.struct("Product", "Amount", "Gift").alias("evtData"),
        SOURCE_FILE,
        SOURCE_ROW,
        key.alias(RECORD_KEY),
    )
    return encode_records(records).collect()


EVENT_ROWS = [
    {"identity": "007421", "ts": "1735689600", "evtName": "Charged",
     "Product": 'Café "Deluxe", 500g', "Amount": "119.0", "Gift": "true"},
    {"identity": "cust-1", "ts": "1735689601", "evtName": "Plan Renewed",
     "Product": "日本語", "Amount": "12.5", "Gift": "false"},
    {"identity": "cust-2", "ts": "1735689602", "evtName": "Charged",
     "Product": "line one\nline two"},
]  # fmt: skip


def _profiles(count: int) -> pl.DataFrame:
    rows = range(count)
    records = pl.DataFrame(
        {
            "type": ["profile"] * count,
            "identity": [f"cust-{i:03d}" for i in rows],
            "ts": [1735689600] * count,
            "profileData": [{"Name": f"Ana {i}", "Score": i} for i in rows],
            SOURCE_FILE: ["profiles.csv"] * count,
            SOURCE_ROW: list(rows),
            RECORD_KEY: [f"profiles.csv#{i}#profile" for i in rows],
        }
    )
    return encode_records(records).collect()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "ledger.sqlite", "shop")
    yield opened
    opened.close()


def _context(ledger: Ledger | None = None, run_id: str = RUN) -> WriteContext:
    return WriteContext("shop", run_id, ledger)


def _names(store: Store, prefix: str) -> list[str]:
    store.fs.invalidate_cache()
    found = store.fs.find(f"{store.url}/{prefix}")
    return sorted(path.rsplit("/", 1)[1] for path in found)


def _delivered(store: Store, prefix: str, kind: str) -> list[dict[str, str]]:
    """Every CSV row under the prefix, as CleverTap name → cell, via its manifest."""
    rows = []
    for name in _names(store, prefix):
        if not name.endswith(".manifest"):
            continue
        manifest = json.loads(store.fs.cat(f"{store.url}/{prefix}/{name}"))
        assert manifest["type"] == kind
        assert manifest["clientEmail"] == EMAIL
        assert name == manifest["fileName"].removesuffix(".csv") + f"-{RUN}.manifest"
        headers = {h: c["ctName"] for h, c in manifest["columns"].items()}
        text = store.fs.cat(f"{store.url}/{prefix}/{manifest['fileName']}").decode()
        for row in csv.DictReader(io.StringIO(text, newline="")):
            rows.append({headers[h]: cell for h, cell in row.items() if cell != ""})
    return rows


def test_events_are_written_under_an_s3_prefix(s3: Store) -> None:
    writer = FileImportWriter(
        f"{s3.url}/imports/run/", client_email=EMAIL, storage_options=s3.options
    )

    result = writer.write("event", _events(), _context())

    found = _names(s3, "imports/run")
    assert len(found) == 2
    csv_name, manifest_name = sorted(found, key=lambda n: n.endswith(".manifest"))
    assert csv_name.startswith("shop-event-") and csv_name.endswith("-part0001.csv")
    assert manifest_name == csv_name.removesuffix(".csv") + f"-{RUN}.manifest"
    assert (result.sent, result.accepted, result.pending) == (3, 3, None)
    assert result.outputs == [f"{s3.url}/imports/run/{csv_name}"]
    assert result.files == [
        {
            "path": f"{s3.url}/imports/run/{csv_name}",
            "records": 3,
            "bytes": s3.fs.size(f"{s3.url}/imports/run/{csv_name}"),
            "status": "delivered",
        }
    ]
    assert _delivered(s3, "imports/run", "event") == EVENT_ROWS


def test_the_manifest_on_s3_declares_each_column(s3: Store) -> None:
    writer = FileImportWriter(
        f"{s3.url}/imports", client_email=EMAIL, storage_options=s3.options
    )

    writer.write("event", _events(), _context())

    (manifest_name,) = [n for n in _names(s3, "imports") if n.endswith(".manifest")]
    manifest = json.loads(s3.fs.cat(f"{s3.url}/imports/{manifest_name}"))
    assert manifest["columns"] == {
        "identity": {"ctName": "identity", "dataType": "STRING"},
        "ts": {"ctName": "ts", "dataType": "INTEGER"},
        "evtName": {"ctName": "evtName", "dataType": "STRING"},
        "Product": {"ctName": "Product", "dataType": "STRING"},
        "Amount": {"ctName": "Amount", "dataType": "FLOAT"},
        "Gift": {"ctName": "Gift", "dataType": "BOOLEAN"},
    }


def test_profiles_split_into_parts_each_with_its_manifest_on_s3(s3: Store) -> None:
    writer = FileImportWriter(
        f"{s3.url}/p", client_email=EMAIL, storage_options=s3.options,
        max_file_bytes=256,
    )  # fmt: skip

    result = writer.write("profile", _profiles(30), _context())

    found = _names(s3, "p")
    csvs = [name for name in found if name.endswith(".csv")]
    manifests = [name for name in found if name.endswith(".manifest")]
    assert len(csvs) == len(manifests) == len(result.files) > 2
    assert all(s3.fs.size(f"{s3.url}/p/{name}") <= 256 for name in csvs)
    assert result.outputs == [f"{s3.url}/p/{name}" for name in csvs]
    assert sorted(_delivered(s3, "p", "profile"), key=lambda r: r["identity"]) == [
        {"identity": f"cust-{i:03d}", "ts": "1735689600", "Name": f"Ana {i}",
         "Score": str(i)}
        for i in range(30)
    ]  # fmt: skip


def test_a_rerun_skips_files_already_on_s3_and_clears_leftovers(
    s3: Store, ledger: Ledger
) -> None:
    out = f"{s3.url}/imports"
    orphan = "shop-event-00000000abcd-part0001.csv"  # no manifest, not recorded
    s3.put(f"imports/{orphan}", b"identity,ts\r\nlost,1\r\n")
    s3.put("imports/shop-event-00000000abcd-part0002.csv.part", b"ident")
    s3.put("imports/shop-profile-00000000abcd-part0001.csv", b"x")  # another kind
    first = FileImportWriter(out, client_email=EMAIL, storage_options=s3.options)
    first.write("event", _events(), _context(ledger))
    after_first = _names(s3, "imports")

    again = FileImportWriter(out, client_email=EMAIL, storage_options=s3.options)
    result = again.write("event", _events(), _context(ledger, run_id="RUN2"))

    assert orphan not in after_first
    assert not [name for name in after_first if name.endswith(".part")]
    assert "shop-profile-00000000abcd-part0001.csv" in after_first
    assert len(after_first) == 3
    assert (result.sent, result.batches) == (3, 0)
    assert [f["status"] for f in result.files] == ["already delivered"]
    assert _names(s3, "imports") == after_first
    assert ledger.unacked(_events()).height == 0


def test_a_missing_bucket_leaves_the_records_pending(
    s3: Store, caplog: pytest.LogCaptureFixture
) -> None:
    out = f"{s3.url}-absent/imports"
    writer = FileImportWriter(out, client_email=EMAIL, storage_options=s3.options)

    with caplog.at_level("ERROR", logger="ctjobs.writers.sftp"):
        result = writer.write("event", _events(), _context())

    assert (result.sent, result.batches) == (0, 0)
    assert result.pending is not None and result.pending.height == 3
    assert "re-run to resume" in caplog.text
    assert not s3.fs.exists(f"{s3.url}-absent")
