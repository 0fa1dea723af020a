"""The Upload API writer: batches of records POSTed to CleverTap's ``/1/upload``.

One `write` call cuts the records into batches and sends them over one HTTP/1.1
client, never more than ``spec.concurrency`` requests at once (CleverTap allows
15 per account and answers 429 beyond). Every answer is read record by record
(`ctjobs.writers.responses`), and a batch counts as done only once the ledger has
stored its answer. What happens to a batch, by answer:

    200, understood      accepted and rejected records acknowledged in the ledger
    429, 5xx, timeout,   retried with exponential backoff and full jitter, honouring
    dropped connection,  Retry-After; after ``spec.max_attempts`` tries the batch is
    200 not understood   pending: returned in `WriteResult.pending`, never acknowledged
    400 (or 413)         split in halves, each sent again, so one bad record cannot
                         sink the other 999; a single record refused so is rejected
    401, 403             sending stops and `AuthenticationError` is raised
    other 4xx            sending stops and `DestinationError` is raised

When several batches in a row spend their whole retry budget the endpoint is taken
to be down: sending stops and the batches not yet sent are pending as well.

Known limits: CleverTap documents no de-duplication of events, so a batch whose
answer is lost (a dropped connection, a timeout, an answer that cannot be read)
is sent again and its events may be stored twice if the first request did land.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import polars as pl

from ctjobs.credentials import Credentials, base_url, redact
from ctjobs.errors import AuthenticationError, DestinationError
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import RECORD_KEY, REJECTION_SCHEMA, SOURCE_FILE, SOURCE_ROW
from ctjobs.writers.base import WriteContext, WriteResult
from ctjobs.writers.batches import Batch, batch_id, cut_batches
from ctjobs.writers.responses import BatchAnswer, RecordRejection, parse_upload_response

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import WriterSpec

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/1/upload"
ACCOUNT_HEADER = "X-CleverTap-Account-Id"
PASSCODE_HEADER = "X-CleverTap-Passcode"
_USER_AGENT = "ctjobs-upload"
# A Retry-After longer than this is taken as a mistake rather than waited out.
_RETRY_AFTER_LIMIT_S = 300.0

T = TypeVar("T")


class UploadWriter:
    """Sends encoded records to CleverTap's Upload API and accounts for each one.

    `backoff_base` and `backoff_cap` (seconds) shape the wait before a retry: a
    random time up to ``min(cap, base * 2**(attempt - 1))``. `give_up_after` is the
    number of batches in a row that may spend their retries before sending stops
    (None: never stop). `peak_in_flight` reports the most requests seen in flight.

    Example:
        >>> writer = UploadWriter(spec.writer, load_credentials())
        >>> result = writer.write("event", encoded, WriteContext("job", run_id))
    """

    def __init__(
        self,
        spec: WriterSpec,
        credentials: Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        give_up_after: int | None = 3,
        seed: int | None = None,
    ) -> None:
        self.spec = spec
        self.credentials = credentials
        self.url = base_url(spec.region, spec.url) + UPLOAD_PATH
        self.transport = transport
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.give_up_after = give_up_after
        self.peak_in_flight = 0
        self._random = random.Random(seed)

    def write(
        self, kind: str, encoded: pl.DataFrame, context: WriteContext
    ) -> WriteResult:
        """Send every record of `encoded` (all of one `kind`); account for each."""
        batches = cut_batches(
            encoded,
            kind,
            max_records=self.spec.max_records,
            max_bytes=self.spec.max_bytes,
        )
        upload = _Upload(self, context)
        return run_to_completion(upload.run(batches))

    def close(self) -> None:
        """Nothing to release: each `write` opens and closes its own connections."""

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try `attempt + 1`, after `attempt` tries failed."""
        jitter = self._random.random()
        if retry_after is not None:
            # Spread throttled batches so they do not all return at one instant.
            return min(retry_after, _RETRY_AFTER_LIMIT_S) + jitter * self.backoff_base
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return jitter * ceiling

    def client(self) -> httpx.AsyncClient:
        """An HTTP client with the upload headers, its pool sized to the concurrency."""
        concurrency = self.spec.concurrency
        headers = {
            ACCOUNT_HEADER: self.credentials.account_id,
            PASSCODE_HEADER: self.credentials.passcode.get_secret_value(),
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": _USER_AGENT,
        }
        return httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(self.spec.timeout_s),
            limits=httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            ),
            transport=self.transport,
        )

    @property
    def host(self) -> str:
        """The host uploads go to, for messages."""
        return urlsplit(self.url).netloc


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a fresh event loop, in a worker thread if one is running.

    A notebook already runs a loop on the main thread, where `asyncio.run` refuses
    to start a second one.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, "ctjobs-upload") as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class _Attempt:
    """The answer to one request, or why there was none, and how long it took."""

    answer: BatchAnswer
    retry_after: float | None
    elapsed_ms: float


