"""The sandbox's own record checks, called directly (no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ctjobs.sandbox.answers import batch_status, upload_body
from ctjobs.sandbox.validation import (
    MalformedBatch,
    RecordRules,
    check_batch,
    check_record,
    parse_batch,
)

RULES = RecordRules.build(
    max_event_properties=100,
    identity_max_length=1024,
    discarded_events=["Old Checkout"],
)


def event(**changes: Any) -> dict[str, Any]:
    """A valid event record, with fields replaced or removed (value None)."""
    record: dict[str, Any] = {
        "type": "event",
        "identity": "cust-1",
        "ts": 1735689600,
        "evtName": "Subscription Renewed",
        "evtData": {"Plan": "Annual", "Amount": 119.0, "Renewal": "$D_1735689600"},
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


def profile(**data: Any) -> dict[str, Any]:
    """A valid profile record with extra profileData entries."""
    return {
        "type": "profile",
        "identity": "cust-1",
        "profileData": {"Name": "Ana Ruiz", **data},
    }


VALID_RECORDS = [
    pytest.param(event(), id="event"),
    pytest.param(
        event(identity=None, objectId="__g3f1c0b2a9e8d47c6b5a4f"), id="objectId"
    ),
    pytest.param(event(identity=None, FBID="1234567"), id="FBID"),
    pytest.param(event(identity=None, GPID="g-77"), id="GPID"),
    pytest.param(event(identity=80412), id="integer identity"),
    pytest.param(event(ts=None), id="no ts"),
    pytest.param(event(evtData={}), id="no properties"),
    pytest.param(event(evtData={"Note": None, "Ok": True, "N": 3}), id="scalars"),
    pytest.param(
        event(evtName="Charged", evtData={"Amount": 5, "Items": [{"Sku": "A-1"}]}),
        id="Charged with Items",
    ),
    pytest.param(event(evtData={f"p{i}": i for i in range(100)}), id="100 props"),
    pytest.param(event(evtData={"k" * 120: "v" * 512}), id="longest key, value"),
    pytest.param(event(evtName="Liked, very much (2)"), id="punctuation allowed"),
    pytest.param(
        profile(
            Email="ana.ruiz@example.org",
            Phone="+34600111222",
            Gender="F",
            Employed="Y",
            Education="graduate",
            Married="N",
            Age=41,
            DOB="$D_1487576752",
        ),
        id="built-in profile keys",
    ),
    pytest.param(profile(Age="41"), id="age as digits"),
    pytest.param(profile(Interests={"$add": ["running", "books"]}), id="$add"),
    pytest.param(profile(Interests=["running", "books"]), id="multi-value"),
    pytest.param(profile(**{"MSG-sms": False}), id="messaging preference"),
]


@pytest.mark.parametrize("record", VALID_RECORDS)
def test_valid_record_passes(record: dict[str, Any]) -> None:
    assert check_record(record, RULES) is None


INVALID_RECORDS = [
    # code 509: event name missing
    pytest.param(event(evtName=None), 509, id="509 no evtName"),
    pytest.param(event(evtName="  "), 509, id="509 blank evtName"),
    pytest.param(event(evtName=12), 509, id="509 evtName not text"),
    # code 512: nested or malformed structure
    pytest.param(event(evtData={"a": {"b": 1}}), 512, id="512 nested object"),
    pytest.param(event(evtData={"a": [1, 2]}), 512, id="512 nested list"),
    pytest.param(event(evtData={"Items": [{"a": 1}]}), 512, id="512 Items not Charged"),
    pytest.param(
        event(evtName="Charged", evtData={"Items": {"a": 1}}), 512, id="512 Items dict"
    ),
    pytest.param(
        event(evtName="Charged", evtData={"Items": ["a"]}), 512, id="512 Items scalars"
    ),
    pytest.param(
        event(evtName="Charged", evtData={"Items": [{"a": {"b": 1}}]}),
        512,
        id="512 Items nested",
    ),
    pytest.param(
        event(evtName="Charged", evtData={"Items": [{"a": 1}] * 257}),
        512,
        id="512 257 Items",
    ),
    pytest.param(event(evtData=None), 512, id="512 no evtData"),
    pytest.param(event(evtData=[1]), 512, id="512 evtData list"),
    pytest.param(event(evtData={"a.b": 1}), 512, id="512 dot in property"),
    pytest.param(event(evtData={"a$": 1}), 512, id="512 dollar in property"),
    pytest.param(event(evtName="Buy|Now"), 512, id="512 pipe in event name"),
    pytest.param(event(evtData={"When": "$D_soon"}), 512, id="512 bad date"),
    pytest.param(profile(Tier={"level": 2}), 512, id="512 profile nested"),
    pytest.param(profile(**{"Tier#": 2}), 512, id="512 hash in profile key"),
    pytest.param({"type": "profile", "identity": "x"}, 512, id="512 no profileData"),
    # code 513: restricted system event, any case and spacing
    pytest.param(event(evtName="App Launched"), 513, id="513 App Launched"),
    pytest.param(event(evtName="notification  VIEWED"), 513, id="513 case, spaces"),
    pytest.param(event(evtName="IdentitySet"), 513, id="513 no spaces"),
    # codes 514 to 520: built-in profile keys
    pytest.param(profile(Gender="Female"), 514, id="514 gender"),
    pytest.param(profile(Gender="m"), 514, id="514 gender lower case"),
    pytest.param(profile(Email="ana.example.org"), 515, id="515 email no @"),
    pytest.param(profile(Email="ana@example"), 515, id="515 email no domain dot"),
    pytest.param(profile(Phone="600111222"), 516, id="516 phone no +"),
    pytest.param(profile(Phone="+34 600 111 222"), 516, id="516 phone spaces"),
    pytest.param(profile(Phone=34600111222), 516, id="516 phone number type"),
    pytest.param(profile(Employed="yes"), 517, id="517 employed"),
    pytest.param(profile(Education="PhD"), 518, id="518 education"),
    pytest.param(profile(Married=True), 519, id="519 married"),
    pytest.param(profile(Age="forty"), 520, id="520 age text"),
    pytest.param(profile(Age=-1), 520, id="520 age negative"),
    # code 522: sizes
    pytest.param(
        event(evtData={f"p{i}": i for i in range(101)}), 522, id="522 101 props"
    ),
    pytest.param(event(evtData={"k" * 121: 1}), 522, id="522 long key"),
    pytest.param(event(evtData={"k": "v" * 513}), 522, id="522 long value"),
    pytest.param(event(evtData={"k": "é" * 257}), 522, id="522 value over 512 bytes"),
    pytest.param(profile(Tags=["t"] * 101), 522, id="522 101 multi-values"),
    # code 523: identity
    pytest.param(event(identity=None), 523, id="523 no identity"),
    pytest.param(event(identity=" "), 523, id="523 blank identity"),
    pytest.param(event(identity="x" * 1025), 523, id="523 identity too long"),
    pytest.param(event(identity=True), 523, id="523 identity boolean"),
    pytest.param(event(identity=["a"]), 523, id="523 identity list"),
    # code 524: type
    pytest.param(event(type="Event"), 524, id="524 type case"),
    pytest.param(event(type=None), 524, id="524 no type"),
    pytest.param("not a record", 524, id="524 not an object"),
    # code 525: timestamp
    pytest.param(event(ts="1735689600"), 525, id="525 ts string"),
    pytest.param(event(ts=1735689600.5), 525, id="525 ts float"),
    pytest.param(event(ts=1735689600000), 525, id="525 ts milliseconds"),
    pytest.param(event(ts=-5), 525, id="525 ts negative"),
    pytest.param(event(ts=True), 525, id="525 ts boolean"),
    # code 526: objectId
    pytest.param(event(objectId="has space"), 526, id="526 space"),
    pytest.param(event(objectId=42), 526, id="526 number"),
    pytest.param(event(objectId="g" * 65), 526, id="526 too long"),
    # code 528: discarded, any case and spacing
    pytest.param(event(evtName="old checkout"), 528, id="528 discarded"),
    pytest.param(event(evtName="OldCheckout"), 528, id="528 discarded no space"),
]


@pytest.mark.parametrize(("record", "code"), INVALID_RECORDS)
def test_invalid_record_gets_code(record: Any, code: int) -> None:
    rejection = check_record(record, RULES)

    assert rejection is not None
    assert rejection.code == code
    assert rejection.reason.endswith(".")


def code_of(record: Any, rules: RecordRules) -> int | None:
    rejection = check_record(record, rules)
    return None if rejection is None else rejection.code


def test_limits_follow_the_rules() -> None:
    strict = RecordRules.build(
        max_event_properties=2, identity_max_length=6, discarded_events=[]
    )

    assert code_of(event(evtData={"a": 1, "b": 2}), strict) is None
    assert code_of(event(evtData={"a": 1, "b": 2, "c": 3}), strict) == 522
    assert code_of(event(identity="cust-12"), strict) == 523
    assert code_of(event(evtName="Old Checkout", evtData={}), strict) is None


MALFORMED_BODIES = [
    pytest.param(b"{not json", id="not JSON"),
    pytest.param(b'{"d": [{"type": "event", "n": NaN}]}', id="NaN"),
    pytest.param(b'{"d": [{"n": Infinity}]}', id="Infinity"),
    pytest.param(b'{"d": [{"n": 1e999}]}', id="overflowing number"),
    pytest.param(b'[{"type": "event"}]', id="bare list"),
    pytest.param(b'{"data": []}', id="no d"),
    pytest.param(b'{"d": {"type": "event"}}', id="d not a list"),
    pytest.param(b"\xff\xfe", id="not UTF-8"),
    pytest.param(json.dumps({"d": [{}] * 1001}).encode(), id="1001 records"),
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedBatch, match="Malformed request"):
        parse_batch(body, max_records=1000)


def test_batch_keeps_positions_and_order() -> None:
    records = [event(), event(identity=None), event(), profile(Gender="X")]

    verdict = check_batch(records, RULES)

    assert verdict.accepted == [records[0], records[2]]
    assert [(r.position, r.rejection.code) for r in verdict.rejected] == [
        (2, 523),
        (4, 514),
    ]


@pytest.mark.parametrize(
    ("processed", "unprocessed", "status"),
    [(3, 0, "success"), (0, 0, "success"), (2, 1, "partial"), (0, 2, "fail")],
)
def test_batch_status(processed: int, unprocessed: int, status: str) -> None:
    assert batch_status(processed, unprocessed) == status


def test_unprocessed_shapes() -> None:
    rejected = event(identity=None)
    verdict = check_batch([event(), rejected], RULES)

    as_object = upload_body(verdict, record_as_string=False, legacy_shape=False)
    as_text = upload_body(verdict, record_as_string=True, legacy_shape=False)
    legacy = upload_body(verdict, record_as_string=False, legacy_shape=True)

    entry = as_object["unprocessed"][0]
    assert entry["code"] == 523
    assert entry["status"] == "fail"
    assert entry["record"] == rejected
    assert entry["error"].endswith(". Skipped record number : 2")
    assert json.loads(as_text["unprocessed"][0]["record"]) == rejected
    ((key, message),) = legacy["unprocessed"][0].items()
    assert json.loads(key) == rejected
    assert message == entry["error"]
