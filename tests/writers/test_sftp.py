"""The import writers against a real SFTP server on loopback and a local folder.

The server is `sftp_server.py`, an asyncssh SFTP server started per test as a
subprocess, chrooted to a temporary folder, with a host key generated here.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import polars as pl
import pytest

import ctjobs as ct
from ctjobs.errors import AuthenticationError, DestinationError, UsageError
from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import JobSpec, parse_job
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.records.frame import RECORD_KEY, SOURCE_FILE, SOURCE_ROW
from ctjobs.writers.base import WriteContext, WriteResult
from ctjobs.writers.importfiles import ITEMS_REASON, leftovers
from ctjobs.writers.sftp import (
    FileImportWriter,
    SftpImportWriter,
    SftpSettings,
    make_import_writer,
)

SERVER = Path(__file__).with_name("sftp_server.py")
USER = "acct-test"
EMAIL = "data-team@example.org"
TRICKY = [
    'Café "Deluxe", 500g',
    "日本語",
    "line one\nline two",
    "comma, only",
    'quote "only"',
    "  spaced  ",
    "plain",
]


# ---------------------------------------------------------------- records


def event_records(count: int, *, items: bool = False) -> pl.DataFrame:
    """Encoded events with awkward values; with `items`, row 1 carries Items."""
    rows = range(count)
    frame = pl.DataFrame(
        {
            "type": ["event"] * count,
            "identity": ["007421" if i == 0 else f"cust-{i:05d}" for i in rows],
            "ts": [1735689600 + i for i in rows],
            "evtName": ["Charged" if i % 2 else "Plan Renewed" for i in rows],
            "Product": [TRICKY[i % len(TRICKY)] for i in rows],
            "Amount": [[119.0, 0.1 + 0.2, 1e16, 1e-7, 12.5][i % 5] for i in rows],
            "Qty": [i for i in rows],
            "Gift": [[True, False, None][i % 3] for i in rows],
            "Delivery Date": [f"$D_{1735776000 + i}" for i in rows],
            "Code": ["007421" if i % 4 == 0 else None for i in rows],
            'Note, "quoted"': [f"n{i}" for i in rows],
            "evtName ": ["x" for _ in rows],
            SOURCE_FILE: ["events.csv"] * count,
            SOURCE_ROW: list(rows),
        },
        schema_overrides={"Qty": pl.Int64, "Gift": pl.Boolean, "Code": pl.String},
    )
    fields = ["Product", "Amount", "Qty", "Gift", "Delivery Date", "Code"]
    fields += ['Note, "quoted"', "evtName "]
    if items:
        item_type = pl.List(pl.Struct({"Name": pl.String, "Price": pl.Float64}))
        basket = [[{"Name": "Tea", "Price": 2.5}] if i == 1 else None for i in rows]
        frame = frame.with_columns(pl.Series("Items", basket, dtype=item_type))
        fields.append("Items")
    key = pl.concat_str(
        pl.col(SOURCE_FILE), pl.lit("#"), pl.col(SOURCE_ROW).cast(pl.String)
    )
    records = frame.select(
        "type",
        "identity",
        "ts",
        "evtName",
        pl.struct(fields).alias("evtData"),
        SOURCE_FILE,
        SOURCE_ROW,
        key.alias(RECORD_KEY),
    )
    return encode_records(records).collect()


def profile_records(count: int) -> pl.DataFrame:
    """Encoded profiles, one of them with a property named like a special column."""
    rows = range(count)
    data = pl.struct(
        pl.Series("Name", [f"Ana {i}" for i in rows]),
        pl.Series("ts", [f"text {i}" for i in rows]),
        pl.Series("Score", [i * 0.5 for i in rows]),
    )
    records = pl.DataFrame(
        {
            "type": ["profile"] * count,
            "identity": [f"cust-{i}" for i in rows],
            "ts": [1735689600] * count,
            SOURCE_FILE: ["profiles.csv"] * count,
            SOURCE_ROW: list(rows),
            RECORD_KEY: [f"profiles.csv#{i}#profile" for i in rows],
        }
    ).with_columns(data.alias("profileData"))
    return encode_records(records).collect()


# ---------------------------------------------------------------- reading back


def delivered_rows(folder: Path, *, kind: str = "event") -> list[dict[str, str]]:
    """Every CSV row under `folder` as CleverTap name → cell, via its manifest."""
    rows = []
    for manifest_path in sorted(folder.glob("*.manifest")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        assert manifest["type"] == kind
        assert manifest["clientEmail"] == EMAIL
        names = {h: c["ctName"] for h, c in manifest["columns"].items()}
        with (folder / manifest["fileName"]).open(
            encoding="utf-8", newline=""
        ) as handle:
            for row in csv.DictReader(handle):
                rows.append({names[h]: cell for h, cell in row.items() if cell != ""})
    return rows


def expected_rows(
    encoded: pl.DataFrame, *, data: str = "evtData"
) -> list[dict[str, Any]]:
    """The encoded JSON records flattened to CleverTap name → value."""
    expected = []
    for text in encoded[RECORD_JSON]:
        record = json.loads(text)
        flat = {k: v for k, v in record.items() if k not in {"type", data}}
        flat.update(record.get(data, {}))
        expected.append(flat)
    return expected


def same_value(cell: str, value: Any) -> bool:
    """Whether a CSV cell holds `value` as CleverTap reads it."""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, float):
        return "e" not in cell.lower() and float(cell) == value
    return cell == str(value)


def assert_same_records(
    cells: list[dict[str, str]], expected: list[dict[str, Any]]
) -> None:
    by_key = {(c["identity"], c["ts"]): c for c in cells}
    assert len(by_key) == len(cells) == len(expected)
    for record in expected:
        row = by_key[(record["identity"], str(record["ts"]))]
        assert row.keys() == record.keys()
        for name, value in record.items():
            assert same_value(row[name], value), (name, row[name], value)


# ---------------------------------------------------------------- SFTP server


@dataclass
class Keys:
    host: Path
    host_line: str
    other_host_line: str
    client: Path
    client_public: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name in ("host", "other", "client"):
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(folder / name)
        key.write_public_key(folder / f"{name}.pub")
        made[name] = " ".join(key.export_public_key().decode().split()[:2])
    return Keys(
        folder / "host",
        made["host"],
        made["other"],
        folder / "client",
        folder / "client.pub",
    )


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    root: Path


ServerFactory = Callable[..., Server]


@pytest.fixture
def start_server(keys: Keys) -> Iterator[ServerFactory]:
    """Start SFTP servers on demand; each is killed at the end of the test."""
    started: list[subprocess.Popen[str]] = []

    def start(
        root: Path,
        *,
        crash_at_file: int | None = None,
        password: str = "",
        port: int = 0,
    ) -> Server:
        command = [sys.executable, str(SERVER), str(root), str(keys.host), USER]
        command += ["--port", str(port)]
        command += ["--authorized-keys", str(keys.client_public)]
        if password:
            command += ["--password", password]
        if crash_at_file:
            command += ["--crash-at-file", str(crash_at_file)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY"), process.stderr.read() if process.stderr else ""
        return Server(process, int(line.split()[1]), root)

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=5)


def pin(known_hosts: Path, port: int, key_line: str) -> Path:
    known_hosts.write_text(f"[127.0.0.1]:{port} {key_line}\n")
    return known_hosts


def sftp_writer(
    server: Server, keys: Keys, known_hosts: Path, **options: Any
) -> SftpImportWriter:
    settings = SftpSettings(
        host="127.0.0.1",
        port=server.port,
        username=USER,
        key_path=keys.client,
        known_hosts=known_hosts,
        accept_unknown_host=options.pop("accept_unknown_host", False),
        timeout_s=10,
    )
    return SftpImportWriter(settings, client_email=EMAIL, **options)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "ledger.sqlite", "shop")
    yield opened
    opened.close()


def context(
    ledger: Ledger | None, run_id: str = "20250101T000000Z-aaaaaa"
) -> WriteContext:
    return WriteContext("shop", run_id, ledger)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ---------------------------------------------------------------- files writer


def test_files_writer_round_trips_every_value(tmp_path: Path) -> None:
    encoded = event_records(40)
    writer = FileImportWriter(tmp_path / "out", client_email=EMAIL)

    result = writer.write("event", encoded, context(None))

    assert (result.sent, result.accepted, result.pending) == (40, 40, None)
    assert_same_records(delivered_rows(tmp_path / "out"), expected_rows(encoded))
    csv_name = next((tmp_path / "out").glob("*.csv")).name
    assert csv_name.startswith("shop-event-") and csv_name.endswith("-part0001.csv")
    assert result.files == [
        {
            "path": f"{tmp_path / 'out'}/{csv_name}",
            "records": 40,
            "bytes": (tmp_path / "out" / csv_name).stat().st_size,
            "status": "delivered",
        }
    ]


def test_files_are_the_same_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = event_records(40)
    FileImportWriter(tmp_path / "whole", client_email=EMAIL).write(
        "event", encoded, context(None)
    )
    monkeypatch.setattr("ctjobs.writers.importfiles._CHUNK_ROWS", 3)
    FileImportWriter(tmp_path / "chunked", client_email=EMAIL).write(
        "event", encoded, context(None)
    )

    [whole] = (tmp_path / "whole").glob("*.csv")
    [chunked] = (tmp_path / "chunked").glob("*.csv")
    assert whole.name == chunked.name
    assert whole.read_bytes() == chunked.read_bytes()


def test_manifest_declares_each_column(tmp_path: Path) -> None:
    writer = FileImportWriter(tmp_path, client_email=EMAIL, type_case="upper")

    writer.write("event", event_records(3), context(None, run_id="RUN1"))

    manifest_path = next(tmp_path.glob("*.manifest"))
    assert manifest_path.name.endswith("-part0001-RUN1.manifest")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["type"] == "EVENT"
    assert manifest["fileName"] == manifest_path.name.replace("-RUN1.manifest", ".csv")
    assert manifest["columns"] == {
        "identity": {"ctName": "identity", "dataType": "STRING"},
        "ts": {"ctName": "ts", "dataType": "INTEGER"},
        "evtName": {"ctName": "evtName", "dataType": "STRING"},
        "Product": {"ctName": "Product", "dataType": "STRING"},
        "Amount": {"ctName": "Amount", "dataType": "FLOAT"},
        "Qty": {"ctName": "Qty", "dataType": "INTEGER"},
        "Gift": {"ctName": "Gift", "dataType": "BOOLEAN"},
        "Delivery Date": {"ctName": "Delivery Date", "dataType": "STRING"},
        "Code": {"ctName": "Code", "dataType": "STRING"},
        'Note, "quoted"': {"ctName": 'Note, "quoted"', "dataType": "STRING"},
        "evtName ": {"ctName": "evtName ", "dataType": "STRING"},
    }
    header = next(tmp_path.glob("*.csv")).read_text(encoding="utf-8").splitlines()[0]
    assert '"Note, ""quoted"""' in header