@dataclass
class _Tally:
    """What one `write` call has done so far."""

    sent: int = 0
    accepted: int = 0
    batches: int = 0
    retries: int = 0
    rejected: list[pl.DataFrame] = field(default_factory=list)
    pending: list[pl.DataFrame] = field(default_factory=list)

    def result(self) -> WriteResult:
        """The tally as a `WriteResult`."""
        rejected = [r for r in self.rejected if r.height] or [
            pl.DataFrame(schema=REJECTION_SCHEMA)
        ]
        pending = (
            pl.concat(self.pending, how="vertical_relaxed") if self.pending else None
        )
        return WriteResult(
            sent=self.sent,
            accepted=self.accepted,
            rejected=pl.concat(rejected),
            pending=pending,
            batches=self.batches,
            retries=self.retries,
        )


class _Upload:
    """One `write` call: its client, its in-flight gate, its tally and its stop flag."""

    def __init__(self, writer: UploadWriter, context: WriteContext) -> None:
        self.writer = writer
        self.spec = writer.spec
        self.context = context
        self.tally = _Tally()
        self.failure: BaseException | None = None
        self.gave_up = False
        self._exhausted_in_a_row = 0
        self._in_flight = 0
        self._ledger_thread: concurrent.futures.Executor | None = None

    async def run(self, batches: Iterator[Batch]) -> WriteResult:
        """Send all batches through a pool of workers; raise what stopped them."""
        gate = asyncio.Semaphore(self.spec.concurrency)
        # One thread writes the ledger, in order, so its inserts never hold up the
        # event loop while other answers arrive.
        with concurrent.futures.ThreadPoolExecutor(1, "ctjobs-ledger") as ledger_thread:
            self._ledger_thread = ledger_thread
            async with self.writer.client() as client:
                # More workers than slots, so a batch waiting out its backoff does
                # not hold a slot another batch could use.
                workers = [
                    self._worker(batches, client, gate)
                    for _ in range(2 * self.spec.concurrency)
                ]
                await asyncio.gather(*workers)
        if self.failure is not None:
            raise self.failure
        return self.tally.result()

    async def _worker(
        self,
        batches: Iterator[Batch],
        client: httpx.AsyncClient,
        gate: asyncio.Semaphore,
    ) -> None:
        for batch in batches:
            if self.failure is not None:
                return
            self.tally.batches += 1
            if self.gave_up:
                self._leave_pending(batch, 0, "not sent: CleverTap kept failing")
                continue
            self.tally.sent += batch.size
            try:
                await self._deliver(batch, client, gate)
            except Exception as error:
                # Kept, not raised: the other workers finish their batches first.
                self.failure = self.failure or error

    async def _deliver(
        self, batch: Batch, client: httpx.AsyncClient, gate: asyncio.Semaphore
    ) -> None:
        """Send one batch, noted in the ledger as in flight until its outcome is known.

        A run killed while the note stands leaves the batch in doubt: it may have
        been stored, and the next run decides whether to send it again.
        """
        try:
            acknowledged = await self._send(batch, client, gate)
        except DestinationError:
            # Refused outright, so CleverTap stored none of it.
            await self._end_batch(batch)
            raise
        # Acknowledging clears the note; a batch left pending or split clears it here.
        if not acknowledged:
            await self._end_batch(batch)

    async def _begin_batch(self, batch: Batch) -> None:
        keys = batch.records[RECORD_KEY].to_list()
        run_id = self.context.run_id
        await self._in_ledger(
            lambda ledger: ledger.begin_batch(run_id, batch.batch_id, keys)
        )

    async def _end_batch(self, batch: Batch) -> None:
        await self._in_ledger(lambda ledger: ledger.end_batch(batch.batch_id))

    async def _send(
        self, batch: Batch, client: httpx.AsyncClient, gate: asyncio.Semaphore
    ) -> bool:
        """Send until answered or out of retries; True if the ledger acknowledged it."""
        body = batch.body()
        sent = list(batch.records[RECORD_JSON])
        for attempt in range(1, self.spec.max_attempts + 1):
            async with gate:
                if attempt == 1:
                    # Noted only once a request slot is ours: a batch still queued
                    # when the run dies was never sent, so it is not in doubt.
                    await self._begin_batch(batch)
                tried = await self._post(client, body, batch.size, sent)
            answer = tried.answer
            if answer.verdict == "ok":
                await self._acknowledge(batch, answer, attempt, tried.elapsed_ms)
                return True
            if answer.verdict == "bad_request":
                await self._split(batch, answer, attempt, client, gate)
                return False
            if answer.verdict in ("auth", "refused"):
                raise self._fatal(batch, answer)
            if attempt == self.spec.max_attempts or self._stopping:
                break
            await self._wait_to_retry(batch, answer, attempt, tried.retry_after)
        self._exhausted(batch, attempt, answer.message)
        return False

    async def _post(
        self, client: httpx.AsyncClient, body: bytes, size: int, sent: list[str]
    ) -> _Attempt:
        """One request, its answer parsed; a failure to get one is a `retry` answer."""
        self._in_flight += 1
        self.writer.peak_in_flight = max(self.writer.peak_in_flight, self._in_flight)
        started = time.perf_counter()
        try:
            response = await client.post(self.writer.url, content=body)
        except httpx.TransportError as error:
            problem = f"{type(error).__name__} {error}".strip()
            answer = BatchAnswer("retry", size, 0, message=self._scrub(problem))
            return _Attempt(answer, None, _ms_since(started))
        finally:
            self._in_flight -= 1
        answer = parse_upload_response(
            response.status_code, response.content, size, sent=sent
        )
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return _Attempt(answer, retry_after, _ms_since(started))

    async def _wait_to_retry(
        self, batch: Batch, answer: BatchAnswer, attempt: int, retry_after: float | None
    ) -> None:
        wait = self.writer.backoff(attempt, retry_after)
        self.tally.retries += 1
        logger.warning(
            "batch %s (%d records): %s; retrying in %.2f s (attempt %d of %d)",
            batch.batch_id,
            batch.size,
            self._scrub(answer.message),
            wait,
            attempt + 1,
            self.spec.max_attempts,
        )
        await asyncio.sleep(wait)

    async def _split(
        self,
        batch: Batch,
        answer: BatchAnswer,
        attempt: int,
        client: httpx.AsyncClient,
        gate: asyncio.Semaphore,
    ) -> None:
        """Send both halves of a refused batch; a lone refused record is rejected."""
        if batch.size == 1:
            rejection = RecordRejection(0, answer.status_code, answer.message, None)
            refused = BatchAnswer("ok", 1, answer.status_code, (), (rejection,))
            await self._acknowledge(batch, refused, attempt, 0.0)
            return

        logger.warning(
            "batch %s (%d records): %s; splitting it in halves to find the records "
            "CleverTap refuses",
            batch.batch_id,
            batch.size,
            self._scrub(answer.message),
        )
        middle = batch.size // 2
        halves = (batch.records.slice(0, middle), batch.records.slice(middle))
        # Both halves finish before an error of either is raised, so no request
        # is left running once the client closes.
        outcomes = await asyncio.gather(
            *(self._deliver(_sub_batch(batch, rows), client, gate) for rows in halves),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _acknowledge(
        self, batch: Batch, answer: BatchAnswer, attempts: int, elapsed_ms: float
    ) -> None:
        """Store the batch's answer in the ledger, then count it done."""
        rejected = rejection_rows(batch, answer.rejected)
        await self._in_ledger(
            lambda ledger: ledger.acknowledge(
                run_id=self.context.run_id,
                batch_id=batch.batch_id,
                kind=batch.kind,
                records=batch.records,
                rejected=rejected,
                attempts=attempts,
            )
        )
        self.tally.accepted += len(answer.accepted)
        self.tally.rejected.append(rejected)
        self.context.tick("sent", batch.size)
        self.context.tick("rejected", rejected.height)
        self._exhausted_in_a_row = 0
        logger.info(
            "batch %s: %d records, %d accepted, %d rejected, attempt %d, %.0f ms",
            batch.batch_id,
            batch.size,
            len(answer.accepted),
            rejected.height,
            attempts,
            elapsed_ms,
        )

    async def _in_ledger(self, work: Callable[[Ledger], None]) -> None:
        """Run `work` on the ledger thread and wait for it; nothing without a ledger."""
        ledger = self.context.ledger
        if ledger is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._ledger_thread, work, ledger)

    def _exhausted(self, batch: Batch, attempts: int, last_problem: str) -> None:
        self._leave_pending(batch, attempts, self._scrub(last_problem))
        self._exhausted_in_a_row += 1
        limit = self.writer.give_up_after
        if limit is not None and self._exhausted_in_a_row >= limit and not self.gave_up:
            self.gave_up = True
            logger.warning(
                "%d batches in a row spent their retries; %s looks down, so the "
                "batches not yet sent are left pending for the next run",
                self._exhausted_in_a_row,
                self.writer.host,
            )

    def _leave_pending(self, batch: Batch, attempts: int, problem: str) -> None:
        self.tally.pending.append(batch.records)
        logger.warning(
            "batch %s (%d records, %s) left pending after %d attempts: %s",
            batch.batch_id,
            batch.size,
            batch.sources(),
            attempts,
            problem,
        )

    @property
    def _stopping(self) -> bool:
        return self.failure is not None or self.gave_up

    def _fatal(self, batch: Batch, answer: BatchAnswer) -> DestinationError:
        """The error that stops the upload, naming headers and host, never values."""
        message = self._scrub(answer.message)
        if answer.verdict == "auth":
            return AuthenticationError(
                f"CleverTap at {self.writer.host} refused the credentials "
                f"({message}) for batch {batch.batch_id}. Check the account ID sent "
                f"in {ACCOUNT_HEADER} ({self.writer.credentials.account_id!r}, from "
                f"CLEVERTAP_ACCOUNT_ID) and the passcode sent in {PASSCODE_HEADER} "
                "(CLEVERTAP_PASSCODE), and that the region matches the account: a "
                "wrong regional host also answers 401. Batches answered before this "
                "one stay acknowledged; fix the credentials and re-run to send the rest"
            )
        return DestinationError(
            f"CleverTap at {self.writer.host} answered {message} for batch "
            f"{batch.batch_id} ({batch.sources()}); check the writer's region or url. "
            "Nothing of that batch was acknowledged; re-run once it is fixed"
        )

    def _scrub(self, text: str) -> str:
        return redact(text, [self.writer.credentials.passcode])


def rejection_rows(
    batch: Batch, rejections: tuple[RecordRejection, ...]
) -> pl.DataFrame:
    """Rejection-frame rows for the refused records of `batch`, with provenance.

    ``record`` is the JSON text that was sent, not CleverTap's echo of it, so the
    rejected-records file can be corrected and replayed as it stands.
    """
    if not rejections:
        return pl.DataFrame(schema=REJECTION_SCHEMA)
    rows = batch.records.select(
        pl.col(SOURCE_FILE, SOURCE_ROW, RECORD_KEY, RECORD_JSON).gather(
            [r.index for r in rejections]
        )
    )
    return pl.DataFrame(
        {
            SOURCE_FILE: rows[SOURCE_FILE],
            SOURCE_ROW: rows[SOURCE_ROW],
            RECORD_KEY: rows[RECORD_KEY],
            "type": [batch.kind] * len(rejections),
            "code": [r.code for r in rejections],
            "reason": [r.message for r in rejections],
            "record": rows[RECORD_JSON],
        },
        schema=REJECTION_SCHEMA,
    )


def _sub_batch(batch: Batch, records: pl.DataFrame) -> Batch:
    return Batch(batch_id(records[RECORD_KEY]), batch.kind, records)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
