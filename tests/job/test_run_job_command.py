"""`make run-job`'s path: the main job sent to the bundled sandbox, then re-run.

`ctjobs run JOB --sandbox` starts a local CleverTap stand-in with its own
credentials, so the run needs no CLEVERTAP_* variables at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import DEFAULT_JOB, ROOT

CTJOBS = Path(sys.executable).parent / "ctjobs"
# Every state a built record can end a run in; in-doubt records are also pending.
OUTCOMES = (
    "rejected_preflight",
    "skipped_sent",
    "skipped_unchanged",
    "accepted",
    "rejected",
    "pending",
    "written",
)


def _run_job(home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEVERTAP_")}
    env["CTJOBS_HOME"] = str(home)
    done = subprocess.run(
        [str(CTJOBS), "run", str(DEFAULT_JOB.relative_to(ROOT)), "--sandbox", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    summary = json.loads(done.stdout)
    assert summary["exit_code"] == done.returncode
    assert summary["status"] == "done"
    assert summary["dry_run"] is False
    return summary


def _check_counts_add_up(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_kind = {m["kind"]: m for m in summary["mappings"]}
    assert set(by_kind) == {"profile", "event"}
    for m in summary["mappings"]:
        assert m["built"] == sum(m[outcome] for outcome in OUTCOMES), m
        assert m["sent"] == m["accepted"] + m["rejected"], m
        assert m["in_doubt"] <= m["pending"], m
        assert m["written"] == 0, m
    for key, total in summary["totals"].items():
        assert total == sum(m[key] for m in summary["mappings"]), key
    rejected = summary["totals"]["rejected"] + summary["totals"]["rejected_preflight"]
    assert summary["exit_code"] == (3 if rejected else 0)
    return by_kind


def test_run_job_sends_to_the_sandbox_and_a_rerun_sends_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"

    first = _run_job(home)
    by_kind = _check_counts_add_up(first)
    for kind in ("profile", "event"):
        assert by_kind[kind]["accepted"] > 0, by_kind[kind]
        assert by_kind[kind]["pending"] == 0, by_kind[kind]
    assert first["rows_read"] == sum(f["rows"] for f in first["files_read"]) > 0

    second = _run_job(home)
    again = _check_counts_add_up(second)
    assert second["run_id"] != first["run_id"]
    assert second["totals"]["sent"] == 0
    for kind in ("profile", "event"):
        assert again[kind]["sent"] == again[kind]["accepted"] == 0, again[kind]
        assert again[kind]["built"] == by_kind[kind]["built"]
        # Every record acknowledged the first time is recognised as already sent.
        assert again[kind]["skipped_sent"] + again[kind]["skipped_unchanged"] == (
            by_kind[kind]["accepted"] + by_kind[kind]["rejected"]
        )
