"""The `report-export` flow and `baskets export`: files, counts, artifacts, roles and killed runs."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from baskets.errors import NotPermitted
from baskets.export import CSV_HEADER
from baskets.files import TEMP_PREFIX, TEMP_SUFFIX
from tests.conftest import REPO, DatabaseUnderTest, add_operators, seed


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 200, 5)
    add_operators(db)
    return db


def _count(database: DatabaseUnderTest, where: str = "") -> tuple[int, int]:
    baskets = database.scalar(f"SELECT count(*) FROM baskets b {where}")
    lines = database.scalar(
        f"SELECT count(*) FROM basket_lines l JOIN baskets b ON b.id = l.basket_id {where}"
    )
    return int(baskets), int(lines)  # type: ignore[arg-type]


def test_export_writes_both_files_and_reports_counts_and_hashes(
    prefect_harness, cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    result = cli(
        "export", "--account-type", "customer", "--format", "both", "--output", str(tmp_path / "out" / "c.csv"),
        "--as", "bob", "--json", env=store.env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert (summary["baskets"], summary["lines"]) == _count(store, "WHERE b.account_type = 'Customer'")
    assert summary["filter"] == {"--account-type": "customer"}
    assert summary["operator"] == "bob"
    files = {file["format"]: file for file in summary["files"]}
    assert files["csv"]["path"] == str(tmp_path / "out" / "c.csv")
    assert files["parquet"]["path"] == str(tmp_path / "out" / "c.parquet")
    for file in files.values():
        assert file["sha256"] == hashlib.sha256(Path(file["path"]).read_bytes()).hexdigest()
    with open(files["csv"]["path"], newline="", encoding="utf-8") as stream:
        header, *rows = list(csv.reader(stream))
    assert header == list(CSV_HEADER)
    assert {row[5] for row in rows} == {"Customer"}
    assert pq.read_table(files["parquet"]["path"]).num_rows == len(rows)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[summary["flow_run_id"]]))
        )
    by_type: dict[str, list] = {}
    for artifact in artifacts:
        by_type.setdefault(artifact.type, []).append(artifact)
    assert len(by_type["table"]) == 1
    table = str(by_type["table"][0].data)
    assert f"{summary['lines']}" in table and "--account-type customer" in table
    # Prefect stores a link artifact as markdown: [name](uri)
    links = sorted(str(artifact.data) for artifact in by_type["markdown"])
    assert len(links) == 2
    assert any(Path(files["csv"]["path"]).as_uri() in link for link in links)


@pytest.mark.backend_independent
def test_export_goes_to_the_export_dir_by_default(
    prefect_harness, cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    env = {**store.env, "BASKETS_EXPORT_DIR": str(tmp_path / "exports")}
    result = cli("export", "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    (file,) = result.json()["files"]
    path = Path(file["path"])
    assert path.parent == tmp_path / "exports"
    assert path.name.startswith("baskets-") and path.name.endswith("Z.csv")
    assert (result.json()["baskets"], result.json()["lines"]) == _count(store)


@pytest.mark.backend_independent
def test_export_prints_where_it_wrote_without_json(
    prefect_harness, cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    target = tmp_path / "one.parquet"
    result = cli("export", "--format", "parquet", "--output", str(target), "--as", "alice", env=store.env)
    assert result.exit_code == 0, result.stderr
    assert f"to {target} (sha256 " in result.stdout
    assert "\x1b[" not in result.stderr  # no progress bar when piped


@pytest.mark.parametrize("operator", ["nobody", "carol"])
@pytest.mark.backend_independent
def test_export_refuses_unknown_operator_or_role_without_the_right(
    cli, store: DatabaseUnderTest, tmp_path: Path, operator: str
) -> None:
    result = cli("export", "--output", str(tmp_path / "x.csv"), "--as", operator, env=store.env)
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert list(tmp_path.glob("x*")) == []


@pytest.mark.backend_independent
def test_flow_refuses_an_operator_without_the_right(
    prefect_harness, store: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.export import report_export

    monkeypatch.setenv("BASKETS_DATABASE_URL", store.url)
    with pytest.raises(NotPermitted, match="'carol' is a content_manager"):
        report_export(
            format="both",
            output=str(tmp_path / "x.csv"),
            operator="carol",
        )
    assert list(tmp_path.glob("x*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "error: --format: 'xlsx' is not a format (expected csv, parquet or both)"),
        (["--basket-id", "abc"], "error: --basket-id: 'abc' is not a GUID"),
        (["--modified-after", "last week"], "error: --modified-after: 'last week' is not an ISO date"),
    ],
)
@pytest.mark.backend_independent
def test_bad_input_is_refused_in_one_line(cli, store: DatabaseUnderTest, args, message) -> None:
    result = cli("export", *args, "--as", "alice", env=store.env)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.backend_independent
def test_export_dir_that_is_a_file_is_refused_naming_the_setting(
    cli, store: DatabaseUnderTest, prefect_harness, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    result = cli("export", "--as", "alice", env={**store.env, "BASKETS_EXPORT_DIR": str(notes / "exports")})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: setting export_dir: cannot write in {str(notes / 'exports')!r}: {str(notes)!r} is not a folder "
        "(expected a writable folder, e.g. var/exports)"
    )
    assert notes.read_text() == "keep me"


def _start_export(
    env: dict[str, str], cwd: Path, *args: str, pause_seconds: float = 0
) -> subprocess.Popen[str]:
    """`baskets export ARGS` in a process of its own, pausing `pause_seconds` after its first batch."""
    program = (
        "import sys, baskets.export, cli.main\n"
        f"baskets.export.files.pause_after_first_batch_seconds = {pause_seconds!r}\n"
        "sys.argv = ['baskets', *sys.argv[1:]]\n"
        "cli.main.main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", program, "export", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the kill reaches Prefect's temporary server too
    )


def test_killed_export_leaves_nothing_under_the_final_name_and_next_run_cleans_up(
    store: DatabaseUnderTest, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "killed.csv"
    process = _start_export(
        store.env,
        tmp_path,
        "--format",
        "both",
        "--output",
        str(target),
        "--as",
        "alice",
        pause_seconds=120,
    )
    try:
        deadline = time.monotonic() + 90
        while len(list(folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the export never started writing"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    left = sorted(path.name for path in folder.iterdir())
    assert not target.exists() and not target.with_suffix(".parquet").exists()
    assert len(left) == 2 and all(name.startswith(TEMP_PREFIX) for name in left)

    rerun = _start_export(store.env, tmp_path, "--output", str(target), "--as", "alice", "--json")
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    assert sorted(path.name for path in folder.iterdir()) == ["killed.csv"]
    with open(target, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert len(rows) - 1 == store.scalar(
        "SELECT count(*) FROM baskets b LEFT JOIN basket_lines l ON l.basket_id = b.id"
    )


# --- where an export may write: never over data the suite did not write ----------------------


@pytest.fixture
def sqlite_store(sqlite_db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(sqlite_db, 50, 5)
    add_operators(sqlite_db)
    return sqlite_db


def _refused_in_one_line(result, start: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: {start}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["database", "wal", "shm", "journal", "symlink", "hardlink"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_export_never_writes_over_the_sqlite_database_or_its_files(
    cli, sqlite_store: DatabaseUnderTest, tmp_path: Path, target: str, overwrite: list[str]
) -> None:
    database = Path(sqlite_store.engine.url.database or "")
    before = _count(sqlite_store)
    aliases = {"database": database, "wal": Path(f"{database}-wal"), "shm": Path(f"{database}-shm"),
               "journal": Path(f"{database}-journal"), "symlink": tmp_path / "link.csv",
               "hardlink": tmp_path / "hard.csv"}  # fmt: skip
    if target == "symlink":
        aliases[target].symlink_to(database)
    if target == "hardlink":
        os.link(database, aliases[target])
    result = cli(
        "export", "--output", str(aliases[target]), *overwrite, "--as", "alice", env=sqlite_store.env
    )
    _refused_in_one_line(result, "--output: ")
    assert "is a file of the database itself; not written, even with --overwrite" in result.stderr
    sqlite_store.engine.dispose()
    assert _count(sqlite_store) == before  # the baskets (and the audit log) are all still there
    assert database.read_bytes().startswith(b"SQLite format 3\x00")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.backend_independent
def test_export_never_replaces_a_file_it_did_not_write(
    cli, store: DatabaseUnderTest, tmp_path: Path, overwrite: list[str]
) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_bytes(b"my own spreadsheet\r\n")
    result = cli("export", "--output", str(mine), *overwrite, "--as", "alice", env=store.env)
    _refused_in_one_line(result, f"--output: '{mine}' exists and was not written by basket-maintenance")
    assert mine.read_bytes() == b"my own spreadsheet\r\n"
    assert [path.name for path in tmp_path.glob("*.csv")] == ["mine.csv"]
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))


@pytest.mark.parametrize(
    ("output", "start"),
    [
        ("missing/out.csv", "--output: folder '{tmp}/missing' does not exist (create it first"),
        ("out\x1b[2J.csv", "--output: '{tmp}/out\\x1b[2J.csv' has a control character in it"),
        ("out\n.csv", "--output: '{tmp}/out\\n.csv' has a control character in it"),
    ],
)
@pytest.mark.backend_independent
def test_export_refuses_a_missing_folder_or_control_characters(
    cli, store: DatabaseUnderTest, tmp_path: Path, output: str, start: str
) -> None:
    result = cli("export", "--output", output, "--as", "alice", env=store.env)
    _refused_in_one_line(result, start.format(tmp=tmp_path))
    assert not (tmp_path / "missing").exists() and not list(tmp_path.glob("out*"))


@pytest.mark.backend_independent
def test_export_replaces_its_own_earlier_export_only_with_overwrite_and_keeps_files_private(
    prefect_harness, cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    target = tmp_path / "daily.csv"
    args = ("export", "--format", "both", "--output", str(target), "--as", "alice", "--json")
    first = cli(*args, "--account-type", "customer", env=store.env)
    assert first.exit_code == 0, first.stderr
    files = [target, target.with_suffix(".parquet")]
    assert [stat.S_IMODE(path.stat().st_mode) for path in files] == [0o600, 0o600]
    earlier = [path.read_bytes() for path in files]

    again = cli(*args, env=store.env)
    _refused_in_one_line(again, f"--output: '{target}' exists (use --overwrite")
    assert [path.read_bytes() for path in files] == earlier

    replaced = cli(*args, "--overwrite", env={**store.env, "BASKETS_FILE_MODE": "0640"})
    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.json()["baskets"] == _count(store)[0] > first.json()["baskets"]
    assert pq.read_table(files[1]).num_rows == replaced.json()["rows"]
    assert [stat.S_IMODE(path.stat().st_mode) for path in files] == [0o640, 0o640]


@pytest.mark.backend_independent
def test_export_under_the_export_dir_is_private_by_default(
    prefect_harness, cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    env = {**store.env, "BASKETS_EXPORT_DIR": str(tmp_path / "var" / "exports")}  # made by the suite
    result = cli("export", "--format", "parquet", "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    (file,) = result.json()["files"]
    assert Path(file["path"]).parent == tmp_path / "var" / "exports"
    assert stat.S_IMODE(Path(file["path"]).stat().st_mode) == 0o600
