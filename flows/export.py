"""The `report-export` flow: the filtered basket export customer service and analysts run on demand."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from baskets.export import plan_export_paths
from baskets.files import FileRules, check_writable_folder
from baskets.filters import BasketFilter
from baskets.roles import Action
from baskets.runtime import current_runtime
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
    shop_account_name: str = "",
    shop_account_email: str = "",
    basket_id: str = "",
    shop_account_id: str = "",
    account_id: str = "",
    account_type: Literal["any", "customer", "anonymous", "contact"] = "any",
    created_before: str = "",
    created_after: str = "",
    modified_before: str = "",
    modified_after: str = "",
    format: Literal["csv", "parquet", "both"] = "csv",
    output: str = "",
    overwrite: bool = False,
) -> ExportResult:
    """Export the baskets matching the filters, one row per line, to CSV and/or Parquet.

    1. Check that `operator` may export baskets, before touching any data (exit 3 otherwise).
    2. Stream the rows into each file, written beside its final name (private: settings.file_mode)
       and renamed when complete; an existing file only with `overwrite`, and only an export.
    3. Record a table artifact (counts, filter) and a link artifact per file.
    Returns the paths, counts (baskets, lines) and each file's SHA-256.

    Args:
        operator: Your operator name; a system administrator or order processor may export.
        shop_account_name: Filter - part of the shop account name, any case (`%` and `_` match
            themselves).
        shop_account_email: Filter - part of the shop account e-mail, any case.
        basket_id: Filter - one basket GUID, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301.
        shop_account_id: Filter - the baskets of one shop account, by its GUID.
        account_id: Filter - the baskets of one ERP account, by its exact ID.
        account_type: Filter - customer, anonymous or contact baskets; any for all three.
        created_before: Filter - created before this ISO date or time, e.g. 2026-01-31 or
            2026-01-31T18:00:00+01:00 (UTC unless it has an offset).
        created_after: Filter - created at or after this time.
        modified_before: Filter - last modified before this time.
        modified_after: Filter - last modified at or after this time.
        format: csv, parquet, or both (two files).
        output: File to write (for both, its extension is replaced per format) or an existing
            folder. Empty: a new file `baskets-UTC-timestamp.csv` in the export folder.
        overwrite: Replace an existing export of that name (never any other file).
    """
    basket_filter = BasketFilter.from_form(
        shop_account_name=shop_account_name, shop_account_email=shop_account_email,
        basket_id=basket_id, shop_account_id=shop_account_id, account_id=account_id,
        account_type=account_type, created_before=created_before, created_after=created_after,
        modified_before=modified_before, modified_after=modified_after,
    )  # fmt: skip
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
