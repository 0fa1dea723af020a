"""Upload API answers read record by record, in every shape CleverTap has used."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from ctjobs.writers.responses import parse_upload_response

RECORDS = [
    '{"type":"event","identity":"cust-1","ts":1735689600,"evtName":"Order"}',
    '{"type":"event","ts":1735689601,"evtName":"Order"}',
    '{"type":"profile","identity":"cust-3","profileData":{"Phone":"600111"}}',
]


@dataclass(frozen=True)
class Case:
    """One answer and what it must be read as."""

    name: str
    status: int
    body: bytes
    size: int
    verdict: str
    accepted: tuple[int, ...] = ()
    rejected: tuple[tuple[int, int | None], ...] = ()


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _unprocessed(*entries: object, processed: int, status: str = "partial") -> bytes:
    return _json(
        {"status": status, "processed": processed, "unprocessed": list(entries)}
    )


PHONE_2017 = {
    "status": "fail",
    "code": 516,
    "error": "Profile data is incorrect. Phone number is not valid."
    "Skipped record number : 1",
    "record": '{"type":"profile","identity":"cust-3","profileData":{"Phone":"600111"}}',
}
IDENTITY_2017 = {
    "status": "fail",
    "code": 523,
    "error": "Identity is necessary under 120 chars. Skipped record number : 2",
    "record": json.loads(RECORDS[1]),
}
RESTRICTED_2024 = {
    "status": "fail",
    "code": 513,
    "error": "Event Name is incorrect. ErrorCode: 513 - Trying to raise a restricted "
    "system event. Skipped record number : 1",
    "record": {"type": "event", "identity": "cust-1", "evtName": "App Launched"},
}

CASES = [
    Case(
        "2017 success",
        200,
        b'{ "status" : "success" , "processed" : 1 , "unprocessed" : [ ]}',
        1,
        "ok",
        accepted=(0,),
    ),
    Case(
        "2017 all rejected, status success, record as string",
        200,
        _unprocessed(PHONE_2017, processed=0, status="success"),
        1,
        "ok",
        rejected=((0, 516),),
    ),
    Case(
        "partial 523",
        200,
        _unprocessed(IDENTITY_2017, processed=2),
        3,
        "ok",
        accepted=(0, 2),
        rejected=((1, 523),),
    ),
    Case(
        "2024 fail with record object",
        200,
        _unprocessed(RESTRICTED_2024, processed=0, status="fail"),
        1,
        "ok",
        rejected=((0, 513),),
    ),
    Case(
        "legacy shape, no code",
        200,
        _unprocessed(
            {RECORDS[1]: "Identity missing. Skipped record number : 2"}, processed=2
        ),
        3,
        "ok",
        accepted=(0, 2),
        rejected=((1, None),),
    ),
    Case(
        "legacy shape without a record number, matched by the echoed record",
        200,
        _unprocessed(
            {'{"evtName": "Order", "ts": 1735689601, "type": "event"}': "No identity"},
            processed=2,
        ),
        3,
        "ok",
        accepted=(0, 2),
        rejected=((1, None),),
    ),
    Case(
        "spacing variants of the record number",
        200,
        _unprocessed(
            {"code": 523, "error": "Identity missing.Skipped record number:3"},
            {"code": 516, "error": "Phone invalid. skipped record  number :  1"},
            processed=1,
        ),
        3,
        "ok",
        accepted=(1,),
        rejected=((2, 523), (0, 516)),
    ),
    Case("garbage", 200, b"<html>Bad gateway</html>", 3, "retry"),
    Case("200 with an empty body", 200, b"", 3, "retry"),
    Case("a JSON list", 200, b"[1, 2, 3]", 3, "retry"),
    Case("status alone", 200, b'{"status": "success"}', 3, "retry"),
    Case(
        "counts that do not add up",
        200,
        _unprocessed(IDENTITY_2017, processed=1),
        3,
        "retry",
    ),
    Case(
        "an entry that names no record",
        200,
        _unprocessed({"code": 555, "error": "Something went wrong"}, processed=2),
        3,
        "retry",
    ),
    Case(
        "a record number outside the batch, echo unknown",
        200,
        _unprocessed({"code": 523, "error": "Skipped record number : 9"}, processed=2),
        3,
        "retry",
    ),
    Case(
        "the same record named twice",
        200,
        _unprocessed(IDENTITY_2017, IDENTITY_2017, processed=1),
        3,
        "retry",
    ),
    Case(
        "401 with CleverTap's body",
        401,
        b'{ "status" : "fail" , "error" : "Account ID is not valid" , "code" : 401}',
        3,
        "auth",
    ),
    Case("403", 403, b"", 3, "auth"),
    Case(
        "400 malformed",
        400,
        b'{"status":"fail","error":"Malformed request","code":400}',
        3,
        "bad_request",
    ),
    Case(
        "429",
        429,
        b'{"status":"fail","error":"Too many concurrent requests"}',
        3,
        "retry",
    ),
    Case("500", 500, b"Internal Server Error", 3, "retry"),
    Case("503", 503, b"", 3, "retry"),
    Case("404", 404, b"Not Found", 3, "refused"),
    Case(
        "a refusal sent with HTTP 200",
        200,
        b'{"status":"fail","error":"Account ID is not valid","code":401}',
        3,
        "auth",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_answers_are_read_record_by_record(case: Case) -> None:
    answer = parse_upload_response(case.status, case.body, case.size, sent=RECORDS)

    assert answer.verdict == case.verdict
    assert answer.accepted == case.accepted
    assert tuple((r.index, r.code) for r in answer.rejected) == case.rejected
    if case.verdict != "ok":
        assert answer.message


def test_a_rejection_keeps_the_message_without_the_record_number() -> None:
    body = _unprocessed(RESTRICTED_2024, processed=0, status="fail")

    (rejection,) = parse_upload_response(200, body, 1).rejected

    assert rejection.message == (
        "Event Name is incorrect. ErrorCode: 513 - Trying to raise a restricted "
        "system event."
    )
    assert json.loads(rejection.record or "")["evtName"] == "App Launched"


def test_a_code_given_only_in_the_message_is_found() -> None:
    entry = {
        RECORDS[0]: "Event Name is incorrect. ErrorCode: 513. Skipped record number : 1"
    }

    (rejection,) = parse_upload_response(
        200, _unprocessed(entry, processed=0), 1
    ).rejected

    assert (rejection.index, rejection.code) == (0, 513)


def test_identical_records_without_numbers_are_placed_once_each() -> None:
    sent = [RECORDS[1], RECORDS[1], RECORDS[0]]
    entries = [{RECORDS[1]: "Identity missing"}, {RECORDS[1]: "Identity missing"}]

    answer = parse_upload_response(
        200, _unprocessed(*entries, processed=1), 3, sent=sent
    )

    assert answer.verdict == "ok"
    assert sorted(r.index for r in answer.rejected) == [0, 1]
    assert answer.accepted == (2,)


def test_a_numbered_entry_is_not_claimed_again_by_an_echo() -> None:
    sent = [RECORDS[1], RECORDS[1], RECORDS[0]]
    entries = [
        {"code": 523, "error": "Identity missing. Skipped record number : 1"},
        {RECORDS[1]: "Identity missing"},
    ]

    answer = parse_upload_response(
        200, _unprocessed(*entries, processed=1), 3, sent=sent
    )

    assert [r.index for r in answer.rejected] == [0, 1]
