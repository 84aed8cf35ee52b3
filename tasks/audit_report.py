"""Prefect tasks of the audit report: read and aggregate the audit, write the file, publish a summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from baskets.audit_report import (
    AuditReport,
    ReportFormat,
    ReportWindow,
    authorize_report_reader,
    read_audit_report,
    render_markdown,
    write_audit_report,
)
from baskets.db import engine_for_settings
from baskets.files import FileRules
from baskets.roles import Actor
from config.settings import load_settings
from flows.runner import create_artifact, run_logger, task


@task(name="authorize-report-reader")
def authorize_reader(database_url: str, operator: str | None) -> Actor:
    """The operator, checked before anything is read; NotPermitted (exit 3) otherwise."""
    engine = engine_for_settings(load_settings(database_url=database_url))
    try:
        with engine.connect() as connection:
            return authorize_report_reader(connection, operator)
    finally:
        engine.dispose()


# A report only reads: retrying a dropped connection is safe.
@task(name="read-audit", retries=2, retry_delay_seconds=5)
def read_audit(database_url: str, window: ReportWindow, now: dt.datetime, actor: Actor) -> AuditReport:
    """The audit in `window`, aggregated, with the status of the whole chain."""
    engine = engine_for_settings(load_settings(database_url=database_url))
    try:
        report = read_audit_report(engine, window, now, actor.name)
    finally:
        engine.dispose()
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
