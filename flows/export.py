"""The `report-export` flow: the filtered basket export customer service and analysts run on demand."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from baskets.export import plan_export_paths
from baskets.files import FileRules, check_writable_folder
from baskets.roles import Action
from baskets.runtime import current_runtime
from flows import forms
from flows.failures import fails_the_run_on_refusal
from flows.results import ExportedFile, ExportResult
from flows.run_alerts import alert_run_crashed, alert_worker_problem
from flows.runner import current_flow_run_id, flow
from tasks.authorize import authorize_operator
from tasks.export import publish_export_artifacts, write_export_files


@flow(
    name="report-export",
    validate_parameters=True,
    on_failure=[alert_worker_problem],
    on_crashed=[alert_run_crashed],
)
@fails_the_run_on_refusal
def report_export(
    operator: str,
    shop_account_name: str = forms.SHOP_ACCOUNT_NAME,
    shop_account_email: str = forms.SHOP_ACCOUNT_EMAIL,
    basket_id: str = forms.BASKET_ID,
    shop_account_id: str = forms.SHOP_ACCOUNT_ID,
    account_id: str = forms.ACCOUNT_ID,
    account_type: forms.AccountType = forms.ACCOUNT_TYPE,
    created_before: str = forms.CREATED_BEFORE,
    created_after: str = forms.CREATED_AFTER,
    modified_before: str = forms.MODIFIED_BEFORE,
    modified_after: str = forms.MODIFIED_AFTER,
    format: Literal["csv", "parquet", "both"] = "csv",
    output: str = "",
    overwrite: bool = False,
) -> ExportResult:
    """Export the baskets matching the filters, one row per line, to CSV and/or Parquet.

    1. Check that `operator` may export baskets, before touching any data (exit 3 otherwise).
    2. Stream the rows into each file, written beside its final name (private: settings.file_mode)
       and renamed when complete; an existing file only with `overwrite`, and only an export.
    3. Record a table artifact (counts, filter) and a link artifact per file.
    Returns the paths, counts (baskets, lines) and each file's SHA-256. The filter fields'
    descriptions are in flows/forms.py (shared with basket-delete).

    Args:
        operator: Your operator name; a system administrator or order processor may export.
        format: csv, parquet, or both (two files).
        output: File to write (for both, its extension is replaced per format) or an existing
            folder. Empty: a new file `baskets-UTC-timestamp.csv` in the export folder.
        overwrite: Replace an existing export of that name (never any other file).
    """
    basket_filter = forms.form_filter(locals())
    runtime = current_runtime()
    settings = runtime.settings
    if output is None or not output.strip():
        check_writable_folder(settings.export_dir, "setting export_dir")
    actor = authorize_operator(runtime, operator, Action.EXPORT)
    paths = plan_export_paths(format, output, settings.export_dir, dt.datetime.now(dt.UTC))
    rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
    result = write_export_files(runtime, basket_filter, paths, rules)
    publish_export_artifacts(result, basket_filter, actor)
    return ExportResult(
        baskets=result.baskets,
        lines=result.lines,
        rows=result.rows,
        files=[
            ExportedFile(format=file.format, path=str(file.path), sha256=file.sha256, bytes=file.bytes)
            for file in result.files
        ],
        filter=basket_filter.describe(),
        operator=actor.name,
        transport=result.transport,
        seconds=round(result.seconds, 3),
        flow_run_id=current_flow_run_id(),
    )
