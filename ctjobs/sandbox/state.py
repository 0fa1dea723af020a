"""Everything one running sandbox holds: settings, stored records, counters, dice."""

from __future__ import annotations

from typing import Any

from ctjobs.sandbox.config import FIXED_AT_START, SandboxConfig
from ctjobs.sandbox.faults import FaultDice
from ctjobs.sandbox.stats import SandboxStats
from ctjobs.sandbox.store import RecordStore
from ctjobs.sandbox.validation import RecordRules


class ConfigChangeError(ValueError):
    """A runtime settings change naming unknown or fixed settings."""


class SandboxState:
    """The mutable state behind one sandbox app."""

    def __init__(self, config: SandboxConfig, *, own_process: bool = False) -> None:
        self.config = config
        self.rules = _rules_of(config)
        self.store = RecordStore(config.store_path, freeze=own_process)
        self.stats = SandboxStats()
        self.dice = FaultDice(config.seed)

    def reconfigure(self, changes: dict[str, Any]) -> None:
        """Apply new settings; raise ConfigChangeError or pydantic's ValidationError."""
        settable = set(SandboxConfig.model_fields) - FIXED_AT_START
        refused = sorted(set(changes) - settable)
        if refused:
            raise ConfigChangeError(
                f"cannot change {', '.join(refused)}; "
                f"settable: {', '.join(sorted(settable))}"
            )

        merged = {**self.config.model_dump(), **changes}
        self.config = SandboxConfig.model_validate(merged)
        self.rules = _rules_of(self.config)
        if "seed" in changes:
            self.dice.reseed(self.config.seed)

    def reset(self) -> None:
        """Forget stored records and counters, and restart the dice from the seed."""
        self.store.clear()
        self.stats.reset()
        self.dice.reseed(self.config.seed)


def _rules_of(config: SandboxConfig) -> RecordRules:
    return RecordRules.build(
        max_event_properties=config.max_event_properties,
        identity_max_length=config.identity_max_length,
        discarded_events=config.discarded_events,
    )
