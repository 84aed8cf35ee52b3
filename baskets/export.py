"""The filtered basket export (§5): one query, the fastest transport per database, CSV and Parquet files.

Rows travel as Arrow record batches from the database to the writers, so memory stays flat
however large the table is, and the content rules (formula neutralisation, quantities
without trailing zeros) run vectorised over whole batches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Connection, Dialect, Engine, Select, String, cast, func, select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from baskets.errors import BadInput
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
from baskets.models import Account, Basket, BasketLine, ShopAccount
from baskets.queries import joined_baskets


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    BOTH = "both"

    def file_formats(self) -> list[str]:
        return ["csv", "parquet"] if self is ExportFormat.BOTH else [self.value]


# Parquet column (snake_case, typed) and, for the first eleven, the CSV header of §5.
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
QUANTITY_TYPE = pa.decimal128(18, 4)
EXPORT_SCHEMA = pa.schema(
    [
        ("shop_account_name", pa.string()),
        ("shop_account_email", pa.string()),
        ("account_name", pa.string()),
        ("account_email", pa.string()),
        ("account_id", pa.string()),
        ("account_type", pa.string()),
        ("basket_id", pa.string()),
        ("product_id", pa.string()),
        ("variant_id", pa.string()),
        ("quantity", QUANTITY_TYPE),
        ("unit_of_measure_id", pa.string()),
        ("shop_account_id", pa.string()),
        ("basket_created_at", UTC_TIMESTAMP),
        ("basket_modified_at", UTC_TIMESTAMP),
    ]
)
CSV_HEADER = (
    "Shop account name",
    "Shop account e-mail",
    "Account name",
    "Account e-mail",
    "Account Id",
    "Account type",
    "Basket Id",
    "Product Id",
    "Variant Id",
    "Quantity",
    "Unit of Measure Id",
)
CSV_COLUMNS = EXPORT_SCHEMA.names[: len(CSV_HEADER)]
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"
# Text the database constrains (a GUID, one of three type names) cannot start with a trigger.
_NEVER_FORMULAS = frozenset({"account_type", "basket_id"})
# RFC 4180: CRLF line ends; text quoted, header as the plain names §5 spells.
CSV_WRITE_OPTIONS = pacsv.WriteOptions(
    eol="\r\n", quoting_style="needed", quoting_header="none", batch_size=8192
)
BATCH_ROWS = 65_536
# Rows as Python objects weigh ~1.5 kB each: smaller batches keep the SQLAlchemy path flat.
PYTHON_BATCH_ROWS = 10_000
# How an existing export file is recognised as one the suite wrote (see baskets.files).
CSV_HEADER_LINE = (",".join(CSV_HEADER) + "\r\n").encode()
PARQUET_KIND = "export"
EXPORT_FILE_KINDS = {"csv": starts_with(CSV_HEADER_LINE), "parquet": parquet_of_kind(PARQUET_KIND)}
# Test hook: seconds to pause after the first batch is written (tests that kill an export set it).
pause_after_first_batch_seconds = 0.0

ProgressCallback = Callable[[int], None]


def export_query(basket_filter: BasketFilter) -> Select[Any]:
    """The export rows matching `basket_filter`: one per basket line, and one (with empty line
    columns) per basket without lines; ordered by basket, then line.

    GUIDs are cast to text so every backend hands back the same lowercase hyphenated form.
    """
    return (
        joined_baskets(
            ShopAccount.name.label("shop_account_name"),
            ShopAccount.email.label("shop_account_email"),
            Account.name.label("account_name"),
            Account.email.label("account_email"),
            Basket.account_id,
            Basket.account_type,
            cast(Basket.id, String).label("basket_id"),
            BasketLine.product_id,
            BasketLine.variant_id,
            BasketLine.quantity,
            BasketLine.uom_id.label("unit_of_measure_id"),
            cast(Basket.shop_account_id, String).label("shop_account_id"),
            Basket.created_at.label("basket_created_at"),
            Basket.modified_at.label("basket_modified_at"),
        )
        .outerjoin(BasketLine, BasketLine.basket_id == Basket.id)
        .where(basket_filter.where())
        .order_by(Basket.id, BasketLine.id)
    )


def count_export_rows(connection: Connection, basket_filter: BasketFilter) -> int:
    """How many rows an export with `basket_filter` writes (for a progress bar's total)."""
    rows = export_query(basket_filter).order_by(None).subquery()
    return int(connection.scalar(select(func.count()).select_from(rows)) or 0)


def export_sql(basket_filter: BasketFilter, dialect_name: str) -> str:
    """The export query as one SQL text with its values inlined, for a driver outside
    SQLAlchemy (ADBC). SQLAlchemy renders the literals (quotes doubled), never string pasting.
    """
    dialects: dict[str, Callable[[], Dialect]] = {
        # numeric_dollar: ADBC's placeholders, and no doubling of % in literals as pyformat does
        "postgresql": lambda: postgresql.dialect(paramstyle="numeric_dollar"),
        "sqlite": lambda: sqlite.dialect(),
        "mysql": lambda: mysql.dialect(paramstyle="named"),
        "mariadb": lambda: mysql.dialect(paramstyle="named", is_mariadb=True),
    }
    dialect = dialects[dialect_name]()
    compiled = export_query(basket_filter).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


# --- transports: the same rows as Arrow batches, by the fastest path each backend has ---


def conform_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` cast to EXPORT_SCHEMA, whatever types the driver inferred.

    SQLite hands times back as text and quantities as integers or reals; PostgreSQL numeric
    arrives as text in an extension type; an all-NULL column may come typed as null.
    """
    columns = []
    for target in EXPORT_SCHEMA:
        column = batch.column(target.name)
        if isinstance(column.type, pa.ExtensionType):
            column = column.storage
        if column.type != target.type:
            if pa.types.is_timestamp(target.type) and pa.types.is_string(column.type):
                column = pc.cast(column, pa.timestamp("us"))
            if pa.types.is_decimal(target.type) and pa.types.is_floating(column.type):
                column = pc.round(column, 4)
            if pa.types.is_decimal(target.type) and pa.types.is_integer(column.type):
                column = pc.cast(column, pa.decimal128(38, 4))  # int64 needs 19 digits first
            column = pc.cast(column, target.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=EXPORT_SCHEMA)


def _adbc_sqlite_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    """ADBC's Arrow batches from SQLite, read in a child process (see baskets.sqlite_arrow_reader:
    ADBC's own copy of SQLite must not share a process with Python's on the same file)."""
    command = [sys.executable, "-m", "baskets.sqlite_arrow_reader", str(engine.url.database), str(BATCH_ROWS)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    completed = False
    try:
        child.stdin.write(sql.encode("utf-8"))
        child.stdin.close()
        try:
            reader = pa.ipc.open_stream(child.stdout)
        except pa.ArrowInvalid:  # the child failed before it wrote a stream: its stderr says why
            reader = None
        if reader is not None:
            for batch in reader:
                yield conform_batch(batch)
        completed = True
    finally:
        if not completed:  # the consumer stopped early or the stream broke: stop the reader
            child.kill()
        child.wait()
        message = child.stderr.read().decode("utf-8", "replace").strip().splitlines()
        child.stdout.close()
        child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"SQLite export reader failed: {message[-1] if message else child.returncode}")


def _adbc_postgresql_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_postgresql.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            yield conform_batch(batch)


def _connectorx_mysql_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    import connectorx

    uri = engine.url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
    reader = connectorx.read_sql(
        uri,
        sql,
        return_type="arrow_stream",
        batch_size=BATCH_ROWS,
        # The SQL's literals escape backslashes, so the session must read them that way.
        pre_execution_query=["SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"],
    )
    for batch in reader:
        yield conform_batch(batch)


def _sqlalchemy_batches(engine: Engine, basket_filter: BasketFilter) -> Iterator[pa.RecordBatch]:
    """Rows through SQLAlchemy with a server-side cursor (MariaDB, and SQLite text filters)."""
    with engine.connect() as connection:
        query = export_query(basket_filter)
        result = connection.execution_options(yield_per=PYTHON_BATCH_ROWS).execute(query)
        for rows in result.partitions():
            columns = list(zip(*rows, strict=True))
            arrays = [
                pa.array(values, type=target.type)
                for values, target in zip(columns, EXPORT_SCHEMA, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=EXPORT_SCHEMA)


def export_transport(engine: Engine, basket_filter: BasketFilter) -> str:
    """Which transport `fetch_export_batches` uses for this engine and filter.

    ADBC (Arrow straight from the driver) where there is one, ConnectorX (Arrow from a Rust
    MySQL client, several times faster than PyMySQL) on MariaDB. SQLite text filters go through
    SQLAlchemy: they need the Unicode-aware lower() that `make_engine` registers, which an
    ADBC connection does not have. An in-memory SQLite database is only visible to its engine.
    """
    backend = engine.dialect.name
    if backend == "postgresql":
        return "adbc-postgresql"
    if backend in ("mysql", "mariadb") and _has_connectorx():
        return "connectorx-mysql"
    if (
        backend == "sqlite"
        and engine.url.database not in (None, "", ":memory:")
        and not basket_filter.needs_shop_account_join()
    ):
        return "adbc-sqlite"
    return "sqlalchemy"


def _has_connectorx() -> bool:
    try:
        import connectorx  # noqa: F401
    except ImportError:
        return False
    return True


def fetch_export_batches(engine: Engine, basket_filter: BasketFilter) -> Iterator[pa.RecordBatch]:
    """The export rows as Arrow record batches in EXPORT_SCHEMA, streamed (never all in memory)."""
    transport = export_transport(engine, basket_filter)
    if transport == "adbc-postgresql":
        return _adbc_postgresql_batches(engine, export_sql(basket_filter, "postgresql"))
    if transport == "adbc-sqlite":
        return _adbc_sqlite_batches(engine, export_sql(basket_filter, "sqlite"))
    if transport == "connectorx-mysql":
        return _connectorx_mysql_batches(engine, export_sql(basket_filter, engine.dialect.name))
    return _sqlalchemy_batches(engine, basket_filter)


# --- content rules ---


def neutralise_formulas(values: pa.Array) -> pa.Array:
    """Text cells starting with = + - @ tab or CR get a leading ' so spreadsheets show, not run, them."""
    starts_formula = pc.fill_null(pc.match_substring_regex(values, _FORMULA_PATTERN), False)
    if not pc.any(starts_formula).as_py():
        return values
    formulas = pc.filter(values, starts_formula)
    return pc.replace_with_mask(values, starts_formula, pc.binary_join_element_wise("'", formulas, ""))


def format_quantity(values: pa.Array) -> pa.Array:
    """Decimal quantities as text without trailing zeros: 2.5000 -> 2.5, 10.0000 -> 10."""
    text = pc.cast(values, pa.string())
    return pc.replace_substring_regex(text, pattern="\\.?0+$", replacement="")


def csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The CSV columns of `batch` under their §5 headers, with the CSV content rules applied."""
    columns = []
    for name in CSV_COLUMNS:
        column = batch.column(name)
        if name == "quantity":
            column = format_quantity(column)
        elif name not in _NEVER_FORMULAS:
            column = neutralise_formulas(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=list(CSV_HEADER))


# --- files ---


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
    files: dict[str, AtomicFile] = {}
    try:
        for fmt, path in paths.items():
            files[fmt] = open_atomic_file(path, rules, EXPORT_FILE_KINDS[fmt])
    except BaseException:
        for file in files.values():
            file.discard()
        raise
    csv_writer: pacsv.CSVWriter | None = None
    parquet_writer: pq.ParquetWriter | None = None
    try:
        if "csv" in files:
            csv_schema = pa.schema([(header, pa.string()) for header in CSV_HEADER])
            csv_writer = pacsv.CSVWriter(str(files["csv"].temp), csv_schema, write_options=CSV_WRITE_OPTIONS)
        if "parquet" in files:
            parquet_writer = pq.ParquetWriter(
                str(files["parquet"].temp),
                EXPORT_SCHEMA.with_metadata(suite_metadata(PARQUET_KIND)),
                compression="zstd",
            )
        pause = pause_after_first_batch_seconds
        last_basket: str | None = None
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in fetch_export_batches(engine, basket_filter):
            if batch.num_rows == 0:
                continue
            if csv_writer is not None:
                csv_writer.write_batch(csv_batch(batch))
            if parquet_writer is not None:
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= BATCH_ROWS:  # row groups of a useful size, whatever the batches
                    parquet_writer.write_table(pa.Table.from_batches(pending))
                    pending, pending_rows = [], 0
            # Rows come ordered by basket, so a basket spanning two batches is counted once.
            basket_ids = batch.column("basket_id")
            result.baskets += pc.count_distinct(basket_ids).as_py()
            if basket_ids[0].as_py() == last_basket:
                result.baskets -= 1
            last_basket = basket_ids[-1].as_py()
            result.lines += batch.num_rows - batch.column("product_id").null_count
            result.rows += batch.num_rows
            # Hand freed batch memory back now: Arrow's allocator would otherwise keep it cached.
            pa.default_memory_pool().release_unused()
            if progress is not None:
                progress(result.rows)
            if pause:
                time.sleep(pause)
                pause = 0
        if csv_writer is not None:
            csv_writer.close()
            csv_writer = None
        if parquet_writer is not None:
            if pending:
                parquet_writer.write_table(pa.Table.from_batches(pending))
            parquet_writer.close()
            parquet_writer = None
        for fmt, file in files.items():
            file.commit()
            result.files.append(ExportedFile(fmt, file.final, _sha256(file.final), file.final.stat().st_size))
    except BaseException:
        for writer in (csv_writer, parquet_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        for file in files.values():
            file.discard()
        raise
    result.seconds = time.perf_counter() - started
    return result
