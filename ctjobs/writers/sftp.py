"""The import writers: CleverTap import CSVs and manifests, over SFTP or to files.

`SftpImportWriter` uploads to CleverTap's SFTP import; `FileImportWriter` writes
the same files to a local folder or an fsspec URL (``s3://``, ``gs://``) for
another tool to carry. Both build the files with `ctjobs.writers.importfiles`.

Delivery order is what keeps CleverTap from reading half a file: each CSV goes
up as ``<name>.csv.part``, its size is checked, and only then is it renamed to
``<name>.csv``; its manifest follows the same way, after the CSV. CleverTap
starts an import only when the manifest arrives, so it never sees a partial CSV.

Every delivered CSV is recorded in the ``import_files`` table of the job's ledger
file (name, digest, rows, bytes), and its records are marked acknowledged. A
connection lost mid-way leaves the files not yet delivered as pending records, to
be sent by the next run. A re-run skips files already recorded with the same
digest. Before it uploads anything, each delivery also removes what interrupted
uploads of the job left in the folder: every ``.part`` file of the job's records
of that kind, and every CSV of theirs that has no manifest and that the ledger
does not record as delivered. Such a CSV was never picked up (CleverTap waits for
the manifest) and its records are pending, so the run sends them again in its own
files. This matters because a re-run sends only the pending records, so its file
names (a hash of the records) differ from the interrupted run's.

Known limits: the step between the manifest's rename and its ledger entry is not
atomic, so a crash in that instant makes the next run deliver that file again.
Two runs of the same job against the same folder at once are not supported: one
run's clean-up could remove the CSV the other has just renamed into place.
CleverTap reports an import's outcome only by email (to ``client_email``) and in
its Activity log, hours later: "accepted" here means delivered, not loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
import sqlite3
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncssh
import polars as pl

from ctjobs.errors import AuthenticationError, DestinationError, UsageError
from ctjobs.job.ledger import now
from ctjobs.job.spec import JobSpec, WriterSpec
from ctjobs.readers.storage import filesystem, protocol_of
from ctjobs.records.frame import empty_rejections
from ctjobs.writers.base import WriteContext, WriteResult
from ctjobs.writers.importfiles import (
    DEFAULT_MAX_FILE_BYTES,
    PART_SUFFIX,
    ImportFiles,
    ImportPart,
    TypeCase,
    check_max_file_bytes,
    import_prefix,
    import_stem,
    leftovers,
    manifest,
    refuse_nested,
    write_import_csvs,
    write_manifest,
)

log = logging.getLogger(__name__)

PASSWORD_ENV = "CTJOBS_SFTP_PASSWORD"
ACCOUNT_ENV = "CLEVERTAP_ACCOUNT_ID"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

_T = TypeVar("_T")
_IMPORT_FILES = """
CREATE TABLE IF NOT EXISTS import_files (
    job TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
    rows INTEGER NOT NULL, bytes INTEGER NOT NULL, uploaded_at TEXT NOT NULL,
    PRIMARY KEY (job, name)
)
"""


class _Interrupted(Exception):
    """The destination went away mid-delivery; what is left waits for a re-run."""


@dataclass(frozen=True)
class Delivery:
    """One CSV part and its manifest, both on local disk, ready to deliver."""

    part: ImportPart
    manifest_path: Path
    manifest_name: str


@dataclass(frozen=True)
class Leftovers:
    """Which files in the destination folder earlier interrupted uploads left.

    `prefix` is ``<job>-<kind>-``, shared by every file of the job's records of
    one kind whatever records each run held. `recorded` tells whether the ledger
    records a file name as delivered; None (no ledger) keeps every complete CSV.
    """

    prefix: str
    recorded: Callable[[str], bool] | None = None

    def among(self, names: Iterable[str]) -> list[str]:
        """The `names` to remove before uploading (see `importfiles.leftovers`)."""
        return leftovers(names, self.prefix, recorded=self.recorded)


def _why_removed(name: str) -> str:
    if name.endswith(PART_SUFFIX):
        return "a partial file left by an interrupted upload"
    return (
        "a CSV of an interrupted upload whose manifest never went up (never "
        "imported; its records are sent again)"
    )


# ---------------------------------------------------------------- the ledger table


class DeliveredFiles:
    """The import files a job has delivered: the ledger file's ``import_files`` table.

    Without a ledger it remembers nothing, so every file is delivered.
    """

    def __init__(self, path: Path | None, job: str) -> None:
        self.job = job
        target = str(path) if path is not None else ":memory:"
        self._db = sqlite3.connect(target, timeout=30, check_same_thread=False)
        with self._db:
            self._db.execute(_IMPORT_FILES)

    def digest(self, name: str) -> tuple[str, str] | None:
        """The digest and delivery time recorded for `name`, if it was delivered."""
        row = self._db.execute(
            "SELECT digest, uploaded_at FROM import_files WHERE job = ? AND name = ?",
            (self.job, name),
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def record(self, name: str, part: ImportPart) -> None:
        """Remember that `part` was delivered as `name`."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO import_files VALUES (?, ?, ?, ?, ?, ?)",
                (self.job, name, part.digest, part.rows, part.size, now()),
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


