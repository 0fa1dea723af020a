"""Seeded dice deciding which uploads fail, vanish or crawl."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from ctjobs.sandbox.config import SandboxConfig


class Fault(enum.Enum):
    """What goes wrong with one upload, if anything."""

    NONE = "none"
    SERVER_ERROR = "500"
    UNAVAILABLE = "503"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """The fate of one upload: its fault and its delay on top of the latency."""

    fault: Fault
    extra_delay_ms: int


class FaultDice:
    """Random choices that repeat exactly for the same seed and request order."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        """Start the sequence of draws again from a seed."""
        self._random.seed(seed)

    def draw(self, config: SandboxConfig) -> FaultDraw:
        """Decide the fate of the next upload under the current fault settings."""
        # Four rolls every time, so one rate changing does not shift the others.
        drop, error, which, slow = (self._random.random() for _ in range(4))
        extra_delay_ms = config.slow_ms if slow < config.slow_rate else 0

        if drop < config.drop_rate:
            return FaultDraw(Fault.DROP, extra_delay_ms)
        if error < config.error_rate:
            fault = Fault.SERVER_ERROR if which < 0.5 else Fault.UNAVAILABLE
            return FaultDraw(fault, extra_delay_ms)
        return FaultDraw(Fault.NONE, extra_delay_ms)
