"""The ``ctjobs`` command line: parse, call, print, exit. Nothing else lives here.

Exit codes: 0 done with nothing rejected, 3 done with rejected records, 1 failed
(or records left pending: re-run to resume), 2 bad usage or job file.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ctjobs.errors import CtjobsError, UsageError
from ctjobs.job.summary import EXIT_FAILED, EXIT_USAGE, RunSummary

app = typer.Typer(
    help=(
        "ctjobs: read CleverTap exports, reshape them with Polars, and send them back "
        "to CleverTap (Upload API or SFTP import) without losing or doubling a record."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state: dict[str, Any] = {"debug": False}

JobPath = Annotated[
    Path, typer.Argument(help="The job file (TOML).", show_default=False)
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Build and check everything; send nothing.")
]
Out = Annotated[
    # Text, not a Path: a Path would fold "s3://b/p" into the local "s3:/b/p"
    # before the writer could say a dry run takes a local folder.
    str | None,
    typer.Option("--out", help="Local folder for the dry run's request bodies."),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the run summary as one JSON object.")
]
DateFrom = Annotated[
    str | None,
    typer.Option("--from", help="First day to read (YYYY-MM-DD), inclusive."),
]
DateTo = Annotated[
    str | None, typer.Option("--to", help="Last day to read (YYYY-MM-DD), inclusive.")
]
ChunkOption = Annotated[
    str,
    typer.Option(
        "--chunk",
        help="Process all files at once, one day at a time, or one file at a time "
        "(all, day, file); smaller chunks keep memory flat on big inputs.",
    ),
]


def _chunk(value: str) -> Any:
    if value not in {"all", "day", "file"}:
        raise UsageError(f"--chunk {value!r}: use all, day or file")
    return value


@app.callback()
def _options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Per-batch and per-file detail.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors.")
    ] = False,
) -> None:
    """Options for every command."""
    _state["debug"] = debug
    level = (
        logging.ERROR
        if quiet
        else logging.DEBUG
        if debug
        else (logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_scrub_log)
    _state["quiet"] = quiet
    # Storage libraries log every file open at DEBUG; ctjobs logs one line per file.
    for noisy in (
        "fsspec",
        "s3fs",
        "gcsfs",
        "botocore",
        "aiobotocore",
        "urllib3",
        "httpcore",
    ):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))


def _scrub_log(record: logging.LogRecord) -> bool:
    """Let `record` through with every secret value scrubbed from its message."""
    from ctjobs.report.html import scrub_secrets

    record.msg, record.args = scrub_secrets(record.getMessage()), None
    return True


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: give a day as YYYY-MM-DD") from None


def _fail(error: BaseException, *, as_json: bool = False) -> None:
    if _state["debug"]:
        raise error
    summary = getattr(error, "summary", None)
    if as_json and summary is not None:
        typer.echo(summary.to_json())
    code = error.exit_code if isinstance(error, CtjobsError) else EXIT_FAILED
    from ctjobs.report.html import scrub_secrets

    typer.echo(f"ctjobs: error: {scrub_secrets(str(error))}", err=True)
    raise typer.Exit(code)


def _report(summary: RunSummary, as_json: bool) -> None:
    if as_json:
        typer.echo(summary.to_json())
    elif not _state.get("quiet"):
        typer.echo(str(summary))
    raise typer.Exit(summary.exit_code)


@app.command()
def run(
    job: JobPath,
    dry_run: DryRun = False,
    out: Out = None,
    as_json: AsJson = False,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    chunk: ChunkOption = "all",
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Start the bundled CleverTap sandbox and send to it, not to CleverTap.",
        ),
    ] = False,
) -> None:
    """Run a job: read, transform, build records, check them, and send them.

    Re-running a job that crashed or was killed sends only what was not
    acknowledged. With --dry-run --out DIR the exact request bodies are written
    under DIR and nothing is sent. With --sandbox the records go to a local
    CleverTap stand-in that is started for the run and stopped after it.
    """
    from ctjobs.job.progress import cli_progress
    from ctjobs.job.runner import run_job

    try:
        with (
            _maybe_sandbox(sandbox, quiet=as_json),
            cli_progress(quiet=bool(_state.get("quiet")) or as_json) as progress,
        ):
            summary = run_job(
                job,
                dry_run=dry_run,
                out=out,
                date_from=_day(date_from, "--from"),
                date_to=_day(date_to, "--to"),
                chunk=_chunk(chunk),
                progress=progress,
            )
    except (CtjobsError, OSError) as error:
        _fail(error, as_json=as_json)
    _report(summary, as_json)


@contextmanager
def _maybe_sandbox(wanted: bool, *, quiet: bool) -> Iterator[None]:
    """Point the run at a freshly started sandbox, with its own credentials."""
    if not wanted:
        yield
        return
    from ctjobs.sandbox import SandboxProcess

    names = ("CLEVERTAP_API_URL", "CLEVERTAP_ACCOUNT_ID", "CLEVERTAP_PASSCODE")
    saved = {name: os.environ.get(name) for name in names}
    with SandboxProcess() as server:
        os.environ.update(
            CLEVERTAP_API_URL=server.url,
            CLEVERTAP_ACCOUNT_ID=server.account_id,
            CLEVERTAP_PASSCODE=server.passcode,
        )
        if not quiet:
            typer.echo(f"sandbox listening at {server.url}", err=True)
        try:
            yield
            if not quiet:
                stats = server.stats()
                typer.echo(
                    f"sandbox stored {stats.get('records_accepted', 0)} record(s), "
                    f"rejected {stats.get('records_rejected', 0)}, peak in flight "
                    f"{stats.get('max_in_flight_seen', 0)}",
                    err=True,
                )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@app.command()
def history(
    job: Annotated[str | None, typer.Argument(help="Only this job's runs.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the runs as one JSON array.")
    ] = False,
) -> None:
    """List runs, newest first, with their counts and outcome."""
    from ctjobs.job.history import history_frame

    frame = history_frame(job)
    if as_json:
        typer.echo(frame.write_json())
        return
    if frame.height == 0:
        others = history_frame(None) if job else frame
        if job and others.height:
            names = ", ".join(sorted(set(others["job"].to_list())))
            typer.echo(f"no runs of job {job!r} yet; jobs with runs: {names}")
        else:
            typer.echo("no runs yet")
        return
    for row in frame.iter_rows(named=True):
        mode = f"{'dry-' if row['dry_run'] else ''}{row['mode']}"
        typer.echo(
            f"{row['run_id']}  {row['job']:<24} {mode:<12} {row['status']:<10} "
            f"read {row['rows_read']:>8}  sent {row['sent']:>8}  accepted "
            f"{row['accepted']:>8}  rejected {row['rejected'] + row['rejected_preflight']:>6}  "
            f"pending {row['pending']:>6}"
        )


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run to show.")],
    html: Annotated[
        bool,
        typer.Option(
            "--html", help="Print the HTML report's path; fail if it was not written."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run's stored summary as JSON.")
    ] = False,
) -> None:
    """One run's summary, rejected records by reason with examples, and files read."""
    from ctjobs.job.history import describe_run

    try:
        text, report = describe_run(run_id, as_json=as_json)
    except CtjobsError as error:
        _fail(error)
    if html and not report.is_file():
        message = f"run {run_id} has no HTML report (no file at {report})"
        typer.echo(f"ctjobs: error: {message}", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(str(report) if html else text)


@app.command()
def samples(
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path(
        "data/samples"
    ),
    seed: Annotated[
        int, typer.Option(help="Seed; the same seed gives the same files.")
    ] = 7,
    rows: Annotated[
        int | None, typer.Option(help="Instead: this many generated event rows.")
    ] = None,
    format: Annotated[
        str, typer.Option(help="parquet or csv, with --rows.")
    ] = "parquet",
) -> None:
    """Generate CleverTap-layout sample exports (the bundled samples, or bigger)."""
    from ctjobs.samples import generate_events, generate_samples

    if rows is None:
        written = generate_samples(out, seed=seed)
    else:
        written = generate_events(rows, out, seed=seed, fmt=format)
    typer.echo(f"wrote {len(written)} file(s) under {out}")


def _register_servers() -> None:
    from ctjobs.sandbox.cli import sandbox_command
    from ctjobs.webhook.cli import webhook_app

    app.command("sandbox")(sandbox_command)
    app.add_typer(webhook_app, name="webhook")


def _register_jobs() -> None:
    try:
        from ctjobs.job import commands
    except ImportError:
        return
    commands.register(app)


_register_servers()
_register_jobs()


def main() -> None:
    """Entry point of the ``ctjobs`` console script."""
    try:
        app()
    except UsageError as error:
        typer.echo(f"ctjobs: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except Exception as error:
        # A failure ctjobs did not foresee still ends in one line; the run's
        # ledger entry and summary were written before it got here.
        if _state["debug"]:
            raise
        first = (str(error).strip().splitlines() or [""])[0]
        typer.echo(
            f"ctjobs: error: {type(error).__name__}: {first} "
            "(run again with --debug for the traceback)",
            err=True,
        )
        sys.exit(EXIT_FAILED)
