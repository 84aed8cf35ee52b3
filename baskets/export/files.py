"""Writing an export: the paths of its files, and one pass over the rows into CSV and Parquet,
each file written atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Engine

from baskets.backends.transports import BATCH_ROWS
from baskets.errors import BadInput
from baskets.export.csv_rules import CSV_HEADER, CSV_WRITE_OPTIONS, csv_batch
from baskets.export.query import EXPORT_SCHEMA, export_transport, fetch_export_batches
from baskets.files import (
    AtomicFile,
    FileRules,
    check_target,
    open_atomic_file,
    parquet_of_kind,
    starts_with,
    suite_metadata,
)
from baskets.filters import BasketFilter


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    BOTH = "both"

    def file_formats(self) -> list[str]:
        return ["csv", "parquet"] if self is ExportFormat.BOTH else [self.value]


# How an existing export file is recognised as one the suite wrote (see baskets.files).
CSV_HEADER_LINE = (",".join(CSV_HEADER) + "\r\n").encode()
PARQUET_KIND = "export"
EXPORT_FILE_KINDS = {"csv": starts_with(CSV_HEADER_LINE), "parquet": parquet_of_kind(PARQUET_KIND)}
# Test hook: seconds to pause after the first batch is written (tests that kill an export set it).
pause_after_first_batch_seconds = 0.0

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class ExportedFile:
    format: str
    path: Path
    sha256: str
    bytes: int


@dataclass
class ExportResult:
    """What an export wrote: counts over the rows written, and each file with its SHA-256."""

    baskets: int = 0
    lines: int = 0
    rows: int = 0
    transport: str = ""
    seconds: float = 0.0
    files: list[ExportedFile] = field(default_factory=list)


def default_export_path(export_dir: Path, file_format: str, now: dt.datetime) -> Path:
    """`<export dir>/baskets-<UTC timestamp>.<ext>`, e.g. var/exports/baskets-20261101T120000Z.csv."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return export_dir / f"baskets-{stamp}.{file_format}"


def plan_export_paths(
    export_format: ExportFormat | str, output: str | Path | None, export_dir: Path, now: dt.datetime
) -> dict[str, Path]:
    """The final path of each file format an export writes.

    `output` is a file path (for `both`, its extension is replaced per format) or an existing
    folder (default names inside it); without it, default names under `export_dir`.
    Raises BadInput naming `output` or `format`.
    """
    try:
        chosen = ExportFormat(str(export_format).lower())
    except ValueError:
        raise BadInput(
            f"format: {export_format!r} is not a format (expected csv, parquet or both)", field="format"
        ) from None
    formats = chosen.file_formats()
    if output is None or str(output).strip() == "":
        return {fmt: default_export_path(export_dir.absolute(), fmt, now) for fmt in formats}
    target = Path(str(output)).expanduser().absolute()
    if target.is_dir():
        return {fmt: default_export_path(target, fmt, now) for fmt in formats}
    if str(output).endswith(("/", os.sep)):
        raise BadInput(
            f"output: folder {str(output)!r} does not exist (expected e.g. var/exports/baskets.csv)",
            field="output",
        )
    if len(formats) == 1:
        return {formats[0]: target}
    return {fmt: target.with_suffix(f".{fmt}") for fmt in formats}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_export_paths(paths: dict[str, Path], rules: FileRules) -> None:
    """Refuse, before any work, an export whose files may not be written under `rules` (see
    baskets.files: an existing file without --overwrite, the database's own files, a missing
    folder other than the export folder, ...). Raises BadInput naming `rules.field`."""
    for fmt, path in paths.items():
        check_target(path, rules, EXPORT_FILE_KINDS[fmt])


