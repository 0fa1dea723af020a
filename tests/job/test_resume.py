"""Backfills, resumes, change-only profiles and replays against the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import ctjobs as ct
from ctjobs.job.ledger import Ledger
from ctjobs.job.replay import confirm_landed, replay
from ctjobs.sandbox import SandboxProcess
from tests.conftest import ROOT, SAMPLES
from tests.job.jobs import events_job, profiles_job


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxProcess]:
    with SandboxProcess(account_id="acct-test", passcode="pass-test") as server:
        monkeypatch.setenv("CLEVERTAP_API_URL", server.url)
        monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", server.account_id)
        monkeypatch.setenv("CLEVERTAP_PASSCODE", server.passcode)
        yield server


def canonical(records: list[dict[str, object]]) -> Counter[str]:
    return Counter(json.dumps(r, sort_keys=True) for r in records)


def expected_records(job: Path, out: Path) -> list[dict[str, object]]:
    summary = ct.run_job(job, dry_run=True, out=out)
    assert summary.total("rejected_preflight") == 0
    return [
        r
        for body in sorted(out.rglob("*.json"))
        for r in json.loads(body.read_text())["d"]
    ]


def _kill_when_stored(
    command: list[str], sandbox: SandboxProcess, past: int, total: int
) -> None:
    """Run ctjobs `command` and SIGKILL it once the sandbox holds over `past`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ctjobs", *command],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sandbox.stats()["records_accepted"] > past:
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = sandbox.stats()["records_accepted"]
    assert past < killed_at < total, "the kill must land mid-run"


def _each_record_once_after(
    resumed: ct.RunSummary,
    again: Callable[[], ct.RunSummary],
    job: Path,
    sandbox: SandboxProcess,
    expected: list[dict[str, object]],
    ledger_path: Path,
) -> None:
    """After a resume: nothing twice, nothing lost, held batches settled by hand.

    Batches the killed run sent without seeing an answer are held, not re-sent:
    pending with their reason, so the run says it is not complete. A person
    settles each after looking at CleverTap (`again` reruns the job meanwhile).
    """
    held = resumed.total("in_doubt")
    assert resumed.status == ("incomplete" if held else "done")
    ledger = Ledger(ledger_path, job.stem)
    pending = ledger.pending(resumed.run_id)
    ledger.close()
    assert pending.height == held
    assert pending["reason"].str.starts_with("in doubt").all()

    # Every record is stored once or held (a held batch may or may not have
    # reached the server before the kill).
    time.sleep(0.2)  # let requests the dead client left on the server finish
    stored = canonical(sandbox.records())
    held_records = canonical([json.loads(r) for r in pending["record"]])
    wanted = canonical(expected)
    assert all(count == 1 for count in stored.values())
    assert stored + held_records >= wanted
    assert not (stored - wanted)
    assert sum((stored + held_records - wanted).values()) == sum(
        (stored & held_records).values()
    )
    if not held:
        assert stored == wanted and resumed.held_by == []
        return
    # The summary names the run holding them and how to settle them.
    assert resumed.held_by == [resumed.run_id]
    assert any(f"`ctjobs show {resumed.run_id}`" in line for line in resumed.lines())

    # Held records stay pending on every run until they are settled.
    rerun = again()
    assert rerun.total("pending") == held and rerun.exit_code == 1
    assert rerun.held_by == [resumed.run_id]
    # A batch found on CleverTap is confirmed; a batch missing is sent as it was.
    batches = pending["reason"].str.extract(r"batch (\w+) ").unique().to_list()
    for batch in batches:
        rows = pending.filter(pl.col("reason").str.contains(f"batch {batch} "))
        records = canonical([json.loads(r) for r in rows["record"]])
        if records <= stored:
            assert confirm_landed(job, resumed.run_id, batch=batch) == rows.height
        else:
            assert not (records & stored), "a batch lands whole or not at all"
            sent = replay(job, resumed.run_id, as_sent=True, batch=batch)
            assert sent.total("accepted") == rows.height
    settled = again()
    assert settled.status == "done" and settled.total("pending") == 0
    assert canonical(sandbox.records()) == wanted


