"""The Upload API writer against a real sandbox over loopback, faults and all."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from pydantic import SecretStr

from ctjobs.credentials import Credentials, base_url, load_credentials, redact
from ctjobs.errors import AuthenticationError, DestinationError, UsageError
from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import WriterSpec
from ctjobs.records.build import build_events, build_profiles
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.sandbox import SandboxProcess
from ctjobs.writers.base import WriteContext
from ctjobs.writers.upload import UploadWriter

JOB = "upload-test"
RUN = "run-1"
SANDBOX_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "drop_rate": 0.0,
    "max_in_flight": 15,
    "retry_after": None,
    "seed": 7,
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(**SANDBOX_DEFAULTS) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: SandboxProcess) -> SandboxProcess:
    """The module's sandbox with its default settings and nothing stored."""
    running_sandbox.configure(**SANDBOX_DEFAULTS)
    running_sandbox.reset()
    return running_sandbox


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "ledger.sqlite", JOB)
    yield opened
    opened.close()


def credentials_for(sandbox: SandboxProcess) -> Credentials:
    return Credentials(sandbox.account_id, SecretStr(sandbox.passcode))


def writer_for(
    sandbox: SandboxProcess,
    credentials: Credentials | None = None,
    *,
    give_up_after: int | None = None,
    **spec: Any,
) -> UploadWriter:
    """A writer on the sandbox with a tiny backoff, so retries cost milliseconds."""
    settings = {"max_records": 10, "concurrency": 4, "max_attempts": 8, **spec}
    return UploadWriter(
        WriterSpec(url=sandbox.url, **settings),
        credentials or credentials_for(sandbox),
        backoff_base=0.01,
        backoff_cap=0.2,
        give_up_after=give_up_after,
        seed=3,
    )


def events(
    count: int, *, no_identity: tuple[int, ...] = (), reserved: tuple[int, ...] = ()
) -> pl.DataFrame:
    """Encoded event records for `count` rows of orders.csv, some of them bad."""
    rows = pl.DataFrame(
        {
            "user": [None if i in no_identity else f"cust-{i}" for i in range(count)],
            "ts": [1735689600 + i for i in range(count)],
            "eventName": [
                "App Launched" if i in reserved else "Order Placed"
                for i in range(count)
            ],
            "amount": [float(i) for i in range(count)],
            "_source_file": ["orders.csv"] * count,
            "_source_row": list(range(count)),
        }
    )
    records = build_events(rows, identity="user", properties={"Amount": "amount"})
    return encode_records(records).collect()


def profiles(phones: list[str]) -> pl.DataFrame:
    """Encoded profile records of customers.csv, one per phone number."""
    rows = pl.DataFrame(
        {
            "user": [f"cust-{i}" for i in range(len(phones))],
            "phone": phones,
            "_source_file": ["customers.csv"] * len(phones),
            "_source_row": list(range(len(phones))),
        }
    )
    records = build_profiles(rows, identity="user", properties={"Phone": "phone"})
    return encode_records(records).collect()


