"""Prefect tasks of the audit report: read the audit (with retries), write the file, publish a summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from baskets.audit_report import (
    AuditReport,
    ReportFormat,
    ReportWindow,
    read_audit_report,
    render_markdown,
    write_audit_report,
)
from baskets.files import FileRules
from baskets.roles import Actor
from baskets.runtime import Runtime
from flows.runner import create_artifact, run_logger, task


# A report only reads: retrying a dropped connection is safe.
@task(name="read-audit", retries=2, retry_delay_seconds=5)
def read_audit(runtime: Runtime, window: ReportWindow, now: dt.datetime, actor: Actor) -> AuditReport:
    """The audit in `window`, aggregated, with the status of the whole chain."""
    report = read_audit_report(runtime.engine, window, now, actor.name)
    run_logger().info(
        "%s deleted baskets between %s; audit chain %s",
        f"{report.deleted:,}",
        window.describe(),
        report.chain.label,
    )
    return report


@task(name="write-report-file")
def write_report_file(report: AuditReport, report_format: ReportFormat, path: Path, rules: FileRules) -> Path:
    """The report written atomically at `path` under `rules` (baskets.files); returns the absolute path."""
    written = write_audit_report(report, report_format, path, rules)
    run_logger().info("wrote %s", written)
    return written


@task(name="publish-report-summary")
def publish_report_summary(report: AuditReport, path: Path) -> None:
    """The summary as a markdown artifact on the flow run (key `audit-report`)."""
    create_artifact(
        "markdown",
        key="audit-report",
        markdown=render_markdown(report, path),
        description=f"Deleted baskets {report.window.describe()}: {report.deleted:,}; "
        f"audit chain {report.chain.label}",
    )
