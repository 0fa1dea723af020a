"""Landing files, compaction to Parquet and scan_landing, without a server."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from ctjobs.webhook import LANDING_SCHEMA, compact, scan_landing
from ctjobs.webhook.cli import webhook_app
from ctjobs.webhook.landing import read_landed
from ctjobs.webhook.payload import PayloadRejected, parse_delivery
from ctjobs.webhook.remote import upload_parts
from ctjobs.webhook.writer import LandingWriter

from .intake import campaign

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def delivery_bytes(profiles: int) -> bytes:
    return parse_delivery(json.dumps(campaign(profiles)).encode(), NOW).jsonl()


def land(folder: Path, counts: list[int], *, keep_open: bool = False) -> LandingWriter:
    """Land one delivery per count through a real writer, then close it."""
    writer = LandingWriter(folder, rotate_bytes=1 << 30)
    writer.open()
    bodies = [json.dumps(campaign(n)).encode() for n in counts]

    async def run() -> None:
        for body in bodies:
            await writer.land(parse_delivery(body, datetime.now(UTC)))
        if not keep_open:
            await writer.close()

    asyncio.run(run())
    return writer


WHOLE = delivery_bytes(2) + delivery_bytes(0)
TORN_TAILS = [
    ("nothing after", b"", 3),
    ("half a line", b'{"payload_id": "x", "pro', 3),
    ("half a delivery", delivery_bytes(3).split(b"\n", 1)[0] + b"\n", 3),
    ("a line without newline", delivery_bytes(1).rstrip(b"\n"), 3),
    ("a whole delivery", delivery_bytes(1), 4),
]


@pytest.mark.parametrize(("case", "tail", "rows"), TORN_TAILS)
def test_read_landed_keeps_whole_deliveries_only(
    case: str, tail: bytes, rows: int
) -> None:
    landed = read_landed(WHOLE + tail)

    assert len(landed.rows) == rows, case
    assert landed.torn == (rows == 3 and tail != b"")


def test_payload_id_ignores_spacing_and_key_order() -> None:
    body = campaign(2)
    again = json.dumps(dict(reversed(body.items())), indent=4).encode()

    first = parse_delivery(json.dumps(body).encode(), NOW)
    assert parse_delivery(again, NOW).payload_id == first.payload_id


def test_identifiers_are_matched_without_case() -> None:
    body = {
        "targetId": "7",
        "profiles": {"IDENTITY": 12, "Email": "a@b", "ObjectId": "o"},
    }

    row = parse_delivery(json.dumps(body).encode(), NOW).rows[0]

    assert (row["identity"], row["email"], row["objectId"]) == ("12", "a@b", "o")
    assert row["targetId"] == 7
    with pytest.raises(PayloadRejected, match="is_test"):
        parse_delivery(b'{"is_test": "yes", "profiles": []}', NOW)


def test_scan_landing_has_the_schema_and_provenance(tmp_path: Path) -> None:
    land(tmp_path, [2, 3])

    frame = scan_landing(tmp_path).collect()

    assert frame.schema == pl.Schema(
        {**LANDING_SCHEMA, "_source_file": pl.String(), "_source_row": pl.Int64()}
    )
    assert frame["_source_row"].to_list() == [0, 1, 2, 3, 4]
    (source,) = frame["_source_file"].unique().to_list()
    assert source.endswith(".jsonl") and Path(source).is_absolute()


def test_scan_of_an_empty_landing_is_an_empty_frame(tmp_path: Path) -> None:
    frame = scan_landing(tmp_path / "nothing-yet").collect()

    assert frame.height == 0 and "_source_row" in frame.columns


def test_compaction_keeps_every_row_exactly_once(tmp_path: Path) -> None:
    land(tmp_path, [2, 0, 3, 1])
    before = scan_landing(tmp_path).collect()

    moved = compact(tmp_path)
    after = scan_landing(tmp_path).collect()

    assert moved == before.height == after.height == 7
    assert not list(tmp_path.glob("date=*/*.jsonl"))
    assert after.drop("_source_file").equals(before.drop("_source_file"))
    assert after["_source_file"].str.contains(r"/part-[^/]+\.parquet$").all()
    assert compact(tmp_path) == 0


def test_compaction_killed_after_rename_neither_loses_nor_doubles(
    tmp_path: Path,
) -> None:
    land(tmp_path, [2, 2])
    (jsonl,) = tmp_path.glob("date=*/*.jsonl")
    saved = jsonl.read_bytes()
    compact(tmp_path)
    jsonl.write_bytes(saved)  # as if the kill came before the JSON lines were removed

    assert scan_landing(tmp_path).collect().height == 4
    assert compact(tmp_path) == 0
    assert not jsonl.exists()
    assert scan_landing(tmp_path).collect().height == 4


def test_compaction_leaves_open_files_alone(tmp_path: Path) -> None:
    writer = land(tmp_path, [1, 2], keep_open=True)

    assert compact(tmp_path) == 0
    asyncio.run(writer.close())
    assert compact(tmp_path) == 3


def test_restart_reindexes_payloads_missing_from_the_index(tmp_path: Path) -> None:
    land(tmp_path, [2])
    body = json.loads(scan_landing(tmp_path).collect()["profile"][0])
    shutil.rmtree(tmp_path / "_state")  # a crash before the index commit, at worst
    writer = LandingWriter(tmp_path, rotate_bytes=1 << 30)
    writer.open()
    (payload_id,) = scan_landing(tmp_path).collect()["payload_id"].unique().to_list()

    assert writer._index is not None and writer._index.contains(payload_id)
    assert body["identity"].startswith("cust-")
    asyncio.run(writer.close())


def test_cli_compact_reports_rows(tmp_path: Path) -> None:
    land(tmp_path, [3])

    result = CliRunner().invoke(webhook_app, ["compact", "--land", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "compacted 3 rows" in result.output


def test_object_store_landing_uploads_compacted_parquet(tmp_path: Path) -> None:
    import fsspec

    land(tmp_path, [2, 1])
    compact(tmp_path)

    assert upload_parts(tmp_path, "memory://bucket/landing") == 1
    fs = fsspec.filesystem("memory")
    (remote,) = fs.glob("/bucket/landing/date=*/part-*.parquet")
    with fs.open(remote, "rb") as handle:
        assert pl.read_parquet(handle).height == 3
    assert not list(tmp_path.glob("date=*/*.parquet"))
