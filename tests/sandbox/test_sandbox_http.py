"""The sandbox over real HTTP on loopback, as a CleverTap client sees it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctjobs.sandbox import SandboxProcess


def event(position: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid event record; `changes` replace fields, None removes one."""
    record: dict[str, Any] = {
        "type": "event",
        "identity": f"cust-{position}",
        "ts": 1735689600 + position,
        "evtName": "Support Ticket Closed",
        "evtData": {"Ticket Id": f"T-{position}", "CSAT": 4},
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


def profile(**data: Any) -> dict[str, Any]:
    return {"type": "profile", "identity": "cust-9", "profileData": data}


def upload(client: httpx.Client, records: list[Any], **params: str) -> httpx.Response:
    return client.post("/1/upload", json={"d": records}, params=params)


CODE_ROWS: list[tuple[dict[str, Any], int]] = [
    (event(evtName=None), 509),
    (event(evtData={"Address": {"City": "Lyon"}}), 512),
    (event(evtName="App Launched"), 513),
    (profile(Gender="Male"), 514),
    (profile(Email="nobody"), 515),
    (profile(Phone="0600111222"), 516),
    (profile(Employed="maybe"), 517),
    (profile(Education="Kindergarten"), 518),
    (profile(Married="single"), 519),
    (profile(Age="old"), 520),
    (event(evtData={f"p{i}": i for i in range(101)}), 522),
    (event(identity=None), 523),
    (event(type="purchase"), 524),
    (event(ts=1735689600123), 525),
    (event(objectId="not valid!"), 526),
    (event(evtName="old  CHECKOUT"), 528),
]
ONE_ROW_PER_CODE = [pytest.param(bad, code, id=str(code)) for bad, code in CODE_ROWS]


@pytest.mark.parametrize(("bad", "code"), ONE_ROW_PER_CODE)
def test_each_code_between_valid_records(
    client: httpx.Client, bad: dict[str, Any], code: int
) -> None:
    response = upload(client, [event(1), bad, event(3)])

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "partial"
    assert body["processed"] == 2
    (entry,) = body["unprocessed"]
    assert entry["code"] == code
    assert entry["record"] == bad
    assert entry["error"].endswith(". Skipped record number : 2")


def test_mixed_batch_numbers_each_rejection(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    batch: list[Any] = []
    expected: list[tuple[int, int]] = []
    for bad, code in CODE_ROWS:
        batch.append(event(len(batch) + 1))
        batch.append(bad)
        expected.append((len(batch), code))

    body = upload(client, batch).json()

    found = [
        (int(entry["error"].rsplit(":", 1)[1]), entry["code"])
        for entry in body["unprocessed"]
    ]
    assert found == expected
    assert body["processed"] == len(CODE_ROWS)
    assert sandbox.records() == batch[0::2]


def test_all_rejected_is_fail(client: httpx.Client) -> None:
    body = upload(client, [event(identity=None), event(type="x")]).json()

    assert body["status"] == "fail"
    assert body["processed"] == 0


def test_all_accepted_is_success_and_stored_in_order(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    batch = [event(i) for i in range(1, 6)] + [profile(Name="Ana", Phone="+3460011122")]

    body = upload(client, batch).json()

    assert body == {"status": "success", "processed": 6, "unprocessed": []}
    assert sandbox.records() == batch


def test_record_echoed_as_string(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(record_as_string=True)
    bad = event(identity=None)

    (entry,) = upload(client, [bad]).json()["unprocessed"]

    assert isinstance(entry["record"], str)
    assert json.loads(entry["record"]) == bad
    assert entry["code"] == 523


def test_legacy_shape(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(legacy_shape=True)
    bad = profile(Phone="600111")

    (entry,) = upload(client, [event(1), bad]).json()["unprocessed"]

    ((record_text, message),) = entry.items()
    assert json.loads(record_text) == bad
    assert message.endswith("Skipped record number : 2")
    assert "Phone" in message


def test_dry_run_checks_but_stores_nothing(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    body = upload(client, [event(1), event(identity=None)], dryRun="1").json()

    assert body["processed"] == 1
    assert body["unprocessed"][0]["code"] == 523
    assert sandbox.records() == []
    stats = sandbox.stats()
    assert (stats["dry_runs"], stats["records_accepted"]) == (1, 0)


AUTH_FAILURES = [
    pytest.param({}, "Account ID is not valid", id="no headers"),
    pytest.param(
        {"X-CleverTap-Account-Id": "other", "X-CleverTap-Passcode": "pass-test"},
        "Account ID is not valid",
        id="wrong account",
    ),
    pytest.param(
        {"X-CleverTap-Account-Id": "acct-test"},
        "Passcode is not valid",
        id="no passcode",
    ),
    pytest.param(
        {"X-CleverTap-Account-Id": "acct-test", "X-CleverTap-Passcode": "guess"},
        "Passcode is not valid",
        id="wrong passcode",
    ),
]


@pytest.mark.parametrize(("headers", "error"), AUTH_FAILURES)
def test_wrong_credentials_get_401(
    sandbox: SandboxProcess, headers: dict[str, str], error: str
) -> None:
    response = httpx.post(
        f"{sandbox.url}/1/upload", json={"d": [event(1)]}, headers=headers
    )

    assert response.status_code == 401
    assert response.json() == {"status": "fail", "error": error, "code": 401}
    assert sandbox.records() == []


MALFORMED_BODIES = [
    pytest.param(b'{"d": [', "Malformed request", id="truncated JSON"),
    pytest.param(b'{"d": [{"ts": NaN}]}', "Malformed request", id="NaN"),
    pytest.param(b'{"records": []}', "Malformed request", id="no d"),
    pytest.param(
        json.dumps({"d": [event(i) for i in range(1001)]}).encode(),
        "1001 records",
        id="1001 records",
    ),
]


@pytest.mark.parametrize(("content", "error"), MALFORMED_BODIES)
def test_malformed_body_gets_400(
    client: httpx.Client, sandbox: SandboxProcess, content: bytes, error: str
) -> None:
    response = client.post("/1/upload", content=content)

    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == ("fail", 400)
    assert error in body["error"]
    assert sandbox.records() == []


def test_1000_records_are_allowed(client: httpx.Client) -> None:
    response = upload(client, [event(i) for i in range(1000)])

    assert response.json()["processed"] == 1000


async def _concurrent_uploads(sandbox: SandboxProcess, count: int) -> list[int]:
    async with httpx.AsyncClient(headers=sandbox.headers, timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"{sandbox.url}/1/upload", json={"d": [event(i)]})
                for i in range(count)
            )
        )
    return sorted(response.status_code for response in responses)


def test_too_many_concurrent_uploads_get_429(sandbox: SandboxProcess) -> None:
    sandbox.configure(max_in_flight=2, latency_ms=400, retry_after=3)

    statuses = asyncio.run(_concurrent_uploads(sandbox, 6))

    assert statuses == [200, 200, 429, 429, 429, 429]
    stats = sandbox.stats()
    assert (stats["throttled"], stats["max_in_flight_seen"]) == (4, 2)
    assert len(sandbox.records()) == 2


def test_429_body_and_retry_after(sandbox: SandboxProcess) -> None:
    sandbox.configure(max_in_flight=1, latency_ms=400, retry_after=3)

    async def one_slow_one_refused() -> httpx.Response:
        async with httpx.AsyncClient(headers=sandbox.headers, timeout=10) as client:
            url = f"{sandbox.url}/1/upload"
            slow = asyncio.ensure_future(client.post(url, json={"d": []}))
            await asyncio.sleep(0.15)
            refused = await client.post(url, json={"d": []})
            await slow
            return refused

    refused = asyncio.run(one_slow_one_refused())

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3"
    assert refused.json() == {
        "status": "fail",
        "error": "Too many concurrent requests",
        "code": 429,
    }


def test_error_rate_one_answers_500_or_503(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(error_rate=1, seed=3, retry_after=5)

    responses = [upload(client, [event(i)]) for i in range(8)]

    assert {r.status_code for r in responses} == {500, 503}
    for response in responses:
        expected = "5" if response.status_code == 503 else None
        assert response.headers.get("Retry-After") == expected
        assert response.json()["code"] == response.status_code
    assert sandbox.records() == []
    assert sandbox.stats()["faults"] == 8


def test_seed_repeats_the_same_faults(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(error_rate=0.5, seed=11)
    first = [upload(client, [event(i)]).status_code for i in range(12)]
    sandbox.reset()
    second = [upload(client, [event(i)]).status_code for i in range(12)]

    assert first == second
    assert 200 in first
    assert set(first) - {200}


def test_dropped_connection_stores_nothing(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(drop_rate=1)

    with pytest.raises(httpx.RemoteProtocolError):
        upload(client, [event(1)])

    assert sandbox.records() == []
    assert sandbox.stats()["faults"] == 1


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"latency_ms": 300}, id="latency"),
        pytest.param({"slow_rate": 1, "slow_ms": 300}, id="slow"),
    ],
)
def test_delays(
    client: httpx.Client, sandbox: SandboxProcess, settings: dict[str, Any]
) -> None:
    sandbox.configure(**settings)

    started = time.monotonic()
    response = upload(client, [event(1)])

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_stats_count_exactly(client: httpx.Client, sandbox: SandboxProcess) -> None:
    httpx.post(f"{sandbox.url}/1/upload", json={"d": []})
    client.post("/1/upload", content=b"nope")
    upload(client, [event(1), event(2), event(identity=None)])
    upload(client, [event(3), event(4)], dryRun="1")

    assert sandbox.stats() == {
        "requests": 4,
        "uploads": 2,
        "dry_runs": 1,
        "records_received": 3,
        "records_accepted": 2,
        "records_rejected": 1,
        "auth_failures": 1,
        "malformed": 1,
        "throttled": 0,
        "faults": 0,
        "max_in_flight_seen": 1,
        "in_flight": 0,
    }


def test_reset_forgets_records_and_counters(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    upload(client, [event(1)])

    sandbox.reset()

    assert sandbox.records() == []
    assert set(sandbox.stats().values()) == {0}


def test_health(sandbox: SandboxProcess) -> None:
    assert httpx.get(f"{sandbox.url}/_sandbox/health").status_code == 200


CONFIG_REFUSALS = [
    pytest.param({"error_rate": 2}, "error_rate", id="out of range"),
    pytest.param({"store_path": "/tmp/x"}, "cannot change store_path", id="fixed"),
    pytest.param({"colour": "red"}, "cannot change colour", id="unknown"),
    pytest.param([1], "JSON object", id="not an object"),
]


@pytest.mark.parametrize(("settings", "error"), CONFIG_REFUSALS)
def test_bad_settings_are_refused(
    sandbox: SandboxProcess, settings: Any, error: str
) -> None:
    response = httpx.post(f"{sandbox.url}/_sandbox/config", json=settings)

    assert response.status_code == 400
    assert error in response.json()["error"]


def test_config_view_hides_passcode(sandbox: SandboxProcess) -> None:
    view = httpx.get(f"{sandbox.url}/_sandbox/config").json()

    assert view["passcode"] == "***"
    assert "pass-test" not in json.dumps(view)
    assert view["account_id"] == "acct-test"


def test_store_file_survives_restart(tmp_path: Path) -> None:
    store = tmp_path / "records.jsonl"
    batch = [event(1), event(2)]

    with SandboxProcess(store_path=str(store)) as first:
        httpx.post(f"{first.url}/1/upload", json={"d": batch}, headers=first.headers)
    with SandboxProcess(store_path=str(store)) as second:
        kept = second.records()
        second.reset()

    assert kept == batch
    assert store.read_text() == ""