def test_property_named_like_a_special_column_gets_its_own_header(
    tmp_path: Path,
) -> None:
    encoded = profile_records(5)
    writer = FileImportWriter(tmp_path, client_email=EMAIL)

    writer.write("profile", encoded, context(None))

    manifest = json.loads(next(tmp_path.glob("*.manifest")).read_text())
    assert manifest["type"] == "profile"
    assert manifest["columns"]["profileData.ts"] == {
        "ctName": "ts",
        "dataType": "STRING",
    }
    assert manifest["columns"]["ts"] == {"ctName": "ts", "dataType": "INTEGER"}
    with next(tmp_path.glob("*.csv")).open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert (first["ts"], first["profileData.ts"], first["Score"]) == (
        "1735689600",
        "text 0",
        "0.0",
    )


def test_charged_with_items_is_refused_with_the_reason(tmp_path: Path) -> None:
    encoded = event_records(6, items=True)
    writer = FileImportWriter(tmp_path, client_email=EMAIL)

    result = writer.write("event", encoded, context(None))

    assert result.rejected.to_dicts() == [
        {
            SOURCE_FILE: "events.csv",
            SOURCE_ROW: 1,
            RECORD_KEY: "events.csv#1",
            "type": "event",
            "code": None,
            "reason": ITEMS_REASON,
            "record": encoded[RECORD_JSON][1],
        }
    ]
    assert result.sent == 5
    delivered = delivered_rows(tmp_path)
    assert sorted(row["identity"] for row in delivered) == sorted(
        encoded.filter(pl.col(SOURCE_ROW) != 1)["identity"]
    )
    assert all("Items" not in row for row in delivered)


