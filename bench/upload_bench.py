"""How close the Upload API writer gets to CleverTap's ceiling.

With 15 requests in flight, 1000 records each and 500 ms per answer, the best any
client can do is 15 * 1000 / 0.5 = 30,000 records a second. This script sends
200,000 event records to a sandbox that answers in 500 ms, through the writer as a
job run uses it (ledger included), and prints the rate, its share of that ideal
and the peak resident memory of this process.

With ``--no-sandbox`` the answers come from an in-process transport that only
waits out the latency, which measures the writer alone: the sandbox checks every
record in one Python process, and on a small machine it shares the CPU with the
writer.

    python bench/upload_bench.py [--records 200000] [--latency-ms 500] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl
from pydantic import SecretStr

from ctjobs.credentials import Credentials
from ctjobs.job.ledger import Ledger
from ctjobs.job.spec import WriterSpec
from ctjobs.records.build import build_events
from ctjobs.records.encode import encode_records
from ctjobs.sandbox import SandboxProcess
from ctjobs.writers.base import WriteContext
from ctjobs.writers.upload import UploadWriter

CONCURRENCY = 15
BATCH_RECORDS = 1000


def encoded_events(count: int) -> pl.DataFrame:
    """`count` encoded event records with a few properties each."""
    rows = pl.DataFrame(
        {
            "user": pl.int_range(count, eager=True).cast(pl.String).str.zfill(9),
            "ts": pl.int_range(1735689600, 1735689600 + count, eager=True),
            "eventName": pl.Series(["Order Placed", "Page Viewed"] * (count // 2 + 1))[
                :count
            ],
            "amount": pl.int_range(count, eager=True).cast(pl.Float64) / 100,
            "_source_file": pl.repeat("bench.parquet", count, eager=True),
            "_source_row": pl.int_range(count, eager=True),
        }
    )
    properties = {"Amount": "amount"}
    return encode_records(
        build_events(rows, identity="user", properties=properties)
    ).collect()


class WaitingTransport(httpx.AsyncBaseTransport):
    """Answers every upload as fully accepted after `latency_ms`, checking nothing."""

    def __init__(self, latency_ms: int) -> None:
        self.latency_s = latency_ms / 1000

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Wait, then accept as many records as the body holds."""
        body = await request.aread()
        await asyncio.sleep(self.latency_s)
        processed = body.count(b'{"type":')
        answer = {"status": "success", "processed": processed, "unprocessed": []}
        return httpx.Response(200, json=answer)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def writer_spec(url: str) -> WriterSpec:
    """The writer settings under test: CleverTap's limits, sent to `url`."""
    settings = {"url": url, "concurrency": CONCURRENCY, "max_records": BATCH_RECORDS}
    return WriterSpec.model_validate(settings)


def endpoint(
    stack: contextlib.ExitStack, args: argparse.Namespace
) -> tuple[UploadWriter, SandboxProcess | None]:
    """The writer to time, and the sandbox it sends to unless `--no-sandbox`."""
    if args.no_sandbox:
        fake = writer_spec("http://writer-only.invalid")
        transport = WaitingTransport(args.latency_ms)
        credentials = Credentials("bench", SecretStr("bench"))
        return UploadWriter(fake, credentials, transport=transport), None

    sandbox = stack.enter_context(SandboxProcess(latency_ms=args.latency_ms))
    credentials = Credentials(sandbox.account_id, SecretStr(sandbox.passcode))
    return UploadWriter(writer_spec(sandbox.url), credentials), sandbox


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument(
        "--no-sandbox", action="store_true", help="time the writer alone"
    )
    args = parser.parse_args()

    encoded = encoded_events(args.records)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ledger = Ledger(folder / "ledger.sqlite", "bench")
        stack.callback(ledger.close)
        writer, sandbox = endpoint(stack, args)

        started = time.perf_counter()
        result = writer.write("event", encoded, WriteContext("bench", "run", ledger))
        elapsed = time.perf_counter() - started
        stored = sandbox.stats()["records_accepted"] if sandbox else result.accepted

    rate = result.accepted / elapsed
    print(f"records sent      {result.sent:,} in {result.batches} batches")
    print(f"accepted/stored   {result.accepted:,} / {stored:,}")
    print(f"pending, retries  {result.pending_count}, {result.retries}")
    print(f"peak in flight    {writer.peak_in_flight}")
    print(f"elapsed           {elapsed:.2f} s")
    print(f"throughput        {rate:,.0f} records/s")
    # With no added latency there is no ceiling to compare with.
    if args.latency_ms:
        ideal = CONCURRENCY * BATCH_RECORDS * 1000 / args.latency_ms
        print(f"share of ideal    {rate / ideal:.1%} of {ideal:,.0f} records/s")
    print(f"peak RSS          {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
