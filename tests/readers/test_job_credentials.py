"""Job files may say where storage credentials are, never hold them."""

from __future__ import annotations

from typing import Any

import pytest

from ctjobs.errors import JobFileError
from ctjobs.job.spec import parse_job


def _job(storage_options: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "exports",
        "source": {"paths": ["s3://ct/events/*.csv.gz"],
                   "storage_options": storage_options},
        "records": [{"kind": "event", "identity": "identity", "ts": "ts",
                     "event_name": "eventName"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [
        {"credentials_file": "~/.aws/ct-credentials", "profile": "exports"},
        {"shared_credentials_file": "/etc/ct/aws-credentials"},
        {"service_account_file": "/etc/ct/sa.json"},
        {"credentials_path": "secrets/sa.json"},
        {"aws_profile": "exports", "endpoint_url": "http://127.0.0.1:9000"},
        {"private_key_file": "keys/import_key"},
    ],
    ids=lambda options: ",".join(options),
)
def test_references_to_credential_files_are_accepted(options: dict[str, Any]) -> None:
    spec = parse_job(_job(options))

    assert spec.source.storage_options == options


@pytest.mark.parametrize(
    "options",
    [
        {"secret": "wJalrXUtnFEMI"},
        {"key": "AKIAIOSFODNN7EXAMPLE"},
        {"secret_access_key": "wJalrXUtnFEMI"},
        {"aws_secret_access_key": "wJalrXUtnFEMI"},
        {"token": "ya29.a0Af"},
        {"aws_session_token": "FQoGZXIvYXdzE"},
        {"password": "hunter2"},
        {"passcode": "ABC-DEF"},
        {"credentials": {"type": "service_account"}},
        {"client_kwargs": {"aws_secret_access_key": "wJalrXUtnFEMI"}},
        {"credentials_file": '{"type": "service_account", "private_key": "x"}'},
        {"service_account_file": "-----BEGIN PRIVATE KEY-----\nMIIE\n"},
    ],
    ids=lambda options: ",".join(options),
)
def test_secret_values_are_still_refused(options: dict[str, Any]) -> None:
    with pytest.raises(JobFileError, match="looks like a credential"):
        parse_job(_job(options))


def test_a_property_named_key_outside_storage_options_is_not_a_secret() -> None:
    job = _job({})
    job["transforms"] = [{"step": "rename", "columns": {"key": "item_key"}}]

    spec = parse_job(job)

    assert spec.transforms[0].columns == {"key": "item_key"}
