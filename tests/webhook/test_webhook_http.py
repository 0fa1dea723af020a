"""The intake over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from ctjobs.webhook import scan_landing

from .intake import (
    PASSWORD,
    SECRET,
    SECRET_ENV,
    SECRET_HEADERS,
    USER,
    Intake,
    campaign,
    payload_id_of,
    start_intake,
)


def post(
    intake: Intake, body: object, path: str = "/", **kwargs: object
) -> httpx.Response:
    kwargs.setdefault("headers", SECRET_HEADERS)
    return httpx.post(intake.url + path, json=body, timeout=10, **kwargs)  # type: ignore[arg-type]


def rows_of(intake: Intake, payload_id: str) -> pl.DataFrame:
    return (
        intake.frame().filter(pl.col("payload_id") == payload_id).sort("profile_index")
    )


def test_ready_line_names_the_real_port(secret_intake: Intake) -> None:
    line = secret_intake.stdout.read_text().strip()
    assert line == f"WEBHOOK READY {secret_intake.url}"
    assert not secret_intake.url.endswith(":0")


def test_test_payload_is_acknowledged_and_kept_aside(secret_intake: Intake) -> None:
    body = {
        "is_test": True,
        "targetId": 1,
        "key_values": {"k": "v"},
        "profiles": [
            {"Identity": "test-1", "Email": "T@example.org", "push_token": "x"}
        ],
    }
    response = post(secret_intake, body, "/webhook")

    assert response.status_code == 200
    payload_id = response.json()["payload_id"]
    assert rows_of(secret_intake, payload_id).height == 0
    test_rows = scan_landing(secret_intake.land / "_test").collect()
    row = test_rows.filter(pl.col("payload_id") == payload_id).row(0, named=True)
    assert (row["identity"], row["email"], row["is_test"]) == (
        "test-1",
        "T@example.org",
        True,
    )


@pytest.mark.parametrize("path", ["/", "/webhook"])
def test_array_of_profiles_lands_one_row_each(secret_intake: Intake, path: str) -> None:
    body = campaign(3, extra_top="kept")
    response = post(secret_intake, body, path)

    assert response.status_code == 200
    rows = rows_of(secret_intake, response.json()["payload_id"])
    assert rows["profile_index"].to_list() == [0, 1, 2]
    assert rows["identity"].to_list() == [p["identity"] for p in body["profiles"]]
    assert rows["targetId"].unique().to_list() == [body["targetId"]]
    first = rows.row(0, named=True)
    assert json.loads(first["key_values"]) == body["key_values"]
    assert json.loads(first["profileData"]) == body["profiles"][0]["profileData"]
    assert json.loads(first["event_properties"]) == {"Amount": 0.0}
    assert json.loads(first["profile"]) == body["profiles"][0]
    assert json.loads(first["payload_extra"]) == {"extra_top": "kept"}
    assert first["is_test"] is False


def test_single_profile_object_lands_one_row(secret_intake: Intake) -> None:
    body = campaign(1, single=True)
    body["profiles"] |= {"Identity": None, "unknown_field": [1, 2]}
    del body["profiles"]["identity"]
    response = post(secret_intake, body)

    assert response.status_code == 200
    rows = rows_of(secret_intake, response.json()["payload_id"])
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert (row["profile_index"], row["profile_count"], row["identity"]) == (0, 1, None)
    assert json.loads(row["profile"])["unknown_field"] == [1, 2]


def test_retried_payload_lands_once(secret_intake: Intake) -> None:
    body = campaign(2)
    first = post(secret_intake, body)
    # Same content with other key order and spacing: CleverTap's retry.
    retry = httpx.post(
        secret_intake.url,
        content=json.dumps(dict(reversed(body.items())), indent=2),
        headers=SECRET_HEADERS,
    )

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() | {"duplicate": False} == first.json()
    assert retry.json()["duplicate"] is True
    assert rows_of(secret_intake, first.json()["payload_id"]).height == 2


async def _send_at_once(url: str, contents: list[str]) -> list[httpx.Response]:
    """POST each text from its own warmed-up connection, all released together."""
    clients = [httpx.AsyncClient(timeout=10, verify=False) for _ in contents]
    go = asyncio.Event()

    async def sender(client: httpx.AsyncClient, content: str) -> httpx.Response:
        await client.get(url + "/health")  # connect first, so only the POST is left
        await go.wait()
        return await client.post(url, content=content, headers=SECRET_HEADERS)

    try:
        sending = [
            asyncio.create_task(sender(client, content))
            for client, content in zip(clients, contents, strict=True)
        ]
        await asyncio.sleep(0.2)
        go.set()
        return await asyncio.wait_for(asyncio.gather(*sending), timeout=30)
    finally:
        for client in clients:
            await client.aclose()


def test_duplicates_sent_at_once_land_once(secret_intake: Intake) -> None:
    for _ in range(5):
        body = campaign(3)
        # The same payload from eight senders at once, some with other key order
        # and spacing, as CleverTap's retries can be.
        contents = [
            json.dumps(dict(reversed(body.items())) if i % 2 else body, indent=i % 3)
            for i in range(8)
        ]
        responses = asyncio.run(_send_at_once(secret_intake.url, contents))

        assert [r.status_code for r in responses] == [200] * 8
        answers = [r.json() for r in responses]
        assert {a["payload_id"] for a in answers} == {payload_id_of(body)}
        assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
        assert rows_of(secret_intake, answers[0]["payload_id"]).height == 3


WRONG_CREDENTIALS = [
    ("secret", "missing", {}),
    ("secret", "wrong", {"X-Webhook-Secret": "not-it"}),
    ("secret", "basic instead", {"Authorization": "Basic " + "eDp5"}),
    ("basic", "missing", {}),
    ("basic", "wrong password", "wrong-password"),
    ("basic", "wrong user", "wrong-user"),
    ("basic", "not base64", {"Authorization": "Basic !!!"}),
    ("basic", "header secret instead", SECRET_HEADERS),
]


@pytest.mark.parametrize(("kind", "case", "credentials"), WRONG_CREDENTIALS)
def test_wrong_credentials_get_401_and_land_nothing(
    secret_intake: Intake,
    basic_intake: Intake,
    kind: str,
    case: str,
    credentials: object,
) -> None:
    intake = secret_intake if kind == "secret" else basic_intake
    auth = None
    headers = credentials if isinstance(credentials, dict) else {}
    if credentials == "wrong-password":
        auth = httpx.BasicAuth(USER, "nope")
    elif credentials == "wrong-user":
        auth = httpx.BasicAuth("someone", PASSWORD)
    body = campaign(1)
    response = httpx.post(intake.url, json=body, headers=headers, auth=auth)

    assert response.status_code == 401, case
    landed = intake.frame().filter(pl.col("targetId") == body["targetId"])
    assert landed.height == 0


def test_basic_credentials_are_accepted(basic_intake: Intake) -> None:
    response = httpx.post(
        basic_intake.url, json=campaign(1), auth=httpx.BasicAuth(USER, PASSWORD)
    )

    assert response.status_code == 200
    assert rows_of(basic_intake, response.json()["payload_id"]).height == 1


def test_oversized_body_gets_413(secret_intake: Intake) -> None:
    big = campaign(1, padding="x" * 100_000)  # limit is 64 KiB in this fixture
    streamed = httpx.post(
        secret_intake.url,
        content=iter([json.dumps(big).encode()]),  # no Content-Length: chunked
        headers=SECRET_HEADERS,
    )
    declared = post(secret_intake, big)

    assert (streamed.status_code, declared.status_code) == (413, 413)
    assert (
        secret_intake.frame().filter(pl.col("targetId") == big["targetId"]).height == 0
    )


BAD_BODIES = [
    (b'{"targetId": 1, "profiles": [', "not JSON"),
    (b"\xff\xfe not text", "not UTF-8"),
    (b'["a", "list"]', "got a list"),
    (b'{"targetId": 1}', "no 'profiles' key"),
    (b'{"profiles": []}', "no 'targetId'"),
    (b'{"targetId": 1, "profiles": "x"}', "must be an array or an object"),
    (b'{"targetId": 1, "profiles": [1]}', "profiles[0] is not an object"),
    (b'{"targetId": "abc", "profiles": []}', "'targetId' must be an integer"),
    (b'{"targetId": 1, "key_values": 3, "profiles": []}', "'key_values' must be"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_bad_bodies_get_400_and_are_kept_with_reason(
    secret_intake: Intake, body: bytes, reason: str
) -> None:
    response = httpx.post(secret_intake.url, content=body, headers=SECRET_HEADERS)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    kept = _rejected_with_body(secret_intake.land, body)
    note = json.loads(
        kept.with_name(kept.name.replace(".body", ".reason.json")).read_text()
    )
    assert reason in note["reason"]


def _rejected_with_body(land: Path, body: bytes) -> Path:
    matches = [p for p in land.glob("_rejected/*/*.body") if p.read_bytes() == body]
    assert len(matches) == 1
    return matches[0]


def test_health_counts_requests(secret_intake: Intake) -> None:
    post(secret_intake, campaign(1))
    health = httpx.get(secret_intake.url + "/health").json()

    assert health["status"] == "ok"
    assert health["requests"]["landed"] >= 1
    assert health["writer"]["landed_rows"] >= 1


def test_access_log_has_one_json_line_per_request_and_no_credentials(
    secret_intake: Intake, basic_intake: Intake
) -> None:
    response = post(secret_intake, campaign(2))
    httpx.post(basic_intake.url, json=campaign(1), auth=httpx.BasicAuth(USER, PASSWORD))

    logs = secret_intake.log.read_text() + basic_intake.log.read_text()
    assert SECRET not in logs and PASSWORD not in logs and "Basic " not in logs
    access = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    mine = [e for e in access if e.get("payload_id") == response.json()["payload_id"]]
    assert mine[0]["status"] == 200 and mine[0]["profiles"] == 2
    assert set(mine[0]) >= {"method", "path", "status", "bytes", "duration_ms"}


def test_server_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--insecure-no-auth"):
        start_intake(tmp_path / "land", {})


def test_insecure_no_auth_accepts_anyone_and_sigterm_drains(tmp_path: Path) -> None:
    intake = start_intake(tmp_path / "land", {}, "--insecure-no-auth")
    response = httpx.post(intake.url, json=campaign(2))

    assert response.status_code == 200
    # A clean shutdown on SIGTERM exits 0, not by the signal uvicorn re-raises.
    assert intake.stop(signal.SIGTERM) == 0
    assert "Application shutdown complete" in intake.log.read_text()
    assert intake.frame().height == 2


def test_second_server_on_one_landing_refuses(secret_intake: Intake) -> None:
    with pytest.raises(RuntimeError, match="another webhook server"):
        start_intake(secret_intake.land, SECRET_ENV)


def test_server_compacts_closed_files_periodically(tmp_path: Path) -> None:
    first = start_intake(tmp_path / "land", SECRET_ENV)
    landed = post(first, campaign(3)).json()["payload_id"]
    first.stop()
    second = start_intake(tmp_path / "land", SECRET_ENV, "--compact-interval", "0.2")
    deadline = time.monotonic() + 10
    health = httpx.get(second.url + "/health").json()
    while not health["last_compaction"] and time.monotonic() < deadline:
        time.sleep(0.05)
        health = httpx.get(second.url + "/health").json()
    second.stop()

    assert health["requests"]["compacted_rows"] == 3
    rows = second.frame().filter(pl.col("payload_id") == landed)
    assert rows.height == 3
    assert rows["_source_file"].str.ends_with(".parquet").all()