def export_baskets(
    engine: Engine,
    basket_filter: BasketFilter,
    paths: dict[str, Path],
    progress: ProgressCallback | None = None,
    rules: FileRules | None = None,
) -> ExportResult:
    """Write the rows matching `basket_filter` to each of `paths` (format -> final path) in one pass.

    Each file is written under `rules` by baskets.files: to a locked temporary file (mode
    `rules.mode`) in its folder, renamed when complete, so a killed export leaves nothing under
    the final name; stray temporary files of earlier killed runs there are removed first. The
    engine's own database files are never written. `progress` gets the running row count.
    Raises BadInput when a target may not be written; database errors pass through.
    """
    started = time.perf_counter()
    rules = (rules or FileRules()).protecting(engine.url)
    check_export_paths(paths, rules)
    result = ExportResult(transport=export_transport(engine, basket_filter))
    with _ExportWriters(paths, rules) as writers:
        pause = pause_after_first_batch_seconds
        last_basket: str | None = None
        for batch in fetch_export_batches(engine, basket_filter):
            if batch.num_rows == 0:
                continue
            writers.write(batch)
            last_basket = _count(result, batch, last_basket)
            # Hand freed batch memory back now: Arrow's allocator would otherwise keep it cached.
            pa.default_memory_pool().release_unused()
            if progress is not None:
                progress(result.rows)
            if pause:
                time.sleep(pause)
                pause = 0
        result.files = writers.commit()
    result.seconds = time.perf_counter() - started
    return result


def _count(result: ExportResult, batch: pa.RecordBatch, last_basket: str | None) -> str:
    """Add `batch` to the counts of `result`; returns its last basket id. Rows come ordered by
    basket, so a basket spanning two batches (its id `last_basket`) is counted once."""
    basket_ids = batch.column("basket_id")
    result.baskets += pc.count_distinct(basket_ids).as_py()
    if basket_ids[0].as_py() == last_basket:
        result.baskets -= 1
    result.lines += batch.num_rows - batch.column("product_id").null_count
    result.rows += batch.num_rows
    return str(basket_ids[-1].as_py())


class _ExportWriters:
    """The export's CSV and Parquet writers over their atomic files: `write` each batch,
    `commit` at the end; leaving the `with` block without committing discards every file."""

    def __init__(self, paths: dict[str, Path], rules: FileRules) -> None:
        self.files: dict[str, AtomicFile] = {}
        self.csv: pacsv.CSVWriter | None = None
        self.parquet: pq.ParquetWriter | None = None
        self.pending: list[pa.RecordBatch] = []  # Parquet rows waiting for a row group
        self.pending_rows = 0
        try:
            for fmt, path in paths.items():
                self.files[fmt] = open_atomic_file(path, rules, EXPORT_FILE_KINDS[fmt])
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> _ExportWriters:
        try:
            if "csv" in self.files:
                csv_schema = pa.schema([(header, pa.string()) for header in CSV_HEADER])
                self.csv = pacsv.CSVWriter(
                    str(self.files["csv"].temp), csv_schema, write_options=CSV_WRITE_OPTIONS
                )
            if "parquet" in self.files:
                self.parquet = pq.ParquetWriter(
                    str(self.files["parquet"].temp),
                    EXPORT_SCHEMA.with_metadata(suite_metadata(PARQUET_KIND)),
                    compression="zstd",
                )
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        if self.csv is not None:
            self.csv.write_batch(csv_batch(batch))
        if self.parquet is not None:
            self.pending.append(batch)
            self.pending_rows += batch.num_rows
            if self.pending_rows >= BATCH_ROWS:  # row groups of a useful size, whatever the batches
                self.parquet.write_table(pa.Table.from_batches(self.pending))
                self.pending, self.pending_rows = [], 0

    def commit(self) -> list[ExportedFile]:
        """Close the writers and rename each file to its final name; the files written."""
        if self.csv is not None:
            self.csv.close()
            self.csv = None
        if self.parquet is not None:
            if self.pending:
                self.parquet.write_table(pa.Table.from_batches(self.pending))
            self.parquet.close()
            self.parquet = None
        written = []
        for fmt, file in self.files.items():
            file.commit()
            written.append(ExportedFile(fmt, file.final, _sha256(file.final), file.final.stat().st_size))
        self.files = {}
        return written

    def __exit__(self, *exc_info: object) -> None:
        self._discard()

    def _discard(self) -> None:
        for writer in (self.csv, self.parquet):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        for file in self.files.values():
            file.discard()
