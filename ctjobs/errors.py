"""The exception tree of ctjobs, sorted by what the caller should do.

    CtjobsError                  the root: catch this to catch everything ctjobs raises
    ├── UsageError               the caller asked for something impossible (CLI exit 2)
    │   └── JobFileError         a job file that does not parse or validate
    ├── SourceError              input that cannot be read as it stands (CLI exit 1)
    │   ├── SchemaConflictError  one column with types that cannot be reconciled
    │   └── SchemaFrozenError    the source changed and the job's policy says stop
    ├── DestinationError         the destination refused or failed (CLI exit 1)
    │   ├── AuthenticationError  credentials wrong or missing: fix, then re-run
    │   └── UploadUnfinished     batches still pending after the retry budget
    ├── LedgerError              the ledger is unreadable or belongs to another job
    └── SandboxStartError        the local CleverTap sandbox did not come up

Every message names the file, column, row, batch or job it is about and says what
to do next. No message ever carries a credential value.
"""

from __future__ import annotations

from typing import Any


class CtjobsError(Exception):
    """Root of every error ctjobs raises on purpose."""

    exit_code = 1
    #: The run summary, when the error ended a run (the CLI prints it with --json).
    summary: Any = None


class UsageError(CtjobsError):
    """A call or option that cannot work as given."""

    exit_code = 2


class JobFileError(UsageError):
    """A job file that does not parse or does not match the job file format."""


class SourceError(CtjobsError):
    """Input that cannot be read: missing files, unreadable values, bad layouts."""


class SchemaConflictError(SourceError):
    """The same column arrives with types that no declared rule reconciles."""


class SchemaFrozenError(SourceError):
    """The source or the outgoing records changed under a `freeze` policy."""


class DestinationError(CtjobsError):
    """CleverTap, an SFTP server or a file store refused or failed."""


class AuthenticationError(DestinationError):
    """Credentials missing or refused; nothing was marked as sent."""


class UploadUnfinished(DestinationError):
    """Some batches are still pending after their retry budget; re-run to resume."""


class LedgerError(CtjobsError):
    """The ledger cannot be opened or does not fit this job."""
