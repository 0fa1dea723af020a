"""Rows to CleverTap records, JSON and request bodies."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime

import numpy as np
import polars as pl

import ctjobs as ct
from ctjobs.records.encode import RECORD_JSON
from ctjobs.writers.batches import MAX_RECORDS, batch_bounds, cut_batches


def frame(**columns: list[object]) -> pl.DataFrame:
    height = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            **columns,
            "_source_file": ["f.csv"] * height,
            "_source_row": list(range(height)),
        },
        strict=False,
    )


def encoded(records: pl.LazyFrame) -> list[dict[str, object]]:
    return [json.loads(t) for t in ct.encode_records(records).collect()[RECORD_JSON]]


def test_event_record_shape_and_exact_values() -> None:
    rows = frame(
        **{
            "profile.identity": ["007421"],
            "ts": [datetime(2024, 3, 1, 9, 15)],
            "eventName": ["Plan Renewed"],
            "eventProps.Plan": ["Annual"],
            "eventProps.Amount": [119.0],
        }
    )
    records = encoded(
        ct.build_events(rows, identity="profile.identity", include=["eventProps.*"])
    )
    assert records == [
        {
            "type": "event",
            "identity": "007421",
            "ts": 1709284500,
            "evtName": "Plan Renewed",
            "evtData": {"Plan": "Annual", "Amount": 119.0},
        }
    ]


def test_dates_become_d_prefixed_epoch_seconds() -> None:
    rows = frame(identity=["u1"], dob=[date(1990, 5, 17)], renewal=["2024-04-01"])
    records = encoded(
        ct.build_profiles(
            rows,
            identity="identity",
            properties={"DOB": "dob", "Renewal": "renewal"},
            dates=["Renewal"],
        )
    )
    assert records[0]["profileData"] == {
        "DOB": "$D_642902400",
        "Renewal": "$D_1711929600",
    }


def test_nulls_and_empty_strings_are_left_out() -> None:
    rows = frame(identity=["u1", "u2"], note=[None, ""], n=[None, 3])
    records = encoded(
        ct.build_profiles(
            rows, identity="identity", properties={"Note": "note", "N": "n"}
        )
    )
    assert records[0]["profileData"] == {}
    assert records[1]["profileData"] == {"N": 3}
    text = ct.encode_records(
        ct.build_profiles(rows, identity="identity", properties={"Note": "note"})
    ).collect()[RECORD_JSON]
    assert not any("null" in t for t in text)


def test_every_record_lands_in_exactly_one_body_of_at_most_1000() -> None:
    n = 2_345
    rows = frame(
        identity=[f"u{i}" for i in range(n)], eventName=["E"] * n, ts=[1709284500] * n
    )
    out = ct.encode_records(ct.build_events(rows, identity="identity")).collect()
    batches = list(cut_batches(out, "event"))
    assert [b.size for b in batches] == [1000, 1000, 345]
    seen = [r["identity"] for b in batches for r in json.loads(b.body())["d"]]
    assert sorted(seen) == sorted(f"u{i}" for i in range(n))
    assert len(seen) == len(set(seen))


def test_bodies_respect_the_byte_limit() -> None:
    # 9 records of 100 bytes make a 916-byte body ({"d":[...]} and 8 commas);
    # a 10th would make it 1017, over the limit.
    sizes = np.array([100] * 50)
    bounds = batch_bounds(sizes, MAX_RECORDS, max_bytes=1_000)
    spans = [end - start for start, end in itertools.pairwise(bounds)]
    assert spans == [9, 9, 9, 9, 9, 5]
    assert batch_bounds(sizes, MAX_RECORDS, max_bytes=916) == bounds
    assert batch_bounds(sizes, MAX_RECORDS, max_bytes=915)[1] == 8

    n = 50
    rows = frame(
        identity=[f"u{i:04d}" for i in range(n)], eventName=["E"] * n, ts=[1] * n
    )
    out = ct.encode_records(ct.build_events(rows, identity="identity")).collect()
    (size,) = out[RECORD_JSON].str.len_bytes().unique().to_list()
    # As many records as fit: a full body plus one more record is over the limit.
    per_body = (1_000 - len('{"d":[]}') + 1) // (size + 1)
    batches = list(cut_batches(out, "event", max_bytes=1_000))
    expected = [per_body] * (n // per_body) + [n % per_body] * bool(n % per_body)
    assert [b.size for b in batches] == expected
    assert 1 < per_body < n
    for b in batches:
        body = b.body()
        assert len(body) <= 1_000
        assert len(body) == len('{"d":[]}') + b.size * size + b.size - 1
        assert len(json.loads(body)["d"]) == b.size
    assert len(batches[0].body()) + 1 + size > 1_000


def test_batch_ids_are_stable_for_the_same_input() -> None:
    rows = frame(identity=["a", "b"], eventName=["E", "E"], ts=[1, 2])
    first = ct.encode_records(ct.build_events(rows, identity="identity")).collect()
    second = ct.encode_records(ct.build_events(rows, identity="identity")).collect()
    assert [b.batch_id for b in cut_batches(first, "event")] == [
        b.batch_id for b in cut_batches(second, "event")
    ]
