"""How flows and tasks run: through Prefect's engine, recorded through Prefect's API, or directly.

Without a Prefect API (no PREFECT_API_URL) Prefect would start a temporary server for every
command, which costs 8-20 s on a small machine. A command then runs the same flow function
here, in this process, without importing Prefect (docs/decisions/0015):

- `run_flow(flow, **params)` validates the parameters with the flow's own signature (pydantic,
  as Prefect's `validate_parameters=True` does) and calls the flow's function in a direct run;
- a task declared with `task(...)` is a plain call of its function there, with the retries it
  declares; in a Prefect flow run it is a Prefect task, as before;
- `run_logger()` is a standard logger, `create_artifact` writes nothing, `current_flow_run_id()` is
  None (so the audit rows' flow_run_id stays NULL), `refused(error)` raises the error;
- flow state hooks (the cleanup's failure alerts) do not run: there is no flow run to hook.

With a Prefect API, a command-line process that has not loaded Prefect runs its short on-demand
flows the same way and records each as a flow run through Prefect's REST API
(flows.recorded_run, docs/decisions/0024): `current_flow_run_id()` is that run's id,
`create_artifact` posts to it, `run_logger()`'s lines go to its log, and the flow's failure and
crash hooks run. Prefect's engine runs the rest: any flow in a process where Prefect is loaded
(a worker, `baskets serve`, a test harness) and the cleanup that deletes (`heartbeats=True`).

This module imports no Prefect itself; Prefect is imported only on the engine's path.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from baskets.errors import BadInput, BasketsError

# Set while a flow runs directly (see run_flow); copied into threads with the context.
_direct_run: contextvars.ContextVar[bool] = contextvars.ContextVar("baskets_direct_run", default=False)
# The flow run recording the direct run, when one does (flows.recorded_run.RecordedRun).
_recorded_run: contextvars.ContextVar[Any] = contextvars.ContextVar("baskets_recorded_run", default=None)
_LOGGER_NAME = "baskets.run"


def prefect_api_configured() -> bool:
    """Whether flows run as tracked Prefect flow runs: PREFECT_API_URL is set in the environment,
    in the active Prefect profile, or (Prefect loaded, e.g. a test harness) in Prefect's settings."""
    return bool(prefect_api_url())


def prefect_api_url() -> str:
    """PREFECT_API_URL as Prefect reads it (the environment, else Prefect's settings when Prefect
    is loaded, else the active profile); empty when none is set."""
    if url := os.environ.get("PREFECT_API_URL", "").strip():
        return url
    if "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return str(PREFECT_API_URL.value() or "").strip()
    return prefect_setting("PREFECT_API_URL")


def prefect_setting(name: str) -> str:
    """A Prefect setting read without Prefect: the environment's `name`, else the active profile's
    in Prefect's profiles file; empty when neither sets it."""
    if value := os.environ.get(name, "").strip():
        return value
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    profile = profiles.get("profiles", {}).get(active, {})
    value = profile.get(name) if isinstance(profile, dict) else None
    return str(value).strip() if value is not None else ""


def in_direct_run() -> bool:
    """True inside a flow that `run_flow` runs in this process without Prefect's engine (direct
    or recorded through the API)."""
    return _direct_run.get()


@contextlib.contextmanager
def recording(run: Any) -> Iterator[None]:
    """While inside, the flow that runs directly is recorded as `run` (flows.recorded_run.RecordedRun)."""
    token = _recorded_run.set(run)
    try:
        yield
    finally:
        _recorded_run.reset(token)


class DeferredFlow:
    """A flow declared before Prefect was imported: its function and options; the Prefect flow
    is built from them only when asked for (`prefect`, or any Flow attribute such as
    `to_deployment`)."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        self.name = options.get("name") or fn.__name__
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def prefect(self) -> Any:
        from flows.prefect_flow import SuiteFlow

        return SuiteFlow(self.fn, **self.options)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.prefect, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.prefect(*args, **kwargs)


def flow(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a flow (Prefect's `flow` options). Where Prefect is already loaded (a worker,
    `baskets serve`, Prefect's engine loading an entrypoint) this is a Prefect Flow
    (flows.prefect_flow.SuiteFlow), which Prefect's loaders insist on; elsewhere a DeferredFlow,
    so that a direct run never loads it."""

    def declare(fn: Callable[..., Any]) -> Any:
        if "prefect" in sys.modules:
            from flows.prefect_flow import SuiteFlow

            return SuiteFlow(fn, **options)
        return DeferredFlow(fn, options)

    return declare


