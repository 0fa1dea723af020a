"""CleverTap credentials and the API address, from the environment or a secrets file.

Credentials never come from a job file. The account ID and passcode are read from
``CLEVERTAP_ACCOUNT_ID`` and ``CLEVERTAP_PASSCODE``; a secrets file (TOML, or
dotenv-style ``KEY=VALUE`` lines) fills in whatever the environment leaves unset.
The passcode is held as a `pydantic.SecretStr`, so printing a `Credentials` shows
``**********`` instead of its value.

Example:
    >>> credentials = load_credentials("~/.config/ctjobs/secrets.toml")
    >>> base_url("in1", None)
    'https://in1.api.clevertap.com'
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ctjobs.errors import AuthenticationError, UsageError

logger = logging.getLogger(__name__)

ACCOUNT_ID_VARIABLE = "CLEVERTAP_ACCOUNT_ID"
PASSCODE_VARIABLE = "CLEVERTAP_PASSCODE"
API_URL_VARIABLE = "CLEVERTAP_API_URL"
SECRETS_FILE_VARIABLE = "CTJOBS_SECRETS_FILE"
_VARIABLES = frozenset({ACCOUNT_ID_VARIABLE, PASSCODE_VARIABLE, API_URL_VARIABLE})

# Regions with their own API host, as CleverTap's region table lists them.
REGIONS = ("in1", "sg1", "us1", "aps3", "mec1")
# Europe is the unprefixed host; `eu1.api.clevertap.com` answers as well.
DEFAULT_REGION = "eu1"
# South Korea appears in CleverTap's own uploader but not in the region table.
LEGACY_REGIONS = ("sk1",)
# Keys of a secrets file's `[clevertap]` table and the variables they stand for.
_TABLE_KEYS = {"account_id": ACCOUNT_ID_VARIABLE, "passcode": PASSCODE_VARIABLE}
_DEFAULT_HOST = "https://api.clevertap.com"
_REDACTED = "***"


@dataclass(frozen=True)
class Credentials:
    """An account ID and its passcode; the passcode never shows in repr or str."""

    account_id: str
    passcode: SecretStr

    def __post_init__(self) -> None:
        if not self.account_id.strip():
            raise AuthenticationError(
                f"the CleverTap account ID is empty; set {ACCOUNT_ID_VARIABLE}"
            )
        if not self.passcode.get_secret_value():
            raise AuthenticationError(
                f"the CleverTap passcode is empty; set {PASSCODE_VARIABLE}"
            )

    def __str__(self) -> str:
        return f"CleverTap account {self.account_id} (passcode hidden)"


def load_credentials(secrets_file: str | Path | None = None) -> Credentials:
    """Credentials from the environment, then from `secrets_file` for what is unset.

    The secrets file defaults to ``$CTJOBS_SECRETS_FILE`` when that is set.
    A secrets file may be TOML (``CLEVERTAP_ACCOUNT_ID = "..."`` at the top level,
    or ``account_id`` / ``passcode`` under a ``[clevertap]`` table) or dotenv-style
    ``KEY=VALUE`` lines. The environment wins over the file.
    """
    secrets_file = secrets_file or os.environ.get(SECRETS_FILE_VARIABLE) or None
    found = dict(read_secrets_file(secrets_file)) if secrets_file else {}
    for name in (ACCOUNT_ID_VARIABLE, PASSCODE_VARIABLE):
        if os.environ.get(name):
            found[name] = os.environ[name]

    missing = [n for n in (ACCOUNT_ID_VARIABLE, PASSCODE_VARIABLE) if not found.get(n)]
    if missing:
        where = f" or in {secrets_file}" if secrets_file else ""
        message = (
            f"no CleverTap credentials: {' and '.join(missing)} not set in the "
            f"environment{where}; set them there (never in the job file)"
        )
        raise UsageError(message)
    return Credentials(
        account_id=found[ACCOUNT_ID_VARIABLE].strip(),
        passcode=SecretStr(found[PASSCODE_VARIABLE].strip()),
    )


def read_secrets_file(path: str | Path) -> dict[str, str]:
    """The CleverTap variables a TOML or dotenv-style secrets file holds."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such secrets file") from None
    except OSError as error:
        message = f"{path}: cannot read the secrets file ({error.strerror})"
        raise UsageError(message) from None

    try:
        return _secrets_from_toml(tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        if path.suffix == ".toml":
            # TOML's message gives the line and column, never the value.
            message = f"{path}: not valid TOML ({error}); fix the secrets file"
            raise UsageError(message) from None
        # Unquoted `KEY=value` lines are not TOML; they are dotenv.
        return _secrets_from_dotenv(text, path)


def _secrets_from_toml(data: Mapping[str, object]) -> dict[str, str]:
    found = {k: str(v) for k, v in data.items() if k in _VARIABLES}
    table = data.get("clevertap")
    if isinstance(table, Mapping):
        for key, name in _TABLE_KEYS.items():
            if key in table:
                found.setdefault(name, str(table[key]))
    return found


def _secrets_from_dotenv(text: str, path: Path) -> dict[str, str]:
    """``KEY=value`` lines; a line that is not one is an error, never skipped.

    A skipped or half-read line would send a wrong passcode and earn a 401 that
    says nothing of the file, so the file is refused instead, by line number
    (the line itself may hold a secret and is not shown).
    """
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            message = f"{path}: line {number} is not KEY=VALUE; fix the secrets file"
            raise UsageError(message)
        key, value = line.removeprefix("export ").split("=", 1)
        key, value = key.strip(), value.strip()
        quoted = value[:1] in ("'", '"')
        if quoted and (len(value) < 2 or value[-1] != value[0]):
            message = (
                f"{path}: line {number} opens a quote it does not close; "
                "fix the secrets file"
            )
            raise UsageError(message)
        if quoted:
            value = value[1:-1]
        if key in _VARIABLES:
            found[key] = value
    return found


def base_url(region: str | None, url: str | None) -> str:
    """The Upload API's base URL (no trailing slash, no ``/1/upload``).

    An explicit `url` wins, then ``CLEVERTAP_API_URL``, then the region's host:
    ``https://<region>.api.clevertap.com`` for in1, sg1, us1, aps3 and mec1, and
    ``https://api.clevertap.com`` for Europe (eu1, the default; the ``eu1.`` prefix
    answers too). sk1 is accepted with a warning: CleverTap's uploader uses it but
    its current region table does not list it.
    """
    explicit = url or os.environ.get(API_URL_VARIABLE)
    if explicit:
        return _checked_url(explicit)

    name = (region or DEFAULT_REGION).strip().lower()
    if name == DEFAULT_REGION:
        return _DEFAULT_HOST
    if name in LEGACY_REGIONS:
        logger.warning(
            "region %s is not in CleverTap's current region table; "
            "if uploads fail with HTTP 401, check the account's region",
            name,
        )
        return f"https://{name}.api.clevertap.com"
    if name not in REGIONS:
        valid = ", ".join((DEFAULT_REGION, *REGIONS, *LEGACY_REGIONS))
        raise UsageError(f"unknown CleverTap region {region!r}; use one of: {valid}")
    return f"https://{name}.api.clevertap.com"


def _checked_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        message = f"API URL {url!r} must start with https:// (http:// for a sandbox)"
        raise UsageError(message)
    return url


def redact(text: str, secrets: Iterable[str | SecretStr | None]) -> str:
    """`text` with every occurrence of each secret value replaced by ``***``."""
    values = (s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets)
    # Longest first, so a secret that contains another is scrubbed whole.
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, _REDACTED)
    return text
