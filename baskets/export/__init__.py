"""The filtered basket export (§5): the query and its transports (`query`), the CSV content rules
(`csv_rules`), and the files written in one pass (`files`). The names other packages use are
importable from here."""

from baskets.export.csv_rules import (
    CSV_COLUMNS,
    CSV_HEADER,
    CSV_WRITE_OPTIONS,
    FORMULA_TRIGGERS,
    csv_batch,
    format_quantity,
    neutralise_formulas,
)
from baskets.export.files import (
    CSV_HEADER_LINE,
    EXPORT_FILE_KINDS,
    PARQUET_KIND,
    ExportedFile,
    ExportFormat,
    ExportResult,
    ProgressCallback,
    check_export_paths,
    default_export_path,
    export_baskets,
    plan_export_paths,
)
from baskets.export.query import (
    EXPORT_SCHEMA,
    PYTHON_BATCH_ROWS,
    QUANTITY_TYPE,
    UTC_TIMESTAMP,
    conform_batch,
    count_export_rows,
    export_query,
    export_sql,
    export_transport,
    fetch_export_batches,
)

__all__ = [
    "CSV_COLUMNS",
    "CSV_HEADER",
    "CSV_HEADER_LINE",
    "CSV_WRITE_OPTIONS",
    "EXPORT_FILE_KINDS",
    "EXPORT_SCHEMA",
    "ExportFormat",
    "ExportResult",
    "ExportedFile",
    "FORMULA_TRIGGERS",
    "PARQUET_KIND",
    "PYTHON_BATCH_ROWS",
    "ProgressCallback",
    "QUANTITY_TYPE",
    "UTC_TIMESTAMP",
    "check_export_paths",
    "conform_batch",
    "count_export_rows",
    "csv_batch",
    "default_export_path",
    "export_baskets",
    "export_query",
    "export_sql",
    "export_transport",
    "fetch_export_batches",
    "format_quantity",
    "neutralise_formulas",
    "plan_export_paths",
]
