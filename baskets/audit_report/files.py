"""The audit report as a file: CSV, Parquet or HTML, written atomically and recognised again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from baskets.audit_report.data import REPORT_COLUMNS, AuditReport, ReportFormat
from baskets.audit_report.rendering import HTML_START, render_html
from baskets.files import (
    FileRules,
    Recognise,
    atomic_file,
    parquet_of_kind,
    starts_with,
    suite_metadata,
)

# How an existing report is recognised as one the suite wrote (see baskets.files).
CSV_HEADER_LINE = (",".join(REPORT_COLUMNS) + "\r\n").encode()
PARQUET_KIND = "audit-report"
REPORT_FILE_KINDS: dict[str, Recognise] = {
    "csv": starts_with(CSV_HEADER_LINE),
    "parquet": parquet_of_kind(PARQUET_KIND),
    "html": starts_with(HTML_START.encode()),
}


def write_audit_report(
    report: AuditReport, report_format: ReportFormat, path: Path, rules: FileRules | None = None
) -> Path:
    """Write the report atomically under `rules` (baskets.files: a private temporary file in the
    target folder, then a rename; never over a file the suite did not write or the database's).

    Returns the absolute path. Raises BadInput naming `rules.field` when the target may not be written.
    """
    with atomic_file(path, rules or FileRules(), REPORT_FILE_KINDS[report_format]) as file:
        if report_format == "csv":
            report.table.to_csv(file.temp, index=False, encoding="utf-8", lineterminator="\r\n")
        elif report_format == "parquet":
            table = _arrow_table(report.table)
            marked = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), **suite_metadata(PARQUET_KIND)}
            )
            pq.write_table(marked, file.temp)
        else:
            file.temp.write_text(render_html(report), encoding="utf-8")
    return file.final


def _arrow_table(table: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("day", pa.date32()),
            ("reason", pa.string()),
            ("account_type", pa.string()),
            ("actor", pa.string()),
            ("actor_role", pa.string()),
            ("baskets", pa.int64()),
            ("lines", pa.int64()),
        ]
    )
    return pa.Table.from_pandas(table[list(REPORT_COLUMNS)], schema=schema, preserve_index=False)
