"""Timing one child process and reading its own peak memory.

Each command runs under GNU time (``/usr/bin/time -f %M``), which reports the peak
resident set size of exactly that command. Reading ``ru_maxrss`` of a child of
this process instead would not do: Linux carries the high-water mark of the
forked parent image across ``exec``, so every child would report at least the
benchmark driver's own size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass
class Measurement:
    """What one child process took: wall time, peak memory, how it ended, its output."""

    seconds: float
    peak_rss_mib: float | None
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    killed: bool = False

    @property
    def ok(self) -> bool:
        """True when the child finished by itself within its time limit."""
        return not self.timed_out and not self.killed and self.returncode in (0, 3)

    def tail(self, lines: int = 15) -> str:
        """The end of the child's error output, for a failure note."""
        return "\n".join(self.stderr.strip().splitlines()[-lines:])


@dataclass
class Child:
    """A started child process whose stdout and stderr go to files."""

    process: subprocess.Popen[bytes]
    started: float
    out_path: Path
    err_path: Path
    rusage_path: Path
    killed: bool = False

    def running(self) -> bool:
        """True while the child has not exited."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the command at once, as a crash or an OOM killer would."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def python_command(module: str, *args: object) -> list[str]:
    """``python -m module args...`` with the interpreter running the benchmarks."""
    return [PYTHON, "-m", module, *map(str, args)]


def ctjobs_command(*args: object) -> list[str]:
    """The ``ctjobs`` command line of this environment, quiet, with `args`."""
    return python_command("ctjobs", "--quiet", *args)


def start(command: Sequence[str], *, env: Mapping[str, str], logs: Path) -> Child:
    """Start `command` under GNU time, in its own process group, output in `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / "stdout.txt", logs / "stderr.txt"
    rusage_path = logs / "peak-rss-kib.txt"
    timed = [GNU_TIME, "-f", "%M", "-o", str(rusage_path)] if GNU_TIME else []
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [*timed, *command],
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=REPO,
            start_new_session=True,
        )
    return Child(process, time.perf_counter(), out_path, err_path, rusage_path)


def finish(child: Child, *, timeout_s: float) -> Measurement:
    """Wait for `child` (killing it after `timeout_s`) and measure it."""
    timed_out = False
    try:
        child.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        child.kill()
        child.process.wait()
    seconds = time.perf_counter() - child.started
    return Measurement(
        seconds=seconds,
        peak_rss_mib=_peak_mib(child.rusage_path),
        returncode=child.process.returncode,
        stdout=child.out_path.read_text(errors="replace"),
        stderr=child.err_path.read_text(errors="replace"),
        timed_out=timed_out,
        killed=child.killed and not timed_out,
    )


def _peak_mib(path: Path) -> float | None:
    """The KiB figure GNU time wrote last in `path`, in MiB; None if there is none."""
    if not path.exists():
        return None
    lines = path.read_text().split()
    return int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else None


def measure(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    logs: Path,
    timeout_s: float,
    watch: Callable[[Child], None] | None = None,
) -> Measurement:
    """Run `command` to its end and measure it; `watch` may act while it runs."""
    child = start(command, env=env, logs=logs)
    if watch is not None:
        watch(child)
    return finish(child, timeout_s=timeout_s)
