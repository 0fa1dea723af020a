"""Timing one child process and reading its own peak memory.

`os.wait4` returns the resource usage of exactly the child it reaps, so each
measurement gets its own peak resident set size, which ``RUSAGE_CHILDREN`` would
mix with every earlier child's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Measurement:
    """What one child process took: wall time, peak memory, how it ended, its output."""

    seconds: float
    peak_rss_mib: float
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
    killed: bool = False

    def running(self) -> bool:
        """True while the child has not exited (it is not reaped here)."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.process.pid, flags) is None

    def kill(self) -> None:
        """SIGKILL the child at once, as a crash or an OOM killer would."""
        self.killed = True
        os.kill(self.process.pid, signal.SIGKILL)


def python_command(module: str, *args: object) -> list[str]:
    """``python -m module args...`` with the interpreter running the benchmarks."""
    return [PYTHON, "-m", module, *map(str, args)]


def ctjobs_command(*args: object) -> list[str]:
    """The ``ctjobs`` command line of this environment, quiet, with `args`."""
    return python_command("ctjobs", "--quiet", *args)


def start(command: Sequence[str], *, env: Mapping[str, str], logs: Path) -> Child:
    """Start `command` with its output in files under `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / "stdout.txt", logs / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            list(command), stdout=out, stderr=err, env=dict(env), cwd=REPO
        )
    return Child(process, time.perf_counter(), out_path, err_path)


def finish(child: Child, *, timeout_s: float) -> Measurement:
    """Wait for `child` (killing it after `timeout_s`) and measure it."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, expire)
    timer.start()
    try:
        _, status, usage = os.wait4(child.process.pid, 0)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - child.started
    child.process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        seconds=seconds,
        peak_rss_mib=usage.ru_maxrss / 1024,
        returncode=child.process.returncode,
        stdout=child.out_path.read_text(errors="replace"),
        stderr=child.err_path.read_text(errors="replace"),
        timed_out=expired.is_set(),
        killed=child.killed,
    )


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
