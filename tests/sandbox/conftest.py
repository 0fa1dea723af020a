"""One sandbox process shared by the HTTP tests, reset before each of them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ctjobs.sandbox import SandboxProcess

# Runtime settings each test starts from, whatever the previous test changed.
DEFAULT_FAULTS = {
    "latency_ms": 0,
    "error_rate": 0,
    "drop_rate": 0,
    "slow_rate": 0,
    "slow_ms": 0,
    "retry_after": None,
    "record_as_string": False,
    "legacy_shape": False,
    "max_in_flight": 15,
    "seed": None,
}


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(
        account_id="acct-test", passcode="pass-test", discarded_events=["Old Checkout"]
    ) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.configure(**DEFAULT_FAULTS)
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=sandbox.headers, timeout=10) as c:
        yield c