def canonical(records: list[Any]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def sent_records(encoded: pl.DataFrame) -> list[str]:
    return canonical([json.loads(text) for text in encoded[RECORD_JSON]])


def context(ledger: Ledger | None = None, run_id: str = RUN) -> WriteContext:
    return WriteContext(JOB, run_id, ledger)


# ---------------------------------------------------------------- outcomes


def test_bad_events_are_rejected_with_codes_and_source_rows(
    sandbox: SandboxProcess, ledger: Ledger
) -> None:
    encoded = events(25, no_identity=(3, 17), reserved=(8,))

    result = writer_for(sandbox).write("event", encoded, context(ledger))

    assert (result.sent, result.accepted, result.pending_count) == (25, 22, 0)
    rejected = result.rejected.sort("_source_row")
    assert rejected.select("_source_file", "_source_row", "code").rows() == [
        ("orders.csv", 3, 523),
        ("orders.csv", 8, 513),
        ("orders.csv", 17, 523),
    ]
    assert (
        rejected["record"].to_list()
        == encoded[RECORD_JSON].gather([3, 8, 17]).to_list()
    )
    assert not rejected["reason"].str.contains("Skipped record number").any()
    good = encoded.filter(~pl.col("_source_row").is_in([3, 8, 17]))
    assert canonical(sandbox.records()) == sent_records(good)
    assert ledger.unacked(encoded).height == 0
    stored = ledger.rejections(RUN).sort("_source_row")
    assert stored["code"].to_list() == [523, 513, 523]


def test_bad_phone_numbers_are_rejected_in_every_answer_shape(
    sandbox: SandboxProcess,
) -> None:
    encoded = profiles(["+34600111222", "600111", "+919876543210", "12"])

    for shape in ({}, {"record_as_string": True}, {"legacy_shape": True}):
        sandbox.configure(**shape)
        result = writer_for(sandbox).write("profile", encoded, context())

        assert result.accepted == 2, shape
        codes = result.rejected.sort("_source_row").select("_source_row", "code").rows()
        expected_code = None if shape.get("legacy_shape") else 516
        assert codes == [(1, expected_code), (3, expected_code)], shape


def test_a_malformed_record_is_isolated_by_splitting_its_batch(
    sandbox: SandboxProcess, ledger: Ledger
) -> None:
    encoded = events(10).with_columns(
        pl.when(pl.col("_source_row") == 6)
        .then(pl.lit('{"type":"event",'))
        .otherwise(pl.col(RECORD_JSON))
        .alias(RECORD_JSON)
    )

    result = writer_for(sandbox).write("event", encoded, context(ledger))

    assert (result.accepted, result.pending_count) == (9, 0)
    assert result.rejected.select("_source_row", "code").rows() == [(6, 400)]
    assert len(sandbox.records()) == 9
    assert ledger.unacked(encoded).height == 0
    assert ledger.in_doubt("next-run") == {}


# ---------------------------------------------------------------- faults


FAULTS = {
    "429 storm": ({"max_in_flight": 3, "latency_ms": 30}, {"concurrency": 10}),
    "500 and 503": ({"error_rate": 0.3}, {}),
    "dropped connections": ({"drop_rate": 0.2}, {}),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_faults_end_with_every_record_stored_exactly_once(
    sandbox: SandboxProcess, ledger: Ledger, fault: str
) -> None:
    sandbox_settings, spec = FAULTS[fault]
    sandbox.configure(**sandbox_settings)
    encoded = events(300)

    writer = writer_for(sandbox, max_attempts=40, **spec)
    result = writer.write("event", encoded, context(ledger))

    assert (result.accepted, result.pending_count, result.rejected.height) == (
        300,
        0,
        0,
    )
    stats = sandbox.stats()
    assert result.retries > 0
    assert stats["throttled"] + stats["faults"] >= result.retries
    assert canonical(sandbox.records()) == sent_records(encoded)
    assert ledger.unacked(encoded).height == 0


def test_never_more_requests_in_flight_than_configured(sandbox: SandboxProcess) -> None:
    sandbox.configure(latency_ms=40)

    writer = writer_for(sandbox, concurrency=4)
    writer.write("event", events(200), context())

    stats = sandbox.stats()
    assert stats["max_in_flight_seen"] <= 4
    assert writer.peak_in_flight == 4
    assert stats["throttled"] == 0


def test_wrong_credentials_stop_the_upload_and_acknowledge_nothing(
    sandbox: SandboxProcess, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = Credentials(sandbox.account_id, SecretStr("not-the-passcode-42"))
    encoded = events(40)

    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(AuthenticationError) as raised,
    ):
        writer_for(sandbox, wrong).write("event", encoded, context(ledger))

    message = str(raised.value)
    assert "X-CleverTap-Account-Id" in message
    assert "127.0.0.1" in message
    assert "not-the-passcode-42" not in message
    assert "not-the-passcode-42" not in caplog.text
    assert ledger.unacked(encoded).height == 40
    assert ledger.in_doubt("next-run") == {}
    assert sandbox.records() == []


def test_a_batch_that_always_fails_is_left_pending(
    sandbox: SandboxProcess, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.configure(error_rate=1.0)
    encoded = events(30)

    with caplog.at_level(logging.WARNING, logger="ctjobs.writers.upload"):
        result = writer_for(sandbox, max_attempts=2).write(
            "event", encoded, context(ledger)
        )

    assert (result.accepted, result.pending_count, result.retries) == (0, 30, 3)
    assert sorted(result.pending["_source_row"]) == list(range(30))
    assert ledger.unacked(encoded).height == 30
    assert ledger.in_doubt("next-run") == {}
    assert "left pending after 2 attempts" in caplog.text
    assert "orders.csv row 0 to orders.csv row 9" in caplog.text


def test_sending_stops_when_batches_keep_spending_their_retries(
    sandbox: SandboxProcess, ledger: Ledger
) -> None:
    sandbox.configure(error_rate=1.0)
    encoded = events(100)

    writer = writer_for(sandbox, concurrency=1, max_attempts=2, give_up_after=2)
    result = writer.write("event", encoded, context(ledger))

    assert result.pending_count == 100
    assert result.sent < 50
    assert sandbox.stats()["requests"] < 10


def test_a_rerun_sends_only_what_was_not_acknowledged(
    sandbox: SandboxProcess, ledger: Ledger
) -> None:
    encoded = events(200)
    sandbox.configure(error_rate=0.5)
    first = writer_for(sandbox, max_attempts=1).write("event", encoded, context(ledger))
    assert 0 < first.pending_count < 200

    sandbox.configure(error_rate=0.0)
    todo = ledger.unacked(encoded)
    second = writer_for(sandbox).write("event", todo, context(ledger, "run-2"))

    assert todo.height == first.pending_count
    assert second.sent == first.pending_count
    assert first.accepted + second.accepted == 200
    assert canonical(sandbox.records()) == sent_records(encoded)


def test_a_batch_cut_off_without_an_answer_stays_in_doubt(ledger: Ledger) -> None:
    def crash(request: httpx.Request) -> httpx.Response:
        if b"cust-12" in request.content:
            raise RuntimeError("the process died mid-request")
        return httpx.Response(200, json={"processed": 10, "unprocessed": []})

    encoded = events(30)
    with pytest.raises(RuntimeError):
        mock_writer(crash, concurrency=1).write("event", encoded, context(ledger))

    doubtful = ledger.in_doubt("next-run")
    assert sorted(doubtful) == sorted(f"orders.csv#{i}#event" for i in range(10, 20))
    assert {run for run, _ in doubtful.values()} == {RUN}
    assert set(doubtful) <= set(ledger.unacked(encoded)["_record_key"])


def test_write_works_inside_a_running_event_loop(sandbox: SandboxProcess) -> None:
    async def notebook_cell() -> int:
        return writer_for(sandbox).write("event", events(5), context()).accepted

    assert asyncio.run(notebook_cell()) == 5


# ---------------------------------------------------------------- protocol


def mock_writer(handler: Any, **spec: Any) -> UploadWriter:
    settings = {
        "url": "https://ct.example",
        "max_records": 10,
        "max_attempts": 2,
        **spec,
    }
    return UploadWriter(
        WriterSpec(**settings),
        Credentials("acct-1", SecretStr("pass-1")),
        transport=httpx.MockTransport(handler),
        backoff_base=0.001,
        backoff_cap=0.01,
    )


def test_requests_carry_the_upload_headers_and_body() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        size = len(json.loads(request.content)["d"])
        return httpx.Response(200, json={"status": "success", "processed": size})

    mock_writer(answer).write("event", events(3), context())

    (request,) = seen
    assert str(request.url) == "https://ct.example/1/upload"
    assert request.headers["X-CleverTap-Account-Id"] == "acct-1"
    assert request.headers["X-CleverTap-Passcode"] == "pass-1"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert [r["identity"] for r in json.loads(request.content)["d"]] == [
        "cust-0",
        "cust-1",
        "cust-2",
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b""), (200, b"<html>ok</html>"), (200, b'{"status":"success"}'), (502, b"")],
)
def test_answers_that_cannot_be_understood_are_never_success(
    status: int, body: bytes
) -> None:
    result = mock_writer(lambda _: httpx.Response(status, content=body)).write(
        "event", events(4), context()
    )

    assert (result.accepted, result.pending_count, result.retries) == (0, 4, 1)


def test_retry_after_is_waited_out(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.2"}),
            httpx.Response(200, json={"processed": 4, "unprocessed": []}),
        ]
    )

    with caplog.at_level(logging.WARNING, logger="ctjobs.writers.upload"):
        result = mock_writer(lambda _: next(answers)).write(
            "event", events(4), context()
        )

    assert (result.accepted, result.retries) == (4, 1)
    assert "HTTP 429; retrying in 0.20 s (attempt 2 of 2)" in caplog.text


