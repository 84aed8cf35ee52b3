"""The suite's own files about a person (docs/privacy.md): which exports and cleanup snapshots
under export_dir hold rows about them, and rewriting each without those rows, atomically."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baskets.files import DEFAULT_FILE_MODE, SUITE_KEY, FileRules, atomic_file, parquet_of_kind
from baskets.privacy.file_retention import EXPORT, SNAPSHOT, walk_suite_files
from baskets.privacy.subject import RowMatcher


@dataclass(frozen=True)
class FileChange:
    path: Path
    kind: str
    rows: int  # rows about the person: removed, or (dry run) to be removed


def _csv_records(path: Path) -> Iterator[str]:
    """The records of an RFC 4180 file as their raw text, line ends included (a quoted cell may
    hold a line break: a record ends where its quotes are balanced)."""
    with open(path, encoding="utf-8", newline="") as stream:
        pending = ""
        for line in stream:
            pending += line
            if pending.count('"') % 2 == 0:
                yield pending
                pending = ""
        if pending:
            yield pending


def _parse_record(record: str) -> list[str]:
    return next(csv.reader(io.StringIO(record, newline="")), [])


def _count_csv(path: Path, matcher: RowMatcher) -> int:
    records = _csv_records(path)
    next(records, None)  # the header
    return sum(1 for record in records if matcher.csv_row(_parse_record(record)))


def _parquet_mask(batch: Any, matcher: RowMatcher) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([False] * batch.num_rows, type=pa.bool_())
    tests = (
        ("basket_id", matcher.basket_ids, False),
        ("shop_account_email", matcher.emails, True),
        ("account_email", matcher.emails, True),
        ("account_id", matcher.account_ids, False),
        ("shop_account_id", matcher.shop_account_ids, False),
    )
    for name, values, lower in tests:
        if not values or name not in batch.schema.names:
            continue
        column = batch.column(name)
        if lower:
            column = pc.utf8_lower(column)
        found = pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(values), type=pa.string())), False)
        mask = pc.or_(mask, found)
    return mask


def _count_parquet(path: Path, matcher: RowMatcher) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for batch in pq.ParquetFile(path).iter_batches():
        total += int(pc.sum(_parquet_mask(batch, matcher)).as_py() or 0)
    return total


def files_about(export_dir: Path, matcher: RowMatcher) -> list[FileChange]:
    """The suite's exports and snapshots under `export_dir` with rows about the person."""
    changes = []
    for file in walk_suite_files(export_dir):
        if file.kind not in (EXPORT, SNAPSHOT):
            continue  # an audit report holds counts per actor and day, no personal data
        is_csv = file.path.suffix.lower() != ".parquet"
        rows = _count_csv(file.path, matcher) if is_csv else _count_parquet(file.path, matcher)
        if rows:
            changes.append(FileChange(file.path, file.kind, rows))
    return changes


def rewrite_without(change: FileChange, matcher: RowMatcher, rules: FileRules) -> None:
    """Replace the file of `change` by a copy without the person's rows, atomically: a private
    temporary file beside it, renamed over it (`atomic_file`). Its modification time stays, so
    it still ends when it would have (`privacy.export_keep_days`)."""
    path = change.path
    before = path.stat()
    if path.suffix.lower() != ".parquet":
        from baskets.export import EXPORT_FILE_KINDS

        with (
            atomic_file(path, rules, EXPORT_FILE_KINDS["csv"]) as file,
            open(file.temp, "w", encoding="utf-8", newline="") as out,
        ):
            records = _csv_records(path)
            out.write(next(records, ""))
            for record in records:
                if not matcher.csv_row(_parse_record(record)):
                    out.write(record)
    else:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        schema = source.schema_arrow
        kind = (schema.metadata or {}).get(SUITE_KEY, b"").decode()
        with (
            atomic_file(path, rules, parquet_of_kind(kind)) as file,
            pq.ParquetWriter(file.temp, schema) as writer,
        ):
            for batch in source.iter_batches():
                kept = batch.filter(pc.invert(_parquet_mask(batch, matcher)))
                writer.write_table(pa.Table.from_batches([kept], schema=schema))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def erasure_file_rules(export_dir: Path, mode: int = DEFAULT_FILE_MODE) -> FileRules:
    """How files are rewritten: in place under the export dir, only over the suite's own files."""
    return FileRules(field="setting export_dir", overwrite=True, own_folder=export_dir, mode=mode)
