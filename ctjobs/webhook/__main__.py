"""``python -m ctjobs.webhook serve|compact``: the same Typer commands as
``ctjobs webhook``, without the top-level ``ctjobs`` options.

There is one command-line implementation, `ctjobs.webhook.cli.webhook_app`; this
module only runs it and turns a `ctjobs.errors.CtjobsError` into its exit code,
much as the ``ctjobs`` console script does for usage errors.
"""

from __future__ import annotations

import sys

from ctjobs.errors import CtjobsError
from ctjobs.webhook.cli import webhook_app

PROG_NAME = "python -m ctjobs.webhook"


def main(argv: list[str] | None = None) -> int:
    """Run ``argv`` (default: the process arguments); return the exit code.

    Click exits by itself for ``--help`` and bad usage (exit 2); errors that
    ctjobs raises on purpose are printed in one line, without a traceback.
    """
    try:
        webhook_app(args=argv, prog_name=PROG_NAME)
    except CtjobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