def test_another_refusal_stops_with_a_destination_error() -> None:
    writer = mock_writer(lambda _: httpx.Response(404, text="Not Found"))

    with pytest.raises(DestinationError, match=r"ct\.example answered HTTP 404"):
        writer.write("event", events(4), context())


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (1, None, 0.0, 0.5),
        (3, None, 0.0, 2.0),
        (20, None, 0.0, 30.0),
        (1, 4.0, 4.0, 4.5),
    ],
)
def test_backoff_has_full_jitter_and_honours_retry_after(
    attempt: int, retry_after: float | None, low: float, high: float
) -> None:
    writer = UploadWriter(WriterSpec(region="in1"), Credentials("a", SecretStr("p")))

    waits = [writer.backoff(attempt, retry_after) for _ in range(200)]

    assert all(low <= w <= high for w in waits)
    assert max(waits) - min(waits) > (high - low) / 4


# ---------------------------------------------------------------- credentials


def test_credentials_come_from_the_environment_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'CLEVERTAP_ACCOUNT_ID = "file-acct"\nCLEVERTAP_PASSCODE = "file-pass"\n'
    )
    monkeypatch.setenv("CLEVERTAP_PASSCODE", "env-pass")

    credentials = load_credentials(secrets)

    assert credentials.account_id == "file-acct"
    assert credentials.passcode.get_secret_value() == "env-pass"
    assert "env-pass" not in repr(credentials)
    assert "env-pass" not in str(credentials)


