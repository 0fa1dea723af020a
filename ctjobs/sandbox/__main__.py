"""`python -m ctjobs.sandbox`: a local server that behaves like CleverTap's Upload API.

Settings come from `--config FILE` (a JSON object of SandboxConfig fields), then
from the flags, which win. The passcode is never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from ctjobs.sandbox.config import SandboxConfig
from ctjobs.sandbox.server import serve

_FLAG_FIELDS = (
    "account_id",
    "passcode",
    "latency_ms",
    "max_in_flight",
    "error_rate",
    "drop_rate",
    "slow_rate",
    "slow_ms",
    "retry_after",
    "record_as_string",
    "legacy_shape",
    "store_path",
    "seed",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ctjobs.sandbox", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON file of sandbox settings")
    parser.add_argument("--account-id", dest="account_id")
    parser.add_argument("--passcode")
    parser.add_argument("--latency-ms", dest="latency_ms", type=int)
    parser.add_argument("--max-in-flight", dest="max_in_flight", type=int)
    parser.add_argument("--error-rate", dest="error_rate", type=float)
    parser.add_argument("--drop-rate", dest="drop_rate", type=float)
    parser.add_argument(
        "--slow-rate",
        dest="slow_rate",
        type=float,
        help="share of uploads answered slowly, --slow-ms late (0 to 1)",
    )
    parser.add_argument(
        "--slow-ms",
        dest="slow_ms",
        type=int,
        help="extra delay of a slow upload, in milliseconds",
    )
    parser.add_argument(
        "--retry-after",
        dest="retry_after",
        type=int,
        help="seconds sent as Retry-After on 429 and 503 answers",
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--record-as-string", dest="record_as_string", action="store_true", default=None
    )
    parser.add_argument(
        "--legacy-shape", dest="legacy_shape", action="store_true", default=None
    )
    parser.add_argument("--store", dest="store_path")
    parser.add_argument("--ready-file", dest="ready_file", type=Path)
    parser.add_argument("--log-level", default="WARNING")
    return parser


def config_from_arguments(arguments: argparse.Namespace) -> SandboxConfig:
    """Settings from the config file, the flags, then the environment's credentials."""
    settings: dict[str, Any] = {}
    if arguments.config is not None:
        settings.update(json.loads(arguments.config.read_text(encoding="utf-8")))
    for name in _FLAG_FIELDS:
        value = getattr(arguments, name)
        if value is not None:
            settings[name] = value
    settings.setdefault(
        "account_id", os.environ.get("CLEVERTAP_ACCOUNT_ID", "sandbox-account")
    )
    settings.setdefault(
        "passcode", os.environ.get("CLEVERTAP_PASSCODE", "sandbox-passcode")
    )
    return SandboxConfig.model_validate(settings)


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and serve until interrupted."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = config_from_arguments(arguments)
    serve(
        config,
        host=arguments.host,
        port=arguments.port,
        ready_file=arguments.ready_file,
    )


if __name__ == "__main__":
    main()
