"""Small job files over the bundled samples, written into a test's folder."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SAMPLES


def events_job(
    folder: Path,
    *,
    name: str = "events",
    where: str = "eventName <> 'App Launched'",
    extra_steps: str = "",
    max_records: int = 1000,
    concurrency: int = 4,
    max_attempts: int = 8,
) -> Path:
    """A one-row-one-event job over the sample CSV exports."""
    path = folder / f"{name}.toml"
    path.write_text(
        f"""
name = "{name}"
[source]
paths = ["{SAMPLES}/events/csv/*.csv.gz"]
timezone = "Asia/Kolkata"
[[transforms]]
step = "filter"
where = "{where}"
{extra_steps}
[[records]]
name = "events"
kind = "event"
identity = "profile.identity"
ts = "ts"
event_name = "eventName"
include = ["eventProps.*"]
[writer]
kind = "upload"
max_records = {max_records}
concurrency = {concurrency}
max_attempts = {max_attempts}
""",
        encoding="utf-8",
    )
    return path


def profiles_job(folder: Path, source: Path, *, name: str = "profiles") -> Path:
    """A change-only profile job over an enhanced profile export."""
    path = folder / f"{name}.toml"
    path.write_text(
        f"""
name = "{name}"
[source]
paths = ["{source}"]
[[records]]
name = "profiles"
kind = "profile"
identity = "identity"
include = ["Name", "Email", "City", "Customer Type", "Score"]
change_only = true
[writer]
kind = "upload"
""",
        encoding="utf-8",
    )
    return path