def operation_records(data: list[dict[str, Any]], dtype: pl.Struct) -> pl.DataFrame:
    """Encoded profiles u0, u1... whose profileData is `data`, typed by `dtype`."""
    rows = range(len(data))
    records = pl.DataFrame(
        {
            "type": ["profile"] * len(data),
            "identity": [f"u{i}" for i in rows],
            "ts": [1735689600 + i for i in rows],
            SOURCE_FILE: ["profiles.csv"] * len(data),
            SOURCE_ROW: list(rows),
            RECORD_KEY: [f"profiles.csv#{i}#profile" for i in rows],
        }
    ).with_columns(pl.Series("profileData", data, dtype=dtype))
    return encode_records(records).collect()


def csv_lines(folder: Path) -> list[list[str]]:
    """Every row of every CSV under `folder`, header rows included."""
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += list(csv.reader(handle))
    return rows


OPERATIONS = pl.Struct(
    {
        "Name": pl.String,
        "Interests": pl.Struct(
            {"$add": pl.List(pl.String), "$remove": pl.List(pl.String)}
        ),
        "Score": pl.Struct({"$set": pl.Int64, "$delete": pl.Boolean}),
        "Plan": pl.Struct({"$set": pl.String}),
    }
)


def test_profile_operations_get_an_operation_column_and_a_row_per_value(
    tmp_path: Path,
) -> None:
    data: list[dict[str, Any]] = [
        {
            "Name": "Ana",
            "Interests": {"$add": ["books", "tea, green", "ski"]},
            "Score": {"$set": 7},
            "Plan": {"$set": "gold"},
        },
        {"Name": "Bo", "Interests": {"$remove": ["ski"]}, "Score": {"$delete": True}},
        {"Name": "Cy", "Interests": {"$remove": ["books", "ski"]}},
        {"Interests": {"$add": []}, "Plan": {"$set": "free"}},
    ]
    encoded = operation_records(data, OPERATIONS)
    writer = FileImportWriter(tmp_path, client_email=EMAIL)

    result = writer.write("profile", encoded, context(None))

    assert result.rejected.height == 0
    assert (result.sent, result.accepted) == (4, 4)
    assert [f["records"] for f in result.files] == [4]
    assert csv_lines(tmp_path) == [
        [
            *["identity", "ts", "Name", "Interests", "Interests.operation"],
            *["Score", "Score.operation", "Plan", "Plan.operation"],
        ],
        ["u0", "1735689600", "Ana", "books", "$add", "7", "$set", "gold", "$set"],
        ["u0", "1735689600", "", "tea, green", "$add", "", "", "", ""],
        ["u0", "1735689600", "", "ski", "$add", "", "", "", ""],
        ["u1", "1735689601", "Bo", "ski", "$remove", "true", "$delete", "", ""],
        ["u2", "1735689602", "Cy", "books", "$remove", "", "", "", ""],
        ["u2", "1735689602", "", "ski", "$remove", "", "", "", ""],
        ["u3", "1735689603", "", "", "", "", "", "free", "$set"],
    ]
    manifest = json.loads(next(tmp_path.glob("*.manifest")).read_text())
    # The operation columns are CSV headers CleverTap reads; they stay unmapped.
    assert manifest["columns"] == {
        "identity": {"ctName": "identity", "dataType": "STRING"},
        "ts": {"ctName": "ts", "dataType": "INTEGER"},
        "Name": {"ctName": "Name", "dataType": "STRING"},
        "Interests": {"ctName": "Interests", "dataType": "STRING"},
        "Score": {"ctName": "Score", "dataType": "INTEGER"},
        "Plan": {"ctName": "Plan", "dataType": "STRING"},
    }


