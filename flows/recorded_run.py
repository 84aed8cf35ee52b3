"""A command's flow run recorded through Prefect's REST API, without loading Prefect (decision 0024).

An on-demand command with a Prefect API configured runs its flow function in its own process,
exactly as a direct run does (flows.runner), and records it as a flow run of the same flow name
as the deployments': created Running before the work starts, with its parameters and tags; its
artifacts and log lines attached to it; ended Completed, Failed (with the run form's one-line
message for a refusal) or Crashed (interrupted). Task runs are not recorded: a task is a plain
call there, its retries are warnings in the run's log.

The requests go through flows.prefect_api (Prefect's client's credentials and TLS settings). A
server that does not answer, or answers an error, while the run is created stops the command
before any work (PrefectApiUnavailable, exit 1); later, a record that cannot be sent is a
warning: the work is done and stays done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from baskets.errors import BasketsError
from config.urls import without_secrets
from flows.prefect_api import PrefectApi, PrefectApiUnavailable, one_line
from flows.run_alerts import PREFECT_FAILURE_PREFIX, RunEnd

# Tags of every run recorded this way, to tell them from runs Prefect's engine ran.
RUN_TAGS = ["command-line"]
_RUN_LOGGER = "baskets.run"  # flows.runner.run_logger() in a run that is not Prefect's engine's


def serialized_parameters(fn: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters, the defaults of those not given included (as Prefect's engine
    records them), as JSON values the way flows.prefect_flow.SuiteFlow stores plain ones. The
    flows take no secret (the database is never a parameter: tests/cli/test_no_secrets.py)."""
    import inspect

    from pydantic_core import to_jsonable_python

    try:
        bound = inspect.signature(fn).bind_partial(**parameters)
        bound.apply_defaults()
        complete = dict(bound.arguments)
    except TypeError:  # a parameter the flow does not take: the run fails on it, recorded as given
        complete = dict(parameters)
    return {name: to_jsonable_python(value, fallback=str) for name, value in complete.items()}


class RecordedRun:
    """One flow run recorded through the API: created Running, given artifacts and log lines,
    then ended. Every call after the creation warns instead of raising (module docstring)."""

    def __init__(self, api: PrefectApi, flow_name: str, run: dict[str, Any]) -> None:
        self.api = api
        self.flow_name = flow_name
        self.id = str(run["id"])
        self.name = str(run.get("name") or self.id)
        self.logs: list[dict[str, Any]] = []

    @classmethod
    def start(cls, api: PrefectApi, flow_name: str, parameters: dict[str, Any]) -> RecordedRun:
        """Create the flow (or find it by name) and its run, Running, with `parameters` (JSON
        values); PrefectApiUnavailable if not."""
        flow = api.call("POST", "/flows/", {"name": flow_name})
        flow_id = flow.get("id") if isinstance(flow, dict) else None
        if not isinstance(flow_id, str):
            raise api.unavailable("answered without a flow id")
        body = {
            "flow_id": flow_id,
            "parameters": parameters,
            "tags": RUN_TAGS,
            "state": {"type": "RUNNING", "name": "Running"},
        }
        run = api.call("POST", "/flow_runs/", body)
        if not (isinstance(run, dict) and isinstance(run.get("id"), str)):
            raise api.unavailable("answered without a flow run id")
        return cls(api, flow_name, run)

    def _send(self, doing: str, method: str, path: str, body: Any) -> Any:
        try:
            return self.api.call(method, path, body)
        except PrefectApiUnavailable as error:
            print(
                f"warning: could not {doing} flow run {self.id}: the Prefect API at {error.api_url} "
                f"{error.problem}",
                file=sys.stderr,
            )
            return None

    def create_artifact(self, kind: str, **fields: Any) -> str | None:
        """Prefect's `create_<kind>_artifact(**fields)` for this run: markdown, table, link or
        progress, stored as Prefect's client stores each; the artifact's id."""
        data, stored_type = _artifact_data(kind, fields)
        body = {
            "key": fields.get("key"),
            "type": stored_type,
            "description": fields.get("description"),
            "data": data,
            "flow_run_id": self.id,
        }
        created = self._send("attach an artifact to", "POST", "/artifacts/", body)
        return str(created["id"]) if isinstance(created, dict) and "id" in created else None

    def update_progress_artifact(self, artifact_id: str, progress: float) -> None:
        self._send(
            "update the progress of", "PATCH", f"/artifacts/{artifact_id}", {"data": _percent(progress)}
        )

    def end(self, state_type: str, name: str, message: str | None) -> None:
        """Set the run's final state through the server's orchestration rules (a run cancelled
        meanwhile may refuse it: then a warning says so)."""
        body = {"state": {"type": state_type, "name": name, "message": message}, "force": False}
        answer = self._send(f"end ({name})", "POST", f"/flow_runs/{self.id}/set_state", body)
        if isinstance(answer, dict) and answer.get("status") not in ("ACCEPT", None):
            held = (answer.get("state") or {}).get("name", "unknown")
            print(
                f"warning: the Prefect server kept flow run {self.id} {held} instead of {name} "
                f"({answer.get('status')}: {one_line(str((answer.get('details') or {}).get('reason', '')))})",
                file=sys.stderr,
            )

    def note(self, level: int, message: str) -> None:
        """A line of the run's own in its log (as Prefect's engine writes them), not on stderr."""
        self.logs.append(_log_entry(self.id, "prefect.flow_runs", level, message, dt.datetime.now(dt.UTC)))

    def flush_logs(self) -> None:
        """Send the run's log lines in one request."""
        if self.logs:
            self._send("send the log lines of", "POST", "/logs/", self.logs)
            self.logs = []