def test_backfill_killed_on_day_four_resumes_with_each_record_once(
    tmp_path: Path, sandbox: SandboxProcess, ctjobs_home: Path
) -> None:
    job = events_job(tmp_path, max_records=50, concurrency=2)
    expected = expected_records(job, tmp_path / "dry")
    first_three = ct.run_job(job, dry_run=True, out=tmp_path / "dry3", date_to=_day(3))
    before_day_four = first_three.total("written")
    sandbox.configure(latency_ms=60)
    command = ["backfill", str(job), "--from", "2024-03-01", "--to", "2024-03-07"]

    _kill_when_stored(command, sandbox, before_day_four + 100, len(expected))
    sandbox.configure(latency_ms=0)

    def backfill() -> ct.RunSummary:
        return ct.run_job(job, mode="backfill", date_from=_day(1), date_to=_day(7))

    resumed = backfill()
    assert resumed.partitions_skipped == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert resumed.total("skipped_sent") > 0
    assert resumed.total("in_doubt") <= 2 * 50
    _each_record_once_after(
        resumed, backfill, job, sandbox, expected, ctjobs_home / "ledger.sqlite"
    )


def test_a_run_killed_mid_send_and_run_again_stores_each_record_once(
    tmp_path: Path, sandbox: SandboxProcess, ctjobs_home: Path
) -> None:
    job = events_job(tmp_path, name="killed-run", max_records=50, concurrency=3)
    expected = expected_records(job, tmp_path / "dry")
    sandbox.configure(latency_ms=40)

    _kill_when_stored(["run", str(job)], sandbox, len(expected) // 3, len(expected))
    sandbox.configure(latency_ms=0)

    def run() -> ct.RunSummary:
        return ct.run_job(job)

    resumed = run()
    assert resumed.total("skipped_sent") >= len(expected) // 3
    assert resumed.total("in_doubt") <= 3 * 50
    _each_record_once_after(
        resumed, run, job, sandbox, expected, ctjobs_home / "ledger.sqlite"
    )


def test_a_rerun_sends_nothing_twice(tmp_path: Path, sandbox: SandboxProcess) -> None:
    job = events_job(tmp_path)
    first = ct.run_job(job)
    second = ct.run_job(job)
    assert first.total("sent") == first.total("built") > 0
    assert second.total("sent") == 0
    assert second.total("skipped_sent") == first.total("built")
    assert len(sandbox.records()) == first.total("built")


def test_what_one_account_acknowledged_is_still_sent_to_another(
    tmp_path: Path, sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = events_job(tmp_path)
    tried = ct.run_job(job)
    assert tried.total("sent") == tried.total("built") > 0

    # The same job pointed at another CleverTap account sends every record there.
    with SandboxProcess(account_id="acct-prod", passcode="pass-prod") as other:
        monkeypatch.setenv("CLEVERTAP_API_URL", other.url)
        monkeypatch.setenv("CLEVERTAP_ACCOUNT_ID", other.account_id)
        monkeypatch.setenv("CLEVERTAP_PASSCODE", other.passcode)
        moved = ct.run_job(job)
        again = ct.run_job(job)
        assert moved.total("skipped_sent") == 0
        assert moved.total("sent") == tried.total("built")
        assert canonical(other.records()) == canonical(sandbox.records())
        assert again.total("sent") == 0

    # Back on the first account (at a new address), nothing is sent twice.
    with SandboxProcess(account_id="acct-test", passcode="pass-test") as moved_host:
        monkeypatch.setenv("CLEVERTAP_API_URL", moved_host.url)
        back = ct.run_job(job)
    assert back.total("sent") == 0
    assert back.total("skipped_sent") == tried.total("built")


def test_change_only_profiles_send_only_what_changed(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    source = tmp_path / "profiles" / "100000000-1-2-0.parquet"
    source.parent.mkdir()
    original = next((SAMPLES / "profiles").glob("*.parquet"))
    source.write_bytes(original.read_bytes())
    job = profiles_job(tmp_path, source)

    first = ct.run_job(job)
    assert first.total("sent") == first.total("built") > 0
    second = ct.run_job(job)
    assert second.total("sent") == 0

    target = ct.read_export(str(source))["identity"][5]
    # Change a sent property: rewrite the City inside the map for one profile.
    changed = _set_city(pl.read_parquet(source), target, "Atlantis")
    changed.write_parquet(source)
    sandbox.reset()
    third = ct.run_job(job)
    assert third.total("sent") == 1
    [record] = sandbox.records()
    assert record["identity"] == target
    assert record["profileData"]["City"] == "Atlantis"

    # Changed back, the profile is sent again: CleverTap holds Atlantis now.
    source.write_bytes(original.read_bytes())
    sandbox.reset()
    fourth = ct.run_job(job)
    assert fourth.total("sent") == 1
    [record] = sandbox.records()
    assert record["identity"] == target
    assert record["profileData"]["City"] != "Atlantis"
    assert ct.run_job(job).total("sent") == 0


def test_profiles_of_different_people_with_equal_values_are_each_sent(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    source = tmp_path / "people.csv"
    source.write_text("objectId,Tier\n__g1,Gold\n__g2,Gold\n", encoding="utf-8")
    job = tmp_path / "people.toml"
    job.write_text(
        f'name = "people"\n[source]\npaths = ["{source}"]\n[[records]]\n'
        'kind = "profile"\nidentity = "objectId"\nidentity_field = "objectId"\n'
        'properties = { Tier = "Tier" }\n[writer]\nkind = "upload"\n',
        encoding="utf-8",
    )
    assert ct.run_job(job).total("sent") == 2
    # A third person with the same values is someone new, not a repeat.
    with source.open("a", encoding="utf-8") as more:
        more.write("__g3,Gold\n")
    assert ct.run_job(job).total("sent") == 1
    assert sorted(r["objectId"] for r in sandbox.records()) == ["__g1", "__g2", "__g3"]
    assert ct.run_job(job).total("sent") == 0


def test_replay_sends_the_fixed_records_once(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    broken = events_job(
        tmp_path, name="replayed", where="eventName IN ('Charged', 'App Launched')"
    )
    run = ct.run_job(broken)
    rejected = run.total("rejected_preflight")
    assert rejected > 0 and run.exit_code == 3
    stored_before = len(sandbox.records())

    fixed = events_job(
        tmp_path,
        name="replayed",
        where="eventName IN ('Charged', 'App Launched')",
        extra_steps=(
            '[[transforms]]\nstep = "with_columns"\ncolumns = { eventName = '
            "\"CASE WHEN eventName = 'App Launched' THEN 'App Opened' ELSE eventName END\" }"
        ),
    )
    replayed = replay(fixed, run.run_id)
    assert replayed.total("sent") == rejected
    assert replayed.total("accepted") == rejected
    new = sandbox.records()[stored_before:]
    assert len(new) == rejected
    assert {r["evtName"] for r in new} == {"App Opened"}
    with pytest.raises(ct.CtjobsError, match="nothing left to replay"):
        replay(fixed, run.run_id)


def _day(n: int) -> date:
    return date(2024, 3, n)


def _set_city(raw: pl.DataFrame, identity: str, city: str) -> pl.DataFrame:
    import pyarrow as pa

    table = raw.to_arrow()
    rows = table.to_pylist()
    for row in rows:
        if row["identity"] == identity:
            props = dict(row["profileProps"])
            member = dict.fromkeys(
                ("member0", "member1", "member2", "member3", "member4")
            )
            props["City"] = {**member, "member5": city}
            row["profileProps"] = list(props.items())
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=table.schema))


def test_replay_as_sent_resends_what_clevertap_rejected(
    tmp_path: Path, sandbox: SandboxProcess, ctjobs_home: Path
) -> None:
    job = events_job(tmp_path, name="as-sent", where="eventName = 'Plan Renewed'")
    sandbox.configure(discarded_events=["Plan Renewed"])
    run = ct.run_job(job)
    rejected = run.total("rejected")
    assert rejected == run.total("built") > 0 and run.exit_code == 3
    assert sandbox.records() == []

    sandbox.configure(discarded_events=[])
    replayed = replay(job, run.run_id, as_sent=True, limit=5)
    assert replayed.total("accepted") == 5
    rest = replay(job, run.run_id, as_sent=True)
    assert rest.total("accepted") == rejected - 5
    ledger = Ledger(ctjobs_home / "ledger.sqlite", "as-sent")
    originally = [json.loads(r) for r in ledger.rejections(run.run_id)["record"]]
    ledger.close()
    assert canonical(sandbox.records()) == canonical(originally)


def _people_job(folder: Path, source: Path, *, emptied: str, extra: str = "") -> Path:
    job = folder / "change-only.toml"
    job.write_text(
        f'name = "change-only"\n[source]\npaths = ["{source}"]\n[[records]]\n'
        'kind = "profile"\nidentity = "id"\nchange_only = true\n'
        f'emptied = "{emptied}"\n'
        f'properties = {{ City = "City", Tier = "Tier"{extra} }}\n'
        '[writer]\nkind = "upload"\n',
        encoding="utf-8",
    )
    return job


@pytest.mark.parametrize("emptied", ["keep", "delete"])
def test_change_only_profiles_and_properties_that_became_empty(
    tmp_path: Path, sandbox: SandboxProcess, emptied: str
) -> None:
    source = tmp_path / "people.csv"
    source.write_text("id,City,Tier\nu1,Pune,Gold\nu2,Goa,Silver\n", encoding="utf-8")
    job = _people_job(tmp_path, source, emptied=emptied)
    assert ct.run_job(job).total("sent") == 2
    assert ct.run_job(job).total("sent") == 0

    # u1's City is now empty: under keep that changes nothing CleverTap holds;
    # under delete it is sent as a deletion, once.
    source.write_text("id,City,Tier\nu1,,Gold\nu2,Goa,Silver\n", encoding="utf-8")
    sandbox.reset()
    emptied_run = ct.run_job(job)
    if emptied == "keep":
        assert emptied_run.total("sent") == 0
        assert emptied_run.total("skipped_unchanged") == 1
        assert sandbox.records() == []
    else:
        assert emptied_run.total("sent") == 1
        assert emptied_run.mappings[0].properties_deleted == 1
        [record] = sandbox.records()
        assert record["identity"] == "u1"
        assert record["profileData"] == {"City": {"$delete": True}, "Tier": "Gold"}
    assert ct.run_job(job).total("sent") == 0

    # A value that comes back after being emptied is a change under both.
    source.write_text("id,City,Tier\nu1,Pune,Gold\nu2,Goa,Silver\n", encoding="utf-8")
    back = ct.run_job(job)
    assert back.total("sent") == (0 if emptied == "keep" else 1)

    # A new mapping is sent in full, once.
    remapped = _people_job(tmp_path, source, emptied=emptied, extra=', Plan = "Tier"')
    sandbox.reset()
    assert ct.run_job(remapped).total("sent") == 2
    assert {r["profileData"]["Plan"] for r in sandbox.records()} == {"Gold", "Silver"}
    assert ct.run_job(remapped).total("sent") == 0


def test_without_change_only_an_emptied_property_is_sent_again(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    source = tmp_path / "people.csv"
    source.write_text("id,City,Tier\nu1,Pune,Gold\n", encoding="utf-8")
    job = _people_job(tmp_path, source, emptied="keep")
    job.write_text(job.read_text().replace("change_only = true", "change_only = false"))
    assert ct.run_job(job).total("sent") == 1
    source.write_text("id,City,Tier\nu1,,Gold\n", encoding="utf-8")
    assert ct.run_job(job).total("sent") == 1


def _contacts_job(folder: Path, source: Path, *, email: str, owner: str) -> Path:
    job = folder / "contacts.toml"
    job.write_text(
        f'name = "contacts"\n[source]\npaths = ["{source}"]\n[[records]]\n'
        f'name = "contacts"\nkind = "profile"\nidentity = "id"\n'
        f'identity_field = "{owner}"\n'
        f'properties = {{ Email = "{email}", City = "City" }}\n'
        '[writer]\nkind = "upload"\n',
        encoding="utf-8",
    )
    return job


@pytest.mark.parametrize("owner", ["identity", "objectId"])
def test_replay_rebuilds_profiles_rejected_before_sending(
    tmp_path: Path, sandbox: SandboxProcess, owner: str
) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(
        "id,Email,Fixed,City\n"
        "u1,u1@example.com,u1@example.com,Pune\n"
        "u2,not-an-email,u2@example.com,Goa\n"
        "u3,u3@,u3@example.com,Agra\n",
        encoding="utf-8",
    )
    broken = _contacts_job(tmp_path, source, email="Email", owner=owner)
    run = ct.run_job(broken)
    assert (run.total("accepted"), run.total("rejected_preflight")) == (1, 2)

    # Nothing is sent by a dry run, and a code no record has replays nothing.
    dry = replay(broken, run.run_id, dry_run=True, out=tmp_path / "dry")
    assert dry.total("built") == 2 and len(sandbox.records()) == 1
    with pytest.raises(ct.CtjobsError, match="nothing left to replay"):
        replay(broken, run.run_id, only_code=999)

    fixed = _contacts_job(tmp_path, source, email="Fixed", owner=owner)
    replayed = replay(fixed, run.run_id)
    assert (replayed.total("built"), replayed.total("accepted")) == (2, 2)
    sent = sorted(sandbox.records()[1:], key=lambda r: str(r[owner]))
    assert [(r[owner], r["profileData"]["Email"]) for r in sent] == [
        ("u2", "u2@example.com"),
        ("u3", "u3@example.com"),
    ]
    with pytest.raises(ct.CtjobsError, match="nothing left to replay"):
        replay(fixed, run.run_id)


def test_replay_resends_profiles_clevertap_refused_by_person(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text("id,Email,Fixed,City\nu1,a@example.com,,Pune\n", encoding="utf-8")
    job = _contacts_job(tmp_path, source, email="Email", owner="identity")
    sandbox.configure(error_rate=1.0)
    job.write_text(job.read_text() + "max_attempts = 1\n", encoding="utf-8")
    run = ct.run_job(job)
    assert run.total("pending") == 1 and sandbox.records() == []

    sandbox.configure(error_rate=0.0)
    replayed = replay(job, run.run_id, only_code=None)
    assert replayed.total("accepted") == 1
    [record] = sandbox.records()
    assert record["identity"] == "u1" and record["profileData"]["City"] == "Pune"
    with pytest.raises(ct.CtjobsError, match="nothing left to replay"):
        replay(job, run.run_id)


def test_a_backfill_never_sends_a_day_older_than_what_a_person_last_got(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    import gzip

    exports = tmp_path / "exports"
    exports.mkdir()
    for day, city in ((1, "Agra"), (2, "Bhopal"), (3, "Chennai")):
        text = f"identity,ts,eventName,City\nu1,2024030{day}101500,Moved,{city}\n"
        name = f"1-2-Moved-2024030{day}-0-0.csv.gz"
        (exports / name).write_bytes(gzip.compress(text.encode()))
    job = tmp_path / "cities.toml"
    job.write_text(
        f'name = "cities"\n[source]\npaths = ["{exports}/*.csv.gz"]\n'
        '[[records]]\nkind = "profile"\nidentity = "identity"\n'
        'properties = { City = "City" }\n[writer]\nkind = "upload"\n',
        encoding="utf-8",
    )

    def backfill(first: int, last: int) -> ct.RunSummary:
        return ct.run_job(
            job, mode="backfill", date_from=_day(first), date_to=_day(last)
        )

    backfill(1, 1)
    backfill(3, 3)
    late = backfill(2, 2)  # a day gone back over, after a later one was sent

    cities = [r["profileData"]["City"] for r in sandbox.records()]
    assert cities == ["Agra", "Chennai"]
    assert late.total("sent") == 0 and late.total("skipped_sent") == 1
    # Going forward again is a change, and is sent.
    (exports / "1-2-Moved-20240304-0-0.csv.gz").write_bytes(
        gzip.compress(b"identity,ts,eventName,City\nu1,20240304101500,Moved,Agra\n")
    )
    backfill(4, 4)
    assert [r["profileData"]["City"] for r in sandbox.records()][-1] == "Agra"
