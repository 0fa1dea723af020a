"""``make bench``: every benchmark of ctjobs, one after the other, into BENCHMARKS.md.

Sections, in the order they run (the most telling first, so a tight budget skips
the least): export files to request bodies at 1M Parquet rows (with the floor,
pandas and a profile), upload throughput, resume cost, Parquet 5M, backfill memory
(1M, 10M), Parquet 20M, then gzipped CSV 1M (with pandas), 5M and 20M. A case the
budget cannot afford is reported as skipped, with a note. Generated exports are
kept under ``bench/data/exports`` for the next run; ``--clean-data`` removes them
at the end.

    python -m bench.run [--budget-minutes 19] [--clean-data]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import datasets, report
from bench.backfill import measure_backfill
from bench.datasets import (
    CSV_1M,
    CSV_5M,
    CSV_WEEKS,
    DATA,
    EXPORTS,
    PARQUET_1M,
    PARQUET_WEEKS,
    ExportSet,
    Window,
)
from bench.exports import (
    ExportCase,
    failure,
    measure_ctjobs,
    measure_floor,
    measure_pandas,
)
from bench.jobs import enrichment_job
from bench.measure import REPO, measure, python_command
from bench.resume import RECORDS as RESUME_RECORDS
from bench.resume import measure_resume
from bench.session import Session
from bench.uploads import (
    CTJOBS_RECORDS,
    NODE_RECORDS,
    measure_ctjobs_upload,
    measure_node_upload,
    node_bodies,
)

log = logging.getLogger("bench")

# Seconds per million rows, before this run has measured its own.
FIRST_GUESS = {
    "generate parquet": 8.0,
    "generate csv": 22.0,
    "ctjobs parquet": 25.0,
    "ctjobs csv": 30.0,
}
SAFETY = 1.25
# Seconds the row-by-row pandas baseline is allowed for its slice.
PANDAS_ESTIMATE_S = 60.0

PARQUET_1M_CASE = ExportCase("Parquet 1M", Window(PARQUET_1M, 1))
PARQUET_5M_CASE = ExportCase("Parquet 5M", Window(PARQUET_WEEKS, 1))
PARQUET_20M_CASE = ExportCase("Parquet 20M", Window(PARQUET_WEEKS, 4))
CSV_1M_CASE = ExportCase("CSV 1M", Window(CSV_1M, 1))
CSV_5M_CASE = ExportCase("CSV 5M", Window(CSV_5M, 1))
CSV_20M_CASE = ExportCase("CSV 20M", Window(CSV_WEEKS, 4))
# Every export case, in the order the report lists them.
CASES = (
    PARQUET_1M_CASE,
    PARQUET_5M_CASE,
    PARQUET_20M_CASE,
    CSV_1M_CASE,
    CSV_5M_CASE,
    CSV_20M_CASE,
)
# The cases the pandas baseline is measured on, by format.
PANDAS_CASES = {"parquet": PARQUET_1M_CASE, "csv": CSV_1M_CASE}


class Bench:
    """The run's session, its results so far and the rates it has measured."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rates = dict(FIRST_GUESS)
        self.results: dict[str, Any] = {
            "datasets": {},
            "exports": [],
            "pandas": {},
            "backfill": [],
            "notes": session.notes,
        }
        self.tiers = Path()

    def estimate(self, what: str, rows: int) -> float:
        """Seconds `what` should take for `rows` rows, with a margin."""
        return self.rates[what] * rows / 1e6 * SAFETY + 5

    def case_estimate(self, case: ExportCase) -> float:
        """Seconds the floor and ctjobs should take over `case`, with a margin."""
        return self.estimate(f"ctjobs {case.fmt}", case.window.rows) * 1.2

    def export_set(
        self, export: ExportSet, *, then: float = 0.0, purpose: str = ""
    ) -> bool:
        """Make sure `export` is on disk; False if the budget could not afford it.

        `then` is the seconds of what is measured on the set afterwards: a set
        that would be generated only for its measurement to be skipped is not
        generated at all.
        """
        rows = export.rows_per_week * export.weeks
        what = f"generate {export.fmt}"
        estimate = self.estimate(what, rows) + then
        intact = datasets.is_intact(export)
        label = export.name
        if purpose:
            label = (
                f"{purpose} (generating {export.name}, {rows:,} rows, then measuring)"
            )
        if not intact and not self.session.affordable(estimate, label):
            return False
        started = time.perf_counter()
        generated = datasets.ensure(export)
        seconds = time.perf_counter() - started
        if generated:
            self.rates[what] = seconds / rows * 1e6
        self.results["datasets"][export.name] = {
            "rows": rows,
            "generated": generated,
            "seconds": seconds,
            "bytes": datasets.disk_use(export.folder),
        }
        return True

    def export_case(self, case: ExportCase) -> dict[str, Any]:
        """Floor and ctjobs over one window of exports, if the budget allows."""
        rows = case.window.rows
        entry: dict[str, Any] = {
            "label": case.label,
            "fmt": case.fmt,
            "rows": rows,
            "files": len(case.window.files()),
        }
        estimate = self.case_estimate(case)
        if not self.session.affordable(estimate, f"export case {case.label}"):
            entry["skipped"] = "budget"
            self.results["exports"].append(entry)
            return entry
        job = enrichment_job(
            f"export-{case.slug}", [case.window.export.glob], self.tiers
        )
        entry["floor"] = measure_floor(self.session, case)
        entry["ctjobs"] = measure_ctjobs(self.session, case, job)
        if "seconds" in entry["ctjobs"]:
            rate = entry["ctjobs"]["seconds"] / rows * 1e6
            self.rates[f"ctjobs {case.fmt}"] = rate
        entry["job"] = str(job.relative_to(REPO))
        self.results["exports"].append(entry)
        log.info("%s: %s", case.label, _brief(entry))
        return entry

    def skip_case(self, case: ExportCase, why: str = "budget") -> None:
        """Report `case` as skipped, unless it already has an entry."""
        if any(e["label"] == case.label for e in self.results["exports"]):
            return
        self.results["exports"].append(
            {
                "label": case.label,
                "fmt": case.fmt,
                "rows": case.window.rows,
                "skipped": why,
            }
        )

    def pandas(self, case: ExportCase) -> None:
        """The row-by-row baseline over the first rows of `case`."""
        if self.session.affordable(PANDAS_ESTIMATE_S, f"pandas over {case.label}"):
            figures = measure_pandas(self.session, case, self.tiers)
            self.results["pandas"][case.fmt] = figures
            log.info("pandas %s: %s", case.fmt, _brief(figures))
        else:
            self.results["pandas"][case.fmt] = {"skipped": "budget"}

    def account_for_everything(self, why: str) -> None:
        """Give every case and pandas baseline not measured an entry saying `why`.

        The export entries are put in the order of `CASES`, so that the report
        lists every case, measured or not, in the same order every run.
        """
        for case in CASES:
            self.skip_case(case, why)
        order = {case.label: n for n, case in enumerate(CASES)}
        self.results["exports"].sort(key=lambda e: order.get(e["label"], len(order)))
        for fmt in PANDAS_CASES:
            self.results["pandas"].setdefault(fmt, {"skipped": why})

    def profile(self, plain: dict[str, Any]) -> None:
        """The cProfile top-N and the build split of the 1M Parquet run."""
        if "job" not in plain:
            return
        seconds = (plain.get("ctjobs") or {}).get("seconds", 30)
        if self.session.affordable(3 * seconds + 10, "profile of the 1M run"):
            self.results["hotspots"] = self._hotspots(REPO / plain["job"])

    def _hotspots(self, job: Path) -> dict[str, Any]:
        out = self.session.folder("out", "hotspots")
        report_path = self.session.scratch / "hotspots.json"
        run = measure(
            python_command("bench.hotspots", job, out, report_path, "--top", 15),
            env=self.session.env("hotspots"),
            logs=self.session.folder("logs", "hotspots"),
            timeout_s=max(self.session.remaining(), 1),
        )
        self.session.discard(out)
        if not run.ok:
            return failure(run, "profile")
        loaded: dict[str, Any] = json.loads(report_path.read_text())
        return loaded

    def uploads(self) -> None:
        """ctjobs and CleverTap's Node.js library against the 500 ms sandbox."""
        if not self.session.affordable(90, "upload throughput"):
            return
        rows = datasets.ensure_upload_rows(PARQUET_1M, CTJOBS_RECORDS)
        ctjobs = measure_ctjobs_upload(self.session, rows, self.tiers)
        log.info("upload ctjobs: %s", _brief(ctjobs))
        node: dict[str, Any] = {"error": "skipped: budget"}
        if self.session.affordable(NODE_RECORDS / 150 + 20, "Node.js upload"):
            few = datasets.ensure_upload_rows(PARQUET_1M, NODE_RECORDS)
            node = measure_node_upload(
                self.session, node_bodies(self.session, few, self.tiers)
            )
            log.info("upload node: %s", _brief(node))
        self.results["upload"] = {"ctjobs": ctjobs, "node": node}

    def resume(self) -> None:
        """Uninterrupted, killed and resumed 1M-record uploads."""
        estimate = 3 * self.estimate("ctjobs parquet", RESUME_RECORDS) + 60
        if not self.session.affordable(estimate, "resume cost"):
            return
        rows = datasets.ensure_upload_rows(PARQUET_WEEKS, RESUME_RECORDS)
        self.results["resume"] = measure_resume(self.session, rows, self.tiers)
        log.info("resume: %s", _brief(self.results["resume"]))

    def backfill(self, label: str, window: Window) -> None:
        """A dry-run backfill of `window`, for its peak memory."""
        if not self.session.affordable(
            self.estimate("ctjobs parquet", window.rows), f"backfill {label}"
        ):
            return
        name = f"backfill-{window.export.name}"
        job = enrichment_job(name, [window.export.glob], self.tiers)
        figures = measure_backfill(self.session, label, window, job)
        self.results["backfill"].append(
            {"label": label, "rows": window.rows, **figures}
        )
        log.info("backfill %s: %s", label, _brief(figures))


