"""How every flow ends on an expected failure: Failed, with one line for the person at the run form."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from baskets.errors import BasketsError
from flows.runner import refused

P = ParamSpec("P")
R = TypeVar("R")


def form_message(error: BasketsError) -> str:
    """`error` in one line for a run form: its message, which names inputs by their form field
    (baskets.errors), first line only."""
    return (error.message.strip().splitlines() or [""])[0]


def fails_the_run_on_refusal(body: Callable[P, R]) -> Callable[P, R]:
    """Wrap a flow function (under `@flow`) so that a BasketsError ends the run Failed with
    `form_message(error)`, not by raising.

    A raise would log Prefect's traceback into the run's log and word the state "Flow run
    encountered an exception: NotPermitted: ..."; the run form's user gets one line instead.
    A caller in Python (the command line) still gets the error raised back from the Failed
    state, with its command-line message; a direct run (flows.runner) raises it.
    """

    @functools.wraps(body)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return body(*args, **kwargs)
        except BasketsError as error:
            return refused(error, message=form_message(error))  # type: ignore[no-any-return]

    # The parameters' types resolved in `body`'s module: Prefect validates a run's parameters
    # in the namespace of `run`, this module, which lacks the names of the flow's annotations.
    run.__signature__ = inspect.signature(body, eval_str=True)  # type: ignore[attr-defined]
    return run


class _NoExpectedFailureTracebacks(logging.Filter):
    """Drop a run's log records about a BasketsError a task raised: the traceback Prefect logs
    with it, and the task run's "Finished in state Failed('Task run encountered an exception
    NotPermitted: ...')" line. The run's own Failed message says it once, for the form's user."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], BasketsError):
            return False
        if record.name == "prefect.task_runs" and record.levelno >= logging.ERROR:
            text = record.getMessage()
            return not (
                text.startswith("Finished in state Failed(")
                and any(f"encountered an exception {name}:" in text for name in _expected_failure_names())
            )
        return True


def _expected_failure_names() -> set[str]:
    """The class names of BasketsError and its subclasses, as Prefect's state messages name them."""
    names, pending = set(), [BasketsError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return names


# Installed on import: every flow module imports this one, so a served run, a worker's run and
# a command's run all log without these tracebacks (the API's run log and the terminal alike).
_QUIET = _NoExpectedFailureTracebacks()
for _run_logger in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(_run_logger).addFilter(_QUIET)
