"""Many senders at once, and a kill in the middle of a stream of POSTs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path

import httpx
import polars as pl

from .intake import (
    SECRET_ENV,
    SECRET_HEADERS,
    Intake,
    campaign,
    payload_id_of,
    start_intake,
)

SENDERS = 50


async def _send_all(url: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    responses: list[httpx.Response] = []

    async def sender() -> None:
        # A client per sender: one shared pool of fifty connections is slow in
        # httpx. No TLS on loopback, so skip loading the CA bundle fifty times.
        async with httpx.AsyncClient(timeout=30, verify=False) as client:
            while not queue.empty():
                body = queue.get_nowait()
                responses.append(
                    await client.post(url, json=body, headers=SECRET_HEADERS)
                )

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return responses


def test_fifty_senders_land_a_thousand_payloads_exactly_once(tmp_path: Path) -> None:
    intake = start_intake(tmp_path / "land", SECRET_ENV)
    bodies = [campaign(random.randint(0, 3)) for _ in range(1000)]
    responses = asyncio.run(_send_all(intake.url, bodies))
    writer = httpx.get(intake.url + "/health").json()["writer"]
    intake.stop()

    assert [r.status_code for r in responses] == [200] * 1000
    per_payload = (
        intake.frame().group_by("payload_id").agg(pl.len(), pl.first("targetId"))
    )
    assert per_payload.height == 1000
    expected = {b["targetId"]: max(len(b["profiles"]), 1) for b in bodies}
    assert dict(per_payload.select("targetId", "len").iter_rows()) == expected
    assert writer["batches"] < 1000  # group commit did batch


async def _stream_until_killed(intake: Intake) -> dict[str, dict[str, object]]:
    """POST from 20 senders, SIGKILL the server mid-stream; return acked bodies."""
    acked: dict[str, dict[str, object]] = {}
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=10, verify=False) as client:

        async def sender() -> None:
            while not stop.is_set():
                body = campaign(random.randint(1, 4))
                try:
                    response = await client.post(
                        intake.url, json=body, headers=SECRET_HEADERS
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    acked[response.json()["payload_id"]] = body

        senders = [asyncio.create_task(sender()) for _ in range(20)]
        await asyncio.sleep(1.0)
        os.kill(intake.process.pid, signal.SIGKILL)
        stop.set()
        await asyncio.gather(*senders)
    return acked


def _landed_counts(intake: Intake) -> dict[str, int]:
    counts = intake.frame().group_by("payload_id").len()
    return dict(counts.iter_rows())


def test_every_acknowledged_payload_survives_sigkill(tmp_path: Path) -> None:
    intake = start_intake(tmp_path / "land", SECRET_ENV)
    acked = asyncio.run(_stream_until_killed(intake))
    intake.process.wait(10)
    newest = max(intake.land.glob("date=*/*.jsonl"))
    # Whatever the kill left, make the tail torn for sure: half a delivery and
    # half a line, neither ever acknowledged.
    half = campaign(2)
    with newest.open("ab") as handle:
        handle.write(
            json.dumps(
                {
                    "payload_id": "half",
                    "profile_index": 0,
                    "profile_count": 2,
                    "targetId": half["targetId"],
                }
            ).encode()
        )
        handle.write(b'\n{"payload_id": "torn", "targetId": 1, "pro')

    landed = _landed_counts(intake)
    assert len(acked) > 50
    expected = {pid: len(body["profiles"]) for pid, body in acked.items()}  # type: ignore[arg-type]
    assert {pid: landed.get(pid) for pid in acked} == expected
    assert "half" not in landed and "torn" not in landed

    restarted = start_intake(intake.land, SECRET_ENV)
    health = httpx.get(restarted.url + "/health").json()
    retry = httpx.post(
        restarted.url, json=next(iter(acked.values())), headers=SECRET_HEADERS
    )
    assert health["writer"]["repaired_files"] >= 1
    assert newest.read_bytes().endswith(b"\n")
    assert retry.json()["duplicate"] is True
    assert _landed_counts(restarted) == landed
    restarted.stop()


async def _stream_then_sigterm(
    intake: Intake, bodies: list[dict[str, object]]
) -> tuple[dict[str, int], list[int], int, int]:
    """POST every body over a pool of 20 connections and SIGTERM the server once
    40 are acknowledged; return the acked payload ids (with their profile counts),
    every HTTP status seen, and how many requests were acknowledged and unfinished
    when the signal went."""
    acked: dict[str, int] = {}
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    async with httpx.AsyncClient(timeout=30, verify=False, limits=limits) as client:

        async def send(body: dict[str, object]) -> None:
            try:
                response = await client.post(
                    intake.url, json=body, headers=SECRET_HEADERS
                )
            except httpx.TransportError:
                return  # refused or cut off by the shutdown: never acknowledged
            statuses.append(response.status_code)
            if response.status_code == 200:
                acked[response.json()["payload_id"]] = len(body["profiles"])  # type: ignore[arg-type]

        tasks = [asyncio.create_task(send(body)) for body in bodies]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(acked) < 40 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        acked_before, unfinished = len(acked), sum(not t.done() for t in tasks)
        intake.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return acked, statuses, acked_before, unfinished


def test_sigterm_under_load_lands_every_acknowledged_payload_once(
    tmp_path: Path,
) -> None:
    intake = start_intake(tmp_path / "land", SECRET_ENV)
    bodies = [campaign(random.randint(1, 4)) for _ in range(200)]
    acked, statuses, acked_before, unfinished = asyncio.run(
        _stream_then_sigterm(intake, bodies)
    )
    exit_code = intake.process.wait(30)

    assert exit_code == 0, intake.log.read_text()
    assert unfinished > 0  # the signal came with requests in flight
    assert len(acked) > acked_before >= 40  # and the server answered some of them
    assert set(statuses) == {200}  # refused connections, never error answers
    landed = _landed_counts(intake)
    assert {pid: landed.get(pid) for pid in acked} == acked
    # Whatever landed without an answer (cut off mid-response) is whole, once.
    profiles = {payload_id_of(body): len(body["profiles"]) for body in bodies}
    assert {pid: profiles.get(pid) for pid in landed} == landed
    assert "Application shutdown complete" in intake.log.read_text()
