"""Upload throughput against the sandbox answering every request in 500 ms.

With 15 requests in flight, 1000 records each and 500 ms per answer, no client can
send more than 15 * 1000 / 0.5 = 30,000 records a second: that is the ideal.
ctjobs sends `CTJOBS_RECORDS` records through a job whose writer points at the
sandbox; CleverTap's Node.js library sends the first `NODE_RECORDS` of the same
records, 100 per request, one request after the other (its own design), so at
best 200 records a second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.exports import failure, last_json
from bench.jobs import enrichment_job, upload_writer
from bench.measure import REPO, ctjobs_command, measure
from bench.session import Session
from ctjobs.sandbox import SandboxProcess

LATENCY_MS = 500
CONCURRENCY = 15
BATCH = 1000
IDEAL_RATE = CONCURRENCY * BATCH * 1000 / LATENCY_MS
CTJOBS_RECORDS = 200_000
NODE_RECORDS = 5_000
NODE_DIR = REPO / "bench" / "node"
NPM_TIMEOUT_S = 180.0


def sandbox_env(session: Session, name: str, sandbox: SandboxProcess) -> dict[str, str]:
    """A run's environment carrying the sandbox's credentials."""
    return session.env(
        name,
        CLEVERTAP_ACCOUNT_ID=sandbox.account_id,
        CLEVERTAP_PASSCODE=sandbox.passcode,
    )


def measure_ctjobs_upload(session: Session, rows: Path, tiers: Path) -> dict[str, Any]:
    """ctjobs sending every record built from `rows` to a 500 ms sandbox."""
    with SandboxProcess(latency_ms=LATENCY_MS) as sandbox:
        writer = upload_writer(sandbox.url, concurrency=CONCURRENCY, batch=BATCH)
        job = enrichment_job("upload-throughput", [str(rows)], tiers, writer)
        run = measure(
            ctjobs_command("run", job, "--json"),
            env=sandbox_env(session, "upload", sandbox),
            logs=session.folder("logs", "upload-ctjobs"),
            timeout_s=max(session.remaining(), 1),
        )
        stats = sandbox.stats()
    if not run.ok:
        return failure(run, "ctjobs upload")
    summary = last_json(run.stdout)
    accepted = summary["totals"]["accepted"]
    send_s = summary["timings"]["write"]
    return {
        "records": accepted,
        "send_seconds": send_s,
        "rate": accepted / send_s,
        "seconds": run.seconds,
        "run_rate": accepted / run.seconds,
        "stored": stats["records_accepted"],
        "peak_in_flight": stats["max_in_flight_seen"],
        "peak_rss_mib": run.peak_rss_mib,
        "timings": summary["timings"],
    }


def node_bodies(session: Session, rows: Path, tiers: Path) -> list[Path]:
    """The request bodies ctjobs builds from `rows`, for the Node.js library to send."""
    job = enrichment_job("upload-node-records", [str(rows)], tiers)
    out = session.folder("out", "node-records")
    command = ctjobs_command("run", job, "--dry-run", "--out", out, "--json")
    run = measure(
        command,
        env=session.env("node-records"),
        logs=session.folder("logs", "node-records"),
        timeout_s=120,
    )
    if not run.ok:
        raise RuntimeError(f"building the Node.js records failed:\n{run.tail()}")
    return sorted((out / "events").glob("body-*.json"))


def install_node_library() -> str | None:
    """``npm install`` in bench/node unless done; the problem as text, or None."""
    if (NODE_DIR / "node_modules" / "clevertap").is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node or npm is not on PATH"
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"npm install took more than {NPM_TIMEOUT_S:.0f} s"
    if done.returncode:
        return f"npm install failed: {done.stderr.strip()[-400:]}"
    return None


def measure_node_upload(session: Session, bodies: list[Path]) -> dict[str, Any]:
    """CleverTap's Node.js library sending the records of `bodies` to the sandbox."""
    problem = install_node_library()
    if problem is not None:
        return {"error": problem}
    node = shutil.which("node") or "node"
    with SandboxProcess(latency_ms=LATENCY_MS) as sandbox:
        run = measure(
            [node, str(NODE_DIR / "upload.js"), *map(str, bodies)],
            env=sandbox_env(session, "node", sandbox) | {"SANDBOX_URL": sandbox.url},
            logs=session.folder("logs", "upload-node"),
            timeout_s=max(session.remaining(), 1),
        )
        stats = sandbox.stats()
    if not run.ok:
        return failure(run, "node upload")
    figures = last_json(run.stdout)
    return {
        **figures,
        "rate": stats["records_accepted"] / figures["seconds"],
        "stored": stats["records_accepted"],
        "peak_in_flight": stats["max_in_flight_seen"],
        "peak_rss_mib": run.peak_rss_mib,
    }
