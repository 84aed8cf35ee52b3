"""What every `baskets` command shares: options, the runtime it opens, and how it prints."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from baskets.db import check_schema, engine_for_settings, sqlite_file
from baskets.errors import BadInput
from baskets.filters import BasketFilter, parse_utc_time
from baskets.runtime import Runtime, install_runtime, load_runtime_settings
from config.settings import Settings
from config.urls import DATABASE_URL_VARIABLE

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# Piped output is read by scripts and people with wide windows: do not fold it at 80 columns.
# Prefect (imported later, by the commands that run flows) must not phone home from a store's
# back office, and this machine may have no route out at all.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Without a server (no PREFECT_API_URL), Prefect starts a temporary one per command and gives
# it 20 s, which a fresh PREFECT_HOME (a new database to migrate) on a busy machine sometimes
# needs more than: the command then failed without having done anything.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
stderr = Console(stderr=True, soft_wrap=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL; else BASKETS_DATABASE_URL, else the settings file.",
        show_default=False,
    ),
]
OperatorName = Annotated[
    str | None,
    typer.Option("--as", help="Operator name (else BASKETS_OPERATOR).", show_default=False),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout at the end.")]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as if it were this UTC time (ISO), e.g. 2026-11-01T02:30."),
]


@dataclass(frozen=True, eq=False)
class CommandRuntime(Runtime):
    """The command's runtime (settings and engine), which the flows it runs use too."""

    def operator(self, given: str | None) -> str | None:
        """`--as` as given (an empty one is refused, not replaced), else BASKETS_OPERATOR."""
        if given is not None and not given.strip():
            raise BadInput(
                "--as: empty operator name (expected e.g. --as alice; leave --as out to use BASKETS_OPERATOR)"
            )
        return given if given is not None else self.settings.operator


# The variable through which the command's database reaches the flows it runs (see read_settings).
def read_settings(database_url: str | None = None) -> Settings:
    """The command's settings, `--database-url` on top; BadInput (exit 2) naming a bad setting.

    A flow takes no database parameter, because Prefect stores every flow-run parameter in clear
    in its own database and shows it in the run form, and a URL may hold a password: the flows a
    command runs use the command's runtime (`open_runtime`). The chosen URL is also put into this
    process's environment (BASKETS_DATABASE_URL), for a child process started from here
    (`baskets serve`) and for masking it in messages.
    """
    settings = load_runtime_settings(database_url=database_url)
    os.environ[DATABASE_URL_VARIABLE] = settings.database_url
    return settings


def open_runtime(
    database_url: str | None, *, check_schema_version: bool = True, creates_database: bool = False
) -> Runtime:
    """Read the settings and connect; unless told otherwise, insist the schema is current.

    Only a command that `creates_database` (init, seed, demo) may name an SQLite file that is
    not there yet; for any other, BadInput (exit 2: the database setting is wrong, nothing ran)
    names the path and `baskets init`, before SQLite would create an empty file there.
    """
    settings = read_settings(database_url)
    check_sqlite_file(settings.database_url, creates_database=creates_database)
    runtime = CommandRuntime(settings=settings, engine=engine_for_settings(settings))
    if check_schema_version:
        check_schema(runtime.engine)
    install_runtime(runtime)  # the flows this command runs use it (cli.main scopes it)
    return runtime