# ---------------------------------------------------------------- targets


class ImportTarget(Protocol):
    """Where import files go: an SFTP server or a file store."""

    def location(self, name: str) -> str:
        """The full address of the file `name`, for logs and the ledger."""
        ...

    def deliver(
        self,
        left: Leftovers,
        deliveries: Sequence[Delivery],
        delivered: Callable[[Delivery], None],
    ) -> None:
        """Remove `left`'s files, then deliver each CSV and its manifest in turn.

        `delivered` is called after each pair.
        """
        ...


class FileTarget:
    """A local folder or an fsspec URL that receives import files."""

    def __init__(self, out: str, storage_options: dict[str, Any] | None = None) -> None:
        self.local = protocol_of(out) == "file"
        self.out = str(Path(out).expanduser()) if self.local else out.rstrip("/")
        self.fs = filesystem(self.out, storage_options)

    def location(self, name: str) -> str:
        """The file's path or URL under the output folder."""
        return f"{self.out}/{name}"

    def deliver(
        self,
        left: Leftovers,
        deliveries: Sequence[Delivery],
        delivered: Callable[[Delivery], None],
    ) -> None:
        """Clear leftovers, then copy each CSV and its manifest into the folder."""
        try:
            if self.local:
                # Object stores have no folders (and s3fs would create a bucket).
                self.fs.makedirs(self.out, exist_ok=True)
            self._clear_leftovers(left)
            for delivery in deliveries:
                self._put(delivery.part.path, delivery.part.csv_name)
                self._put(delivery.manifest_path, delivery.manifest_name)
                delivered(delivery)
        except OSError as error:
            raise _Interrupted(f"{self.out}: {error}") from error

    def _put(self, local: Path, name: str) -> None:
        final = self.location(name)
        if not self.local:
            # An object store shows an object only once its upload has completed.
            self.fs.put_file(str(local), final)
            return
        temporary = final + PART_SUFFIX
        self.fs.put_file(str(local), temporary)
        _check_size(int(self.fs.size(temporary)), local, temporary)
        self.fs.mv(temporary, final)

    def _clear_leftovers(self, left: Leftovers) -> None:
        self.fs.invalidate_cache(self.out)
        try:
            found = self.fs.ls(self.out, detail=False)
        except FileNotFoundError:
            return  # nothing was ever written there
        except PermissionError as error:
            # Some bucket credentials may write but not list: deliver all the same.
            log.warning("%s: cannot list leftovers to remove (%s)", self.out, error)
            return
        for name in left.among(posixpath.basename(str(p).rstrip("/")) for p in found):
            log.info("removing %s, %s", self.location(name), _why_removed(name))
            with contextlib.suppress(FileNotFoundError):  # gone meanwhile
                self.fs.rm_file(self.location(name))


def _check_size(remote: int, local: Path, where: str) -> None:
    expected = local.stat().st_size
    if remote != expected:
        raise _Interrupted(f"{where}: {remote} bytes arrived of {expected}")


