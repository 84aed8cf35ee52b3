"""The `baskets` command line: the root app joining every command group, and `main`, which turns
expected failures into one line and the exit code of docs/specification.md §8."""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

import typer
import typer.core
import typer.main
from sqlalchemy.exc import SQLAlchemyError
from typer import exceptions as typer_errors

from baskets.errors import BasketsError
from baskets.runtime import runtime_scope
from cli import audit, cleanup, database, delete, export, forget, listing, operators, schema, serve, status
from cli.console import emit_json, output, stderr
from cli.errors import command_line_message
from config.urls import without_secrets

app = typer.Typer(
    name="baskets",
    help="Maintenance and batch jobs for the basket tables of a webstore database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Top-level commands (merged: no group name) and the command groups, in the order --help lists them.
app.add_typer(database.app)
app.add_typer(listing.app)
app.add_typer(operators.app, name="operators")
app.add_typer(status.app)
app.add_typer(status.alerts_app, name="alerts")
app.add_typer(delete.app)
app.add_typer(forget.app)
app.add_typer(audit.app, name="audit")
app.add_typer(cleanup.app)
app.add_typer(export.app)
app.add_typer(serve.app)
app.add_typer(schema.app, name="schema")


def command_line() -> typer.core.TyperGroup:
    """The Click command behind `app`, with every on/off flag shown as a flag in `--help`.

    Typer labels a boolean flag `<bool>` in the help, as if it took a value; an empty metavar
    leaves the flag alone (`--yes`, `--json`, `--help`).
    """
    command = typer.main.get_command(app)
    pending = [command]
    while pending:
        current = pending.pop()
        help_option = current.get_help_option(typer.Context(current))
        for param in [*current.params, *([help_option] if help_option else [])]:
            if isinstance(param, typer.core.TyperOption) and param.is_flag:
                param.metavar = ""
        pending.extend(getattr(current, "commands", {}).values())
    return command


def main() -> None:
    """Run the command line; expected failures print one line and exit with their code (§8).

    With `--json` among the arguments a failure also prints one JSON object on stdout,
    `{"error": ..., "exit_code": ...}`, so a script reading stdout always gets one.
    """
    output.json_emitted = False
    try:
        with runtime_scope():
            result = command_line()(standalone_mode=False)
    except BasketsError as error:
        _fail(without_secrets(command_line_message(error)), error.exit_code)
    except typer_errors.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer_errors.TyperException as error:
        _fail(without_secrets(error.format_message()), error.exit_code)
    except typer_errors.Abort:
        _fail("aborted", 1, prefix="")
    except SQLAlchemyError as error:
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        # A driver's message can repeat the connection string, password and all.
        first = without_secrets(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        _fail(f"database: {first}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130, prefix="")
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        first = without_secrets((str(error).strip().splitlines() or [""])[0])
        _fail(f"{type(error).__name__}: {first} (set BASKETS_DEBUG=1 for the traceback)", 1)
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, exit_code: int, *, prefix: str = "error: ") -> NoReturn:
    """Print `message` as one line on stderr (and, under --json, as JSON on stdout); exit."""
    stderr.print(f"{prefix}{message}", markup=False, highlight=False)
    if "--json" in sys.argv[1:] and not output.json_emitted:
        emit_json({"error": message, "exit_code": exit_code})
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
