"""The schema-change monitor seen from whole runs: a column that appears on day two."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import ctjobs as ct
from ctjobs.errors import SchemaFrozenError
from ctjobs.monitor import accept_schema

from .conftest import gz

DAY_1 = "identity,ts,eventName\nu1,20240301101500,Charged\nu2,20240301111500,Charged\n"
DAY_2 = (
    "identity,ts,eventName,eventProps.Coupon\n"
    "u1,20240302101500,Charged,SPRING\nu3,20240302121500,Charged,\n"
)


def _job(folder: Path, added: str) -> Path:
    exports = folder / "exports"
    exports.mkdir()
    (exports / "1-2-Charged-20240301-0-0.csv.gz").write_bytes(gz(DAY_1))
    (exports / "1-2-Charged-20240302-0-0.csv.gz").write_bytes(gz(DAY_2))
    job = folder / "coupons.toml"
    job.write_text(
        f'name = "coupons-{added}"\n'
        f'[source]\npaths = ["{exports}/*.csv.gz"]\n'
        "[[records]]\n"
        'kind = "event"\nidentity = "identity"\nts = "ts"\nevent_name = "eventName"\n'
        'include = ["eventProps.*"]\n'
        f'[schema_policy]\nadded = "{added}"\n'
        f'[writer]\nkind = "files"\nout = "{folder / "out"}"\n'
        'client_email = "ops@example.com"\n',
        encoding="utf-8",
    )
    return job


def _sent(folder: Path) -> list[dict[str, str]]:
    import csv

    rows: list[dict[str, str]] = []
    for path in sorted((folder / "out").rglob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


@pytest.mark.parametrize("added", ["evolve", "warn", "discard"])
def test_a_column_new_on_day_two_is_reported_under_each_policy(
    tmp_path: Path, added: str
) -> None:
    job = _job(tmp_path, added)

    first = ct.run_job(job, date_to=date.fromisoformat("2024-03-01"))
    summary = ct.run_job(job)

    assert first.status == "done" and summary.status == "done"
    changes = [
        (c["kind"], c["column"], c["policy"])
        for c in summary.schema_changes
        if c["kind"] != "widened"
    ]
    assert ("added", "eventProps.Coupon", added) in changes
    report = Path(summary.run_dir, "report.html").read_text(encoding="utf-8")
    assert "eventProps.Coupon" in report
    assert "eventProps.Coupon" in "\n".join(summary.lines())
    day_2 = [row for row in _sent(tmp_path) if row["ts"] == "1709374500"]
    assert [row.get("Coupon") for row in day_2] == [
        None if added == "discard" else "SPRING"
    ]


def test_freeze_stops_a_backfill_at_the_changed_day_and_resumes_there(
    tmp_path: Path,
) -> None:
    job = _job(tmp_path, "freeze")
    day_1, day_2 = date.fromisoformat("2024-03-01"), date.fromisoformat("2024-03-02")

    with pytest.raises(SchemaFrozenError) as caught:
        ct.run_job(job, mode="backfill", date_from=day_1, date_to=day_2)
    stopped = caught.value.summary

    assert stopped is not None and stopped.status == "failed"
    assert "eventProps.Coupon" in (stopped.error or "")
    assert "schema accept" in (stopped.error or "")
    assert stopped.partitions_done == ["2024-03-01"]
    assert sorted(row["identity"] for row in _sent(tmp_path)) == ["u1", "u2"]

    accept_schema(job)
    resumed = ct.run_job(job, mode="backfill", date_from=day_1, date_to=day_2)

    assert resumed.status == "done"
    assert resumed.partitions_skipped == ["2024-03-01"]
    sent = _sent(tmp_path)
    assert sorted(row["identity"] for row in sent) == ["u1", "u1", "u2", "u3"]
    assert json.dumps(sent).count("SPRING") == 1