def run_all(bench: Bench) -> None:
    """Every section, in order of how much it tells.

    A case left out here (its exports could not be afforded, or the run ended
    first) is given a "skipped" entry by `Bench.account_for_everything`.
    """
    if not bench.export_set(PARQUET_1M, purpose="every measurement"):
        return
    bench.tiers = datasets.ensure_tiers(PARQUET_1M)
    plain = bench.export_case(PARQUET_1M_CASE)
    bench.pandas(PARQUET_1M_CASE)
    bench.profile(plain)
    bench.uploads()
    weeks = "resume, Parquet 5M, backfill and Parquet 20M"
    if bench.export_set(PARQUET_WEEKS, purpose=weeks):
        bench.resume()
        bench.export_case(PARQUET_5M_CASE)
        bench.backfill("1M", Window(PARQUET_1M, 1))
        bench.backfill("10M", Window(PARQUET_WEEKS, 2))
        bench.export_case(PARQUET_20M_CASE)
    then = bench.case_estimate(CSV_1M_CASE) + PANDAS_ESTIMATE_S
    if bench.export_set(CSV_1M, then=then, purpose=CSV_1M_CASE.label):
        bench.export_case(CSV_1M_CASE)
        bench.pandas(CSV_1M_CASE)
    then = bench.case_estimate(CSV_5M_CASE)
    if bench.export_set(CSV_5M, then=then, purpose=CSV_5M_CASE.label):
        bench.export_case(CSV_5M_CASE)
    # Last: the largest and slowest to generate, the first a tight budget drops.
    then = bench.case_estimate(CSV_20M_CASE)
    if bench.export_set(CSV_WEEKS, then=then, purpose=CSV_20M_CASE.label):
        bench.export_case(CSV_20M_CASE)


