"""How every flow ends on an expected failure: Failed, with one line for the person at the run form."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from baskets.errors import BasketsError, WorkerMisconfigured
from config.settings import Settings, SettingsError, load_settings
from flows.runner import in_direct_run, refused

PACKAGE = "basket-maintenance"
# How `baskets deploy` stamps a deployment with the version it was made from: "basket-maintenance==0.1.0".
VERSION_STAMP = f"{PACKAGE}=="

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
            check_deployed_version()
            return body(*args, **kwargs)
        except BasketsError as error:
            return refused(error, message=form_message(error))  # type: ignore[no-any-return]

    # The parameters' types resolved in `body`'s module: Prefect validates a run's parameters
    # in the namespace of `run`, this module, which lacks the names of the flow's annotations.
    run.__signature__ = inspect.signature(body, eval_str=True)  # type: ignore[attr-defined]
    return run


def run_settings() -> Settings:
    """This process's settings for a run: a bad one is WorkerMisconfigured (exit 2, and an alert:
    the run's caller gave nothing wrong). The database always comes from here, never a parameter
    (Prefect stores those in clear)."""
    try:
        return load_settings()
    except SettingsError as error:
        raise WorkerMisconfigured(str(error)) from None


def installed_version() -> str:
    """The version of basket-maintenance installed in this process's environment."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "not installed"


def check_deployed_version() -> None:
    """In a run of a deployment `baskets deploy` stamped with a version, refuse to run other code
    than that version (WorkerMisconfigured): the worker's package is older or newer."""
    if in_direct_run():
        return
    from prefect.context import FlowRunContext
    from prefect.runtime import deployment

    # The run's own record says whether a deployment made it; `deployment.id` would read the flow
    # run from the API again when none did (every command's run), an extra round trip.
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None and context.flow_run.deployment_id is None:
        return
    stamped = deployment.version if deployment.id else None
    if not isinstance(stamped, str) or not stamped.startswith(VERSION_STAMP):
        return
    wanted, here = stamped.removeprefix(VERSION_STAMP), installed_version()
    if wanted != here:
        raise WorkerMisconfigured(
            f"this worker has {PACKAGE} {here} installed but the deployment was made with {wanted} "
            f"(expected the same version on every worker: pip install '{PACKAGE}=={wanted}', "
            "or run `baskets deploy` again)"
        )


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
