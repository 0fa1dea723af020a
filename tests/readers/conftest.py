"""Local stand-ins for S3, GCS and BigQuery, each a real server on loopback.

S3 is moto's server and GCS gcp-storage-emulator, both in this process; BigQuery is
local-bigquery in its own Python 3.13 environment, run as a subprocess. That
environment is made before the suite (`make bq-emulator`, which `make test` runs;
tools/bq_emulator.sh), never by a test, so the suite needs no network at all
(`make test-offline` runs it in a loopback-only network namespace). The environment
below keeps every client away from real clouds and their metadata services, so a
test that strays fails fast, locally.

CTJOBS_BQ_VENV and CTJOBS_BQ_HOME move the emulator's venv and DuckDB home, for the
fixture as for tools/bq_emulator.sh (relative paths are from the repository root).

Set CTJOBS_SKIP_BIGQUERY=1 to skip the BigQuery tests on a machine without Python
3.13; CI never sets it, so there they fail instead.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

GUARDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
}
os.environ.update(GUARDS)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "test-project"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gz(text: str) -> bytes:
    """`text` gzip-compressed, as CleverTap delivers CSV exports."""
    return gzip.compress(text.encode())


@dataclass
class Store:
    """A bucket on an emulated object store, with the options to reach it."""

    url: str
    options: dict[str, Any]
    fs: Any

    def put(self, name: str, data: bytes) -> str:
        """Write `data` under the bucket and return its URL."""
        path = f"{self.url}/{name}"
        with self.fs.open(path, "wb") as handle:
            handle.write(data)
        return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own ledger and run folders."""
    monkeypatch.setenv("CTJOBS_HOME", str(tmp_path / "ctjobs-home"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server over HTTP on loopback."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_fs(s3_endpoint: str) -> Any:
    """A client for the test's own writes; the code under test makes its own."""
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)


@pytest.fixture
def s3(s3_endpoint: str, s3_fs: Any) -> Store:
    """A fresh S3 bucket for one test."""
    bucket = f"ct-{uuid.uuid4().hex[:12]}"
    s3_fs.mkdir(bucket)
    return Store(f"s3://{bucket}", {"endpoint_url": s3_endpoint}, s3_fs)


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """gcp-storage-emulator over HTTP on loopback, in memory."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def gcs_fs(gcs_endpoint: str) -> Any:
    """A client for the test's own writes; the code under test makes its own."""
    from gcsfs.core import GCSFileSystem

    options = {"endpoint_url": gcs_endpoint, "token": "anon", "project": PROJECT}
    return GCSFileSystem(skip_instance_cache=True, use_listings_cache=False, **options)


@pytest.fixture
def gcs(gcs_endpoint: str, gcs_fs: Any) -> Store:
    """A fresh GCS bucket for one test."""
    bucket = f"ct-{uuid.uuid4().hex[:12]}"
    gcs_fs.mkdir(bucket)
    options = {"endpoint_url": gcs_endpoint, "token": "anon", "project": PROJECT}
    return Store(f"gs://{bucket}", options, gcs_fs)


@dataclass
class BigQueryEmulator:
    """The running emulator, with REST and Storage Read API clients for it."""

    endpoint: str
    client: Any
    storage: Any


@pytest.fixture(scope="session")
def bigquery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """local-bigquery on loopback (REST and gRPC), with fresh data."""
    if os.environ.get("CTJOBS_SKIP_BIGQUERY") == "1":
        pytest.skip("CTJOBS_SKIP_BIGQUERY=1: BigQuery emulator tests skipped")
    program = _emulator_program()
    rest, grpc_port = free_port(), free_port()
    data = tmp_path_factory.mktemp("bigquery")
    env = {**os.environ, "HOME": str(_emulator_path("CTJOBS_BQ_HOME", ".duckhome"))}
    command = [
        program, "serve", "--host", "127.0.0.1", "--port", str(rest),
        "--grpc-port", str(grpc_port), "--project", PROJECT, "--data-dir", str(data),
    ]  # fmt: skip
    log = (data / "emulator.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{rest}"
        _wait_ready(endpoint, process, data / "emulator.log")
        yield BigQueryEmulator(endpoint, *_clients(endpoint, grpc_port))
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _emulator_path(variable: str, default: str) -> Path:
    """A path tools/bq_emulator.sh uses: the variable's value or the default."""
    path = Path(os.environ.get(variable) or default).expanduser()
    return path if path.is_absolute() else ROOT / path


def _emulator_program() -> str:
    """The emulator's executable, made by `make bq-emulator`; never installed here."""
    venv = _emulator_path("CTJOBS_BQ_VENV", ".venv-bq")
    program = venv / "bin" / "local-bigquery"
    home = _emulator_path("CTJOBS_BQ_HOME", ".duckhome")
    if not program.is_file() or not any(venv.glob(".installed-*")) or not home.is_dir():
        pytest.fail(
            f"the BigQuery emulator is not installed ({program}, DuckDB home {home}); "
            "run `make bq-emulator` (tools/bq_emulator.sh) before the tests, or set "
            "CTJOBS_SKIP_BIGQUERY=1 to skip the BigQuery tests"
        )
    return str(program)


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the BigQuery emulator exited:\n{log.read_text()}")
        try:
            httpx.get(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the BigQuery emulator did not answer in 30 s:\n{log.read_text()}")


def _clients(endpoint: str, grpc_port: int) -> tuple[Any, Any]:
    import grpc
    from google.cloud import bigquery_storage
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    from ctjobs.readers.bigquery import bigquery_client

    client = bigquery_client(PROJECT, endpoint)
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    storage = bigquery_storage.BigQueryReadClient(
        transport=BigQueryReadGrpcTransport(channel=channel)
    )
    return client, storage
