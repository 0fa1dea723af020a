"""The job commands beyond ``run``: backfill and replay."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ctjobs import cli
from ctjobs.errors import CtjobsError


def register(app: typer.Typer) -> None:
    """Add the job commands to the ``ctjobs`` app (called once ``cli`` is loaded)."""

    @app.command()
    def backfill(
        job: cli.JobPath,
        date_from: Annotated[
            str, typer.Option("--from", help="First day (YYYY-MM-DD), inclusive.")
        ],
        date_to: Annotated[
            str, typer.Option("--to", help="Last day (YYYY-MM-DD), inclusive.")
        ],
        dry_run: cli.DryRun = False,
        out: cli.Out = None,
        as_json: cli.AsJson = False,
        chunk: cli.ChunkOption = "day",
    ) -> None:
        """Send a range of history one day at a time, oldest first, profiles first.

        Killed or failed, the same command resumes: finished days are skipped and the
        day in progress sends only what was not acknowledged. A backfill never moves
        the job's incremental position.
        """
        from ctjobs.job.progress import cli_progress
        from ctjobs.job.runner import run_job

        if not cli._state.get("quiet"):
            # One line per day: the backfill's log of what each day did.
            logging.getLogger("ctjobs.job.runner").setLevel(logging.INFO)
        try:
            start = cli._day(date_from, "--from")
            end = cli._day(date_to, "--to")
            with cli_progress(
                quiet=bool(cli._state.get("quiet")) or as_json
            ) as progress:
                summary = run_job(
                    job,
                    dry_run=dry_run,
                    out=out,
                    date_from=start,
                    date_to=end,
                    mode="backfill",
                    chunk=cli._chunk(chunk),
                    progress=progress,
                )
        except (CtjobsError, OSError) as error:
            cli._fail(error, as_json=as_json)
        cli._report(summary, as_json)

    schema_app = typer.Typer(
        help="Look after a job's accepted schema.", no_args_is_help=True
    )
    app.add_typer(schema_app, name="schema")

    @schema_app.command("accept")
    def accept_schema_command(
        job: cli.JobPath,
        scope: Annotated[
            str,
            typer.Option(
                "--scope",
                help="What to accept: the source's schema (source), the outgoing "
                "records' schema (outgoing), or both (all).",
            ),
        ] = "all",
    ) -> None:
        """Accept what the job's source and records look like now as their schema.

        Use it after a `freeze` policy stopped a run and the change is wanted: the
        next run records the current schema instead of stopping.
        """
        from ctjobs.monitor.accept import accept_schema

        try:
            scopes = accept_schema(job, scope)
        except (CtjobsError, OSError) as error:
            cli._fail(error)
        typer.echo(f"accepted on the next run: {', '.join(scopes)}")

    @app.command()
    def replay(
        run_id: Annotated[
            str, typer.Argument(help="The run whose records to send again.")
        ],
        job: Annotated[
            Path,
            typer.Option("--job", help="The job file (fixed, if it needed fixing)."),
        ],
        dry_run: cli.DryRun = False,
        out: cli.Out = None,
        only_code: Annotated[
            int | None,
            typer.Option("--only-code", help="Only records rejected with this code."),
        ] = None,
        limit: Annotated[
            int | None,
            typer.Option("--limit", min=1, help="At most this many records."),
        ] = None,
        as_sent: Annotated[
            bool,
            typer.Option(
                "--as-sent", help="Send the stored JSON unchanged, not rebuilt."
            ),
        ] = False,
        batch: Annotated[
            str | None,
            typer.Option(
                "--batch", help="Only the records held in doubt from this batch."
            ),
        ] = None,
        confirm_landed: Annotated[
            bool,
            typer.Option(
                "--confirm-landed",
                help="Send nothing: settle the run's in-doubt records, which CleverTap "
                "was checked to hold.",
            ),
        ] = False,
        as_json: cli.AsJson = False,
    ) -> None:
        """Send a run's rejected or pending records again.

        By default each record is rebuilt from its source row with the job file as it
        is now; --as-sent re-sends what was sent before. Replayed records that are
        accepted are marked resolved in the ledger.
        """
        from ctjobs.job.replay import confirm_landed as settle
        from ctjobs.job.replay import replay as replay_run

        if confirm_landed:
            try:
                settled = settle(job, run_id, batch=batch)
            except (CtjobsError, OSError) as error:
                cli._fail(error)
            typer.echo(f"settled {settled} in-doubt record(s) of run {run_id}")
            return

        try:
            summary = replay_run(
                job,
                run_id,
                dry_run=dry_run,
                out=out,
                only_code=only_code,
                limit=limit,
                as_sent=as_sent,
                batch=batch,
            )
        except (CtjobsError, OSError) as error:
            cli._fail(error)
        cli._report(summary, as_json)
