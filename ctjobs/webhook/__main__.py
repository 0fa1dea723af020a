"""``python -m ctjobs.webhook serve|compact``: the intake without the ctjobs CLI."""

from __future__ import annotations

import argparse
import sys

from ctjobs.errors import CtjobsError
from ctjobs.webhook.compact import compact
from ctjobs.webhook.config import DEFAULT_MAX_BODY_BYTES, WebhookConfig
from ctjobs.webhook.server import configure_logging, serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit code."""
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        if args.command == "compact":
            print(f"compacted {compact(args.land, spool=args.spool)} rows")
            return 0
        config = WebhookConfig.from_env(
            args.land,
            max_body_bytes=args.max_body_bytes,
            compact_interval_s=args.compact_interval,
            spool=args.spool,
            insecure_no_auth=args.insecure_no_auth,
        )
        serve(config, host=args.host, port=args.port, ready_file=args.ready_file)
    except CtjobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ctjobs.webhook")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="receive CleverTap webhooks")
    run.add_argument("--land", required=True, help="landing folder or s3:// gs:// URL")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--ready-file", default=None)
    run.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    run.add_argument("--compact-interval", type=float, default=300.0)
    run.add_argument("--spool", default=None, help="local spool when --land is a URL")
    run.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept POSTs without credentials (only behind another auth layer)",
    )
    squash = commands.add_parser(
        "compact", help="turn closed landing files into Parquet"
    )
    squash.add_argument("--land", required=True)
    squash.add_argument("--spool", default=None)
    return parser


if __name__ == "__main__":
    sys.exit(main())
