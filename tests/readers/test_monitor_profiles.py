"""The outgoing monitor on profile properties: a property that changes type."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ctjobs.errors import SchemaFrozenError
from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import JobSpec, parse_job
from ctjobs.monitor import watch_outgoing
from ctjobs.records.encode import RECORD_JSON, encode_records


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger(tmp_path / "ctjobs-home" / "ledger.sqlite", "profiles")
    yield book
    book.close()


def _spec(folder: Path, **policy: str) -> JobSpec:
    data: dict[str, Any] = {
        "name": "profiles",
        "source": {"paths": [str(folder / "*.csv.gz")]},
        "records": [{"kind": "profile", "identity": "identity"}],
    }
    if policy:
        data["schema_policy"] = policy
    return parse_job(data)


def _profiles(scores: list[Any]) -> pl.DataFrame:
    """Encoded profile records, each with `Name` and a `Score` of the given values."""
    frame = pl.DataFrame(
        {
            "type": ["profile"] * len(scores),
            "identity": [f"u{i}" for i in range(len(scores))],
            "profileData": [
                {"Name": f"Ana {i}", "Score": score} for i, score in enumerate(scores)
            ],
            "_source_file": ["f"] * len(scores),
            "_source_row": list(range(len(scores))),
        }
    )
    return encode_records(frame).collect()


def _outgoing(
    spec: JobSpec, ledger: Ledger, frame: pl.DataFrame, run_id: str = "run"
) -> tuple[list[dict[str, Any]], list[tuple[Any, pl.DataFrame]]]:
    built = [(spec.records[0], frame)]
    return watch_outgoing(spec, ledger, run_id, built, False), built


def test_the_number_then_text_fixture_really_changes_the_type() -> None:
    assert _profiles([5]).schema["profileData"] == pl.Struct(
        {"Name": pl.String, "Score": pl.Int64}
    )
    assert _profiles(["five"]).schema["profileData"] == pl.Struct(
        {"Name": pl.String, "Score": pl.String}
    )


def test_a_retyped_profile_property_is_reported_under_warn(
    tmp_path: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec(tmp_path, retyped="warn")
    first, _ = _outgoing(spec, ledger, _profiles([5]), "run1")

    with caplog.at_level(logging.WARNING, logger="ctjobs.monitor.policy"):
        notes, built = _outgoing(spec, ledger, _profiles(["five"]), "run2")

    assert first == []
    assert [(n["kind"], n["column"], n["policy"]) for n in notes] == [
        ("retyped_property", "profile.Score", "warn")
    ]
    assert notes[0]["scope"] == "property"
    assert "'profile.Score' changed type from Int64 to String" in notes[0]["message"]
    assert "'profile.Score' changed type from Int64 to String" in caplog.text
    # Under warn the records go out unchanged, and the new type is accepted.
    assert built[0][1][RECORD_JSON].to_list() == [
        '{"type":"profile","identity":"u0","profileData":'
        '{"Name":"Ana 0","Score":"five"}}'
    ]
    assert ledger.snapshot("outgoing")["profile"] == {
        "Name": "String",
        "Score": "String",
    }
    again, _ = _outgoing(spec, ledger, _profiles(["six"]), "run3")
    assert again == []


def test_retyped_property_policy_wins_over_retyped(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, retyped="freeze", retyped_property="warn")
    _outgoing(spec, ledger, _profiles([5]), "run1")

    notes, _ = _outgoing(spec, ledger, _profiles(["five"]), "run2")

    assert [(n["kind"], n["column"], n["policy"]) for n in notes] == [
        ("retyped_property", "profile.Score", "warn")
    ]


@pytest.mark.parametrize(
    "policy", [{"retyped": "freeze"}, {"retyped_property": "freeze"}]
)
def test_a_retyped_profile_property_stops_the_run_under_freeze(
    tmp_path: Path, ledger: Ledger, policy: dict[str, str]
) -> None:
    spec = _spec(tmp_path, **policy)
    _outgoing(spec, ledger, _profiles([5]), "run1")

    with pytest.raises(SchemaFrozenError) as raised:
        _outgoing(spec, ledger, _profiles(["five"]), "run2")

    message = str(raised.value)
    assert "property 'profile.Score' changed type from Int64 to String" in message
    assert 'schema_policy.retyped_property = "evolve"' in message
    assert "ctjobs schema accept <job file> --scope outgoing" in message
    assert "profiles" in message
    # Nothing was accepted: the snapshot still holds the number, so the next run
    # with text stops again.
    assert ledger.snapshot("outgoing")["profile"]["Score"] == "Int64"
    with pytest.raises(SchemaFrozenError, match=r"'profile\.Score'"):
        _outgoing(spec, ledger, _profiles(["six"]), "run3")


def test_a_profile_property_seen_first_is_not_a_change(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, retyped="freeze")
    _outgoing(spec, ledger, _profiles([None]), "run1")

    notes, _ = _outgoing(spec, ledger, _profiles(["five"]), "run2")

    assert notes == []


def test_a_retyped_profile_property_is_left_out_under_discard(
    tmp_path: Path, ledger: Ledger
) -> None:
    spec = _spec(tmp_path, retyped_property="discard")
    _outgoing(spec, ledger, _profiles([5]), "run1")

    notes, built = _outgoing(spec, ledger, _profiles(["five"]), "run2")

    assert [(n["kind"], n["policy"]) for n in notes] == [
        ("retyped_property", "discard")
    ]
    assert built[0][1][RECORD_JSON].to_list() == [
        '{"type":"profile","identity":"u0","profileData":{"Name":"Ana 0"}}'
    ]
    assert ledger.snapshot("outgoing")["profile"]["Score"] == "Int64"
