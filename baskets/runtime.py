"""The runtime of one process: its settings and the one engine on their database.

Built once at the edge (a `baskets` command, or a flow run's entry when no command built one) and
handed to tasks, flows and state hooks, instead of each re-reading the settings and making an
engine of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from baskets.db import engine_for_settings
from baskets.errors import WorkerMisconfigured
from config.settings import Settings, SettingsError, load_settings


@dataclass(frozen=True, eq=False)
class Runtime:
    """Settings and the engine on their database."""

    settings: Settings
    engine: Engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(settings=settings, engine=engine_for_settings(settings))


def load_runtime_settings(**overrides: Any) -> Settings:
    """This process's settings (the database among them: never a flow parameter, since Prefect
    keeps parameters in clear); WorkerMisconfigured (exit 2, and an alert from a run: its caller
    gave nothing wrong) naming a bad setting."""
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        raise WorkerMisconfigured(str(error)) from None


_current: list[Runtime] = []
# Engines of runtimes built from this process's settings, one per database (and connect timeout,
# schema and bookkeeping prefix).
_engines: dict[tuple[str, float, str, str], Engine] = {}


def current_runtime() -> Runtime:
    """The runtime this process's edge handed on (`using_runtime`: a command running its flows);
    else one from this process's settings, as a served or worker flow run has it, with one engine
    per database for the whole process. WorkerMisconfigured (exit 2) for bad settings."""
    if _current:
        return _current[-1]
    settings = load_runtime_settings()
    key = (
        settings.database_url,
        float(settings.connect_timeout_seconds),
        settings.schema,
        settings.bookkeeping_prefix,
    )
    if key not in _engines:
        _engines[key] = engine_for_settings(settings)
    return Runtime(settings=settings, engine=_engines[key])


def install_runtime(runtime: Runtime) -> None:
    """Make `runtime` this process's current one until the enclosing `runtime_scope` ends."""
    _current.append(runtime)


@contextlib.contextmanager
def runtime_scope() -> Iterator[None]:
    """Runtimes installed inside are current until the block ends (one command of the CLI)."""
    depth = len(_current)
    try:
        yield
    finally:
        del _current[depth:]


@contextlib.contextmanager
def using_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Make `runtime` this process's current one while inside (a command running its flows)."""
    _current.append(runtime)
    try:
        yield runtime
    finally:
        _current.remove(runtime)
