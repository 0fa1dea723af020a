"""Pre-flight validation: each rule as table rows, on one-record frames."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from ctjobs.errors import UsageError
from ctjobs.job.spec import ValidationSpec
from ctjobs.records.frame import REJECTION_SCHEMA
from ctjobs.records.phones import to_e164
from ctjobs.records.validate import Validated, validate

NOW = datetime(2024, 6, 1, tzinfo=UTC)
TS = 1_709_284_500  # 2024-03-01 09:15:00 UTC
LONG_KEY = "k" * 130


def _frame(kind: str, data: dict[str, Any] | None, **top: Any) -> pl.DataFrame:
    """A one-record frame; `top` overrides the top-level fields."""
    row: dict[str, Any] = {"type": kind, "identity": "u-001", "ts": TS}
    if kind == "event":
        row["evtName"] = "Plan Renewed"
    row.update(top)
    column = "evtData" if kind == "event" else "profileData"
    frame = pl.DataFrame([row]).with_columns(
        pl.lit("in.csv").alias("_source_file"),
        pl.lit(0).cast(pl.Int64).alias("_source_row"),
    )
    if data is not None:
        frame = frame.with_columns(pl.DataFrame([data]).to_struct(column))
    return frame


def _event(data: dict[str, Any] | None = None, **top: Any) -> pl.DataFrame:
    return _frame("event", {"Plan": "Gold"} if data is None else data, **top)


def _profile(data: dict[str, Any], **top: Any) -> pl.DataFrame:
    return _frame("profile", data, **top)


def _run(frame: pl.DataFrame, **spec: Any) -> Validated:
    return validate(frame, ValidationSpec(**spec), now=NOW)


REJECTED = [
    # (case, frame, spec, code, reason)
    ("no identity", _event(identity=None), {}, 523, "identity is missing"),
    ("blank identity", _event(identity="   "), {}, 523, "identity is missing"),
    (
        "identity too long",
        _event(identity="x" * 1025),
        {},
        523,
        "identity is 1025 characters (max 1024)",
    ),
    (
        "identity over a tighter limit",
        _event(identity="x" * 121),
        {"identity_max_length": 120},
        523,
        "identity is 121 characters (max 120)",
    ),
    (
        "objectId with spaces",
        _event(identity=None, objectId="__g 123"),
        {},
        526,
        "objectId contains spaces",
    ),
    (
        "bad type",
        _event(type="evnt"),
        {},
        524,
        "type 'evnt' is neither event nor profile",
    ),
    ("event without ts", _event(ts=None), {}, 525, "ts is missing"),
    (
        "ts before the minimum",
        _event(ts=946_684_799),
        {},
        525,
        "ts 946684799 (1999-12-31 23:59 UTC) is before 2000-01-01",
    ),
    (
        "ts before a later minimum",
        _event(),
        {"ts_min": "2024-03-02"},
        525,
        f"ts {TS} (2024-03-01 09:15 UTC) is before 2024-03-02",
    ),
    (
        "ts in the future",
        _event(ts=1_717_300_000),
        {},
        525,
        "ts 1717300000 (2024-06-02 03:46 UTC) is after 2024-06-02 00:00 UTC",
    ),
    (
        "year-9999 placeholder",
        _event(ts=253_402_300_799),
        {},
        525,
        "ts 253402300799 is a year-9999 placeholder",
    ),
    (
        "year-9999 placeholder in milliseconds",
        _event(ts=253_402_300_799_000),
        {},
        525,
        "ts 253402300799000 is a year-9999 placeholder",
    ),
    (
        "milliseconds under reject",
        _event(ts=TS * 1000),
        {"millis": "reject"},
        525,
        "ts 1709284500000 is in milliseconds (millis = reject)",
    ),
    (
        "packed digits are not seconds",
        _event(ts=20_240_301_091_500),
        {},
        525,
        "ts 20240301091500 is after 2024-06-02 00:00 UTC",
    ),
    (
        "text ts that is not a time",
        _event(ts="soon"),
        {},
        525,
        "ts 'soon' is not a time",
    ),
    ("no event name", _event(evtName=None), {}, 509, "evtName is missing"),
    ("blank event name", _event(evtName="  "), {}, 509, "evtName is missing"),
    (
        "system event",
        _event(evtName="App Launched"),
        {},
        513,
        "event 'App Launched' is a CleverTap system event",
    ),
    (
        "system event, other case and spaces",
        _event(evtName="app  LAUNCHED"),
        {},
        513,
        "event 'app  LAUNCHED' is a CleverTap system event",
    ),
    (
        "system event without spaces",
        _event(evtName="NotificationViewed"),
        {},
        513,
        "event 'NotificationViewed' is a CleverTap system event",
    ),
    (
        "banned character in event name",
        _event(evtName="Plan.Renewed"),
        {},
        None,
        "event name 'Plan.Renewed' has a banned character",
    ),
    (
        "discarded event",
        _event(evtName="old  event"),
        {"discarded_events": ["Old Event"]},
        528,
        "event 'old  event' is discarded",
    ),
    (
        "nested event value under reject",
        _event({"address": {"city": "Pune"}}),
        {"nested_events": "reject"},
        512,
        "'address' is nested (nested_events = reject)",
    ),
    (
        "list event value under reject",
        _event({"tags": ["a", "b"]}),
        {"nested_events": "reject"},
        512,
        "'tags' is nested (nested_events = reject)",
    ),
    (
        "too many Charged items",
        _event({"Items": [{"sku": "A1"}] * 257}, evtName="Charged"),
        {},
        None,
        "'Items' has 257 entries (max 256)",
    ),
    (
        "long key",
        _event({LONG_KEY: "x"}),
        {},
        None,
        "property key 'kkkkkkkkkkkkkkkkkkkk…' is 130 characters (max 120)",
    ),
    (
        "banned character in key",
        _event({"a:b": "x"}),
        {},
        None,
        "property key 'a:b' has banned character :",
    ),
    (
        "long value",
        _event({"Note": "é" * 350}),
        {},
        None,
        "value of 'Note' is 700 bytes (max 512)",
    ),
    (
        "long value inside Items",
        _event({"Items": [{"sku": "s" * 600}]}, evtName="Charged"),
        {},
        None,
        "a string in 'Items' is 600 bytes (max 512)",
    ),
    (
        "JSON-encoded value too long",
        _event({"address": {"line": "x" * 600}}),
        {},
        None,
        "value of 'address' is 611 bytes (max 512)",
    ),
    (
        "too many event properties",
        _event({f"p{i}": i for i in range(101)}),
        {},
        522,
        "101 properties (max 100)",
    ),
    (
        "too many under a lower limit",
        _event({f"p{i}": i for i in range(11)}),
        {"max_event_properties": 10},
        522,
        "11 properties (max 10)",
    ),
    (
        "NaN under reject",
        _event({"score": float("nan")}),
        {"non_finite": "reject"},
        None,
        "value of 'score' is not a finite number",
    ),
    (
        "infinity inside a struct under reject",
        _event({"m": {"x": float("inf")}}),
        {"non_finite": "reject"},
        None,
        "value of 'm' is not a finite number",
    ),
    (
        "malformed date",
        _event({"When": "$D_soon"}),
        {},
        None,
        "value of 'When' is not a $D_<epoch seconds> date",
    ),
    (
        "profile ts implausible",
        _profile({"Name": "A"}, ts=5),
        {},
        525,
        "ts 5 (1970-01-01 00:00 UTC) is before 2000-01-01",
    ),
    (
        "bad phone",
        _profile({"Phone": "600111"}),
        {},
        516,
        "Phone '600111' is not a valid phone number",
    ),
    (
        "bad email",
        _profile({"Email": "ana@"}),
        {},
        515,
        "Email 'ana@' is not a valid email address",
    ),
    (
        "email with a space",
        _profile({"Email": "a b@c.de"}),
        {},
        515,
        "Email 'a b@c.de' is not a valid email address",
    ),
    ("bad gender", _profile({"Gender": "x"}), {}, 514, "Gender 'x' is not M or F"),
    (
        "bad employed",
        _profile({"Employed": "maybe"}),
        {},
        517,
        "Employed 'maybe' is not Y or N",
    ),
    ("bad married", _profile({"Married": "2"}), {}, 519, "Married '2' is not Y or N"),
    (
        "bad education",
        _profile({"Education": "PhD"}),
        {},
        518,
        "Education 'PhD' is not School, College or Graduate",
    ),
    (
        "fractional age",
        _profile({"Age": "3.5"}),
        {},
        520,
        "Age '3.5' is not a whole number",
    ),
    ("negative age", _profile({"Age": -1}), {}, 520, "Age '-1' is not a whole number"),
    ("text age", _profile({"Age": "old"}), {}, 520, "Age 'old' is not a whole number"),
    (
        "messaging preference",
        _profile({"MSG-sms": "maybe"}),
        {},
        None,
        "MSG-sms 'maybe' is not true or false",
    ),
    (
        "hash in a profile key",
        _profile({"Tier#": "Gold"}),
        {},
        None,
        "property key 'Tier#' has banned character #",
    ),
    (
        "too many profile properties",
        _profile({f"p{i}": i for i in range(257)}),
        {},
        None,
        "257 properties (max 256)",
    ),
    (
        "nested profile value under reject",
        _profile({"address": {"city": "Pune"}}),
        {"nested_profiles": "reject"},
        None,
        "'address' is nested (nested_profiles = reject)",
    ),
    (
        "objectId over its length limit",
        _event(identity=None, objectId="g" * 65),
        {},
        526,
        "objectId is 65 characters (max 64)",
    ),
    (
        "objectId over a configured limit",
        _event(identity=None, objectId="g" * 11),
        {"object_id_max_length": 10},
        526,
        "objectId is 11 characters (max 10)",
    ),
    (
        "objectId with a character CleverTap IDs do not use",
        _event(identity=None, objectId="__g#1"),
        {},
        526,
        "objectId '__g#1' has a character outside [A-Za-z0-9_\\-:@$!()]",
    ),
    (
        "objectId with a zero-width space inside",
        _event(identity=None, objectId="__g\u200b1"),
        {},
        526,
        "objectId '__g\u200b1' has a character outside [A-Za-z0-9_\\-:@$!()]",
    ),
    (
        "identity a boolean",
        _event(identity=True),
        {},
        523,
        "identity true is a boolean; identities must be text or whole numbers",
    ),
    (
        "identity a fraction",
        _event(identity=7421.5),
        {},
        523,
        "identity 7421.5 is a float that is not a whole number below 2**53; "
        "identities must be text or whole numbers",
    ),
    (
        "identity an infinity",
        _event(identity=float("inf")),
        {},
        523,
        "identity inf is a float that is not a whole number below 2**53; "
        "identities must be text or whole numbers",
    ),
    (
        "identity NaN is missing",
        _event(identity=float("nan")),
        {},
        523,
        "identity is missing",
    ),
    (
        "identity a date",
        _event(identity=datetime(2024, 3, 1).date()),
        {},
        523,
        "identity is a Date value; identities must be text or whole numbers",
    ),
    (
        "FBID a boolean",
        _event(identity=None, FBID=False),
        {},
        523,
        "FBID false is a boolean; identities must be text or whole numbers",
    ),
    (
        "identity a zero-width space",
        _event(identity="\u200b"),
        {},
        523,
        "identity is missing",
    ),
    (
        "identity only invisible characters",
        _event(identity="\ufeff\u00a0\u2060 \u200d"),
        {},
        523,
        "identity is missing",
    ),
    ("ts NaN", _event(ts=float("nan")), {}, 525, "ts 'NaN' is not a time"),
    ("empty event key", _event({"": "x"}), {}, 512, "property key '' is empty"),
    ("all-space event key", _event({"  ": "x"}), {}, 512, "property key '  ' is empty"),
    ("empty profile key", _profile({" ": "x"}), {}, 512, "property key ' ' is empty"),
    (
        "Items of text on Charged",
        _event({"Items": '[{"sku":"A1"}]'}, evtName="Charged"),
        {},
        512,
        "'Items' of a Charged event must be a list of objects",
    ),
    (
        "Items of strings on Charged",
        _event({"Items": ["A1", "B2"]}, evtName="Charged"),
        {},
        512,
        "'Items' of a Charged event must be a list of objects",
    ),
    (
        "Items one object, not a list, on Charged",
        _event({"Items": {"sku": "A1"}}, evtName="Charged"),
        {"nested_events": "flatten"},
        512,
        "'Items' of a Charged event must be a list of objects",
    ),
    (
        "Items an empty list on Charged",
        _event({"Items": []}, evtName="Charged"),
        {},
        512,
        "'Items' is an empty list",
    ),
    (
        "Items key with a banned character",
        _event({"Items": [{"a:b": 1}]}, evtName="Charged"),
        {},
        None,
        "'Items' key 'a:b' has banned character :",
    ),
    (
        "Items key too long",
        _event({"Items": [{LONG_KEY: 1}]}, evtName="Charged"),
        {},
        None,
        "'Items' key 'kkkkkkkkkkkkkkkkkkkk…' is 130 characters (max 120)",
    ),
    (
        "Items key empty",
        _event({"Items": [{"": 1}]}, evtName="Charged"),
        {},
        512,
        "'Items' key '' is empty",
    ),
    (
        "Items entry with a nested value",
        _event({"Items": [{"sku": "A1", "opts": {"size": "L"}}]}, evtName="Charged"),
        {},
        512,
        "'Items' key 'opts' holds a nested value",
    ),
    (
        "Items entry with a list",
        _event({"Items": [{"sku": "A1", "tags": ["x"]}]}, evtName="Charged"),
        {},
        512,
        "'Items' key 'tags' holds a nested value",
    ),
    (
        "Items entry with too many keys",
        _event({"Items": [{"a": 1, "b": 2, "c": 3}]}, evtName="Charged"),
        {"max_item_properties": 2},
        None,
        "an 'Items' entry has 3 keys (max 2)",
    ),
    (
        "malformed date inside Items",
        _event({"Items": [{"when": "$D_soon"}]}, evtName="Charged"),
        {},
        None,
        "a string in 'Items' is not a $D_<epoch seconds> date",
    ),
    (
        "undocumented profile command",
        _profile({"Score": {"$foo": 1}}),
        {},
        512,
        "'Score' has command '$foo' (not one of $add, $remove, $set, $delete)",
    ),
    (
        "$incr without the setting",
        _profile({"Visits": {"$incr": 1}}),
        {},
        512,
        "'Visits' has command '$incr' (allow_incr_decr = false: unconfirmed for uploads)",
    ),
    (
        "two commands on one key",
        _profile({"Tags": {"$add": ["a"], "$remove": ["b"]}}),
        {},
        512,
        "'Tags' has 2 commands (one per key)",
    ),
    (
        "command with a nested operand",
        _profile({"Tags": {"$set": {"a": 1}}}),
        {},
        512,
        "'Tags' $set must be a value or a list of text",
    ),
    (
        "multi-value over the item limit",
        _profile({"Tags": [f"t{i}" for i in range(101)]}),
        {},
        None,
        "'Tags' has 101 values (max 100)",
    ),
    (
        "multi-value with duplicates",
        _profile({"Tags": ["a", "b", "a"]}),
        {},
        None,
        "'Tags' has duplicate values (multi-value lists hold unique values)",
    ),
    (
        "command operand with duplicates",
        _profile({"Tags": {"$add": ["a", "a"]}}),
        {},
        None,
        "'Tags' $add has duplicate values (multi-value lists hold unique values)",
    ),
    (
        "malformed date in a multi-value list",
        _profile({"Tags": ["$D_x"]}),
        {},
        None,
        "a string in 'Tags' is not a $D_<epoch seconds> date",
    ),
    (
        "phone an infinity",
        _profile({"Phone": float("inf")}),
        {},
        516,
        "Phone 'inf' is not a valid phone number",
    ),
    (
        "age an infinity",
        _profile({"Age": float("inf")}),
        {},
        520,
        "Age 'inf' is not a whole number",
    ),
    (
        "bytes that are not UTF-8",
        _event({"b": b"\xff\xfe"}),
        {},
        None,
        "value of 'b' holds bytes that are not UTF-8 text",
    ),
    (
        "identity first, then ts",
        _event(identity=None, ts=None),
        {},
        523,
        "identity is missing",
    ),
]


@pytest.mark.parametrize(
    ("frame", "spec", "code", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in REJECTED],
)
def test_rejected(
    frame: pl.DataFrame, spec: dict[str, Any], code: int | None, reason: str
) -> None:
    result = _run(frame, **spec)

    assert result.accepted.height == 0
    assert result.rejected.select("code", "reason").row(0) == (code, reason)


ACCEPTED = [
    # (case, frame, spec, column, field or None, expected value)
    ("identity stripped", _event(identity="  u-001 "), {}, "identity", None, "u-001"),
    (
        "objectId alone",
        _event(identity=None, objectId="__g123"),
        {},
        "objectId",
        None,
        "__g123",
    ),
    ("milliseconds converted", _event(ts=TS * 1000 + 999), {}, "ts", None, TS),
    ("ts on the minimum", _event(ts=946_684_800), {}, "ts", None, 946_684_800),
    (
        "missing ts allowed",
        _event(ts=None),
        {"allow_missing_ts": True},
        "ts",
        None,
        None,
    ),
    ("profile without ts", _profile({"Name": "A"}, ts=None), {}, "ts", None, None),
    ("ISO text ts read", _event(ts="2024-03-01T09:15:00Z"), {}, "ts", None, TS),
    (
        "datetime ts read",
        _event(ts=datetime(2024, 3, 1, 9, 15, tzinfo=UTC)),
        {},
        "ts",
        None,
        TS,
    ),
    (
        "discarded name differs",
        _event(evtName="Old Events"),
        {"discarded_events": ["Old Event"]},
        "evtName",
        None,
        "Old Events",
    ),
    (
        "100 properties",
        _event({f"p{i}": i for i in range(100)}),
        {},
        "evtData",
        "p99",
        99,
    ),
    ("512-byte value", _event({"Note": "x" * 512}), {}, "evtData", "Note", "x" * 512),
    ("120-character key", _event({"k" * 120: 1}), {}, "evtData", "k" * 120, 1),
    (
        "date passes",
        _event({"When": "$D_1709284500"}),
        {},
        "evtData",
        "When",
        "$D_1709284500",
    ),
    (
        "date value converted",
        _event({"When": datetime(2024, 3, 1, 9, 15)}),
        {},
        "evtData",
        "When",
        "$D_1709284500",
    ),
    (
        "NaN dropped",
        _event({"score": float("nan"), "Plan": "Gold"}),
        {},
        "evtData",
        "score",
        None,
    ),
    (
        "struct JSON-encoded",
        _event({"address": {"city": "Pune"}}),
        {},
        "evtData",
        "address",
        '{"city":"Pune"}',
    ),
    (
        "list JSON-encoded",
        _event({"tags": ["a", "b"]}),
        {},
        "evtData",
        "tags",
        '["a","b"]',
    ),
    (
        "struct flattened",
        _event({"address": {"city": "Pune"}}),
        {"nested_events": "flatten"},
        "evtData",
        "address_city",
        "Pune",
    ),
    (
        "deep struct flattened",
        _event({"a": {"b": {"c": 1}}}),
        {"nested_events": "flatten"},
        "evtData",
        "a_b_c",
        1,
    ),
    (
        "Charged keeps Items",
        _event({"Items": [{"sku": "A1", "qty": 2}]}, evtName="Charged"),
        {},
        "evtData",
        "Items",
        [{"sku": "A1", "qty": 2}],
    ),
    (
        "Items elsewhere JSON-encoded",
        _event({"Items": [{"sku": "A1"}]}, evtName="Order Placed"),
        {},
        "evtData",
        "Items",
        '[{"sku":"A1"}]',
    ),
    (
        "phone national",
        _profile({"Phone": "098765 43210"}),
        {},
        "profileData",
        "Phone",
        "+919876543210",
    ),
    (
        "phone as a number",
        _profile({"Phone": 9876543210}),
        {},
        "profileData",
        "Phone",
        "+919876543210",
    ),
    (
        "phone other country",
        _profile({"Phone": "600 111 222"}),
        {"default_country": "ES"},
        "profileData",
        "Phone",
        "+34600111222",
    ),
    (
        "phone international",
        _profile({"Phone": "+34 600 111 222"}),
        {},
        "profileData",
        "Phone",
        "+34600111222",
    ),
    (
        "email trimmed",
        _profile({"Email": " ana@example.org "}),
        {},
        "profileData",
        "Email",
        "ana@example.org",
    ),
    ("gender male", _profile({"Gender": "Male"}), {}, "profileData", "Gender", "M"),
    ("gender woman", _profile({"Gender": "woman"}), {}, "profileData", "Gender", "F"),
    ("gender f", _profile({"Gender": "f"}), {}, "profileData", "Gender", "F"),
    ("employed bool", _profile({"Employed": True}), {}, "profileData", "Employed", "Y"),
    ("employed no", _profile({"Employed": "no"}), {}, "profileData", "Employed", "N"),
    ("married 1", _profile({"Married": 1}), {}, "profileData", "Married", "Y"),
    (
        "education case",
        _profile({"Education": "college"}),
        {},
        "profileData",
        "Education",
        "College",
    ),
    ("age text", _profile({"Age": " 34 "}), {}, "profileData", "Age", 34),
    ("age float", _profile({"Age": 34.0}), {}, "profileData", "Age", 34),
    (
        "messaging text",
        _profile({"MSG-email": "false"}),
        {},
        "profileData",
        "MSG-email",
        False,
    ),
    (
        "messaging number",
        _profile({"MSG-whatsapp": 1}),
        {},
        "profileData",
        "MSG-whatsapp",
        True,
    ),
    (
        "messaging dnd",
        _profile({"MSG-dndSMS": "yes"}),
        {},
        "profileData",
        "MSG-dndSMS",
        True,
    ),
    (
        "blank built-in is absent",
        _profile({"Email": "", "Name": "A"}),
        {},
        "profileData",
        "Email",
        None,
    ),
    (
        "profile DOB",
        _profile({"DOB": "$D_642902400"}),
        {},
        "profileData",
        "DOB",
        "$D_642902400",
    ),
    (
        "profile struct kept",
        _profile({"address": {"city": "Pune"}}),
        {"nested_profiles": "keep"},
        "profileData",
        "address",
        {"city": "Pune"},
    ),
    (
        "profile command kept",
        _profile({"Interests": {"$add": ["books"]}}),
        {},
        "profileData",
        "Interests",
        {"$add": ["books"]},
    ),
    (
        "objectId with the symbols CleverTap IDs use",
        _event(identity=None, objectId="-g:ab@c$!(1)_"),
        {},
        "objectId",
        None,
        "-g:ab@c$!(1)_",
    ),
    ("identity a whole float", _event(identity=7421.0), {}, "identity", None, "7421"),
    ("identity an integer", _event(identity=7421), {}, "identity", None, "7421"),
    (
        "identity without invisible ends",
        _event(identity="\u200b u-001\u00a0\ufeff"),
        {},
        "identity",
        None,
        "u-001",
    ),
    (
        "$incr under the setting",
        _profile({"Visits": {"$incr": 1}}),
        {"allow_incr_decr": True},
        "profileData",
        "Visits",
        {"$incr": 1},
    ),
    (
        "empty command left out",
        _profile({"Tags": {"$add": None}, "Name": "A"}),
        {},
        "profileData",
        "Tags",
        None,
    ),
    (
        "100 multi-values",
        _profile({"Tags": [f"t{i}" for i in range(100)]}),
        {},
        "profileData",
        "Tags",
        [f"t{i}" for i in range(100)],
    ),
    ("UTF-8 bytes as text", _event({"b": "é".encode()}), {}, "evtData", "b", "é"),
    (
        "multi-value kept",
        _profile({"Interests": ["books", None]}),
        {},
        "profileData",
        "Interests",
        ["books"],
    ),
]


@pytest.mark.parametrize(
    ("frame", "spec", "column", "name", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ACCEPTED],
)
def test_accepted(
    frame: pl.DataFrame,
    spec: dict[str, Any],
    column: str,
    name: str | None,
    expected: Any,
) -> None:
    result = _run(frame, **spec)

    assert result.rejected.height == 0, result.rejected.get_column("reason").to_list()
    value = result.accepted.get_column(column)
    if name is not None:
        value = value.struct.field(name)
    assert value.to_list() == [expected]


def test_every_row_lands_once_with_provenance() -> None:
    frame = pl.concat(
        [_event(), _event(identity=None), _event(evtName="App Launched")],
        how="vertical",
    ).with_columns(pl.int_range(3).cast(pl.Int64).alias("_source_row"))

    result = _run(frame)

    assert result.accepted.get_column("_source_row").to_list() == [0]
    assert result.rejected.get_column("_source_row").to_list() == [1, 2]
    assert result.rejected.schema == pl.Schema(REJECTION_SCHEMA)
    assert result.accepted.columns == frame.columns


def test_rejected_record_is_the_json_as_given() -> None:
    result = _run(_event(identity=" ", data={"Plan": "Gold", "score": float("nan")}))

    assert result.rejected.get_column("record").item() == (
        '{"type":"event","identity":" ","ts":1709284500,"evtName":"Plan Renewed",'
        '"evtData":{"Plan":"Gold"}}'
    )


def test_dropped_counts_only_accepted_records() -> None:
    frame = pl.concat(
        [
            _event({"score": float("nan"), "m": float("inf")}),
            _event({"score": float("-inf"), "m": 1.0}, identity=None),
        ]
    )

    result = _run(frame)

    assert result.dropped == {"non-finite number": 2}
    assert result.accepted.get_column("evtData").struct.field("m").to_list() == [None]


def test_mixed_kinds_in_one_frame() -> None:
    frame = pl.concat(
        [_event(), _profile({"Gender": "male"}, ts=None), _profile({"Gender": "?"})],
        how="diagonal_relaxed",
    )

    result = _run(frame)

    assert result.accepted.get_column("type").to_list() == ["event", "profile"]
    assert result.rejected.get_column("code").to_list() == [514]


def test_items_beside_charged_events_are_refused_elsewhere() -> None:
    # Items stays a list when a Charged event carries it, so other events cannot
    # have it JSON-encoded in the same frame.
    frame = pl.concat(
        [
            _event({"Items": [{"sku": "A1"}]}, evtName="Charged"),
            _event({"Items": [{"sku": "A1"}]}, evtName="Order Placed"),
        ]
    )

    result = _run(frame)

    assert result.accepted.get_column("evtName").to_list() == ["Charged"]
    assert result.rejected.select("code", "reason").row(0) == (
        512,
        "'Items' is allowed only on Charged events",
    )


def test_lazy_input_and_default_rules() -> None:
    result = validate(_event().lazy())

    assert result.accepted.height == 1


def test_no_type_column_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no `type` column"):
        validate(pl.DataFrame({"identity": ["u"]}))


def test_empty_frame() -> None:
    result = _run(_event().clear())

    assert (result.accepted.height, result.rejected.height, result.dropped) == (
        0,
        0,
        {},
    )


@pytest.mark.parametrize(
    ("text", "country", "expected"),
    [
        ("098765 43210", "IN", "+919876543210"),
        ("919876543210", "IN", "+919876543210"),
        ("+1 202 555 0143", "IN", "+12025550143"),
        ("600111", "ES", None),
        ("not a phone", "IN", None),
    ],
)
def test_to_e164(text: str, country: str, expected: str | None) -> None:
    assert to_e164(text, country) == expected
