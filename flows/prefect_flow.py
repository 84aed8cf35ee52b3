"""The Prefect flow the suite's flows become once Prefect is loaded (flows.runner imports this only
then): Prefect's own Flow, with plain parameters stored without loading FastAPI; and how a
command runs one through Prefect's engine (`running_flow`).

Prefect stores a flow run's parameters through FastAPI's `jsonable_encoder`, and importing it loads
FastAPI (about 0.15 s of CPU, in every tracked command). The flows here take only strings, numbers,
booleans and tuples or lists of them, whose JSON form pydantic gives the same (a tuple becomes a
list); any other value still goes through Prefect's own serialization.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from prefect import Flow
from pydantic_core import to_jsonable_python

from baskets.errors import BasketsError

_SCALARS = (str, int, float, bool, type(None))


class SuiteFlow(Flow[Any, Any]):
    """A Prefect Flow whose plain parameters are serialized by pydantic (module docstring)."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if all(is_plain(value) for value in parameters.values()):
            return {name: to_jsonable_python(value) for name, value in parameters.items()}
        return super().serialize_parameters(parameters)


def is_plain(value: Any) -> bool:
    """A scalar, or a tuple or list of scalars: a value whose JSON form needs no encoder."""
    if isinstance(value, tuple | list):
        return all(isinstance(item, _SCALARS) for item in value)
    return isinstance(value, _SCALARS)


class _NoTracebackForExpectedFailures(logging.Filter):
    """Drop Prefect's traceback of an expected failure: the command prints it as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], BasketsError))


@contextlib.contextmanager
def running_flow(*, heartbeats: bool = False) -> Iterator[None]:
    """Run a Prefect flow from the command line the way an operator wants it.

    - Prefect's terminal log shows warnings and errors only, without a traceback for failures
      the command reports itself in one line; the full log still goes to the Prefect API.
    - Unless `heartbeats`, no flow-run heartbeats: Prefect joins its heartbeat thread at the
      end of every run, which costs up to a second, and the heartbeat only helps a server
      notice a run whose process vanished, which the person at the terminal sees anyway.
      Long unattended runs (the cleanup) keep them.
    - Prefect's "still processing items" warning while it flushes its event queue at exit is
      silenced: flushing is normal, and the events are still sent.
    """
    from prefect.context import SettingsContext, get_settings_context
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # else Prefect adds its console handlers later, at INFO, when the run starts
    handlers = {
        handler
        for logger in (logging.getLogger(), logging.getLogger("prefect"))
        for handler in logger.handlers
        if isinstance(handler, PrefectConsoleHandler)
    }
    quiet = _NoTracebackForExpectedFailures()
    levels = {handler: handler.level for handler in handlers}
    for handler in handlers:
        handler.setLevel(logging.WARNING)
        handler.addFilter(quiet)
    logging.getLogger("prefect.EventsWorker").setLevel(logging.ERROR)
    # The settings with heartbeats off as a shallow copy: Prefect's temporary_settings validates
    # the whole settings model again, ~0.1 s of every tracked command.
    context = get_settings_context()
    settings = context.settings
    if not heartbeats:
        flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
        settings = settings.model_copy(update={"flows": flows})
    try:
        with SettingsContext(profile=context.profile, settings=settings):
            yield
    finally:
        for handler, level in levels.items():
            handler.setLevel(level)
            handler.removeFilter(quiet)