@pytest.mark.parametrize(
    "text",
    [
        "CLEVERTAP_ACCOUNT_ID=abc\nCLEVERTAP_PASSCODE=s3cr3t=x\n",
        "# dotenv\nexport CLEVERTAP_ACCOUNT_ID='abc'\n"
        'CLEVERTAP_PASSCODE="s3cr3t=x"\n',
        '[clevertap]\naccount_id = "abc"\npasscode = "s3cr3t=x"\n',
    ],
    ids=["dotenv", "dotenv quoted", "toml table"],
)
def test_secrets_files_in_every_accepted_form(tmp_path: Path, text: str) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text(text)

    credentials = load_credentials(secrets)

    assert credentials.account_id == "abc"
    assert credentials.passcode.get_secret_value() == "s3cr3t=x"


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("secrets.toml", 'CLEVERTAP_PASSCODE = "abc\n', "not valid TOML"),
        ("secrets.env", "CLEVERTAP_PASSCODE='abc\n", "line 1 opens a quote"),
        (
            "secrets.env",
            "CLEVERTAP_ACCOUNT_ID=x\nCLEVERTAP_PASSCODE abc\n",
            "line 2 is not",
        ),
    ],
    ids=["toml unclosed quote", "dotenv unclosed quote", "dotenv without ="],
)
def test_a_broken_secrets_file_is_refused_by_line(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    secrets = tmp_path / name
    secrets.write_text(text)

    with pytest.raises(UsageError, match=problem) as caught:
        load_credentials(secrets)
    assert "abc" not in str(caught.value)


def test_missing_credentials_name_the_variables() -> None:
    # Missing settings are a usage error (exit 2), unlike refused ones.
    with pytest.raises(UsageError, match="CLEVERTAP_ACCOUNT_ID and CLEVERTAP_PASSCODE"):
        load_credentials()


@pytest.mark.parametrize(
    ("region", "url", "expected"),
    [
        ("in1", None, "https://in1.api.clevertap.com"),
        ("MEC1", None, "https://mec1.api.clevertap.com"),
        ("eu1", None, "https://api.clevertap.com"),
        (None, None, "https://api.clevertap.com"),
        ("sk1", None, "https://sk1.api.clevertap.com"),
        ("in1", "http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ],
)
def test_base_url(region: str | None, url: str | None, expected: str) -> None:
    assert base_url(region, url) == expected


def test_the_api_url_variable_wins_over_the_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEVERTAP_API_URL", "http://localhost:9/")

    assert base_url("us1", None) == "http://localhost:9"


def test_an_unknown_region_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="in1, sg1, us1, aps3, mec1"):
        base_url("xx9", None)


def test_redact_scrubs_every_secret() -> None:
    text = "header X-CleverTap-Passcode: abc-123, again abc-123"

    assert redact(text, [SecretStr("abc-123"), None, ""]) == (
        "header X-CleverTap-Passcode: ***, again ***"
    )
