"""The Parquet snapshot of the baskets a cleanup deleted, read back from their audit rows."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.engine import URL

from baskets.audit import canonical_quantity
from baskets.backends import backend_for
from baskets.db import database_key
from baskets.files import DEFAULT_FILE_MODE, FileRules, atomic_file, parquet_of_kind, suite_metadata
from baskets.models import BasketAudit, CleanupRun
from baskets.retention.policy import RETENTION_REASON
from baskets.retention.runs import AbandonedRun

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    import pyarrow as pa


@functools.cache
def snapshot_schema() -> pa.Schema:
    """The Arrow schema of a retention snapshot: the audit row's columns, typed."""
    import pyarrow as pa

    return pa.schema(
        [
            ("seq", pa.int64()),
            ("basket_id", pa.string()),
            ("deleted_at", pa.timestamp("us", tz="UTC")),
            ("actor", pa.string()),
            ("actor_role", pa.string()),
            ("reason", pa.string()),
            ("flow_run_id", pa.string()),
            ("shop_account_id", pa.string()),
            ("shop_account_name", pa.string()),
            ("shop_account_email", pa.string()),
            ("account_id", pa.string()),
            ("account_name", pa.string()),
            ("account_email", pa.string()),
            ("account_type", pa.string()),
            ("basket_created_at", pa.timestamp("us", tz="UTC")),
            ("basket_modified_at", pa.timestamp("us", tz="UTC")),
            ("line_count", pa.int32()),
            ("total_quantity", pa.decimal128(18, 4)),
            ("lines", pa.string()),
            ("hash", pa.string()),
        ]
    )


_SNAPSHOT_SOURCE = {"deleted_at": BasketAudit.occurred_at}
# Columns whose values repeat from row to row (a run's actor and time of batch, an account's
# names): dictionary-encoded. The others are unique per basket, where trying a dictionary first
# only costs time (a third of the writing, measured at 300,000 rows).
_SNAPSHOT_UNIQUE = {
    "seq", "basket_id", "basket_created_at", "basket_modified_at", "total_quantity", "lines", "hash"
}  # fmt: skip
SNAPSHOT_CHUNK_ROWS = 20_000


SNAPSHOT_KIND = "retention-snapshot"
# Test hook: seconds to pause once the snapshot's temporary file is open (tests that kill a run set it).
pause_in_snapshot_seconds = 0.0


def snapshot_folder(export_dir: Path, database_url: str | URL) -> Path:
    """The folder of one database's retention snapshots, `<export_dir>/retention/<database key>`
    (`baskets.db.database_key`): runs against different databases with one export folder never
    mix their files, and a run catching up the snapshots its database misses writes them there."""
    return export_dir / "retention" / database_key(database_url)


def snapshot_path(export_dir: Path, database_url: str | URL, run_id: int, started_at: dt.datetime) -> Path:
    """Where run `run_id` of the database at `database_url` keeps its snapshot."""
    name = f"deleted-baskets-{started_at:%Y%m%dT%H%M%SZ}-run{run_id}.parquet"
    return snapshot_folder(export_dir, database_url) / name


def snapshot_rules(export_dir: Path, mode: int = DEFAULT_FILE_MODE) -> FileRules:
    """How snapshots are written (baskets.files): under the export dir, the suite's own folder,
    created when missing; a snapshot already there (a run caught up twice) is replaced, but never
    a file the suite did not write there."""
    return FileRules(field="setting export_dir", overwrite=True, own_folder=export_dir, mode=mode)


def write_parquet_snapshot(
    engine: Engine, first_seq: int | None, last_seq: int | None, path: Path, rules: FileRules | None = None
) -> int:
    """Write the audit rows of the baskets one run deleted (seq `first_seq`..`last_seq`, reason
    retention) to a Parquet file at `path`; returns the row count.

    Streamed in chunks; written under `rules` (default `snapshot_rules(path.parent)`) to a private
    temporary file beside `path` and renamed when complete, so a crash never leaves a partial file
    under the final name (and the next snapshot in that folder removes the temporary file).
    Raises BadInput when the folder cannot be written.
    """
    import pyarrow.parquet as pq

    rules = (rules or snapshot_rules(path.parent)).protecting(engine.url)
    query = _snapshot_query(first_seq, last_seq)
    rows = 0
    schema = snapshot_schema().with_metadata(suite_metadata(SNAPSHOT_KIND))
    dictionary = [name for name in schema.names if name not in _SNAPSHOT_UNIQUE]
    with (
        atomic_file(path, rules, parquet_of_kind(SNAPSHOT_KIND)) as file,
        pq.ParquetWriter(file.temp, schema, use_dictionary=dictionary) as writer,
    ):
        time.sleep(pause_in_snapshot_seconds)
        for chunk in _snapshot_chunks(engine, query):
            writer.write_table(chunk)
            rows += chunk.num_rows
    return rows


