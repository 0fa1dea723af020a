"""The generated exports the benchmarks read, kept under ``bench/data/exports``.

Each export set is written week by week with `ctjobs.samples.generate_events`, so a
set of four weeks holds windows of one, two and four weeks (5M, 10M and 20M rows)
that a job selects with ``--from``/``--to``. That set splits its files at 50,000
rows, the size of the largest file of the 1M set, so that comparing windows
compares history, not file size: with ``--chunk file`` ctjobs holds one file at a
time, and its memory follows the largest file. Every set records what it was built
from and the size of every file in ``manifest.json``; a later run reuses the set
only when both still match, and regenerates it otherwise.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from bench.measure import REPO
from ctjobs.readers.storage import day_of
from ctjobs.samples import generate_events

log = logging.getLogger(__name__)

DATA = REPO / "bench" / "data"
EXPORTS = DATA / "exports"
SEED = 7
USERS = 100_000
START = date(2024, 3, 1)
WEEK_DAYS = 7
TIER_SHARE = 0.7
# generate_events' own default: CleverTap's documented 1,000K records per file.
ONE_FILE_PER_DAY_AND_EVENT = 1_000_000
_SUFFIX = {"parquet": "*.parquet", "csv": "*.csv.gz"}


@dataclass(frozen=True)
class ExportSet:
    """Event exports of `weeks` weeks with `rows_per_week` rows each, in one format."""

    name: str
    fmt: str
    rows_per_week: int
    weeks: int
    rows_per_file: int | None = None

    @property
    def folder(self) -> Path:
        """Where the set's files live."""
        return EXPORTS / self.name

    @property
    def glob(self) -> str:
        """A glob matching every event file of the set."""
        return str(self.folder / "events" / self.fmt / _SUFFIX[self.fmt])

    def recipe(self) -> dict[str, object]:
        """What the files were generated from; a change means regenerating."""
        recipe: dict[str, object] = {
            "fmt": self.fmt,
            "rows_per_week": self.rows_per_week,
            "weeks": self.weeks,
            "seed": SEED,
            "users": USERS,
            "start": START.isoformat(),
        }
        if self.rows_per_file is not None:
            recipe["rows_per_file"] = self.rows_per_file
        return recipe

    def files(self) -> list[Path]:
        """The set's event files, oldest day first."""
        found = (self.folder / "events" / self.fmt).glob(_SUFFIX[self.fmt])
        return sorted(found, key=lambda p: (day_of(p.name) or date.min, p.name))


@dataclass(frozen=True)
class Window:
    """The first `weeks` weeks of an export set: what one measurement reads."""

    export: ExportSet
    weeks: int

    @property
    def rows(self) -> int:
        """Event rows in the window."""
        return self.export.rows_per_week * self.weeks

    @property
    def first_day(self) -> date:
        """The window's first day."""
        return START

    @property
    def last_day(self) -> date:
        """The window's last day, inclusive."""
        return START + timedelta(days=WEEK_DAYS * self.weeks - 1)

    def files(self) -> list[Path]:
        """The event files of the window, oldest day first."""
        return [
            path
            for path in self.export.files()
            if (day_of(path.name) or START) <= self.last_day
        ]


PARQUET_1M = ExportSet("parquet-1m", "parquet", 1_000_000, 1)
# Files of at most 50,000 rows, the largest file of the 1M set: the windows of
# this set differ from the 1M set in history only, not in file size.
SAME_FILES = 50_000
PARQUET_WEEKS = ExportSet("parquet-4x5m", "parquet", 5_000_000, 4, SAME_FILES)
CSV_1M = ExportSet("csv-1m", "csv", 1_000_000, 1)
CSV_5M = ExportSet("csv-5m", "csv", 5_000_000, 1)
# Four weeks of gzipped CSV split like PARQUET_WEEKS, for CSV 20M: it differs from
# CSV 1M in history only, not in file size.
CSV_WEEKS = ExportSet("csv-4x5m", "csv", 5_000_000, 4, SAME_FILES)


def ensure(export: ExportSet) -> bool:
    """Generate `export` unless an intact copy is on disk; True if generated."""
    if is_intact(export):
        log.info("reusing %s (%s)", export.name, _size_text(export.folder))
        return False
    shutil.rmtree(export.folder, ignore_errors=True)
    for week in range(export.weeks):
        generate_events(
            export.rows_per_week,
            export.folder,
            seed=SEED,
            fmt=export.fmt,
            start=START + timedelta(days=WEEK_DAYS * week),
            days=WEEK_DAYS,
            users=USERS,
            rows_per_file=export.rows_per_file or ONE_FILE_PER_DAY_AND_EVENT,
        )
    sizes = {path.name: path.stat().st_size for path in export.files()}
    manifest = {"recipe": export.recipe(), "files": sizes}
    (export.folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("generated %s (%s)", export.name, _size_text(export.folder))
    return True


def is_intact(export: ExportSet) -> bool:
    """True when the manifest matches the recipe and every file its recorded size."""
    manifest_path = export.folder / "manifest.json"
    if not manifest_path.exists():
        return False
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("recipe") != export.recipe():
        return False
    sizes = {path.name: path.stat().st_size for path in export.files()}
    return bool(sizes) and sizes == manifest.get("files")


def ensure_tiers(export: ExportSet = PARQUET_1M) -> Path:
    """The tier lookup: about 70 % of the users seen in `export`, each with a tier.

    Every set shares the seed and so the same users; those left out get the job's
    default tier, as customers missing from a real lookup table would. The file
    lives in the set's folder, so regenerating the set replaces it.
    """
    path = export.folder / "tiers.csv"
    if path.exists():
        return path
    identities = pl.concat(
        [pl.scan_parquet(p).select("profile.identity") for p in export.files()]
    )
    users = identities.drop_nulls().unique().sort("profile.identity").collect()
    rng = np.random.default_rng(SEED)
    listed = users.filter(pl.Series(rng.random(users.height) < TIER_SHARE))
    tiers = np.asarray(["Gold", "Silver", "Bronze"])[rng.integers(0, 3, listed.height)]
    lookup = listed.select(pl.col("profile.identity").alias("identity"))
    lookup.with_columns(tier=pl.Series(tiers)).write_csv(path)
    return path


def ensure_upload_rows(export: ExportSet, records: int) -> Path:
    """One Parquet file of the first `records` sendable rows of `export`.

    Sendable: not the reserved ``App Launched`` event and with an identity, so every
    row becomes one record and the upload benchmarks send exactly `records`.
    """
    path = export.folder / "uploads" / f"first-{records}.parquet"
    if path.exists():
        return path
    frames, gathered = [], 0
    for file in export.files():
        rows = pl.read_parquet(file).filter(
            pl.col("eventName") != "App Launched",
            pl.col("profile.identity").is_not_null(),
        )
        frames.append(rows.head(records - gathered))
        gathered += frames[-1].height
        if gathered >= records:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.concat(frames, how="diagonal_relaxed").write_parquet(path)
    return path


def disk_use(folder: Path = EXPORTS) -> int:
    """Bytes held under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _size_text(folder: Path) -> str:
    return f"{disk_use(folder) / 2**20:,.0f} MiB"
