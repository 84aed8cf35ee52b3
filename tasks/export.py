"""Prefect tasks of the report export: write the files (with retries), publish artifacts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from baskets.export import ExportResult, export_baskets
from baskets.files import FileRules
from baskets.filters import BasketFilter
from baskets.roles import Actor
from baskets.runtime import Runtime
from flows.runner import create_artifact, report_progress, run_logger, task

# An export only reads and replaces its files atomically: a dropped connection is safe to
# retry. Expected failures (bad output folder) are not retried.
_LOST_CONNECTION = (OperationalError,)


@task(
    name="write-export-files",
    retries=2,
    retry_delay_seconds=5,
    retry_on=_LOST_CONNECTION,
)
def write_export_files(
    runtime: Runtime, basket_filter: BasketFilter, paths: dict[str, Path], rules: FileRules | None = None
) -> ExportResult:
    """Stream the matching rows into every file of `paths` (format -> path), each atomically
    under `rules` (baskets.files)."""
    result = export_baskets(runtime.engine, basket_filter, paths, progress=report_progress, rules=rules)
    run_logger().info(
        "exported %s lines of %s baskets via %s in %.2f s to %s",
        f"{result.lines:,}",
        f"{result.baskets:,}",
        result.transport,
        result.seconds,
        ", ".join(str(file.path) for file in result.files),
    )
    return result


@task(name="publish-export-artifacts")
def publish_export_artifacts(result: ExportResult, basket_filter: BasketFilter, actor: Actor) -> None:
    """A table artifact with the counts and the filter, and a link artifact (Prefect's
    create_link_artifact) per file, naming the host it was written on."""
    filters = basket_filter.describe()
    rows: list[dict[str, Any]] = [
        {"item": "baskets", "value": result.baskets},
        {"item": "lines", "value": result.lines},
        {"item": "rows", "value": result.rows},
        {"item": "operator", "value": actor.name},
        {"item": "filter", "value": " ".join(f"{f} {v}" for f, v in filters.items()) or "(none: all)"},
        *({"item": f"file ({file.format})", "value": str(file.path)} for file in result.files),
    ]
    create_artifact("table", table=rows, key="report-export", description="Counts and filter of this export")
    # A file:// link means a file on the machine that ran the export: name that machine, so that
    # with workers on several hosts the person knows where to fetch it (or use shared storage).
    host = socket.gethostname()
    for file in result.files:
        create_artifact(
            "link",
            link=file.path.resolve().as_uri(),
            link_text=f"{file.path.name} (on {host})",
            key=f"report-export-{file.format}",
            description=f"{file.format} export on host {host}, {file.bytes:,} bytes, SHA-256 {file.sha256}",
        )