def runs_missing_snapshot(engine: Engine) -> list[AbandonedRun]:
    """The ended runs that deleted baskets but have no snapshot on record, oldest first: killed
    ones (`start_cleanup_run` closed them as failed) and ones that failed before or while writing
    it. Only failed runs: a succeeded run records its snapshot as it ends."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(CleanupRun.id, CleanupRun.started_at, CleanupRun.detail)
            .where(CleanupRun.status == "failed", CleanupRun.dry_run.is_(False))
            .order_by(CleanupRun.id)
        ).all()
    missing = []
    for run_id, started_at, detail in rows:
        found = json.loads(detail or "{}")
        if found.get("first_seq") is not None and not found.get("snapshot"):
            missing.append(AbandonedRun(run_id, started_at, found["first_seq"], found.get("last_seq")))
    return missing


def record_snapshot(engine: Engine, run_id: int, path: Path) -> None:
    """Note in an ended run's record that its snapshot is written, at `path`."""
    with engine.begin() as connection:
        detail = connection.scalar(select(CleanupRun.detail).where(CleanupRun.id == run_id))
        found = json.loads(detail or "{}") | {"snapshot": str(path)}
        connection.execute(
            update(CleanupRun).where(CleanupRun.id == run_id).values(detail=json.dumps(found, default=str))
        )


def _snapshot_query(first_seq: int | None, last_seq: int | None) -> Select[Any]:
    columns = []
    for name in snapshot_schema().names:
        column = _SNAPSHOT_SOURCE[name] if name in _SNAPSHOT_SOURCE else getattr(BasketAudit, name)
        columns.append(column.label(name))
    return (
        select(*columns)
        .where(
            BasketAudit.seq.between(first_seq or 0, last_seq or -1),
            BasketAudit.reason == RETENTION_REASON,
            BasketAudit.event == "deleted",
        )
        .order_by(BasketAudit.seq)
    )


def _snapshot_chunks(engine: Engine, query: Select[Any]) -> Iterator[pa.Table]:
    """The snapshot's rows as Arrow: by the backend's own reader where it has one for this
    (`Backend.snapshot_reader`: ADBC on PostgreSQL, the driver's rows straight into Arrow on
    SQLite, several times faster than a Python object per value, which took as long as the
    whole bare delete on PostgreSQL), else through SQLAlchemy."""
    backend = backend_for(engine)
    reader = backend.snapshot_reader(engine)
    if reader is None:
        yield from _sqlalchemy_chunks(engine, query)
        return
    import pyarrow as pa

    schema = snapshot_schema()
    for batch in reader(engine, backend.literal_sql(query, engine)):
        columns = [_as_type(batch.column(target.name), target.type) for target in schema]
        yield pa.Table.from_arrays(columns, schema=schema)


def _as_type(column: pa.Array, target: pa.DataType) -> pa.Array:
    """A column as a reader returned it, cast to its snapshot type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column.type, pa.ExtensionType):  # PostgreSQL's numeric arrives as text
        column = column.storage
    if pa.types.is_decimal(target) and (
        pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    ):
        # SQLite keeps numerics as REAL (or INTEGER when whole): rounded to the column's four
        # places as the audit hash rounds them, then read as decimals.
        column = pa.array(
            [None if value is None else canonical_quantity(value) for value in column.to_pylist()]
        )
    if pa.types.is_timestamp(target) and pa.types.is_string(column.type):
        column = pc.cast(column, pa.timestamp(target.unit))  # SQLite's text: naive UTC
    # Times are stored as naive UTC: the same instants, labelled UTC.
    return column if column.type == target else pc.cast(column, target)


def _sqlalchemy_chunks(engine: Engine, query: Select[Any]) -> Iterator[pa.Table]:
    """The snapshot's rows through SQLAlchemy, SNAPSHOT_CHUNK_ROWS at a time, column by column."""
    import pyarrow as pa

    schema = snapshot_schema()
    total_quantity = schema.names.index("total_quantity")
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=SNAPSHOT_CHUNK_ROWS).execute(query)
        for chunk in result.partitions():
            columns = [list(values) for values in zip(*chunk, strict=True)]
            # SQLite keeps numerics as REAL: round to the column's four places, as the audit hash does.
            columns[total_quantity] = [
                None if value is None else Decimal(canonical_quantity(value))
                for value in columns[total_quantity]
            ]
            arrays = [pa.array(values, type=kind) for values, kind in zip(columns, schema.types, strict=True)]
            yield pa.Table.from_arrays(arrays, schema=schema)
