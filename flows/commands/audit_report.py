"""`baskets audit report`: deleted baskets per day, reason, account type and actor (flow `audit-report`)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from flows.console import (
    DatabaseUrl,
    JsonOutput,
    OperatorName,
    emit_json,
    open_runtime,
    parse_now,
    stderr,
    stdout,
)
from flows.runner import run_flow


def register(app: typer.Typer) -> None:
    """Join the `audit` sub-app (flows/commands/audit.py), whichever registers first."""
    from flows.commands.audit import audit_app

    audit_app.command("report")(report_command)


def report_command(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="From this ISO date/time, inclusive (default: 7 days before --until).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Up to this ISO date/time; a date includes that day (default: now).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    report_format: Annotated[str, typer.Option("--format", help="html, csv or parquet.")] = "html",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="File to write (default: <export dir>/audit-report-<UTC time>.<ext>).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing report of that name (never any other file)."),
    ] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Report deleted baskets per day, reason, account type and actor, with the audit chain status.

    HTML is one self-contained page with charts; CSV and Parquet hold one row per day, reason,
    account type and actor. Exits 6 (after writing the report) when the audit chain is broken.
    """
    # Imported here: pandas and Prefect would slow every other command's start.
    from baskets.audit_report import (
        REPORT_FILE_KINDS,
        authorize_report_reader,
        parse_report_format,
        refuse_builtin_actor,
        resolve_window,
    )

    chosen_format = parse_report_format(report_format)
    window = resolve_window(since, until, parse_now(None))
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    refuse_builtin_actor(name)
    # Not resolved: a symbolic link at --output is refused, not followed.
    target = os.path.abspath(output.expanduser()) if output else None
    if target is not None:  # refuse a bad --output before anything is read
        from baskets.files import FileRules, check_target

        settings = runtime.settings
        rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
        check_target(Path(target), rules.protecting(settings.database_url), REPORT_FILE_KINDS[chosen_format])
    with runtime.engine.connect() as connection:
        authorize_report_reader(connection, name)
    runtime.engine.dispose()
    from flows.audit_report import audit_report

    spinner = stderr.status("writing the audit report") if stderr.is_terminal else nullcontext()
    with spinner:
        summary = run_flow(
            audit_report,
            operator=name,  # type: ignore[arg-type]  # authorize_report_reader refused None
            since=window.since,
            until=window.until,
            report_format=chosen_format,
            output=target or "",
            overwrite=overwrite,
        )
    if json_output:
        emit_json(summary)
        return
    per_type = ", ".join(f"{kind} {count:,}" for kind, count in summary["per_account_type"].items())
    stdout.print(
        f"{summary['deleted']:,} baskets deleted from {window.describe()}"
        f"{f' ({per_type})' if per_type else ''}, {summary['restored']:,} restored, "
        f"{summary['erasures']:,} {'erasure' if summary['erasures'] == 1 else 'erasures'} on request, "
        f"{summary['redacted']:,} audit rows redacted; "
        f"audit chain {summary['chain']}",
        highlight=False,
    )
    stdout.print(f"wrote {summary['path']}", highlight=False)
