"""`baskets export`: the filtered CSV/Parquet export, run as the `report-export` flow."""

from __future__ import annotations

from typing import Annotated

import typer

from baskets.filters import BasketFilter
from baskets.roles import Action, authorize
from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    OperatorName,
    ProgressTask,
    emit_json,
    open_runtime,
    parse_now,
    progress_bar,
    stderr,
    stdout,
    with_basket_filter,
)
from flows.runner import run_flow

app = typer.Typer()


@app.command("export")
@with_basket_filter
def export_command(
    basket_filter: BasketFilter,
    export_format: Annotated[str, typer.Option("--format", help="csv, parquet, or both.")] = "csv",
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help="File to write (for both: its extension is replaced per format) or an existing folder; "
            "default <export dir>/baskets-<UTC timestamp>.<ext>.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an existing export of the same name (never any other file)."
        ),
    ] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Export the baskets matching the filters, one row per basket line, to CSV and/or Parquet."""
    # pyarrow is imported here, not at the top: other commands should not pay for it.
    from baskets.export import check_export_paths, count_export_rows, plan_export_paths
    from baskets.files import FileRules, check_writable_folder

    runtime = open_runtime(database_url)
    export_format = export_format.strip().lower()
    # Refuse a bad --format or --output before anything runs.
    paths = plan_export_paths(export_format, output, runtime.settings.export_dir, parse_now(None))
    if output is None or not output.strip():
        check_writable_folder(runtime.settings.export_dir, "setting export_dir")
    name = runtime.operator(operator)
    # Refuse before any flow starts (or folder is made); the flow checks again for runs started elsewhere.
    with runtime.engine.connect() as connection:
        authorize(connection, name, Action.EXPORT)
        total = count_export_rows(connection, basket_filter) if stderr.is_terminal else 0
    settings = runtime.settings
    rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
    check_export_paths(paths, rules.protecting(settings.database_url))
    from flows.export import report_export
    from flows.runner import reporting_progress

    with progress_bar() as bar:
        rows = ProgressTask(bar, "exporting rows", total)
        with reporting_progress(rows.update):
            summary = run_flow(
                report_export,
                **basket_filter.model_dump(mode="json", exclude_none=True),
                format=export_format,
                output=output or "",
                operator=name or "",
                overwrite=overwrite,
            )
        rows.finish()
    if json_output:
        emit_json(summary)
        return
    for file in summary.files:
        stdout.print(
            f"wrote {plural(summary.lines, 'line')} of {plural(summary.baskets, 'basket')} "
            f"to {file.path} (sha256 {file.sha256})",
            highlight=False,
        )
