"""baskets.files: the one atomic writer, what it refuses to write over, and the modes it creates."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from baskets.errors import BadInput
from baskets.files import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    FileRules,
    atomic_file,
    check_target,
    database_files,
    parquet_of_kind,
    starts_with,
    suite_metadata,
)

HEADER = b"a,b\r\n"
OURS = starts_with(HEADER)


def _write(path: Path, rules: FileRules, body: bytes = HEADER + b"1,2\r\n") -> Path:
    with atomic_file(path, rules, OURS) as file:
        file.temp.write_bytes(body)
    return file.final


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_written_whole_and_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = _write(tmp_path / "out.csv", FileRules())
    finally:
        os.umask(previous)
    assert path == tmp_path / "out.csv"
    assert path.read_bytes() == HEADER + b"1,2\r\n"
    assert _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["out.csv"]  # no temporary file left


def test_a_configured_mode_widens_new_files(tmp_path: Path) -> None:
    assert _mode(_write(tmp_path / "out.csv", FileRules(mode=0o640))) == 0o640


def test_an_existing_suite_file_is_refused_without_overwrite_and_replaced_with_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "out.csv", FileRules())
    with pytest.raises(BadInput, match=r"^output: '.*out\.csv' exists \(use `overwrite`"):
        _write(path, FileRules(), HEADER + b"new\r\n")
    assert path.read_bytes() == HEADER + b"1,2\r\n"
    _write(path, FileRules(overwrite=True), HEADER + b"new\r\n")
    assert path.read_bytes() == HEADER + b"new\r\n"
    assert _mode(path) == 0o600


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_the_suite_did_not_write_is_never_replaced(tmp_path: Path, overwrite: bool) -> None:
    path = tmp_path / "notes.csv"
    path.write_bytes(b"a,b,c\r\nmy own notes\r\n")  # a CSV, but not with this writer's header
    with pytest.raises(BadInput, match=r"was not written by basket-maintenance .* even with `overwrite`"):
        _write(path, FileRules(overwrite=overwrite))
    assert path.read_bytes() == b"a,b,c\r\nmy own notes\r\n"
    assert os.listdir(tmp_path) == ["notes.csv"]


def test_a_parquet_file_is_ours_only_with_the_suites_key_of_the_same_kind(tmp_path: Path) -> None:
    table = pa.table({"x": [1]})
    pq.write_table(table.replace_schema_metadata(suite_metadata("export")), tmp_path / "export.parquet")
    pq.write_table(table.replace_schema_metadata(suite_metadata("audit-report")), tmp_path / "report.parquet")
    pq.write_table(table, tmp_path / "plain.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    ours = parquet_of_kind("export")
    assert [ours(tmp_path / f"{name}.parquet") for name in ("export", "report", "plain", "text")] == [
        True, False, False, False
    ]  # fmt: skip
    assert ours(tmp_path / "missing.parquet") is False


@pytest.mark.parametrize("name", ["baskets.db", "baskets.db-wal", "baskets.db-shm", "baskets.db-journal"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_the_database_and_its_sqlite_files_are_never_written(
    tmp_path: Path, name: str, overwrite: bool
) -> None:
    database = tmp_path / "baskets.db"
    database.write_bytes(b"SQLite format 3\x00")
    rules = FileRules(overwrite=overwrite).protecting(f"sqlite:///{database}")
    with pytest.raises(
        BadInput, match=r"is a file of the database itself; not written, even with `overwrite`"
    ):
        _write(tmp_path / name, rules)  # -wal, -shm, -journal: refused whether they exist or not
    assert database.read_bytes() == b"SQLite format 3\x00"
    assert sorted(os.listdir(tmp_path)) == ["baskets.db"]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_to_the_database_is_never_written(tmp_path: Path, link: str) -> None:
    database = tmp_path / "baskets.db"
    database.write_bytes(b"SQLite format 3\x00")
    alias = tmp_path / "export.csv"
    (os.symlink if link == "symlink" else os.link)(database, alias)
    rules = FileRules(overwrite=True).protecting(f"sqlite:///{database}")
    with pytest.raises(BadInput, match=r"is a file of the database itself"):
        _write(alias, rules)
    assert database.read_bytes() == b"SQLite format 3\x00"


def test_a_symbolic_link_is_refused_even_to_a_suite_file(tmp_path: Path) -> None:
    real = _write(tmp_path / "real.csv", FileRules())
    (tmp_path / "link.csv").symlink_to(real)
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    for name in ("link.csv", "dangling.csv"):
        with pytest.raises(BadInput, match=r"is a symbolic link; not written"):
            _write(tmp_path / name, FileRules(overwrite=True))
    assert real.read_bytes() == HEADER + b"1,2\r\n" and not (tmp_path / "nowhere.csv").exists()


@pytest.mark.parametrize("name", ["out\n.csv", "out\x1b[31m.csv", "out\x7f.csv", "out\r.csv", "\t.csv"])
def test_a_name_with_control_characters_is_refused_in_one_escaped_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput) as refused:
        _write(tmp_path / name, FileRules())
    assert (
        refused.value.message.startswith("output: '") and "has a control character" in refused.value.message
    )
    assert "\n" not in refused.value.message and "\x1b" not in refused.value.message
    assert os.listdir(tmp_path) == []


def test_a_missing_folder_is_refused_unless_it_is_the_suites_own(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"^setting: folder '.*missing' does not exist \(create it first"):
        _write(tmp_path / "missing" / "out.csv", FileRules(field="setting"))
    assert not (tmp_path / "missing").exists()
    own = tmp_path / "var" / "exports"
    written = _write(own / "retention" / "out.csv", FileRules(own_folder=own))
    assert written.read_bytes().startswith(HEADER)
    with pytest.raises(BadInput, match="does not exist"):  # beside the own folder is not inside it
        _write(tmp_path / "var" / "other" / "out.csv", FileRules(own_folder=own))


def test_a_folder_or_special_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(BadInput, match="is a folder"):
        _write(tmp_path / "folder.csv", FileRules(overwrite=True))
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(BadInput, match="is not a regular file"):
        check_target(tmp_path / "pipe.csv", FileRules(overwrite=True), OURS)


def test_a_file_appearing_while_written_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with pytest.raises(BadInput, match="exists"), atomic_file(path, FileRules(), OURS) as file:
        file.temp.write_bytes(HEADER)
        path.write_bytes(HEADER + b"someone else's\r\n")  # same name, made meanwhile
    assert path.read_bytes() == HEADER + b"someone else's\r\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_failed_write_leaves_no_file_and_a_killed_writers_temporary_file_goes_next_time(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "out.csv", FileRules(), OURS) as file:
        file.temp.write_bytes(HEADER)
        raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []
    stray = tmp_path / f"{TEMP_PREFIX}out.csv.deadbeef{TEMP_SUFFIX}"  # its writer was killed
    stray.write_bytes(b"half")
    live = tmp_path / f"{TEMP_PREFIX}other.csv.cafef00d{TEMP_SUFFIX}"
    with open(live, "wb") as holder:  # a writer that is still running holds its lock
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        _write(tmp_path / "next.csv", FileRules())
        assert sorted(os.listdir(tmp_path)) == sorted(["next.csv", live.name])


def test_a_very_long_name_still_gets_a_temporary_file(tmp_path: Path) -> None:
    name = "x" * 240 + ".csv"
    assert _write(tmp_path / name, FileRules()).name == name


def test_database_files_are_those_of_a_sqlite_file_only(tmp_path: Path) -> None:
    database = tmp_path / "baskets.db"
    assert database_files(f"sqlite:///{database}") == (
        database,
        tmp_path / "baskets.db-wal",
        tmp_path / "baskets.db-shm",
        tmp_path / "baskets.db-journal",
        tmp_path / "baskets.db.cleanup-lock",
    )
    assert database_files("sqlite://") == database_files("sqlite:///:memory:") == ()
    assert database_files("postgresql+psycopg://root@127.0.0.1/test") == ()
    assert database_files(None) == ()
