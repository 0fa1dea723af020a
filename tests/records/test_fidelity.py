"""From rows to the exact JSON CleverTap receives: build, validate, encode."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctjobs.job.spec import ValidationSpec
from ctjobs.records.build import build_events, build_profiles
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.records.validate import Validated, validate

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ADDRESS = {"city": "Pune", "zip": "411001"}


def _rows(**columns: list[Any]) -> pl.DataFrame:
    """Source rows with the provenance columns the readers add."""
    frame = pl.DataFrame(columns, strict=False)
    return frame.with_columns(
        pl.lit("in.csv").alias("_source_file"),
        pl.int_range(frame.height, dtype=pl.Int64).alias("_source_row"),
    )


def _sent(result: Validated) -> list[str]:
    return encode_records(result.accepted).collect().get_column(RECORD_JSON).to_list()


def _check(records: pl.LazyFrame, **spec: Any) -> Validated:
    return validate(records, ValidationSpec(**spec), now=NOW)


def test_event_time_in_utc_and_missing_time_rejected() -> None:
    rows = _rows(user=["u-001", "u-002"], at=["2024-03-01 09:15:00", None])

    result = _check(
        build_events(rows, identity="user", ts="at", event_name_value="Plan Renewed")
    )

    assert _sent(result) == [
        '{"type":"event","identity":"u-001","ts":1709284500,"evtName":"Plan Renewed",'
        '"evtData":{}}'
    ]
    assert result.rejected.select("_source_row", "code", "reason").rows() == [
        (1, 525, "ts is missing")
    ]


KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
# 2024-03-01 09:15:00 in Kolkata, 03:45:00 UTC, written every way a source may.
SAME_INSTANT = [
    ("packed digits", 20240301091500),
    ("packed digits as text", "20240301091500"),
    ("naive datetime", datetime(2024, 3, 1, 9, 15)),
    ("aware datetime, UTC", datetime(2024, 3, 1, 3, 45, tzinfo=UTC)),
    ("aware datetime, Kolkata", datetime(2024, 3, 1, 9, 15, tzinfo=KOLKATA)),
    ("aware datetime, New York", datetime(2024, 2, 29, 22, 45, tzinfo=NEW_YORK)),
    ("epoch seconds", 1709264700),
    ("epoch milliseconds", 1709264700000),
    ("epoch seconds as text", "1709264700"),
    ("ISO text with Z", "2024-03-01T03:45:00Z"),
    ("ISO text with an offset", "2024-03-01T09:15:00+05:30"),
    ("ISO text without a zone", "2024-03-01 09:15:00"),
]


@pytest.mark.parametrize(
    "value", [pytest.param(v, id=name) for name, v in SAME_INSTANT]
)
def test_the_same_instant_gives_the_same_ts_whatever_its_form(value: Any) -> None:
    rows = _rows(user=["u-001"], ts=[value])

    records = build_events(
        rows,
        identity="user",
        ts="ts",
        event_name_value="Plan Renewed",
        timezone="Asia/Kolkata",
    )

    assert _check(records).accepted.get_column("ts").to_list() == [1709264700]


def test_long_references_are_sent_as_the_exact_text() -> None:
    rows = _rows(
        user=["007421"],
        ts=[1709284500],
        order=["1234567890123456789012345"],
        postcode=["011001"],
    )

    records = build_events(
        rows,
        identity="user",
        event_name_value="Charged",
        properties={"Order Id": "order", "Postcode": "postcode"},
    )

    assert _sent(_check(records)) == [
        '{"type":"event","identity":"007421","ts":1709284500,"evtName":"Charged",'
        '"evtData":{"Order Id":"1234567890123456789012345","Postcode":"011001"}}'
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "json",
            '"evtData":{"address":"{\\"city\\":\\"Pune\\",\\"zip\\":\\"411001\\"}"}}',
        ),
        ("flatten", '"evtData":{"address_city":"Pune","address_zip":"411001"}}'),
    ],
)
def test_nested_event_property(policy: str, expected: str) -> None:
    rows = _rows(user=["u-001"], ts=[1709284500], address=[ADDRESS])
    records = build_events(
        rows,
        identity="user",
        event_name_value="Moved",
        properties={"address": "address"},
    )

    sent = _sent(_check(records, nested_events=policy))

    assert sent == [
        '{"type":"event","identity":"u-001","ts":1709284500,"evtName":"Moved",'
        + expected
    ]


def test_nested_event_property_rejected() -> None:
    rows = _rows(user=["u-001"], ts=[1709284500], address=[ADDRESS])
    records = build_events(
        rows,
        identity="user",
        event_name_value="Moved",
        properties={"address": "address"},
    )

    result = _check(records, nested_events="reject")

    assert result.rejected.select("code", "reason").rows() == [
        (512, "'address' is nested (nested_events = reject)")
    ]


def test_charged_keeps_its_items() -> None:
    rows = _rows(user=["u-001"], ts=[1709284500], Items=[[{"sku": "A1", "qty": 2}]])
    records = build_events(
        rows, identity="user", event_name_value="Charged", properties={"Items": "Items"}
    )

    assert _sent(_check(records, nested_events="reject")) == [
        '{"type":"event","identity":"u-001","ts":1709284500,"evtName":"Charged",'
        '"evtData":{"Items":[{"sku":"A1","qty":2}]}}'
    ]


def test_items_leave_out_missing_fields_and_null_entries() -> None:
    items = [[{"sku": "A1", "qty": 2, "note": 'say "hi", ok'}, None, {"sku": "é\n2"}]]
    rows = _rows(user=["u-001"], ts=[1709284500], Items=items)
    records = build_events(
        rows, identity="user", event_name_value="Charged", properties={"Items": "Items"}
    )

    (sent,) = _sent(_check(records))

    assert json.loads(sent)["evtData"]["Items"] == [
        {"sku": "A1", "qty": 2, "note": 'say "hi", ok'},
        {"sku": "é\n2"},
    ]
    assert "null" not in sent


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("json", '{"address":"{\\"city\\":\\"Pune\\",\\"zip\\":\\"411001\\"}"}'),
        ("flatten", '{"address_city":"Pune","address_zip":"411001"}'),
        ("keep", '{"address":{"city":"Pune","zip":"411001"}}'),
        ("reject", None),
    ],
)
def test_nested_profile_property(policy: str, expected: str | None) -> None:
    rows = _rows(user=["u-001"], address=[ADDRESS])
    records = build_profiles(rows, identity="user", properties={"address": "address"})

    result = _check(records, nested_profiles=policy)

    if expected is None:
        assert result.rejected.get_column("reason").to_list() == [
            "'address' is nested (nested_profiles = reject)"
        ]
    else:
        assert _sent(result) == [
            '{"type":"profile","identity":"u-001","profileData":' + expected + "}"
        ]


def test_nan_is_dropped_and_counted() -> None:
    rows = _rows(user=["u-001"], ts=[1709284500], score=[float("nan")], plan=["Gold"])
    records = build_events(
        rows,
        identity="user",
        event_name_value="Scored",
        properties={"score": "score", "Plan": "plan"},
    )

    result = _check(records)

    assert _sent(result) == [
        '{"type":"event","identity":"u-001","ts":1709284500,"evtName":"Scored",'
        '"evtData":{"Plan":"Gold"}}'
    ]
    assert result.dropped == {"non-finite number": 1}


@pytest.mark.parametrize("updated_at", ["2024-03-01T09:15:00Z", 1709284500000])
def test_profile_ts_from_text_or_milliseconds(updated_at: str | int) -> None:
    rows = _rows(user=["u-001"], updated_at=[updated_at], plan=["Gold"])
    records = build_profiles(
        rows, identity="user", ts="updated_at", properties={"Plan": "plan"}
    )

    assert _sent(_check(records)) == [
        '{"type":"profile","identity":"u-001","ts":1709284500,"profileData":{"Plan":"Gold"}}'
    ]


def test_hand_built_milliseconds_are_converted() -> None:
    records = pl.DataFrame(
        {"type": ["profile"], "identity": ["u-001"], "ts": [1709284500000]}
    ).with_columns(pl.struct(pl.lit("Gold").alias("Plan")).alias("profileData"))

    assert _check(records).accepted.get_column("ts").to_list() == [1709284500]


def test_profile_date_of_birth() -> None:
    rows = _rows(user=["u-001"], dob=[date(1990, 5, 17)])
    records = build_profiles(rows, identity="user", properties={"DOB": "dob"})

    assert _sent(_check(records)) == [
        '{"type":"profile","identity":"u-001","profileData":{"DOB":"$D_642902400"}}'
    ]


def test_limits_each_give_their_reason() -> None:
    wide = {f"prop_{i}": [i, i] for i in range(300)}
    rows = pl.concat(
        [
            _rows(user=["a"], Note=["x" * 700]),
            _rows(user=["b"], **{"k" * 130: ["v"]}),
            _rows(user=["c", "c"], **wide).head(1),
        ],
        how="diagonal",
    ).with_columns(
        pl.int_range(3, dtype=pl.Int64).alias("_source_row"),
        pl.lit(1709284500).alias("ts"),
    )
    records = build_events(
        rows, identity="user", event_name_value="Wide", include=["*"]
    )

    result = _check(records)

    assert result.accepted.height == 0
    assert result.rejected.select("_source_row", "code", "reason").rows() == [
        (0, None, "value of 'Note' is 700 bytes (max 512)"),
        (1, None, "property key 'kkkkkkkkkkkkkkkkkkkk…' is 130 characters (max 120)"),
        (2, 522, "300 properties (max 100)"),
    ]


def test_frames_with_and_without_a_column_concatenate() -> None:
    seen = build_profiles(
        _rows(user=["a"], last_login=[datetime(2024, 3, 1, 9, 15)]),
        identity="user",
        properties={"Last Login": "last_login"},
    )
    unseen = build_profiles(
        _rows(user=["b"], last_login=[None]),
        identity="user",
        properties={"Last Login": "last_login"},
    )

    result = _check(pl.concat([seen, unseen], how="diagonal_relaxed"))

    assert _sent(result) == [
        '{"type":"profile","identity":"a",'
        '"profileData":{"Last Login":"$D_1709284500"}}',
        '{"type":"profile","identity":"b","profileData":{}}',
    ]


# ------------------------------------------------ through the record builder

_PACKED_HINT = ", digits that look like a shortened yyyyMMddHHmmss"
BUILT_TS = [
    # (case, ts column, millis setting, code, reason or None, accepted ts)
    ("ms converted", [1709284500000], "convert", None, None, 1709284500),
    ("µs converted", [1709284500000000], "convert", None, None, 1709284500),
    ("ms text converted", ["1709284500000"], "convert", None, None, 1709284500),
    (
        "ms rejected",
        [1709284500000],
        "reject",
        525,
        "ts 1709284500000 is in milliseconds (millis = reject)",
        None,
    ),
    (
        "µs rejected",
        [1709284500000000],
        "reject",
        525,
        "ts 1709284500000000 is in microseconds (millis = reject)",
        None,
    ),
    (
        "ms text rejected",
        [" 1709284500000"],
        "reject",
        525,
        "ts  1709284500000 is in milliseconds (millis = reject)",
        None,
    ),
    (
        "ms float rejected",
        [1709284500000.0],
        "reject",
        525,
        "ts 1709284500000.0 is in milliseconds (millis = reject)",
        None,
    ),
    ("seconds pass under reject", [1709284500], "reject", None, None, 1709284500),
    (
        "ISO text passes under reject",
        ["2024-03-01T09:15:00Z"],
        "reject",
        None,
        None,
        1709284500,
    ),
    (
        "NaN float",
        [float("nan"), 1709284500.0],
        "convert",
        525,
        "ts 'NaN' is not a time",
        None,
    ),
    ("infinite float", [float("inf")], "convert", 525, "ts 'inf' is not a time", None),
    (
        "text not a time",
        ["notatime"],
        "convert",
        525,
        "ts 'notatime' is not a time",
        None,
    ),
    ("blank text", ["  "], "convert", 525, "ts is missing", None),
    (
        "10-digit packed-looking integer",
        [2024030109],
        "convert",
        525,
        f"ts 2024030109 (2034-02-20 06:35 UTC{_PACKED_HINT}) is after 2024-06-02 00:00 UTC",
        None,
    ),
    (
        "10-digit packed-looking text",
        ["2024030109"],
        "convert",
        525,
        f"ts 2024030109 (2034-02-20 06:35 UTC{_PACKED_HINT}) is after 2024-06-02 00:00 UTC",
        None,
    ),
    (
        "ms in the future shows the value given",
        [4102444800000],
        "convert",
        525,
        "ts '4102444800000' read as 4102444800 (2100-01-01 00:00 UTC) "
        "is after 2024-06-02 00:00 UTC",
        None,
    ),
    (
        "float in the past shows the value given",
        [5.0],
        "convert",
        525,
        "ts '5.0' read as 5 (1970-01-01 00:00 UTC) is before 2000-01-01",
        None,
    ),
]


@pytest.mark.parametrize(
    ("ts", "millis", "code", "reason", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in BUILT_TS],
)
def test_built_ts_forms(
    ts: list[Any],
    millis: str,
    code: int | None,
    reason: str | None,
    expected: int | None,
) -> None:
    rows = _rows(user=["u-001"] * len(ts), at=ts)
    records = build_events(rows, identity="user", ts="at", event_name_value="Paid")

    result = _check(records, millis=millis)

    if reason is None:
        assert result.rejected.height == 0, result.rejected.get_column("reason")
        assert result.accepted.get_column("ts").to_list() == [expected]
    else:
        assert result.rejected.select("_source_row", "code", "reason").row(0) == (
            0,
            code,
            reason,
        )
        assert result.accepted.height + result.rejected.height == len(ts)


BUILT_IDENTITIES = [
    # (case, identity column, code, reason or None, identity sent)
    ("NaN float is missing", [float("nan")], 523, "identity is missing", None),
    ("whole float as an integer", [7421.0], None, None, "7421"),
    (
        "fraction refused",
        [7421.25],
        523,
        "identity 7421.25 is a float that is not a whole number below 2**53; "
        "identities must be text or whole numbers",
        None,
    ),
    (
        "float past 2**53 refused",
        [2.0**60],
        523,
        "identity 1.152921504606847e+18 is a float that is not a whole number below 2**53; "
        "identities must be text or whole numbers",
        None,
    ),
    (
        "boolean refused",
        [True],
        523,
        "identity true is a boolean; identities must be text or whole numbers",
        None,
    ),
    ("zero-width space is missing", ["\u200b"], 523, "identity is missing", None),
    ("leading zeros kept", ["007421"], None, None, "007421"),
    (
        "bytes that are not UTF-8",
        [b"\xff"],
        523,
        "identity is bytes that are not UTF-8 text",
        None,
    ),
    ("UTF-8 bytes", ["ü-1".encode()], None, None, "ü-1"),
]


@pytest.mark.parametrize(
    ("identity", "code", "reason", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in BUILT_IDENTITIES],
)
def test_built_identities(
    identity: list[Any], code: int | None, reason: str | None, expected: str | None
) -> None:
    rows = _rows(user=identity, ts=[1709284500])
    records = build_events(rows, identity="user", event_name_value="Paid")

    result = _check(records)

    if reason is None:
        assert result.accepted.get_column("identity").to_list() == [expected]
    else:
        assert result.rejected.select("code", "reason").row(0) == (code, reason)


def test_bad_values_set_one_record_aside_not_the_run() -> None:
    rows = _rows(
        user=["a", "b", "c"],
        Phone=[float("inf"), 9876543210.0, float("nan")],
        blob=[b"\xff\xfe", b"ok", None],
    )
    records = build_profiles(
        rows, identity="user", properties={"Phone": "Phone", "Blob": "blob"}
    )

    result = _check(records)

    assert _sent(result) == [
        '{"type":"profile","identity":"b","profileData":'
        '{"Phone":"+919876543210","Blob":"ok"}}'
    ]
    assert result.rejected.select("_source_row", "code", "reason").rows() == [
        (0, None, "value of 'Blob' holds bytes that are not UTF-8 text"),
        (2, 516, "Phone 'NaN' is not a valid phone number"),
    ]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([["A1", "B2"]], "'Items' of a Charged event must be a list of objects"),
        (['[{"sku": "A1"}]'], "'Items' of a Charged event must be a list of objects"),
        ([[]], "'Items' is an empty list"),
        ([[None]], "'Items' is an empty list"),
    ],
)
def test_charged_items_never_sent_as_text(items: list[Any], reason: str) -> None:
    rows = _rows(user=["u-001"], ts=[1709284500], Items=items)
    records = build_events(
        rows, identity="user", event_name_value="Charged", properties={"Items": "Items"}
    )

    result = _check(records)

    assert result.rejected.select("code", "reason").rows() == [(512, reason)]


# ------------------------------------------------ empty lists add nothing

EMPTY_LISTS = [
    # (case, property value, its type): each is left out of the record, as null is
    ("empty text list", [], pl.List(pl.String)),
    ("text list of nulls", [None, None], pl.List(pl.String)),
    ("empty number list", [], pl.List(pl.Int64)),
    ("untyped empty list", [], pl.List(pl.Null)),
    ("array of nulls", [None, None], pl.Array(pl.Int64, 2)),
    ("empty list of objects", [], pl.List(pl.Struct({"sku": pl.String}))),
    (
        "object holding only an empty list",
        {"tags": []},
        pl.Struct({"tags": pl.List(pl.String)}),
    ),
]


@pytest.mark.parametrize("policy", ["json", "flatten", "reject"])
@pytest.mark.parametrize(
    ("value", "dtype"), [pytest.param(*row[1:], id=row[0]) for row in EMPTY_LISTS]
)
def test_empty_event_list_is_left_out(policy: str, value: Any, dtype: Any) -> None:
    rows = _rows(
        user=["u-001"], ts=[1709284500], tags=pl.Series([value], dtype=dtype), n=[1]
    )
    records = build_events(
        rows,
        identity="user",
        event_name_value="Tagged",
        properties={"tags": "tags", "n": "n"},
    )

    result = _check(records, nested_events=policy)

    assert result.rejected.height == 0, result.rejected.get_column("reason")
    assert _sent(result) == [
        '{"type":"event","identity":"u-001","ts":1709284500,"evtName":"Tagged",'
        '"evtData":{"n":1}}'
    ]


@pytest.mark.parametrize("policy", ["json", "flatten", "reject", "keep"])
@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        *(pytest.param(*row[1:], id=row[0]) for row in EMPTY_LISTS),
        pytest.param(
            {"$add": []},
            pl.Struct({"$add": pl.List(pl.String)}),
            id="command adding an empty list",
        ),
    ],
)
def test_empty_profile_list_is_left_out(policy: str, value: Any, dtype: Any) -> None:
    rows = _rows(user=["u-001"], tags=pl.Series([value], dtype=dtype), plan=["Gold"])
    records = build_profiles(
        rows, identity="user", properties={"tags": "tags", "Plan": "plan"}
    )

    result = _check(records, nested_profiles=policy)

    assert result.rejected.height == 0, result.rejected.get_column("reason")
    assert _sent(result) == [
        '{"type":"profile","identity":"u-001","profileData":{"Plan":"Gold"}}'
    ]


def test_empty_items_refused_on_charged_left_out_elsewhere() -> None:
    items = pl.Series(
        [[{"sku": "A1"}], [], []], dtype=pl.List(pl.Struct({"sku": pl.String}))
    )
    rows = _rows(
        user=["a", "b", "c"],
        ts=[1709284500] * 3,
        name=["Charged", "Charged", "Viewed"],
        Items=items,
    )
    records = build_events(
        rows, identity="user", event_name="name", properties={"Items": "Items"}
    )

    result = _check(records)

    assert _sent(result) == [
        '{"type":"event","identity":"a","ts":1709284500,"evtName":"Charged",'
        '"evtData":{"Items":[{"sku":"A1"}]}}',
        '{"type":"event","identity":"c","ts":1709284500,"evtName":"Viewed",'
        '"evtData":{}}',
    ]
    assert result.rejected.select("_source_row", "code", "reason").rows() == [
        (1, 512, "'Items' is an empty list")
    ]


# ---------------------------------------------------------------- property-based


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nulls(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_nulls(v) for v in value.values())
    if isinstance(value, list):
        return any(_nulls(v) for v in value)
    return False


_TEXT = st.one_of(st.just(""), st.just("  "), st.text(max_size=12))
_COLUMNS = {
    "text": (pl.String, _TEXT),
    "int": (pl.Int64, st.integers(-(2**62), 2**62)),
    "float": (pl.Float64, st.floats(allow_nan=True, allow_infinity=True)),
    "bool": (pl.Boolean, st.booleans()),
    "date": (pl.Date, st.dates(date(1900, 1, 1), date(2999, 12, 31))),
    "nested": (
        pl.Struct({"a": pl.String, "b": pl.Float64}),
        st.fixed_dictionaries({"a": st.none() | _TEXT, "b": st.none() | st.floats()}),
    ),
}
_TS = st.none() | st.sampled_from(
    [0, 946684800, 1709284500, 1709284500000, 20240301091500, 253402300799, 2**62]
)
_NAMES = st.none() | st.sampled_from(
    ["Plan Renewed", "App Launched", "", "a.b", "Charged"]
)


@st.composite
def record_frames(draw: st.DrawFn) -> pl.DataFrame:
    """A record frame of random kind, types and values, some of them invalid."""
    size = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(list(_COLUMNS)), min_size=0, max_size=4))
    data = {}
    for i, kind in enumerate(kinds):
        dtype, values = _COLUMNS[kind]
        cells = draw(st.lists(st.none() | values, min_size=size, max_size=size))
        data[f"Prop {i} {kind}"] = pl.Series(cells, dtype=dtype)
    record = "event" if draw(st.booleans()) else "profile"
    column = "evtData" if record == "event" else "profileData"
    frame = pl.DataFrame(
        {
            "type": [record] * size,
            "identity": draw(st.lists(st.none() | _TEXT, min_size=size, max_size=size)),
            "ts": pl.Series(
                draw(st.lists(_TS, min_size=size, max_size=size)), dtype=pl.Int64
            ),
            "evtName": draw(st.lists(_NAMES, min_size=size, max_size=size)),
            "_source_row": pl.int_range(size, eager=True),
        }
    )
    struct = (
        pl.DataFrame(data).to_struct(column) if data else pl.Series(column, [{}] * size)
    )
    return frame.with_columns(struct)


@settings(max_examples=60, deadline=None)
@given(
    frame=record_frames(),
    events=st.sampled_from(["json", "flatten", "reject"]),
    profiles=st.sampled_from(["json", "flatten", "reject"]),
    non_finite=st.sampled_from(["drop", "reject"]),
)
def test_every_row_lands_once_and_accepted_json_is_strict(
    frame: pl.DataFrame, events: str, profiles: str, non_finite: str
) -> None:
    result = _check(
        frame, nested_events=events, nested_profiles=profiles, non_finite=non_finite
    )

    rows = [
        *result.accepted.get_column("_source_row"),
        *result.rejected.get_column("_source_row"),
    ]
    assert sorted(rows) == list(range(frame.height))
    # A rejection always says why.
    reasons = result.rejected.get_column("reason")
    assert reasons.null_count() == 0
    assert (reasons.str.strip_chars() != "").all(), reasons
    for text in [*_sent(result), *result.rejected.get_column("record")]:
        record = json.loads(text, parse_constant=_no_constants)
        assert isinstance(record, dict)
    for text in _sent(result):
        assert not _nulls(json.loads(text)), text
