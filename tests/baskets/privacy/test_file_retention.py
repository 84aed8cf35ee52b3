"""Files with an end date: only the suite's own files under export_dir, only the old ones."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from baskets.audit_report import CSV_HEADER_LINE as REPORT_CSV_HEADER
from baskets.audit_report import HTML_START
from baskets.export import CSV_HEADER_LINE as EXPORT_CSV_HEADER
from baskets.files import suite_metadata
from baskets.privacy.file_retention import (
    export_keep_cutoff,
    files_past_cutoff,
    remove_files_past_cutoff,
    suite_file_kind,
)

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
OLD = (NOW - dt.timedelta(days=31)).timestamp()
YOUNG = (NOW - dt.timedelta(days=29)).timestamp()


def _file(path: Path, content: bytes, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))
    return path


def _parquet(path: Path, kind: str | None, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"basket_id": ["a"]})
    if kind is not None:
        table = table.replace_schema_metadata(suite_metadata(kind))
    pq.write_table(table, path)
    os.utime(path, (mtime, mtime))
    return path


def test_only_the_suites_own_old_files_go(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    old_suite = {
        _file(folder / "baskets-1.csv", EXPORT_CSV_HEADER + b'"x"\r\n', OLD),
        _parquet(folder / "baskets-1.parquet", "export", OLD),
        _parquet(
            folder / "retention" / "sqlite-db" / "deleted-baskets-run1.parquet", "retention-snapshot", OLD
        ),
        _file(folder / "audit-report-1.csv", REPORT_CSV_HEADER, OLD),
        _file(folder / "audit-report-1.html", HTML_START.encode() + b"<p>", OLD),
        _parquet(folder / "renamed.bin.parquet", "audit-report", OLD),
    }
    kept = {
        _file(folder / "baskets-2.csv", EXPORT_CSV_HEADER, YOUNG),  # too young
        _file(folder / "notes.csv", b"Shop account name,other\r\n", OLD),  # not the suite's
        _file(folder / "baskets-3.csv", b"\xff\xfe garbage", OLD),
        _parquet(folder / "theirs.parquet", None, OLD),  # Parquet without the suite's mark
        _parquet(folder / "other-kind.parquet", "something-else", OLD),
        _file(folder / ".basket-maintenance-x.partial", EXPORT_CSV_HEADER, OLD),  # a writer's temporary file
    }
    outside = _file(tmp_path / "elsewhere" / "baskets-9.csv", EXPORT_CSV_HEADER, OLD)
    (folder / "link.csv").symlink_to(outside)
    (folder / "linked-folder").symlink_to(outside.parent, target_is_directory=True)
    cutoff = NOW - dt.timedelta(days=30)
    assert {file.path for file in files_past_cutoff(folder, cutoff)} == old_suite
    assert set(remove_files_past_cutoff(folder, cutoff)) == old_suite
    assert all(not path.exists() for path in old_suite)
    assert all(path.exists() for path in kept)
    assert outside.exists() and (folder / "link.csv").is_symlink()
    assert remove_files_past_cutoff(folder, cutoff) == []


def test_a_missing_folder_has_no_files(tmp_path: Path) -> None:
    assert files_past_cutoff(tmp_path / "missing", NOW) == []


def test_a_file_is_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    assert suite_file_kind(_file(tmp_path / "x.txt", EXPORT_CSV_HEADER, OLD)) == "export"
    assert suite_file_kind(_file(tmp_path / "baskets-1.csv", b"id,name\r\n", OLD)) is None
    assert suite_file_kind(_file(tmp_path / "y.parquet", b"PAR1 not really", OLD)) is None


def test_a_run_with_now_in_the_future_keeps_the_files_it_just_wrote() -> None:
    cutoff = export_keep_cutoff(dt.datetime(2999, 1, 1, tzinfo=dt.UTC), 30)
    assert cutoff <= dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    assert export_keep_cutoff(NOW, 30) == NOW - dt.timedelta(days=30)  # a --now in the past counts
