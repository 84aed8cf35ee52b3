"""The `report-export` flow: the filtered basket export customer service and analysts run on demand."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from baskets.errors import BadInput
from baskets.export import check_writable_folder, plan_export_paths
from baskets.files import FileRules
from baskets.filters import BasketFilter
from config.settings import SettingsError, load_settings
from flows.runner import current_flow_run_id, flow
from tasks.export import authorize_exporter, publish_export_artifacts, write_export_files


@flow(name="report-export", validate_parameters=True)
def report_export(
    basket_filter: BasketFilter,
    format: Literal["csv", "parquet", "both"] = "csv",
    output: str | None = None,
    operator: str = "",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the baskets matching `basket_filter`, one row per line, to CSV and/or Parquet.

    1. Check that `operator` may export baskets, before touching any data (exit 3 otherwise).
    2. Stream the rows into each file, written beside its final name (private: settings.file_mode)
       and renamed when complete; an existing file only with `overwrite`, and only an export.
    3. Record a table artifact (counts, filter) and a link artifact per file.
    Returns the paths, counts (baskets, lines) and each file's SHA-256.
    """
    try:
        settings = load_settings()
    except SettingsError as error:
        raise BadInput(str(error)) from None
    if output is None or not output.strip():
        check_writable_folder(settings.export_dir, "setting export_dir")
    actor = authorize_exporter(settings.database_url, operator)
    paths = plan_export_paths(format, output, settings.export_dir, dt.datetime.now(dt.UTC))
    rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
    result = write_export_files(settings.database_url, basket_filter, paths, rules)
    publish_export_artifacts(result, basket_filter, actor)
    return {
        "baskets": result.baskets,
        "lines": result.lines,
        "rows": result.rows,
        "files": [
            {"format": file.format, "path": str(file.path), "sha256": file.sha256, "bytes": file.bytes}
            for file in result.files
        ],
        "filter": basket_filter.describe(),
        "operator": actor.name,
        "transport": result.transport,
        "seconds": round(result.seconds, 3),
        "flow_run_id": current_flow_run_id(),
    }