def _percent(progress: float) -> float:
    return max(0.0, min(100.0, float(progress)))


def _artifact_data(kind: str, fields: dict[str, Any]) -> tuple[Any, str]:
    if kind == "markdown":
        return fields["markdown"], "markdown"
    if kind == "link":
        text = fields.get("link_text")
        return (
            f"[{text}]({fields['link']})" if text else f"[{fields['link']}]({fields['link']})"
        ), "markdown"
    if kind == "table":
        return json.dumps(_without_nan(fields["table"])), "table"
    if kind == "progress":
        return _percent(fields["progress"]), "progress"
    raise ValueError(f"no {kind} artifact on a recorded run")


def _without_nan(item: Any) -> Any:
    """A table's NaN cells as None (JSON has no NaN), as Prefect's TableArtifact sanitizes them."""
    if isinstance(item, list):
        return [_without_nan(value) for value in item]
    if isinstance(item, dict):
        return {key: _without_nan(value) for key, value in item.items()}
    return None if isinstance(item, float) and math.isnan(item) else item


def _log_entry(run_id: str, name: str, level: int, message: str, when: dt.datetime) -> dict[str, Any]:
    """A line of a run's log as the API takes it, without the database URL's secrets."""
    return {
        "name": name,
        "level": level,
        "message": without_secrets(message),
        "timestamp": when.isoformat(),
        "flow_run_id": run_id,
    }


def _traceback(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(error)).rstrip()


class RunLogHandler(logging.Handler):
    """Keeps a recorded run's log records (the `baskets.run` logger's) for its flow run's log,
    without secrets of the database URL."""

    def __init__(self, run: RecordedRun) -> None:
        super().__init__(logging.INFO)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = "prefect.flow_runs" if record.name == _RUN_LOGGER else record.name
            when = dt.datetime.fromtimestamp(record.created, dt.UTC)
            self.run.logs.append(_log_entry(self.run.id, name, record.levelno, record.getMessage(), when))
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