def check_sqlite_file(url: str, *, creates_database: bool) -> None:
    """BadInput (exit 2) in one line when an SQLite URL names a missing file and the command
    does not create databases, or names a folder the file cannot be created in."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    shown = _one_line(str(path))
    if not creates_database:
        raise BadInput(
            f"database: no SQLite file at {shown}: create it with `baskets init` "
            "(or point --database-url or BASKETS_DATABASE_URL at an existing database)"
        )
    folder = next((p for p in path.parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(
            f"database: cannot create the SQLite file {shown}: {_one_line(str(folder))} is not a "
            "writable folder (expected e.g. --database-url sqlite:///var/baskets.db)"
        )


def _one_line(text: str) -> str:
    """`text` with control characters shown as escapes, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def parse_now(value: str | None, flag: str = "--now") -> dt.datetime:
    """The `--now` flag as aware UTC, or the current time; BadInput naming the flag."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        return parse_utc_time(value)
    except ValueError as error:
        raise BadInput(f"{flag}: {error}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class _CommandOutput:
    """What the running command has printed; `main` starts each command with a fresh one."""

    json_emitted: bool = False  # its JSON object is out: a failure after it prints no second one


output = _CommandOutput()


def emit_json(payload: dict[str, Any] | BaseModel) -> None:
    """Print the one JSON object a `--json` command ends with: a result model as
    `model_dump(mode="json")`, the same model the command's text is printed from."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    output.json_emitted = True
    sys.stdout.write(json.dumps(payload, default=_json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def progress_bar() -> Progress:
    """A Rich progress bar on a terminal; silent when stderr is piped or redirected."""
    # Imported here: only the commands that run long work show a bar.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
        transient=True,
    )


class ProgressTask:
    """One bar of a `progress_bar()` that appears with the first count the work reports (not
    while Prefect starts, nor for work that turns out to be empty) and, once `finish`ed, has a
    total equal to the count it ended on (an estimate made before the work may be off)."""

    def __init__(self, bar: Progress, description: str, total: int | None = None) -> None:
        self.bar, self.description = bar, description
        self.total = total or None  # None: unknown, the bar pulses
        self.completed = 0
        self.task_id: TaskID | None = None

    def update(self, completed: int, total: int | None = None) -> None:
        """`completed` units done of `total` (or of the total known so far)."""
        self.completed = completed
        if total:
            self.total = total
        if self.total is not None:
            self.total = max(self.total, completed)
        if self.task_id is None:
            self.task_id = self.bar.add_task(self.description, total=self.total, completed=completed)
        else:
            self.bar.update(self.task_id, completed=completed, total=self.total)

    def finish(self) -> None:
        """End the bar on the count reached: its total is that count."""
        self.total = self.completed
        if self.task_id is not None:
            self.bar.update(self.task_id, completed=self.completed, total=self.completed)


# The §4 filter flags, added to a command by `with_basket_filter`.
_FILTER_OPTIONS: dict[str, tuple[str, str]] = {
    "shop_account_name": ("--shop-account-name", "Case-insensitive substring of the shop account name."),
    "shop_account_email": ("--shop-account-email", "Case-insensitive substring of the shop account e-mail."),
    "basket_id": ("--basket-id", "Exact basket GUID (any spelling)."),
    "shop_account_id": ("--shop-account-id", "Exact shop account GUID."),
    "account_id": ("--account-id", "Exact ERP account ID."),
    "account_type": ("--account-type", "customer, anonymous or contact."),
    "created_before": ("--created-before", "Created before this ISO date/time (UTC unless offset)."),
    "created_after": ("--created-after", "Created at or after this ISO date/time."),
    "modified_before": ("--modified-before", "Last modified before this ISO date/time."),
    "modified_after": ("--modified-after", "Last modified at or after this ISO date/time."),
}  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


def with_basket_filter(command: F) -> F:
    """Give `command` every filter flag of §4 and hand it one validated `basket_filter`.

    The filter is built (and a bad value refused, exit 2) before the command body runs.
    """
    signature = inspect.signature(command)
    # Resolve string annotations (`from __future__ import annotations`) so Typer sees the
    # real Annotated options of the wrapped command beside the added ones.
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name != "basket_filter"
    ]
    added = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(flag, help=help_text, rich_help_panel="Filters", show_default=False),
            ],
        )
        for name, (flag, help_text) in _FILTER_OPTIONS.items()
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _FILTER_OPTIONS}
        kwargs["basket_filter"] = BasketFilter.from_flags(**values)
        return command(*args, **kwargs)

    parameters = kept + added
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run  # type: ignore[return-value]