@dataclass(frozen=True)
class SftpSettings:
    """How to reach an SFTP server. The password, if any, stays in the environment."""

    host: str
    port: int = 22
    username: str = ""
    key_path: Path | None = None
    known_hosts: Path = Path.home() / ".ssh" / "known_hosts"
    accept_unknown_host: bool = False
    remote_dir: str = "."
    timeout_s: float = 60.0

    @classmethod
    def from_spec(cls, config: WriterSpec, base_dir: Path = Path(".")) -> SftpSettings:
        """Settings from a job's ``[writer]``, paths relative to the job file."""
        if not config.host:
            message = "writer: an sftp writer needs `host` (CleverTap's SFTP server)"
            raise UsageError(message)
        username = config.username or os.environ.get(ACCOUNT_ENV)
        if not username:
            message = (
                f"writer: give `username` for the SFTP server or set {ACCOUNT_ENV} "
                "(CleverTap's SFTP user name is the account id)"
            )
            raise UsageError(message)
        key_path = _resolve(config.key_path, base_dir) if config.key_path else None
        if key_path is not None and not key_path.is_file():
            message = f"writer.key_path: no private key file at {key_path}"
            raise UsageError(message)
        known_hosts = _resolve(config.known_hosts or DEFAULT_KNOWN_HOSTS, base_dir)
        return cls(
            host=config.host,
            port=config.port,
            username=username,
            key_path=key_path,
            known_hosts=known_hosts,
            accept_unknown_host=config.accept_unknown_host,
            remote_dir=config.remote_dir,
            timeout_s=config.timeout_s,
        )


def _resolve(path: str, base_dir: Path) -> Path:
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else base_dir / resolved