class Task:
    """A task: in a Prefect flow run a Prefect task (its own task run, Prefect's retries); in a
    direct run a plain call with the same retries. Every task here touches the database or
    files, so none is cached (Prefect's NO_CACHE)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        retries: int = 0,
        retry_delay_seconds: float | Sequence[float] = 0,
        retry_on: tuple[type[BaseException], ...] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_on = retry_on
        functools.update_wrapper(self, fn)

    def should_retry(self, error: BaseException) -> bool:
        """Whether a failure is retried: any exception, or only `retry_on` ones when given."""
        return self.retry_on is None or isinstance(error, self.retry_on)

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based), as Prefect reads retry_delay_seconds."""
        delays = self.retry_delay_seconds
        if isinstance(delays, int | float):
            return float(delays)
        return float(delays[min(retry, len(delays) - 1)]) if delays else 0.0

    @functools.cached_property
    def prefect(self) -> Any:
        from prefect import task as prefect_task
        from prefect.cache_policies import NO_CACHE

        condition = None
        if self.retry_on is not None:

            def condition(_task: Any, _task_run: Any, state: Any) -> bool:
                return self.should_retry(state.result(raise_on_failure=False))

        delays = self.retry_delay_seconds
        return prefect_task(
            self.fn,
            name=self.name,
            cache_policy=NO_CACHE,
            retries=self.retries,
            retry_delay_seconds=delays if isinstance(delays, int | float) else list(delays),
            retry_condition_fn=condition,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not in_direct_run():
            return self.prefect(*args, **kwargs)
        retry = 0
        while True:
            try:
                return self.fn(*args, **kwargs)
            except Exception as error:
                if retry >= self.retries or not self.should_retry(error):
                    raise
                run_logger().warning(
                    "task %s failed (retry %d of %d): %s: %s",
                    self.name, retry + 1, self.retries, type(error).__name__, error,
                )  # fmt: skip
                time.sleep(self.delay(retry))
                retry += 1


def task(
    *,
    name: str,
    retries: int = 0,
    retry_delay_seconds: float | Sequence[float] = 0,
    retry_on: tuple[type[BaseException], ...] | None = None,
) -> Callable[[Callable[..., Any]], Task]:
    """Declare a task: `retries` after `retry_delay_seconds`, for any exception or only the
    `retry_on` types (an expected failure such as NotFound is final)."""

    def declare(fn: Callable[..., Any]) -> Task:
        return Task(
            fn, name=name, retries=retries, retry_delay_seconds=retry_delay_seconds, retry_on=retry_on
        )

    return declare


# Who hears about the running work's progress in this process: the command line's progress bar.
# Tasks and flows run in the process that called the flow (a command's flow run, tracked or
# direct), so a plain list reaches them without passing a callable through flow parameters.
ProgressListener = Callable[[int, int | None], None]
_progress_listeners: list[ProgressListener] = []


@contextlib.contextmanager
def reporting_progress(listener: ProgressListener) -> Iterator[None]:
    """While inside, `listener(done, expected)` hears each `report_progress` of this process."""
    _progress_listeners.append(listener)
    try:
        yield
    finally:
        _progress_listeners.remove(listener)


def report_progress(done: int, expected: int | None = None) -> None:
    """Units of work done so far (baskets, rows), of `expected` when known."""
    for listener in list(_progress_listeners):
        listener(done, expected)


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The run's logger: Prefect's run logger in a Prefect run, else the `baskets.run` logger."""
    if not in_direct_run():
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        with contextlib.suppress(MissingContextError):
            return get_run_logger()
    return logging.getLogger(_LOGGER_NAME)


def current_flow_run_id() -> str | None:
    """The id of the Prefect flow run this runs in (or that records it); None in a direct run
    that no flow run records."""
    if in_direct_run():
        recorded = _recorded_run.get()
        return recorded.id if recorded is not None else None
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def create_artifact(kind: str, **fields: Any) -> Any:
    """Prefect's `create_<kind>_artifact(**fields)` in a Prefect run or a recorded one (its id);
    nothing (None) in a direct run, which has no run to attach it to: its summary is the
    command's output."""
    if in_direct_run():
        recorded = _recorded_run.get()
        return recorded.create_artifact(kind, **fields) if recorded is not None else None
    from prefect import artifacts

    return getattr(artifacts, f"create_{kind}_artifact")(**fields)


def update_progress_artifact(artifact_id: Any, progress: float) -> None:
    """Move a progress artifact (from create_artifact("progress", ...)); nothing without one."""
    if artifact_id is None:
        return
    if in_direct_run():
        recorded = _recorded_run.get()
        if recorded is not None:
            recorded.update_progress_artifact(artifact_id, progress)
        return
    from prefect.artifacts import update_progress_artifact as update

    update(artifact_id, progress=progress)


def refused(error: BasketsError, message: str | None = None) -> Any:
    """End a flow on an expected refusal: in a Prefect run a Failed state carrying `error` and
    `message` (default the error's; the run log shows one line, not a traceback; the caller gets
    the error raised); directly, raise it."""
    if in_direct_run():
        raise error
    from prefect.states import Failed

    return Failed(message=message or error.message, data=error)


def run_flow(flow: Any, /, *, heartbeats: bool = False, **params: Any) -> Any:
    """Run `flow` with `params` and return its result; a result model (or dict) gets `tracked`:
    whether a Prefect flow run tracked it.

    With a Prefect API configured: a flow run recorded through the API when Prefect is not
    loaded and the run wants no `heartbeats` (flows.recorded_run), else Prefect's engine
    (`running_flow`, `heartbeats` as there). Without: directly in this process (module
    docstring). A parameter the flow's signature refuses is BadInput (exit 2) naming it.
    """
    tracked = prefect_api_configured()
    if tracked and not heartbeats and "prefect" not in sys.modules and isinstance(flow, DeferredFlow):
        from flows.recorded_run import run_recorded

        result = run_recorded(flow, params)
    elif tracked:
        from flows.prefect_flow import running_flow

        with running_flow(heartbeats=heartbeats):
            result = (flow.prefect if isinstance(flow, DeferredFlow) else flow)(**params)
    else:
        result = run_directly(flow, params)
    if isinstance(result, dict):
        return {**result, "tracked": tracked}
    if "tracked" in getattr(type(result), "model_fields", {}):  # a result model (flows.results)
        return result.model_copy(update={"tracked": tracked})
    return result


def run_directly(flow: Any, params: dict[str, Any]) -> Any:
    """Call `flow`'s function with `params` validated, in a direct run (module docstring)."""
    fn = flow.fn
    options = (
        flow.options
        if isinstance(flow, DeferredFlow)
        else {"validate_parameters": flow.should_validate_parameters}
    )
    call = fn
    if options.get("validate_parameters", True):
        from pydantic import ConfigDict, ValidationError, validate_call

        validated = validate_call(fn, config=ConfigDict(arbitrary_types_allowed=True))

        def call(**given: Any) -> Any:
            try:
                return validated(**given)
            except ValidationError as error:
                if error.title != fn.__qualname__:  # raised inside the flow, not by its parameters
                    raise
                raise BadInput(_describe_parameter_error(error)) from None

    token = _direct_run.set(True)
    try:
        with _warnings_to_stderr():
            return call(**params)
    finally:
        _direct_run.reset(token)


def _describe_parameter_error(error: Any) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "parameters"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """A direct run's warnings and errors on stderr, as Prefect's console shows them in a tracked
    run; its info lines are dropped (the command prints the outcome)."""
    logger = logging.getLogger(_LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-7s | %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
