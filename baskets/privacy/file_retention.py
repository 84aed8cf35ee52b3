"""Files with an end date: the suite's own files under export_dir, recognised by content and
removed once older than `privacy.export_keep_days`.

Only a file the suite recognises as one it wrote (`baskets.files`: the export's or the audit
report's CSV header, the audit report's HTML mark, the suite's key in a Parquet file's schema)
is ever removed; anything else in the folder, symbolic links and folders are left alone.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from baskets.files import SUITE_KEY, TEMP_PREFIX

EXPORT = "export"
AUDIT_REPORT = "audit-report"
SNAPSHOT = "retention-snapshot"


def suite_file_kind(path: Path) -> str | None:
    """Which of the suite's files `path` is (`export`, `audit-report`, `retention-snapshot`),
    by its content; None for any other file."""
    # Imported here: these modules load pyarrow and pandas, which only a walk of files needs.
    from baskets.audit_report import REPORT_FILE_KINDS
    from baskets.export import EXPORT_FILE_KINDS

    if path.suffix.lower() == ".parquet":
        return _parquet_kind(path)
    if EXPORT_FILE_KINDS["csv"](path):
        return EXPORT
    if REPORT_FILE_KINDS["csv"](path) or REPORT_FILE_KINDS["html"](path):
        return AUDIT_REPORT
    return None


def _parquet_kind(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001 - not Parquet at all, or unreadable: not ours
        return None
    kind = metadata.get(SUITE_KEY)
    return kind.decode() if kind in (EXPORT.encode(), AUDIT_REPORT.encode(), SNAPSHOT.encode()) else None


@dataclass(frozen=True)
class SuiteFile:
    path: Path
    kind: str
    modified_at: dt.datetime


def walk_suite_files(folder: Path) -> Iterator[SuiteFile]:
    """Every file under `folder` (recursively, never through a symbolic link) that the suite
    wrote, in path order; temporary files of running writers are not among them."""
    if not folder.is_dir():
        return
    for root, folders, names in os.walk(folder, followlinks=False):
        folders.sort()
        for name in sorted(names):
            if name.startswith(TEMP_PREFIX):
                continue
            path = Path(root) / name
            try:
                status = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(status.st_mode):
                continue
            kind = suite_file_kind(path)
            if kind is not None:
                modified = dt.datetime.fromtimestamp(status.st_mtime, dt.UTC)
                yield SuiteFile(path, kind, modified)


def files_past_cutoff(folder: Path, cutoff: dt.datetime) -> list[SuiteFile]:
    """The suite's files under `folder` last written before `cutoff`."""
    return [file for file in walk_suite_files(folder) if file.modified_at < cutoff]


def export_keep_cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """The time before which a file has been kept long enough. Never later than the real time
    less `days`, so a run with --now in the future does not remove the files it just wrote."""
    return min(now, dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)


def remove_files_past_cutoff(folder: Path, cutoff: dt.datetime) -> list[Path]:
    """Remove the suite's files under `folder` last written before `cutoff`; returns them."""
    removed = []
    for file in files_past_cutoff(folder, cutoff):
        try:
            file.path.unlink()
        except FileNotFoundError:
            continue
        removed.append(file.path)
    return removed
