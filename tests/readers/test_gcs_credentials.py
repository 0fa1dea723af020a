"""GCS credentials: a service-account file from the job file or the environment.

The unit tests check the mapping to gcsfs's `token`. The emulator tests read
through gcp-storage-emulator with a made-up service-account file whose key is
generated here and whose `token_uri` is a token server on loopback, so gcsfs
signs a real JWT grant with the file's key and nothing leaves the machine. The
emulator does not check the bearer token, so the token server's log is what shows
the file was used.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from ctjobs.errors import UsageError
from ctjobs.job.spec import parse_job
from ctjobs.readers.cloud import storage_options_for
from ctjobs.readers.exports import read_export
from ctjobs.readers.storage import filesystem

from .conftest import PROJECT, Store, free_port, gz

ENV = "GOOGLE_APPLICATION_CREDENTIALS"
CSV = "identity,ts,eventName,eventProps.Amount\nu1,20240301101500,Charged,5\n"
NAME = "1-2-Charged-20240301-0-0.csv.gz"


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


# ------------------------------------------------------------------ mapping


@pytest.mark.parametrize(
    "key",
    ["service_account_file", "credentials_file", "service_account_path",
     "credentials_path"],
)  # fmt: skip
@pytest.mark.parametrize("protocol", ["gs", "gcs"])
def test_a_key_file_in_the_job_options_becomes_the_token(
    tmp_path: Path, key: str, protocol: str
) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text("{}")

    options = storage_options_for(protocol, {key: str(key_file), "project": "p"})

    assert options == {
        "token": str(key_file),
        "project": "p",
        "use_listings_cache": False,
    }


def test_a_key_file_path_is_expanded_from_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "sa.json").write_text("{}")

    options = storage_options_for("gs", {"service_account_file": "~/sa.json"})

    assert options["token"] == str(tmp_path / "sa.json")


def test_a_missing_key_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"

    # gcsfs would take the path for an access token and ask Google about it.
    with pytest.raises(UsageError) as raised:
        storage_options_for("gs", {"service_account_file": str(missing)})

    assert "`service_account_file`" in str(raised.value)
    assert str(missing) in str(raised.value)


def test_a_service_account_file_in_the_environment_becomes_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({"type": "service_account"}))
    monkeypatch.setenv(ENV, str(key_file))

    options = storage_options_for("gs", {"project": "p"})

    assert options["token"] == str(key_file)


def test_the_job_options_win_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env, from_job = tmp_path / "env.json", tmp_path / "job.json"
    for path in (from_env, from_job):
        path.write_text(json.dumps({"type": "service_account"}))
    monkeypatch.setenv(ENV, str(from_env))

    assert storage_options_for("gs", {"credentials_file": str(from_job)})["token"] == (
        str(from_job)
    )
    assert storage_options_for("gs", {"anonymous": True})["token"] == "anon"
    assert storage_options_for("gs", {"token": "anon"})["token"] == "anon"


def test_a_missing_file_in_the_environment_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "absent.json"))

    with pytest.raises(UsageError, match=ENV):
        storage_options_for("gs", {})


@pytest.mark.parametrize(
    "content",
    [
        {"type": "authorized_user", "refresh_token": "r"},
        {"type": "external_account", "audience": "a"},
    ],
    ids=lambda content: content["type"],
)
def test_other_credential_files_in_the_environment_are_left_to_google_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: dict[str, str]
) -> None:
    key_file = tmp_path / "adc.json"
    key_file.write_text(json.dumps(content))
    monkeypatch.setenv(ENV, str(key_file))

    assert "token" not in storage_options_for("gs", {})


def test_the_environment_does_not_touch_s3_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "absent.json"))

    assert storage_options_for("s3", {}) == {"use_listings_cache": False}


# ------------------------------------------------------------------ emulator


@dataclass
class KeyFile:
    """A made-up service-account key file and the grants its token server got."""

    path: Path
    email: str
    grants: list[dict[str, list[str]]] = field(default_factory=list)


@pytest.fixture
def key_file(tmp_path: Path) -> Iterator[KeyFile]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    made = KeyFile(tmp_path / "sa.json", f"ct-reader@{PROJECT}.iam.gserviceaccount.com")

    class TokenServer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            made.grants.append(parse_qs(body))
            answer = json.dumps(
                {"access_token": "fake", "expires_in": 3600, "token_type": "Bearer"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), TokenServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    account = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "test-key",
        "private_key": pem,
        "client_email": made.email,
        "client_id": "1",
        "token_uri": f"http://127.0.0.1:{server.server_port}/token",
    }
    made.path.write_text(json.dumps(account))
    yield made
    server.shutdown()
    server.server_close()
    thread.join()


def _job_options(gcs: Store, **extra: Any) -> dict[str, Any]:
    """The emulator's options as a job file gives them: no `token`."""
    options = {k: v for k, v in gcs.options.items() if k != "token"}
    return {**options, **extra}


def test_a_job_file_key_file_reads_from_the_emulator(
    gcs: Store, key_file: KeyFile
) -> None:
    gcs.put(f"ev/{NAME}", gz(CSV))
    job = parse_job(
        {
            "name": "gcs",
            "source": {
                "paths": [f"{gcs.url}/ev/*.csv.gz"],
                "storage_options": _job_options(
                    gcs, service_account_file=str(key_file.path)
                ),
            },
            "records": [{"kind": "event", "identity": "identity", "ts": "ts",
                         "event_name": "eventName"}],
        }
    )  # fmt: skip
    options = job.source.storage_options

    frame = read_export(job.source.paths, storage_options=options)

    assert frame["identity"].to_list() == ["u1"]
    assert frame["eventProps.Amount"].to_list() == [5]
    credentials = filesystem(gcs.url, options).credentials.credentials
    assert credentials.service_account_email == key_file.email
    assert key_file.grants, "the key file's token server was never asked"
    assert key_file.grants[0]["grant_type"] == [
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ]


def test_a_key_file_from_the_environment_reads_from_the_emulator(
    gcs: Store, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcs.put(f"ev/{NAME}", gz(CSV))
    monkeypatch.setenv(ENV, str(key_file.path))
    # A project other than the file's: gcsfs's own search would drop the file
    # for that and read anonymously.
    options = _job_options(gcs, project="another-project")

    frame = read_export(f"{gcs.url}/ev/*.csv.gz", storage_options=options)

    assert frame["identity"].to_list() == ["u1"]
    credentials = filesystem(gcs.url, options).credentials.credentials
    assert credentials.service_account_email == key_file.email
    assert key_file.grants


def test_a_missing_job_file_key_file_fails_before_any_request(
    gcs: Store, tmp_path: Path
) -> None:
    gcs.put(f"ev/{NAME}", gz(CSV))
    missing = tmp_path / "absent.json"
    options = _job_options(gcs, service_account_file=str(missing))

    with pytest.raises(UsageError, match="not a file"):
        read_export(f"{gcs.url}/ev/*.csv.gz", storage_options=options)