class Terminated(SystemExit):
    """SIGTERM while a recorded run works: the run ends Crashed, the process exits 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def _termination_raises() -> Iterator[None]:
    """While inside (in the main thread), SIGTERM raises Terminated, as Ctrl-C raises
    KeyboardInterrupt: the open transaction rolls back and the run is recorded Crashed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _run_log(run: RecordedRun) -> Iterator[logging.Logger]:
    """While inside, the `baskets.run` logger's info lines and above go to `run`'s log."""
    logger = logging.getLogger(_RUN_LOGGER)
    handler = RunLogHandler(run)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_recorded(flow: Any, params: dict[str, Any]) -> Any:
    """Run the DeferredFlow `flow` with `params` directly (flows.runner.run_directly), recorded as a
    flow run: created before the work (PrefectApiUnavailable, exit 1, when it cannot be), ended
    with the work's outcome, the flow's on_failure / on_crashed hooks run as Prefect runs them."""
    from flows.runner import prefect_api_url, recording, run_directly

    api = PrefectApi(prefect_api_url(), flow=flow.name)
    try:
        run = RecordedRun.start(api, flow.name, serialized_parameters(flow.fn, params))
    except BaseException:
        api.close()
        raise
    try:
        with _run_log(run) as logger, recording(run), _termination_raises():
            run.note(logging.INFO, f"Beginning flow run {run.name!r} for flow {flow.name!r}")
            try:
                result = run_directly(flow, params)
            except Exception as error:
                message = _failure_message(error)
                if not isinstance(error, BasketsError):  # unexpected: its traceback goes to the run's log
                    run.note(logging.ERROR, "Encountered exception during execution:\n" + _traceback(error))
                _end(run, flow, "FAILED", "Failed", message, error, logger)
                raise
            except BaseException as error:
                _end(run, flow, "CRASHED", "Crashed", _crash_message(error), error, logger)
                if isinstance(error, Terminated):  # Ctrl-C is the command line's to report
                    print(f"terminated: flow run {run.id} recorded as Crashed", file=sys.stderr)
                raise
            run.end("COMPLETED", "Completed", None)
            run.note(logging.INFO, "Finished in state Completed()")
            return result
    finally:
        run.flush_logs()
        api.close()


def _end(
    run: RecordedRun,
    flow: Any,
    state_type: str,
    name: str,
    message: str,
    error: BaseException,
    logger: logging.Logger,
) -> None:
    """End `run` as `name` and run the flow's hooks for that state, as Prefect's engine does."""
    run.end(state_type, name, message)
    run.note(logging.ERROR, f"Finished in state {name}({message!r})")
    end = RunEnd(
        flow=flow.name, flow_run_id=run.id, flow_run_name=run.name, state=name,
        message=message.removeprefix(PREFECT_FAILURE_PREFIX), error=error,
        occurred_at=dt.datetime.now(dt.UTC), logger=logger,
    )  # fmt: skip
    for hook in flow.options.get("on_failure" if state_type == "FAILED" else "on_crashed") or ():
        on_end = getattr(hook, "on_end", None)
        if on_end is None:  # a hook written for Prefect's objects only (flows.run_alerts.state_hook)
            logger.warning("hook %s not run: it needs Prefect's engine", getattr(hook, "__name__", hook))
            continue
        try:
            on_end(end)
        except Exception as hook_error:  # noqa: BLE001 - a hook must not hide the run's own failure
            logger.error("hook %s failed: %s: %s", on_end.__name__, type(hook_error).__name__, hook_error)


def _failure_message(error: Exception) -> str:
    """The Failed state's message as Prefect's engine words it: the run form's one line for an
    expected refusal (flows.failures), Prefect's own wording for anything else."""
    if isinstance(error, BasketsError):
        from flows.failures import form_message

        return form_message(error)
    text = f"{PREFECT_FAILURE_PREFIX}{type(error).__name__}: {one_line(str(error), 1000)}"
    return without_secrets(text)


def _crash_message(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "Execution was aborted by an interrupt signal."
    if isinstance(error, Terminated):
        return "Execution was aborted by a termination signal."
    return "Execution was aborted by Python system exit call."
