"""The audit report: deleted baskets per day, reason, account type and actor, as CSV, Parquet or HTML.

Plain code over the `basket_audit` table (`data`), written as a file (`files`) or rendered as
HTML and markdown (`rendering`); the `audit-report` flow and `baskets audit report` call into it.
The names other packages use are importable from here.
"""

from baskets.audit_report.data import (
    DEFAULT_WINDOW_DAYS,
    EXAMPLE_DATE,
    REPORT_COLUMNS,
    REPORT_FORMATS,
    AuditReport,
    ChainStatus,
    ReportFormat,
    ReportWindow,
    aggregate_deletions,
    authorize_report_reader,
    build_audit_report,
    check_audit_chain,
    count_restored,
    default_report_path,
    parse_report_format,
    read_audit_aggregates,
    read_audit_report,
    refuse_builtin_actor,
    resolve_window,
)
from baskets.audit_report.files import (
    CSV_HEADER_LINE,
    PARQUET_KIND,
    REPORT_FILE_KINDS,
    write_audit_report,
)
from baskets.audit_report.rendering import (
    HTML_START,
    chain_status_html,
    render_html,
    render_markdown,
    svg_bar_chart_per_category,
    svg_bar_chart_per_day,
)

__all__ = [
    "HTML_START",
    "AuditReport",
    "CSV_HEADER_LINE",
    "ChainStatus",
    "DEFAULT_WINDOW_DAYS",
    "EXAMPLE_DATE",
    "PARQUET_KIND",
    "REPORT_COLUMNS",
    "REPORT_FILE_KINDS",
    "REPORT_FORMATS",
    "ReportFormat",
    "ReportWindow",
    "aggregate_deletions",
    "authorize_report_reader",
    "build_audit_report",
    "chain_status_html",
    "check_audit_chain",
    "count_restored",
    "default_report_path",
    "parse_report_format",
    "read_audit_aggregates",
    "read_audit_report",
    "refuse_builtin_actor",
    "render_html",
    "render_markdown",
    "resolve_window",
    "svg_bar_chart_per_category",
    "svg_bar_chart_per_day",
    "write_audit_report",
]
