"""The `audit-report` flow: deleted baskets per day, reason, account type and actor, plus the chain status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from baskets.audit_report import DEFAULT_WINDOW_DAYS, default_report_path, resolve_window
from baskets.errors import AuditChainBroken
from baskets.files import FileRules
from baskets.roles import Action
from baskets.runtime import current_runtime
from flows.failures import fails_the_run_on_refusal
from flows.results import AuditReportResult
from flows.run_alerts import alert_run_crashed, alert_worker_problem
from flows.runner import current_flow_run_id, flow
from tasks.audit_report import publish_report_summary, read_audit, write_report_file
from tasks.authorize import authorize_operator


@flow(
    name="audit-report",
    log_prints=False,
    validate_parameters=True,
    on_failure=[alert_worker_problem],
    on_crashed=[alert_run_crashed],
)
@fails_the_run_on_refusal
def audit_report(
    operator: str,
    since: str = "",
    until: str = "",
    days: int = DEFAULT_WINDOW_DAYS,
    report_format: Literal["html", "csv", "parquet"] = "html",
    output: str = "",
    overwrite: bool = False,
) -> AuditReportResult:
    """Report the baskets deleted between `since` (inclusive) and `until` (exclusive, default now;
    `since` defaults to `days` before `until`).

    1. Check the operator may read the audit (system administrator, order processor, or the
       schedule's built-in actor).
    2. Read and aggregate the audit in one snapshot and verify the whole hash chain.
    3. Write the report (HTML, CSV or Parquet) atomically and private (settings.file_mode); default
       under the export folder; over an existing report only with `overwrite`.
    4. Record the summary as a markdown artifact.

    Returns the summary with the report path and flow run id. When the chain does not verify
    the report is still written, then the run fails with AuditChainBroken (exit 6).

    Args:
        operator: Your operator name (a system administrator or order processor).
        since: Start of the window, inclusive: an ISO date or time, e.g. 2026-10-01 (UTC unless it
            has an offset). Empty: `days` before `until`.
        until: End of the window: a date includes that whole day (2026-10-31 ends at midnight
            after it), a time is exclusive. Empty: now.
        days: Length of the window when `since` is empty.
        report_format: html (one self-contained page with charts), csv or parquet.
        output: File to write. Empty: a new file `audit-report-UTC-timestamp.html` (or .csv,
            .parquet) in the export folder.
        overwrite: Replace an existing report at `output` (never any other file).

    The database is the one of this process's settings, never a parameter: Prefect keeps
    parameters in clear, and a database URL may hold a password.
    """
    runtime = current_runtime()
    settings = runtime.settings
    now = dt.datetime.now(dt.UTC)
    window = resolve_window(since.strip() or None, until.strip() or None, now, days)
    path = Path(output) if output else default_report_path(settings.export_dir, report_format, now)

    actor = authorize_operator(runtime, operator, Action.AUDIT)
    report = read_audit(runtime, window, now, actor)
    rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
    written = write_report_file(report, report_format, path, rules.protecting(settings.database_url))
    publish_report_summary(report, written)

    if report.chain.intact is False:
        raise AuditChainBroken(f"audit chain broken: {report.chain.detail} (report written to {written})")
    return AuditReportResult(
        **report.summary(),
        format=report_format,
        path=str(written),
        operator=actor.name,
        flow_run_id=current_flow_run_id(),
    )
