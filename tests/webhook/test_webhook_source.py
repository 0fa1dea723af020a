"""Landed webhook payloads read back as a job source, with addresses that last."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import polars as pl

import ctjobs as ct
from ctjobs.readers.source import read_source
from ctjobs.webhook import compact

from .intake import SECRET_ENV, SECRET_HEADERS, campaign, start_intake


def write_job(tmp_path: Path) -> Path:
    job = tmp_path / "landed.toml"
    job.write_text(
        f"""
name = "from-webhook"
[source]
kind = "webhook"
paths = ["{tmp_path / "land"}"]
[[transforms]]
step = "flatten"
column = "profileData"
separator = " "
[[records]]
kind = "profile"
identity = "identity"
include = ["profileData *"]
properties = {{ "Email" = "email" }}
[writer]
kind = "dry-run"
""",
        encoding="utf-8",
    )
    return job


def test_a_job_reads_landed_profiles(tmp_path: Path) -> None:
    bodies = [campaign(3), campaign(2, single=True)]
    intake = start_intake(tmp_path / "land", SECRET_ENV)
    try:
        for body in bodies:
            answer = httpx.post(
                intake.url, json=body, headers=SECRET_HEADERS, timeout=10
            )
            assert answer.status_code == 200
    finally:
        intake.stop()
    sent = [
        p
        for b in bodies
        for p in (b["profiles"] if isinstance(b["profiles"], list) else [b["profiles"]])
    ]
    job = write_job(tmp_path)
    spec = ct.load_job(job)
    before = read_source(spec, None)[0].select("_source_file", "_source_row").collect()

    summary = ct.run_job(job, dry_run=True, out=tmp_path / "out")
    out = [
        json.loads(p.read_text()) for p in sorted((tmp_path / "out").rglob("*.json"))
    ]
    records = {r["identity"]: r["profileData"] for body in out for r in body["d"]}
    assert summary.rows_read == len(sent) == 4
    assert set(records) == {p["identity"] for p in sent}
    for profile in sent:
        got = records[profile["identity"]]
        assert got == {
            "Tier": "Gold",
            "Visits": profile["profileData"]["Visits"],
            "Email": profile["email"],
        }

    # Compaction moves rows into Parquet files; their addresses must not change,
    # or a later run would send them again.
    compact(tmp_path / "land")
    assert list((tmp_path / "land").rglob("*.parquet"))
    after = read_source(spec, None)[0].select("_source_file", "_source_row").collect()
    assert before.sort(pl.all()).equals(after.sort(pl.all()))