def _brief(figures: dict[str, Any]) -> str:
    """A short log line of a result's headline numbers."""
    keys = ("error", "seconds", "rows_per_s", "rate", "peak_rss_mib")
    flat = {k: v for k, v in figures.items() if k in keys}
    for name in ("floor", "ctjobs"):
        if isinstance(figures.get(name), dict):
            flat[name] = _brief(figures[name])
    return json.dumps(flat, default=lambda v: round(v, 1))


def main() -> None:
    """Run the benchmarks within the budget and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=19.0)
    parser.add_argument(
        "--clean-data", action="store_true", help="remove generated exports at the end"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    scratch = Path(tempfile.mkdtemp(prefix="ctjobs-bench-"))
    session = Session(scratch, args.budget_minutes * 60)
    bench = Bench(session)
    bench.results["machine"] = report.machine()
    bench.results["budget_minutes"] = args.budget_minutes
    stopped = True
    try:
        run_all(bench)
        stopped = False
    finally:
        bench.account_for_everything("the run stopped early" if stopped else "budget")
        bench.results["load_at_end"] = os.getloadavg()
        bench.results["total_seconds"] = session.elapsed()
        bench.results["cache_bytes"] = datasets.disk_use(EXPORTS)
        shutil.rmtree(scratch, ignore_errors=True)
        if args.clean_data:
            shutil.rmtree(EXPORTS, ignore_errors=True)
            bench.results["cache_removed"] = True
        DATA.mkdir(parents=True, exist_ok=True)
        (DATA / "results.json").write_text(json.dumps(bench.results, indent=1))
        report.write(bench.results, REPO / "BENCHMARKS.md")
        log.info("wrote BENCHMARKS.md in %.0f s", session.elapsed())


if __name__ == "__main__":
    main()
