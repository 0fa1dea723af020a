"""``ctjobs webhook serve|compact``: a thin Typer shell over the webhook package."""

from __future__ import annotations

from typing import Annotated

import typer

from ctjobs.webhook.config import DEFAULT_MAX_BODY_BYTES, WebhookConfig

webhook_app = typer.Typer(
    help="Receive CleverTap webhook campaigns and land them as a source.",
    no_args_is_help=True,
    add_completion=False,
)

Land = Annotated[str, typer.Option(help="Landing folder, or an s3:// or gs:// URL.")]
Spool = Annotated[
    str | None, typer.Option(help="Local spool folder when --land is a URL.")
]


@webhook_app.command()
def serve(
    land: Land,
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks one.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest body accepted; larger gets 413.")
    ] = DEFAULT_MAX_BODY_BYTES,
    compact_interval: Annotated[
        float, typer.Option(help="Seconds between compactions to Parquet.")
    ] = 300.0,
    ready_file: Annotated[
        str | None, typer.Option(help="Write the server URL here once listening.")
    ] = None,
    spool: Spool = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Accept POSTs without credentials. Only behind another auth layer.",
        ),
    ] = False,
) -> None:
    """Serve the intake: receive webhook POSTs and land them under --land.

    Credentials come from CTJOBS_WEBHOOK_SECRET (header
    CTJOBS_WEBHOOK_SECRET_HEADER, default X-Webhook-Secret) and/or
    CTJOBS_WEBHOOK_USER + CTJOBS_WEBHOOK_PASSWORD.
    """
    from ctjobs.webhook.server import configure_logging
    from ctjobs.webhook.server import serve as serve_intake

    configure_logging()
    config = WebhookConfig.from_env(
        land,
        max_body_bytes=max_body_bytes,
        compact_interval_s=compact_interval,
        spool=spool,
        insecure_no_auth=insecure_no_auth,
    )
    serve_intake(config, host=host, port=port, ready_file=ready_file)


@webhook_app.command()
def compact(land: Land, spool: Spool = None) -> None:
    """Turn closed JSON-lines landing files into Parquet (safe while serving)."""
    from ctjobs.webhook.compact import compact as compact_landing
    from ctjobs.webhook.server import configure_logging

    configure_logging()
    rows = compact_landing(land, spool=spool)
    typer.echo(f"compacted {rows} rows")
