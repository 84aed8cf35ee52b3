"""Expected failures, each with the exit code of PRODUCT.md §8 and a one-line message."""

from __future__ import annotations


class BasketsError(Exception):
    """Base of every failure the command line reports in one line, without a traceback.

    `message` names inputs by their field: the flow parameter, i.e. the run-form field
    (`operator`, `note`, `since`), never a command-line flag. A message about one input starts
    with `field: ` and sets `field`; any other input it mentions is written in backticks
    ("use `overwrite` to replace it"). A run form shows the message as it is; the command line
    puts its flag in place of each field (cli/errors.py: `--note: ...`, "use --overwrite").
    """

    exit_code = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(BasketsError):
    """A flag, argument or setting has a malformed value (exit 2)."""

    exit_code = 2


class NotPermitted(BasketsError):
    """The operator is unknown or their role lacks the right (exit 3)."""

    exit_code = 3


class NotFound(BasketsError):
    """Nothing matched, e.g. no basket with that ID (exit 4)."""

    exit_code = 4


class SafetyLimitHit(BasketsError):
    """A run would delete more than allowed; nothing was deleted (exit 5)."""

    exit_code = 5


class AuditChainBroken(BasketsError):
    """The audit hash chain does not verify (exit 6)."""

    exit_code = 6


class CleanupAlreadyRunning(BasketsError):
    """Another cleanup holds the lock on this database (exit 7)."""

    exit_code = 7


class CleanupLockLost(BasketsError):
    """The session holding a running cleanup's lock ended (killed, or its connection dropped): a
    second run may hold the lock now, so this one stops before its next batch (exit 1)."""

    exit_code = 1


class WorkerMisconfigured(BadInput):
    """The process that runs a job is set up wrong, whatever the job was given: a bad setting,
    a database driver that is not installed, another installed version than the deployment's
    (exit 2: nothing ran). Not the caller's doing, so a run that fails on it alerts."""