class HostKeyPin:
    """Trusts a server only with a host key in known_hosts, pinning new ones on request.

    A host with no entry is refused unless ``accept_unknown_host`` is set, in which
    case its key is appended to known_hosts (trust on first use). A host whose entry
    holds a different key is always refused: that is what an interception looks like.
    """

    def __init__(self, known_hosts: Path, *, accept_unknown: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_unknown = accept_unknown
        self.refusal: str | None = None

    def trusted(self) -> str | tuple[list[Any], list[Any], list[Any]]:
        """What asyncssh's ``known_hosts`` option takes: the file, or no keys at all."""
        # An empty value would make asyncssh read ~/.ssh/known_hosts instead.
        return str(self.known_hosts) if self.known_hosts.is_file() else ([], [], [])

    def admit(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Whether to trust `key`, a key not already listed for this host."""
        pattern = _host_pattern(host, port)
        line = f"{pattern} {_public_line(key)}"
        where = f"sftp://{host}:{port}"
        fingerprint = key.get_fingerprint()
        if self._listed(host, addr, port):
            self.refusal = (
                f"{where}: the server's host key ({fingerprint}) does not match "
                f"the one pinned in {self.known_hosts}. If the server's key really "
                f"changed, remove the old entry (ssh-keygen -R '{pattern}' -f "
                f"{self.known_hosts}) and pin the new one; otherwise do not connect"
            )
            return False
        if not self.accept_unknown:
            self.refusal = (
                f"{where}: the server's host key ({fingerprint}) is not in "
                f"{self.known_hosts}. Check the fingerprint with CleverTap, then pin "
                "it: run once with accept_unknown_host = true under [writer], or add "
                f"this line to {self.known_hosts}: {line}"
            )
            return False
        self._pin(line)
        log.warning(
            "pinned the host key of %s (%s) in %s", where, fingerprint, self.known_hosts
        )
        return True

    def _listed(self, host: str, addr: str, port: int) -> bool:
        if not self.known_hosts.is_file():
            return False
        matched = asyncssh.match_known_hosts(
            str(self.known_hosts), host, addr, None if port == 22 else port
        )
        return bool(matched[0])

    def _pin(self, line: str) -> None:
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        existing = self.known_hosts.read_text() if self.known_hosts.is_file() else ""
        separator = "" if not existing or existing.endswith("\n") else "\n"
        with self.known_hosts.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}{line}\n")


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _public_line(key: asyncssh.SSHKey) -> str:
    """``<algorithm> <base64>`` of a public key, without its comment."""
    fields = key.export_public_key("openssh").decode().split()
    return " ".join(fields[:2])


class _PinningClient(asyncssh.SSHClient):
    """An SSH client that asks a `HostKeyPin` about keys known_hosts does not list."""

    def __init__(self, pin: HostKeyPin) -> None:
        self.pin = pin

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.pin.admit(host, addr, port, key)


class SftpTarget:
    """An SFTP server that receives import files, CleverTap's or any other."""

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self.pin = HostKeyPin(
            settings.known_hosts, accept_unknown=settings.accept_unknown_host
        )

    @property
    def address(self) -> str:
        """``sftp://user@host:port``, for messages (no credentials)."""
        s = self.settings
        return f"sftp://{s.username}@{s.host}:{s.port}"

    def location(self, name: str) -> str:
        """The file's ``sftp://`` URL."""
        return f"{self.address}/{self._remote(name).lstrip('/')}"

    def deliver(
        self,
        left: Leftovers,
        deliveries: Sequence[Delivery],
        delivered: Callable[[Delivery], None],
    ) -> None:
        """Connect, clear leftovers, then upload each CSV and its manifest."""
        _run_blocking(lambda: self._deliver(left, deliveries, delivered))

    async def _deliver(
        self,
        left: Leftovers,
        deliveries: Sequence[Delivery],
        delivered: Callable[[Delivery], None],
    ) -> None:
        try:
            async with (
                self._connect() as connection,
                connection.start_sftp_client() as sftp,
            ):
                await self._prepare(sftp, left)
                for delivery in deliveries:
                    await self._put(sftp, delivery.part.path, delivery.part.csv_name)
                    await self._put(
                        sftp, delivery.manifest_path, delivery.manifest_name
                    )
                    delivered(delivery)
        except asyncssh.HostKeyNotVerifiable as error:
            message = (
                self.pin.refusal or f"{self.address}: host key not trusted ({error})"
            )
            raise DestinationError(message) from None
        except asyncssh.PermissionDenied:
            raise AuthenticationError(self._login_help()) from None
        except asyncssh.KeyImportError as error:
            message = f"{self.settings.key_path}: cannot read the private key ({error})"
            raise AuthenticationError(message) from None
        except (asyncssh.Error, OSError, TimeoutError) as error:
            raise _Interrupted(f"{self.address}: {error}") from error

    def _connect(self) -> Any:
        s = self.settings
        # () lets asyncssh try the user's default keys and agent; a path pins one key.
        keys: Sequence[str] = [str(s.key_path)] if s.key_path else ()
        return asyncssh.connect(
            s.host,
            s.port,
            username=s.username,
            password=os.environ.get(PASSWORD_ENV) or None,
            client_keys=keys,
            known_hosts=self.pin.trusted(),
            client_factory=lambda: _PinningClient(self.pin),
            connect_timeout=s.timeout_s,
        )

    def _login_help(self) -> str:
        return (
            f"{self.address}: the server refused the login. Set writer.key_path to the "
            "private half of the import key registered under Settings > Partner > "
            f"Import > SFTP, or set {PASSWORD_ENV}; the user name is the account id"
        )

    def _remote(self, name: str) -> str:
        folder = self.settings.remote_dir
        return name if folder in {"", "."} else posixpath.join(folder, name)

    async def _prepare(self, sftp: asyncssh.SFTPClient, left: Leftovers) -> None:
        """Make the remote folder and remove what interrupted uploads left in it."""
        folder = self.settings.remote_dir or "."
        if folder != ".":
            await sftp.makedirs(folder, exist_ok=True)
        for name in left.among(await sftp.listdir(folder)):
            log.info("removing %s, %s", self.location(name), _why_removed(name))
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):  # gone meanwhile
                await sftp.remove(self._remote(name))

    async def _put(self, sftp: asyncssh.SFTPClient, local: Path, name: str) -> None:
        final = self._remote(name)
        temporary = final + PART_SUFFIX
        await sftp.put(str(local), temporary)
        attributes = await sftp.stat(temporary)
        _check_size(int(attributes.size or 0), local, self.location(name + PART_SUFFIX))
        await _replace(sftp, temporary, final)


async def _replace(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    """Rename `source` over `target`; plain SFTP renames refuse to overwrite."""
    try:
        await sftp.posix_rename(source, target)
        return
    except asyncssh.SFTPOpUnsupported:
        pass
    if await sftp.exists(target):
        await sftp.remove(target)
    await sftp.rename(source, target)


def _run_blocking(coroutine: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion, also from code already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine())
    # A notebook runs its own loop in this thread; ours gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine())).result()


# ---------------------------------------------------------------- writers


class ImportWriter:
    """Builds CleverTap import files and delivers them to a target.

    `write` returns ``sent`` and ``accepted`` as the records in delivered files.
    CleverTap reports how an import went only later, by email to `client_email`
    (with a CSV of failed rows) and in Settings > Import > Activity log, so a
    record rejected there does not appear in the result.
    """

    def __init__(
        self,
        target: ImportTarget,
        *,
        client_email: str | None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        type_case: TypeCase = "lower",
        spool_dir: str | Path | None = None,
    ) -> None:
        if not client_email:
            message = (
                "writer: set `client_email` under [writer]: every CleverTap import "
                "manifest names the address that gets the import's status emails"
            )
            raise UsageError(message)
        self.target = target
        self.client_email = client_email
        self.max_file_bytes = check_max_file_bytes(max_file_bytes)
        self.type_case = type_case
        self.spool_dir = spool_dir

    def write(
        self, kind: str, encoded: pl.DataFrame, context: WriteContext
    ) -> WriteResult:
        """Write `encoded` as import files; deliver those not delivered before."""
        kept, rejected = refuse_nested(kind, encoded)
        if rejected.height and context.ledger is not None and not context.dry_run:
            context.ledger.add_rejections(context.run_id, "import", rejected)
        result = WriteResult(rejected=rejected)
        if kept.height == 0:
            return result
        stem = import_stem(context.job, kind, kept)
        prefix = import_prefix(context.job, kind)
        with tempfile.TemporaryDirectory(
            prefix="ctjobs-import-", dir=self.spool_dir
        ) as spool:
            files = write_import_csvs(
                kind,
                kept,
                folder=Path(spool),
                stem=stem,
                max_file_bytes=self.max_file_bytes,
            )
            deliveries = self._manifests(files, context.run_id, Path(spool))
            return result.merge(self._deliver(prefix, files, deliveries, context))

    def close(self) -> None:
        """Nothing stays open between writes: each delivery connects anew."""

    def _manifests(
        self, files: ImportFiles, run_id: str, folder: Path
    ) -> list[Delivery]:
        deliveries = []
        for part in files.parts:
            content = manifest(
                part,
                files.kind,
                files.columns,
                client_email=self.client_email,
                type_case=self.type_case,
            )
            name = part.manifest_name(run_id)
            write_manifest(folder / name, content)
            deliveries.append(Delivery(part, folder / name, name))
        return deliveries

    def _deliver(
        self,
        prefix: str,
        files: ImportFiles,
        deliveries: list[Delivery],
        context: WriteContext,
    ) -> WriteResult:
        if context.dry_run:
            return self._dry_run(prefix, files, deliveries)
        ledger_path = context.ledger.path if context.ledger is not None else None
        register = DeliveredFiles(ledger_path, context.job)
        done: dict[str, str] = {}
        try:
            todo = self._undelivered(deliveries, register, files, context, done)
            record = self._recorder(files, register, context, done)
            left = Leftovers(prefix, self._recorded(register, ledger_path))
            try:
                self.target.deliver(left, todo, record)
            except _Interrupted as error:
                log.error(
                    "%s; %d of %d import file(s) not delivered, left pending: "
                    "re-run to resume",
                    error,
                    len(deliveries) - len(done),
                    len(deliveries),
                )
        finally:
            register.close()
        return self._result(files, done)

    def _recorded(
        self, register: DeliveredFiles, ledger_path: Path | None
    ) -> Callable[[str], bool] | None:
        """Whether the ledger records a file name as delivered; None without one."""
        if ledger_path is None:
            return None
        return lambda name: register.digest(self.target.location(name)) is not None

    def _dry_run(
        self, prefix: str, files: ImportFiles, deliveries: list[Delivery]
    ) -> WriteResult:
        """Build the files; a local folder gets them to look at, nothing else does."""
        if not isinstance(self.target, FileTarget):
            log.info("dry run: built %d import file(s), sent none", len(deliveries))
            return WriteResult()
        written: dict[str, str] = {}
        self.target.deliver(
            Leftovers(prefix),
            deliveries,
            lambda d: written.update({d.part.name: "written"}),
        )
        result = self._result(files, written)
        return WriteResult(files=result.files, outputs=result.outputs)

    def _undelivered(
        self,
        deliveries: list[Delivery],
        register: DeliveredFiles,
        files: ImportFiles,
        context: WriteContext,
        done: dict[str, str],
    ) -> list[Delivery]:
        """The deliveries not already recorded with the same digest."""
        todo = []
        for delivery in deliveries:
            name = self.target.location(delivery.part.csv_name)
            found = register.digest(name)
            if found is None or found[0] != delivery.part.digest:
                if found is not None:
                    log.warning(
                        "%s changed since its delivery on %s; replacing it",
                        name,
                        found[1],
                    )
                todo.append(delivery)
                continue
            log.info("%s: already delivered on %s, skipped", name, found[1])
            self._acknowledge(delivery.part, files, context)
            done[delivery.part.name] = "already delivered"
        return todo

    def _recorder(
        self,
        files: ImportFiles,
        register: DeliveredFiles,
        context: WriteContext,
        done: dict[str, str],
    ) -> Callable[[Delivery], None]:
        """The callback that records one delivered CSV and its manifest."""

        def record(delivery: Delivery) -> None:
            part = delivery.part
            name = self.target.location(part.csv_name)
            register.record(name, part)
            self._acknowledge(part, files, context)
            done[part.name] = "delivered"
            log.info(
                "delivered %s (%d records, %d bytes) and %s",
                name,
                part.rows,
                part.size,
                delivery.manifest_name,
            )

        return record

    def _acknowledge(
        self, part: ImportPart, files: ImportFiles, context: WriteContext
    ) -> None:
        """Mark the part's records acknowledged, so later runs skip them."""
        if context.ledger is None:
            return
        context.ledger.acknowledge(
            run_id=context.run_id,
            batch_id=part.name,
            kind=files.kind,
            records=files.part_records(part),
            rejected=empty_rejections(),
            attempts=1,
        )

    def _result(self, files: ImportFiles, done: dict[str, str]) -> WriteResult:
        finished = [part for part in files.parts if part.name in done]
        waiting = [files.part_records(p) for p in files.parts if p.name not in done]
        delivered = sum(part.rows for part in finished)
        return WriteResult(
            sent=delivered,
            accepted=delivered,
            pending=pl.concat(waiting) if waiting else None,
            batches=sum(1 for status in done.values() if status == "delivered"),
            outputs=[self.target.location(part.csv_name) for part in finished],
            files=[
                {
                    "path": self.target.location(part.csv_name),
                    "records": part.rows,
                    "bytes": part.size,
                    "status": done[part.name],
                }
                for part in finished
            ],
        )


class SftpImportWriter(ImportWriter):
    """Delivers import files to CleverTap's SFTP import (see the module docstring)."""

    def __init__(
        self,
        settings: SftpSettings,
        *,
        client_email: str | None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        type_case: TypeCase = "lower",
        spool_dir: str | Path | None = None,
    ) -> None:
        super().__init__(
            SftpTarget(settings),
            client_email=client_email,
            max_file_bytes=max_file_bytes,
            type_case=type_case,
            spool_dir=spool_dir,
        )


class FileImportWriter(ImportWriter):
    """Writes import files to a local folder or an fsspec URL instead of SFTP."""

    def __init__(
        self,
        out: str | Path,
        *,
        client_email: str | None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        type_case: TypeCase = "lower",
        storage_options: dict[str, Any] | None = None,
        spool_dir: str | Path | None = None,
    ) -> None:
        super().__init__(
            FileTarget(str(out), storage_options),
            client_email=client_email,
            max_file_bytes=max_file_bytes,
            type_case=type_case,
            spool_dir=spool_dir,
        )


def make_import_writer(spec: JobSpec, *, out: str | Path | None = None) -> ImportWriter:
    """The import writer a job's ``[writer]`` names: ``kind = "sftp"`` or ``"files"``.

    For ``files``, `out` (the CLI's ``--out``) wins over ``writer.out``; a relative
    ``writer.out`` is taken from the job file's folder. `out` is ignored for SFTP.
    """
    config = spec.writer
    type_case = _type_case(config)
    if config.kind == "files":
        return FileImportWriter(
            _output(config, out, spec.base_dir),
            client_email=config.client_email,
            max_file_bytes=config.max_file_bytes,
            type_case=type_case,
        )
    return SftpImportWriter(
        SftpSettings.from_spec(config, spec.base_dir),
        client_email=config.client_email,
        max_file_bytes=config.max_file_bytes,
        type_case=type_case,
    )


def _output(config: WriterSpec, out: str | Path | None, base_dir: Path) -> str:
    if out is not None:
        return str(out)
    if not config.out:
        message = "writer: a files writer needs `out` (a folder or URL) or --out"
        raise UsageError(message)
    if protocol_of(config.out) != "file":
        return config.out
    return str(_resolve(config.out, base_dir))


def _type_case(config: WriterSpec) -> TypeCase:
    """How the manifest spells ``type``: CleverTap's samples and FAQ disagree."""
    value = getattr(config, "manifest_type_case", "lower")
    if value not in {"lower", "upper"}:
        raise UsageError("writer.manifest_type_case must be 'lower' or 'upper'")
    return "upper" if value == "upper" else "lower"