def test_a_profiles_rows_stay_in_one_part(tmp_path: Path) -> None:
    values = [f"interest number {v:02d}" for v in range(12)]
    data = [{"Interests": {"$add": values}} for _ in range(6)]
    encoded = operation_records(data, OPERATIONS)
    writer = FileImportWriter(tmp_path, client_email=EMAIL, max_file_bytes=1300)

    result = writer.write("profile", encoded, context(None))

    assert [f["records"] for f in result.files] == [2, 2, 2]
    for path in sorted(tmp_path.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 24
        for identity in {row["identity"] for row in rows}:
            mine = [row["Interests"] for row in rows if row["identity"] == identity]
            assert mine == values


def test_operations_the_import_cannot_take_are_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    dtype = pl.Struct(
        {
            "Visits": pl.Struct({"$incr": pl.Int64, "$set": pl.Int64}),
            "Tags": pl.Struct({"$set": pl.List(pl.String), "$add": pl.List(pl.String)}),
            "Colours": pl.List(pl.String),
        }
    )
    data: list[dict[str, Any]] = [
        {"Visits": {"$incr": 1}},
        {"Tags": {"$set": ["a", "b"]}},
        {"Colours": ["red", "blue"]},
        {"Tags": {"$add": ["a"], "$set": None}, "Visits": {"$set": 3}},
        {"Tags": {"$add": ["c"]}, "Visits": {"$incr": 2, "$set": 4}},
    ]
    encoded = operation_records(data, dtype)
    writer = FileImportWriter(tmp_path, client_email=EMAIL)

    result = writer.write("profile", encoded, context(None))

    assert result.rejected.select(SOURCE_ROW, "reason").rows() == [
        (
            0,
            "Visits has the profile operation $incr, which CleverTap's SFTP import "
            "does not support (it takes $add, $remove, $set, $delete)",
        ),
        (
            1,
            "Tags $set has several values, which CleverTap's SFTP import takes only "
            "for $add and $remove (a row each)",
        ),
        (
            2,
            "Colours (a list of values) cannot be one cell of CleverTap's SFTP "
            'import, which adds values one row each: send it as {"$add": [...]}',
        ),
        (
            4,
            "Visits has the profile operation $incr, which CleverTap's SFTP import "
            "does not support (it takes $add, $remove, $set, $delete)",
        ),
    ]
    assert result.rejected["record"].to_list() == [
        encoded[RECORD_JSON][i] for i in (0, 1, 2, 4)
    ]
    assert csv_lines(tmp_path) == [
        ["identity", "ts", "Visits", "Visits.operation", "Tags", "Tags.operation"],
        ["u3", "1735689603", "3", "$set", "a", "$add"],
    ]


def test_two_operations_on_one_property_are_refused(tmp_path: Path) -> None:
    data = [{"Interests": {"$add": ["a"], "$remove": ["b"]}, "Name": "Ana"}]
    encoded = operation_records(data, OPERATIONS)
    writer = FileImportWriter(tmp_path, client_email=EMAIL)

    result = writer.write("profile", encoded, context(None))

    assert result.rejected["reason"].to_list() == [
        "Interests has several operations in one record (one per property)"
    ]
    assert result.sent == 0
    assert csv_lines(tmp_path) == []


def test_files_split_at_the_size_limit(tmp_path: Path) -> None:
    encoded = event_records(60)
    writer = FileImportWriter(tmp_path, client_email=EMAIL, max_file_bytes=2048)

    result = writer.write("event", encoded, context(None))

    csvs = sorted(tmp_path.glob("*.csv"))
    manifests = sorted(tmp_path.glob("*.manifest"))
    assert len(csvs) == len(manifests) == len(result.files) > 2
    assert all(path.stat().st_size <= 2048 for path in csvs)
    assert [json.loads(m.read_text())["fileName"] for m in manifests] == [
        p.name for p in csvs
    ]
    assert_same_records(delivered_rows(tmp_path), expected_rows(encoded))
    assert sum(int(str(f["records"])) for f in result.files) == 60


def test_same_input_gives_same_names_and_bytes(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        writer = FileImportWriter(
            tmp_path / folder, client_email=EMAIL, max_file_bytes=2048
        )
        writer.write("event", event_records(30), context(None))

    first = {p.name: p.read_bytes() for p in (tmp_path / "a").glob("*.csv")}
    second = {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.csv")}
    assert first == second


def test_a_rerun_skips_files_already_delivered(tmp_path: Path, ledger: Ledger) -> None:
    encoded = event_records(30)
    out = tmp_path / "out"
    FileImportWriter(out, client_email=EMAIL).write("event", encoded, context(ledger))

    again = FileImportWriter(out, client_email=EMAIL)
    result = again.write("event", encoded, context(ledger, run_id="RUN2"))

    assert result.sent == 30 and result.batches == 0
    assert [f["status"] for f in result.files] == ["already delivered"]
    assert len(list(out.glob("*.manifest"))) == 1
    assert ledger.unacked(encoded).height == 0


@pytest.mark.parametrize(
    ("writer", "message"),
    [
        ({"kind": "sftp", "host": "h", "username": "u"}, "client_email"),
        ({"kind": "sftp", "client_email": EMAIL, "username": "u"}, "`host`"),
        ({"kind": "sftp", "host": "h", "client_email": EMAIL}, "CLEVERTAP_ACCOUNT_ID"),
        ({"kind": "files", "client_email": EMAIL}, "`out`"),
        (
            {"kind": "files", "out": "o", "client_email": EMAIL, "max_file_bytes": 6e9},
            "5 GB",
        ),
        (
            {
                "kind": "sftp",
                "host": "h",
                "username": "u",
                "client_email": EMAIL,
                "key_path": "missing-key",
            },
            "no private key file",
        ),
    ],
)
def test_factory_explains_missing_settings(
    tmp_path: Path, writer: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        make_import_writer(job_spec(tmp_path, writer), out=None)


def job_spec(base_dir: Path, writer: dict[str, Any]) -> JobSpec:
    data = {
        "name": "shop",
        "source": {"paths": ["events.csv"]},
        "records": [{"kind": "profile", "identity": "id"}],
        "writer": writer,
    }
    return parse_job(data, base_dir=base_dir)


def test_factory_builds_a_files_writer_from_out(tmp_path: Path) -> None:
    spec = job_spec(
        tmp_path, {"kind": "files", "out": "imports", "client_email": EMAIL}
    )

    writer = make_import_writer(spec, out=None)
    writer.write("profile", profile_records(2), context(None))

    assert len(list((tmp_path / "imports").glob("*.csv"))) == 1


def test_files_writer_writes_to_an_object_store_url() -> None:
    import fsspec

    writer = FileImportWriter("memory://imports/run", client_email=EMAIL)

    result = writer.write("profile", profile_records(3), context(None))

    store = fsspec.filesystem("memory")
    found = sorted(p.rsplit("/", 1)[1] for p in store.ls("/imports/run", detail=False))
    csv_name, manifest_name = sorted(found, key=lambda name: name.endswith("manifest"))
    assert csv_name.endswith(".csv") and manifest_name.endswith(".manifest")
    assert result.outputs == [f"memory://imports/run/{csv_name}"]
    store.rm("/imports", recursive=True)


# ---------------------------------------------------------------- SFTP


def test_upload_with_a_client_key(
    tmp_path: Path, keys: Keys, start_server: ServerFactory, ledger: Ledger
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.host_line)
    encoded = event_records(25)

    result = sftp_writer(server, keys, known_hosts).write(
        "event", encoded, context(ledger)
    )

    assert (result.sent, result.pending) == (25, None)
    assert sorted(p.suffix for p in root.iterdir()) == [".csv", ".manifest"]
    assert_same_records(delivered_rows(root), expected_rows(encoded))
    assert result.outputs[0].startswith(f"sftp://{USER}@127.0.0.1:{server.port}/shop-")
    assert ledger.unacked(encoded).height == 0


def test_factory_builds_an_sftp_writer_from_the_job_file(
    tmp_path: Path,
    keys: Keys,
    start_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "import_key").write_bytes(keys.client.read_bytes())
    pin(tmp_path / "known_hosts", server.port, keys.host_line)
    monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", USER)
    writer_table = {
        "kind": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "key_path": "secrets/import_key",
        "known_hosts": "known_hosts",
        "remote_dir": "incoming",
        "client_email": EMAIL,
    }

    writer = make_import_writer(job_spec(tmp_path, writer_table), out=None)
    result = writer.write("profile", profile_records(3), context(None))

    assert result.sent == 3
    assert sorted(p.suffix for p in (root / "incoming").iterdir()) == [
        ".csv",
        ".manifest",
    ]
    assert result.outputs[0].startswith(
        f"sftp://{USER}@127.0.0.1:{server.port}/incoming/"
    )


def test_upload_from_code_already_inside_an_event_loop(
    tmp_path: Path, keys: Keys, start_server: ServerFactory
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    writer = sftp_writer(
        server, keys, pin(tmp_path / "kh", server.port, keys.host_line)
    )

    async def notebook_cell() -> WriteResult:
        return writer.write("profile", profile_records(4), context(None))

    assert asyncio.run(notebook_cell()).sent == 4
    assert len(list(root.glob("*.csv"))) == 1


def test_upload_with_a_password_from_the_environment(
    tmp_path: Path,
    keys: Keys,
    start_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root, password="s3cret")
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.host_line)
    settings = SftpSettings(
        "127.0.0.1", server.port, USER, known_hosts=known_hosts, timeout_s=10
    )
    writer = SftpImportWriter(settings, client_email=EMAIL)

    monkeypatch.setenv("CTJOBS_SFTP_PASSWORD", "wrong")
    with pytest.raises(AuthenticationError, match="refused the login") as refused:
        writer.write("profile", profile_records(3), context(None))
    assert "wrong" not in str(refused.value)

    monkeypatch.setenv("CTJOBS_SFTP_PASSWORD", "s3cret")
    assert writer.write("profile", profile_records(3), context(None)).sent == 3


def test_unknown_host_key_is_refused_with_how_to_pin_it(
    tmp_path: Path, keys: Keys, start_server: ServerFactory
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    known_hosts = tmp_path / "known_hosts"

    with pytest.raises(DestinationError, match="accept_unknown_host = true") as refused:
        sftp_writer(server, keys, known_hosts).write(
            "event", event_records(3), context(None)
        )

    assert f"[127.0.0.1]:{server.port} {keys.host_line}" in str(refused.value)
    assert list(root.iterdir()) == []
    assert not known_hosts.exists()


def test_changed_host_key_is_refused_even_when_accepting_unknown_hosts(
    tmp_path: Path, keys: Keys, start_server: ServerFactory
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.other_host_line)
    writer = sftp_writer(server, keys, known_hosts, accept_unknown_host=True)

    with pytest.raises(DestinationError, match="does not match the one pinned"):
        writer.write("event", event_records(3), context(None))

    assert list(root.iterdir()) == []
    assert keys.host_line not in known_hosts.read_text()


def test_accept_unknown_host_pins_the_key_for_later_runs(
    tmp_path: Path, keys: Keys, start_server: ServerFactory
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    known_hosts = tmp_path / "ssh" / "known_hosts"

    first = sftp_writer(server, keys, known_hosts, accept_unknown_host=True)
    assert first.write("event", event_records(3), context(None)).sent == 3
    assert known_hosts.read_text() == f"[127.0.0.1]:{server.port} {keys.host_line}\n"

    second = sftp_writer(server, keys, known_hosts)
    assert second.write("profile", profile_records(3), context(None)).sent == 3


def test_server_down_leaves_every_record_pending(
    tmp_path: Path, keys: Keys, start_server: ServerFactory, ledger: Ledger
) -> None:
    server = start_server(tmp_path)
    server.process.kill()
    server.process.wait(timeout=5)
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.host_line)
    encoded = event_records(5)

    result = sftp_writer(server, keys, known_hosts).write(
        "event", encoded, context(ledger)
    )

    assert (result.sent, result.pending_count, result.files) == (0, 5, [])
    assert ledger.unacked(encoded).height == 5


def test_dropped_connection_leaves_pending_and_a_rerun_completes(
    tmp_path: Path, keys: Keys, start_server: ServerFactory, ledger: Ledger
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    encoded = event_records(60)
    local = FileImportWriter(
        tmp_path / "local", client_email=EMAIL, max_file_bytes=2048
    )
    parts = len(local.write("event", encoded, context(None)).files)
    assert parts > 2
    # Files 1 and 2 are part 1's CSV and manifest; the server dies inside file 3.
    crashing = start_server(root, crash_at_file=3)
    known_hosts = pin(tmp_path / "known_hosts", crashing.port, keys.host_line)
    writer = sftp_writer(crashing, keys, known_hosts, max_file_bytes=2048)

    interrupted = writer.write("event", encoded, context(ledger, run_id="RUN1"))

    assert interrupted.sent + interrupted.pending_count == 60
    assert len(interrupted.files) == 1
    assert interrupted.pending is not None
    assert set(interrupted.pending.columns) >= {
        RECORD_KEY,
        SOURCE_FILE,
        SOURCE_ROW,
        RECORD_JSON,
    }
    visible = [n for n in names(root) if not n.endswith(".part")]
    assert sorted(n.rsplit(".", 1)[1] for n in visible) == ["csv", "manifest"]
    assert any(n.endswith(".csv.part") for n in names(root))
    crashing.process.wait(timeout=5)

    restarted = start_server(root, port=crashing.port)
    rerun = sftp_writer(restarted, keys, known_hosts, max_file_bytes=2048)
    result = rerun.write("event", encoded, context(ledger, run_id="RUN2"))

    assert (result.sent, result.pending) == (60, None)
    assert [f["status"] for f in result.files].count("already delivered") == 1
    final = names(root)
    assert not [n for n in final if n.endswith(".part")]
    csvs = [n for n in final if n.endswith(".csv")]
    manifests = [
        json.loads((root / n).read_text()) for n in final if n.endswith(".manifest")
    ]
    assert len(csvs) == parts
    assert sorted(m["fileName"] for m in manifests) == csvs
    assert_same_records(delivered_rows(root), expected_rows(encoded))


def test_writer_result_merges_with_others(tmp_path: Path) -> None:
    writer = FileImportWriter(tmp_path, client_email=EMAIL)
    events = writer.write("event", event_records(4, items=True), context(None))
    profiles = writer.write("profile", profile_records(2), context(None))

    merged = WriteResult().merge(events).merge(profiles)

    assert (merged.sent, merged.rejected.height, len(merged.files)) == (5, 1, 2)


def test_leftovers_are_only_this_jobs_undelivered_files() -> None:
    stem, other = "shop-event-0123456789ab", "shop-event-ba9876543210"
    names_found = [
        f"{stem}-part0001.csv",  # delivered: its manifest is up
        f"{stem}-part0001-RUN1.manifest",
        f"{stem}-part0002.csv",  # no manifest, not recorded: never imported
        f"{stem}-part0003.csv",  # no manifest, but recorded as delivered
        f"{stem}-part0004.csv.part",
        f"{other}-part0001-RUN1.manifest.part",
        f"{other}-part0001.csv",  # its manifest is only partly up
        "shop-profile-0123456789ab-part0001.csv",  # another kind
        "shop-event-archive-event-0123456789ab-part0001.csv",  # another job
        "shop-event-archive-event-0123456789ab-part0001.csv.part",
        "notes.csv.part",
    ]

    def recorded(name: str) -> bool:
        return name == f"{stem}-part0003.csv"

    assert leftovers(names_found, "shop-event-", recorded=recorded) == [
        f"{stem}-part0002.csv",
        f"{stem}-part0004.csv.part",
        f"{other}-part0001-RUN1.manifest.part",
        f"{other}-part0001.csv",
    ]
    assert leftovers(names_found, "shop-event-", recorded=None) == [
        f"{stem}-part0004.csv.part",
        f"{other}-part0001-RUN1.manifest.part",
    ]


def test_clean_up_keeps_delivered_files_even_without_their_manifest(
    tmp_path: Path, keys: Keys, start_server: ServerFactory, ledger: Ledger
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_server(root)
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.host_line)
    writer = sftp_writer(server, keys, known_hosts)
    first = writer.write("event", event_records(5), context(ledger, run_id="RUN1"))
    delivered_csv = first.outputs[0].rsplit("/", 1)[1]
    # Say the server moved the manifest away once the import was picked up.
    next(root.glob("*.manifest")).unlink()
    orphan = "shop-event-00000000abcd-part0001.csv"
    (root / orphan).write_text("identity,ts\r\nlost,1\r\n")
    (root / "shop-event-00000000abcd-part0002.csv.part").write_text("ident")
    (root / "shop-event-archive-event-00000000abcd-part0001.csv").write_text("x")
    (root / "shop-profile-00000000abcd-part0001.csv").write_text("x")

    second = writer.write(
        "event", event_records(8).slice(5), context(ledger, run_id="RUN2")
    )

    assert second.sent == 3
    left = names(root)
    assert delivered_csv in left
    assert orphan not in left and not [n for n in left if n.endswith(".part")]
    assert "shop-event-archive-event-00000000abcd-part0001.csv" in left
    assert "shop-profile-00000000abcd-part0001.csv" in left


def test_without_a_ledger_only_partial_files_are_cleared(
    tmp_path: Path, keys: Keys, start_server: ServerFactory
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    kept = "shop-event-00000000abcd-part0001.csv"
    (root / kept).write_text("x")
    (root / "shop-event-00000000abcd-part0002.csv.part").write_text("x")
    server = start_server(root)
    known_hosts = pin(tmp_path / "known_hosts", server.port, keys.host_line)

    sftp_writer(server, keys, known_hosts).write(
        "event", event_records(3), context(None)
    )

    assert kept in names(root)
    assert not [n for n in names(root) if n.endswith(".part")]


def test_files_writer_clears_leftovers_of_other_runs(
    tmp_path: Path, ledger: Ledger
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "shop-event-00000000abcd-part0001.csv").write_text("x")
    (out / "shop-event-00000000abcd-part0001-RUN0.manifest.part").write_text("{")

    writer = FileImportWriter(out, client_email=EMAIL)
    writer.write("event", event_records(4), context(ledger))

    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".manifest"]
    assert_same_records(delivered_rows(out), expected_rows(event_records(4)))


# ---------------------------------------------------------------- through the runner


def write_orders(path: Path, count: int) -> None:
    """A Parquet source of `count` orders with awkward values, one event each."""
    rows = range(count)
    pl.DataFrame(
        {
            "customer": ["007421" if i == 0 else f"cust-{i:05d}" for i in rows],
            "when": [1735725600 + i for i in rows],
            "event": ["Charged" if i % 2 else "Plan Renewed" for i in rows],
            "Product": [TRICKY[i % len(TRICKY)] for i in rows],
            "Code": [f"{i:06d}" for i in rows],
            "Amount": [[119.0, 0.1 + 0.2, 12.5][i % 3] for i in rows],
            "Gift": [i % 3 == 0 for i in rows],
        }
    ).write_parquet(path)


def sftp_job(
    folder: Path, port: int, keys: Keys, known_hosts: Path, source: Path
) -> Path:
    """A job file sending `source`'s orders as events by SFTP import to `port`."""
    path = folder / "shop.toml"
    path.write_text(
        f"""
name = "shop"
[source]
paths = ["{source}"]
[[records]]
name = "orders"
kind = "event"
identity = "customer"
ts = "when"
event_name = "event"
include = ["Product", "Code", "Amount", "Gift"]
[writer]
kind = "sftp"
host = "127.0.0.1"
port = {port}
username = "{USER}"
key_path = "{keys.client}"
known_hosts = "{known_hosts}"
client_email = "{EMAIL}"
max_file_bytes = 2048
""",
        encoding="utf-8",
    )
    return path


def csv_rows(folder: Path) -> Counter[str]:
    """Every row of every CSV in `folder`, read with the csv module, counted."""
    rows: Counter[str] = Counter()
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                cells = {h: cell for h, cell in row.items() if cell != ""}
                rows[json.dumps(cells, sort_keys=True)] += 1
    return rows


def assert_clean_and_complete(root: Path, expected: Counter[str]) -> None:
    """No partial or orphaned file; every record in exactly one delivered CSV."""
    final = names(root)
    assert not [n for n in final if n.endswith(".part")], final
    csvs = sorted(n for n in final if n.endswith(".csv"))
    manifests = [
        json.loads((root / n).read_text()) for n in final if n.endswith(".manifest")
    ]
    named = sorted(m["fileName"] for m in manifests)
    assert named == csvs, final
    assert set(named) <= set(final)
    assert csv_rows(root) == expected
    assert set(expected.values()) == {1}


@pytest.mark.parametrize(
    ("crash_at_file", "left"),
    [(3, ".csv.part"), (4, ".manifest.part"), (5, ".csv.part")],
    ids=["inside-part-2-csv", "inside-part-2-manifest", "inside-part-3-csv"],
)
def test_runner_rerun_after_a_crash_leaves_no_partial_or_orphaned_file(
    tmp_path: Path,
    keys: Keys,
    start_server: ServerFactory,
    crash_at_file: int,
    left: str,
) -> None:
    source = tmp_path / "orders.parquet"
    write_orders(source, 60)
    root = tmp_path / "root"
    root.mkdir()
    # Files 1 and 2 are part 1's CSV and manifest; 3 and 4 are part 2's.
    crashing = start_server(root, crash_at_file=crash_at_file)
    known_hosts = pin(tmp_path / "known_hosts", crashing.port, keys.host_line)
    job = sftp_job(tmp_path, crashing.port, keys, known_hosts, source)
    dry = ct.run_job(job, dry_run=True, out=tmp_path / "dry")
    expected = csv_rows(tmp_path / "dry")
    assert sum(expected.values()) == 60 and dry.total("built") == 60
    assert len(list((tmp_path / "dry").glob("*.csv"))) > 2

    interrupted = ct.run_job(job)

    assert interrupted.status == "incomplete"
    assert 0 < interrupted.total("pending") < 60
    assert any(n.endswith(left) for n in names(root)), names(root)
    if left == ".manifest.part":
        assert len(list(root.glob("*.csv"))) == 2  # part 2's CSV is up, unnamed
    crashing.process.wait(timeout=5)

    restarted = start_server(root, port=crashing.port)
    rerun = ct.run_job(job)

    assert rerun.status == "done", rerun.error
    assert rerun.total("pending") == 0
    assert_clean_and_complete(root, expected)
    delivered = names(root)

    third = ct.run_job(job)

    assert third.status == "done" and third.total("pending") == 0
    assert names(root) == delivered
    assert restarted.process.poll() is None
