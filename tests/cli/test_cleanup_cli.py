"""`baskets cleanup` and the retention-cleanup flow end to end, on every database."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, func, select

from baskets.locks import cleanup_lock
from baskets.models import AuditChainHead, Basket, BasketAudit, CleanupRun
from baskets.retention import RetentionPolicy, plan_cleanup, select_expired_basket_ids, snapshot_folder
from tests.conftest import NOW, DatabaseUnderTest, add_operators, commit_once_a_session_waits, seed

AT_NOW = ("--now", NOW.isoformat())
POLICY = RetentionPolicy(days={"anonymous": 30, "contact": 90, "customer": 180})
# Seeded data spans two years, so most of it is expired: lift the safety share where a test
# is about something else.
NO_SHARE_LIMIT = {"BASKETS_RETENTION__MAX_SHARE": "1"}


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 300, 11)
    add_operators(db)
    return db


def expired_ids(db: DatabaseUnderTest, policy: RetentionPolicy = POLICY) -> set[str]:
    with db.engine.connect() as connection:
        return {
            basket.basket_id for basket in select_expired_basket_ids(connection, policy, NOW, limit=10**6)
        }


def basket_ids(db: DatabaseUnderTest) -> set[str]:
    with db.engine.connect() as connection:
        return {str(basket_id) for basket_id in connection.scalars(select(Basket.id))}


def audit_rows(db: DatabaseUnderTest) -> list[dict]:
    with db.engine.connect() as connection:
        return [
            dict(row) for row in connection.execute(select(BasketAudit).order_by(BasketAudit.seq)).mappings()
        ]


def cleanup_runs(db: DatabaseUnderTest) -> list[dict]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(CleanupRun).order_by(CleanupRun.id)).mappings()
        return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in rows]


# A log line a flow run writes to stderr: "17:02:53.802 | WARNING | ...". Whether those reach a
# test's captured stderr depends on whether Prefect set up its logging before the capture.
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d+ \| ")


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that are not log lines: what the command itself said."""
    return [line for line in stderr.strip().splitlines() if not LOG_LINE.match(line)]


def test_dry_run_reports_per_type_exactly_what_the_real_run_deletes(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    env = {**store.env, **NO_SHARE_LIMIT}
    before = basket_ids(store)
    dry = cli("cleanup", "--dry-run", *AT_NOW, "--as", "alice", "--json", env=env)
    assert dry.exit_code == 0, dry.stderr
    assert basket_ids(store) == before and audit_rows(store) == []
    planned = dry.json()
    assert planned["dry_run"] is True and set(planned["would_delete"]) == {
        "anonymous", "contact", "customer", "empty",
    }  # fmt: skip
    assert planned["would_delete_total"] == len(expired_ids(store)) > 0

    real = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert real.exit_code == 0, real.stderr
    done = real.json()
    assert {name: counts["deleted"] for name, counts in done["per_category"].items()} == planned[
        "would_delete"
    ]
    deleted = before - basket_ids(store)
    assert len(deleted) == done["deleted"] == planned["would_delete_total"]
    rows = audit_rows(store)
    assert sorted(row["basket_id"] for row in rows) == sorted(deleted)  # each exactly once
    assert {(row["actor"], row["actor_role"], row["reason"]) for row in rows} == {
        ("alice", "system_administrator", "retention")
    }
    assert {row["flow_run_id"] for row in rows} == {done["flow_run_id"]}
    snapshot = pq.read_table(done["snapshot"])
    assert sorted(snapshot.column("basket_id").to_pylist()) == sorted(deleted)

    again = cli("cleanup", "--dry-run", *AT_NOW, "--as", "alice", "--json", env=env)
    assert again.json()["would_delete_total"] == 0


@pytest.mark.backend_independent
def test_dry_run_prints_empty_baskets_on_their_own_line(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    result = cli("cleanup", "--dry-run", *AT_NOW, "--as", "alice", env=store.env)
    assert result.exit_code == 0, result.stderr
    with store.engine.connect() as connection:
        empty = plan_cleanup(connection, POLICY, NOW).expired["empty"]
    line = next(line for line in result.stdout.splitlines() if "empty baskets" in line)
    assert line.split()[0] == f"{empty:,}"
    assert "over the safety share" in result.stdout  # two years of seeded backlog


def test_scheduled_run_acts_as_retention_policy(cli, store: DatabaseUnderTest, prefect_harness: None) -> None:
    result = cli("cleanup", *AT_NOW, "--json", env={**store.env, **NO_SHARE_LIMIT})
    assert result.exit_code == 0, result.stderr
    assert result.json()["actor"] == "retention-policy"
    assert {(row["actor"], row["actor_role"]) for row in audit_rows(store)} == {
        ("retention-policy", "system")
    }
    (run,) = cleanup_runs(store)
    assert (run["status"], run["actor"], run["deleted"]) == (
        "succeeded",
        "retention-policy",
        result.json()["deleted"],
    )


def test_safety_limit_deletes_nothing_and_exits_5(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    before = basket_ids(store)
    result = cli("cleanup", *AT_NOW, "--as", "alice", env=store.env)
    assert result.exit_code == 5
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: this run would delete ") and "more than the limit of 25%" in line
    assert basket_ids(store) == before and audit_rows(store) == []
    (run,) = cleanup_runs(store)
    assert (run["status"], run["deleted"], run["detail"]["exit_code"]) == ("failed", 0, 5)
    assert list(run["detail"]["seconds"]) == ["planning"]  # stopped after counting


def test_force_by_an_administrator_passes_the_safety_limit(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    expired = expired_ids(store)
    result = cli("cleanup", *AT_NOW, "--force", "--as", "alice", "--json", env=store.env)
    assert result.exit_code == 0, result.stderr
    assert result.json()["over_limit"] is True and result.json()["deleted"] == len(expired)
    assert basket_ids(store).isdisjoint(expired)


def test_run_in_many_batches_leaves_one_chain_head_a_verified_chain_and_its_counts_in_the_run_row(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    expired = expired_ids(store)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "7"}
    result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted"] == len(expired) and result.json()["batches"] > 10
    audited = audit_rows(store)
    assert [row["seq"] for row in audited] == list(range(1, len(expired) + 1))
    assert [row["basket_id"] for row in audited] == sorted(expired)  # batches chained in key order
    with store.engine.connect() as connection:
        heads = connection.execute(select(AuditChainHead.id, AuditChainHead.seq)).all()
    assert [tuple(head) for head in heads] == [(1, len(expired))]
    (run,) = cleanup_runs(store)
    assert (run["deleted"], run["detail"]["batches"], run["detail"]["last_seq"]) == (
        len(expired),
        result.json()["batches"],
        len(expired),
    )
    verified = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert verified.exit_code == 0 and verified.json()["rows"] == len(expired)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--as", "bob"), 3, "'bob' is an order_processor: only system_administrator may run cleanup"),
        (("--as", "carol"), 3, "only system_administrator may run cleanup"),
        (("--as", "mallory"), 3, "--as: no operator named 'mallory'"),
        (("--force",), 3, "--force: only a system administrator may force a cleanup"),
        (("--dry-run", "--as", "bob"), 3, "only system_administrator may run cleanup"),
        (("--now", "last tuesday"), 2, "--now: 'last tuesday' is not an ISO date or datetime"),
    ],
)
@pytest.mark.backend_independent
def test_refused_runs_change_nothing_and_say_why_in_one_line(
    cli, store: DatabaseUnderTest, prefect_harness: None, args: tuple[str, ...], code: int, says: str
) -> None:
    before = basket_ids(store)
    result = cli("cleanup", *args, env={**store.env, **NO_SHARE_LIMIT})
    assert result.exit_code == code
    (line,) = error_lines(result.stderr)
    assert says in line and "Traceback" not in result.stderr
    assert basket_ids(store) == before and audit_rows(store) == []


@pytest.mark.backend_independent
def test_order_processor_cannot_force(cli, store: DatabaseUnderTest, prefect_harness: None) -> None:
    result = cli("cleanup", *AT_NOW, "--force", "--as", "bob", env=store.env)
    assert result.exit_code == 3 and audit_rows(store) == []


@pytest.mark.parametrize(
    ("settings_file", "says"),
    [
        ("[retention]\ndays = { anonymous = 0, contact = 90, customer = 180 }\n", "anonymous: 0 is below 1"),
        ("[retention]\nempty_basket_days = 0\n", "retention.empty_basket_days: 0 is below 1"),
    ],
)
@pytest.mark.backend_independent
def test_retention_days_below_one_are_refused(
    cli, store: DatabaseUnderTest, prefect_harness: None, tmp_path: Path, settings_file: str, says: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(settings_file)
    result = cli("cleanup", *AT_NOW, "--as", "alice", env={**store.env, "BASKETS_CONFIG": str(config)})
    assert result.exit_code == 2
    assert says in result.stderr and audit_rows(store) == []


@pytest.mark.parametrize(
    ("settings_file", "says"),
    [
        # Today's bug: the misspelt table was ignored and the 30/90/180-day defaults deleted.
        (
            "[retension]\ndays = { anonymous = 365, contact = 365, customer = 365 }\n",
            "setting retension: unknown",
        ),
        (
            "[retention.days]\nanonymous = true\n",
            "setting retention.days.anonymous: true is not a whole number",
        ),
        ("[retention.days]\nAnonymous = 365\nanonymous = 30\n", "are the same setting differing in case"),
    ],
)
@pytest.mark.backend_independent
def test_strict_settings_file_mistake_exits_2_and_deletes_nothing(
    cli, store: DatabaseUnderTest, prefect_harness: None, tmp_path: Path, settings_file: str, says: str
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(settings_file)
    before = basket_ids(store)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_CONFIG": str(config)}
    result = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert says in line and "Traceback" not in result.stderr
    assert basket_ids(store) == before and audit_rows(store) == [] and cleanup_runs(store) == []


@pytest.mark.backend_independent
def test_unknown_baskets_variable_exits_2_and_deletes_nothing(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    before = basket_ids(store)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_RETENSION__DAYS__CUSTOMER": "365"}
    result = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: BASKETS_RETENSION__DAYS__CUSTOMER: unknown setting (expected one of ")
    assert basket_ids(store) == before and audit_rows(store) == []


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("where", ["a file", "under a file"])
@pytest.mark.backend_independent
def test_export_dir_that_cannot_be_written_is_refused_before_any_basket_is_deleted(
    cli, store: DatabaseUnderTest, prefect_harness: None, tmp_path: Path, where: str, dry_run: bool
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    export_dir = notes if where == "a file" else notes / "exports"
    before = basket_ids(store)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_EXPORT_DIR": str(export_dir)}
    result = cli("cleanup", *AT_NOW, "--as", "alice", *(["--dry-run"] if dry_run else []), env=env)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line == (
        f"error: setting export_dir: cannot write in {str(export_dir)!r}: {str(notes)!r} is not a folder "
        "(expected a writable folder, e.g. var/exports)"
    )
    assert basket_ids(store) == before and audit_rows(store) == [] and cleanup_runs(store) == []
    assert notes.read_text() == "not a folder"


def test_export_dir_naming_the_database_file_is_refused_and_the_database_kept(
    cli, sqlite_db: DatabaseUnderTest, prefect_harness: None
) -> None:
    seed(sqlite_db, 50, 3)
    add_operators(sqlite_db)
    database_file = Path(sqlite_db.engine.url.database or "")
    before = basket_ids(sqlite_db)
    env = {**sqlite_db.env, **NO_SHARE_LIMIT, "BASKETS_EXPORT_DIR": str(database_file)}
    result = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert result.exit_code == 2
    assert f"{str(database_file)!r} is not a folder" in result.stderr
    assert database_file.is_file() and basket_ids(sqlite_db) == before and audit_rows(sqlite_db) == []


def test_run_while_another_holds_the_lock_exits_7_at_once(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    before = basket_ids(store)
    with cleanup_lock(store.engine):
        result = cli("cleanup", *AT_NOW, "--as", "alice", env={**store.env, **NO_SHARE_LIMIT})
    assert result.exit_code == 7
    assert "another cleanup is running" in result.stderr
    assert basket_ids(store) == before
    (run,) = cleanup_runs(store)
    assert (run["status"], run["detail"]["exit_code"]) == ("failed", 7)


@pytest.mark.backend_independent
def test_run_publishes_a_report_per_type_and_a_finished_progress_artifact(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env={**store.env, **NO_SHARE_LIMIT})
    assert result.exit_code == 0, result.stderr
    done = result.json()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(done["flow_run_id"])])
            )
        )
    by_key = {artifact.key: artifact for artifact in artifacts}
    for category in ("anonymous", "contact", "customer", "empty"):
        markdown = by_key[f"retention-cleanup-{category}"].data
        assert f"| deleted (audited) | {done['per_category'][category]['deleted']:,} |" in markdown
        assert "| cutoff | last modified before " in markdown
        assert "| survived because touched | 0 |" in markdown
    assert by_key["retention-cleanup-progress"].data == 100.0


def _failing_for(target: str, attempts: list[int]):
    import tasks.retention as retention_tasks

    real = retention_tasks.delete_expired_batch

    def delete_or_time_out(engine, batch, **kwargs):
        if any(basket.basket_id == target for basket in batch):
            from sqlalchemy.exc import OperationalError

            attempts.append(len(batch))
            raise OperationalError("DELETE FROM baskets", {}, Exception("lock wait timeout exceeded"))
        return real(engine, batch, **kwargs)

    return delete_or_time_out


def test_failing_batch_is_retried_then_split_down_to_the_failing_basket_and_the_next_run_finishes(
    cli, store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.retention as retention_tasks

    env = {
        **store.env,
        **NO_SHARE_LIMIT,
        "BASKETS_RETENTION__BATCH_SIZE": "40",
        "BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS": "[0.0, 0.1]",
    }
    expired = sorted(expired_ids(store))
    target = expired[len(expired) // 2]
    bad_batch = expired[(len(expired) // 2) // 40 * 40 :][:40]
    attempts: list[int] = []
    real_delete = retention_tasks.delete_expired_batch
    monkeypatch.setattr(retention_tasks, "delete_expired_batch", _failing_for(target, attempts))

    failed = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert failed.exit_code == 1
    # The first try and two retries of the batch, then one try of each half holding the target.
    assert attempts[:3] == [len(bad_batch)] * 3 and attempts[-1] == 1
    assert attempts[3:] == sorted(attempts[3:], reverse=True) and len(attempts) <= 3 + 6
    summary = failed.json()
    assert (summary["failed_batches"], summary["skipped"], summary["skipped_basket_ids"]) == (1, 1, [target])
    assert summary["skip_reasons"] == {"Exception: lock wait timeout exceeded": 1}
    assert summary["deleted"] == len(expired) - 1
    assert "retention cleanup incomplete: skipped 1 basket" in failed.stderr and target in failed.stderr
    assert basket_ids(store) & set(expired) == {target}  # the rest of its batch is done...
    assert sorted(row["basket_id"] for row in audit_rows(store)) == sorted(set(expired) - {target})
    (run,) = cleanup_runs(store)  # ...and audited, and the run is on record as failed
    assert (run["status"], run["skipped"], run["detail"]["skipped_basket_ids"]) == ("failed", 1, [target])
    assert list(run["detail"]["seconds"]) == ["planning", "deleting", "snapshot", "privacy"]

    monkeypatch.setattr(retention_tasks, "delete_expired_batch", real_delete)  # the fault is gone
    rerun = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json()["deleted"] == 1
    assert basket_ids(store).isdisjoint(expired)
    assert sorted(row["basket_id"] for row in audit_rows(store)) == expired
    assert [run["status"] for run in cleanup_runs(store)] == ["failed", "succeeded"]


# --- real processes: killed mid-run, and two started together --------------------------------


def _process_env(db: DatabaseUnderTest, batch_size: int) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        **db.env,
        **NO_SHARE_LIMIT,
        "BASKETS_RETENTION__BATCH_SIZE": str(batch_size),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }


def _start_cleanup(
    env: dict[str, str], cwd: Path, *args: str, snapshot_pause_seconds: float = 0
) -> subprocess.Popen[str]:
    """`baskets cleanup ARGS` in a process of its own, pausing `snapshot_pause_seconds` once its
    snapshot's temporary file is open."""
    program = (
        "import sys, baskets.retention, cli.main\n"
        f"baskets.retention.snapshot.pause_in_snapshot_seconds = {snapshot_pause_seconds!r}\n"
        "sys.argv = ['baskets', *sys.argv[1:]]\n"
        "cli.main.main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", program, "cleanup", *AT_NOW, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _audit_count(db: DatabaseUnderTest) -> int:
    return int(db.scalar("select count(*) from basket_audit") or 0)


@pytest.mark.backend_independent
def test_summary_and_run_record_say_how_long_each_step_took(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    env = {**store.env, **NO_SHARE_LIMIT}
    dry = cli("cleanup", "--dry-run", *AT_NOW, "--as", "alice", "--json", env=env)
    assert list(dry.json()["seconds"]) == ["planning"] and dry.json()["seconds"]["planning"] > 0
    started = time.perf_counter()
    real = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    wall = time.perf_counter() - started
    assert real.exit_code == 0, real.stderr
    seconds = real.json()["seconds"]
    assert list(seconds) == ["planning", "deleting", "snapshot", "privacy"]
    assert all(value > 0 for value in seconds.values()) and sum(seconds.values()) < wall
    assert [run["detail"]["seconds"] for run in cleanup_runs(store)] == [dry.json()["seconds"], seconds]
    again = cli("cleanup", *AT_NOW, "--as", "alice", env=env)  # nothing left to delete
    assert again.exit_code == 0, again.stderr
    assert re.search(r"took planning \d+\.\d s, deleting \d+\.\d s, snapshot \d+\.\d s", again.stdout)


@pytest.mark.backend_independent
def test_batches_run_with_old_objects_frozen_and_the_collector_is_restored_after(
    cli, store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.retention as retention_tasks
    from flows.retention import _old_objects_frozen

    seen: list[tuple[int, int]] = []
    real_delete = retention_tasks.delete_expired_batch

    def recording(*args, **kwargs):
        seen.append((gc.get_freeze_count(), gc.get_threshold()[0]))
        return real_delete(*args, **kwargs)

    monkeypatch.setattr(retention_tasks, "delete_expired_batch", recording)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "50"}
    thresholds = gc.get_threshold()
    result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(seen) == result.json()["batches"] > 1
    assert all(frozen > 0 and young == 20_000 for frozen, young in seen)
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, thresholds)
    with pytest.raises(RuntimeError), _old_objects_frozen():  # restored when the block fails too
        raise RuntimeError("a batch loop that fails")
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, thresholds)


def test_sigkill_mid_run_then_rerun_ends_as_an_uninterrupted_run(
    db: DatabaseUnderTest, prefect_harness: None, tmp_path: Path
) -> None:
    store = db  # seeded here, bigger than the `store` fixture's (a seed does not replace)
    seed(store, 900, 11)
    add_operators_if_missing(store)
    expired = expired_ids(store)
    kept = basket_ids(store) - expired
    env = _process_env(store, batch_size=4)
    run = _start_cleanup(env, tmp_path, "--as", "alice")
    try:
        deadline = time.monotonic() + 90
        while _audit_count(store) < 8 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    killed_at = _audit_count(store)
    assert 0 < killed_at < len(expired), "the run was not killed mid-way"
    assert cleanup_runs(store)[-1]["status"] == "running"  # it never got to close its record

    rerun = _start_cleanup(env, tmp_path, "--as", "alice", "--json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["deleted"] == len(expired) - killed_at
    assert basket_ids(store) == kept
    audited = [row["basket_id"] for row in audit_rows(store)]
    assert sorted(audited) == sorted(expired)  # every deleted basket audited exactly once
    assert [run["status"] for run in cleanup_runs(store)] == ["failed", "succeeded"]
    assert "abandoned" in cleanup_runs(store)[0]["detail"]["error"]


def test_two_runs_started_together_one_runs_and_one_exits_7(
    db: DatabaseUnderTest, prefect_harness: None, tmp_path: Path
) -> None:
    # Enough single-basket batches that the first run lasts well past the second's start-up.
    store = db  # seeded here, bigger than the `store` fixture's (a seed does not replace)
    seed(store, 2500, 11)
    add_operators_if_missing(store)
    expired = expired_ids(store)
    kept = basket_ids(store) - expired
    env = _process_env(store, batch_size=1)
    first = _start_cleanup(env, tmp_path, "--as", "alice")
    try:
        # Start the second while the first is provably mid-run (it has deleted some baskets and
        # not finished), whatever the start-up times of the two processes.
        deadline = time.monotonic() + 120
        while _audit_count(store) < 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert first.poll() is None, "the first run ended before the second could start"
        second = _start_cleanup(env, tmp_path, "--as", "alice")
        second_code = second.wait(timeout=300)
        second_err = second.stderr.read() if second.stderr else ""
        first_code = first.wait(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert (first_code, second_code) == (0, 7), second_err
    assert "another cleanup is running on this database" in second_err
    assert basket_ids(store) == kept
    assert sorted(row["basket_id"] for row in audit_rows(store)) == sorted(expired)
    assert sorted(run["status"] for run in cleanup_runs(store)) == ["failed", "succeeded"]


def add_operators_if_missing(db: DatabaseUnderTest) -> None:
    if not db.scalar("select count(*) from operators"):
        add_operators(db)


def test_line_added_while_its_batch_waits_for_the_basket_is_audited_with_it(
    server_db: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line inserted into an expired basket by a transaction that commits while the cleanup
    waits for that basket: the basket is deleted with the new line in its audit row, the
    clash retried at once (there are no delayed retries here: a batch that needed one would
    be skipped)."""
    from sqlalchemy import insert

    from baskets.audit import parse_lines, verify_audit_chain
    from baskets.models import BasketLine
    from flows.retention import retention_cleanup
    from tests.baskets.retention.test_retention import add_basket

    waited = add_basket(server_db, "anonymous", dt.timedelta(days=40), lines=1)
    other = add_basket(server_db, "anonymous", dt.timedelta(days=40), lines=2)
    for _ in range(10):  # keep the run under the safety share
        add_basket(server_db, "anonymous", dt.timedelta(days=1))
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS", "[]")
    writer, lock_waits = commit_once_a_session_waits(
        server_db,
        lambda connection: connection.execute(
            insert(BasketLine).values(basket_id=waited, product_id="ADDED-LATE", quantity=Decimal("7"))
        ),
    )
    monkeypatch.setenv("BASKETS_DATABASE_URL", server_db.url)
    summary = retention_cleanup(now=NOW.isoformat())
    writer.join(60)

    assert lock_waits and lock_waits[0] >= 1  # the cleanup really waited for the line's transaction
    assert (summary.deleted, summary.skipped) == (2, 0)
    rows = {row["basket_id"]: row for row in audit_rows(server_db)}
    assert set(rows) == {waited, other}
    assert [line["product_id"] for line in parse_lines(rows[waited]["lines"])] == ["ITEM-00000", "ADDED-LATE"]
    assert (rows[waited]["line_count"], Decimal(rows[waited]["total_quantity"])) == (2, Decimal("9.5"))
    with server_db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(BasketLine).where(
            BasketLine.basket_id.in_([waited, other]))) == 0  # fmt: skip
        assert verify_audit_chain(connection).ok


# --- the cleanup lock holds or the run stops; the record and the exit code agree --------------


def _after_batch(number: int, action):  # type: ignore[no-untyped-def]
    """A progress listener that calls `action(done, expected)` after batch `number` (1-based;
    0: after the last one), and a list of the baskets-done counts it was called with."""
    seen: list[int] = []

    def listener(done: int, expected: int) -> None:
        seen.append(done)
        if len(seen) == number or (number == 0 and done == expected):
            action()

    return listener, seen


def test_run_whose_lock_session_is_killed_stops_before_its_next_batch_and_ends_failed(
    cli, server_db: DatabaseUnderTest, prefect_harness: None
) -> None:
    from flows.runner import reporting_progress
    from tests.baskets.test_locks import kill_session, lock_session

    seed(server_db, 300, 11)
    add_operators(server_db)
    expired = expired_ids(server_db)
    env = {**server_db.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "20"}
    listener, seen = _after_batch(1, lambda: kill_session(server_db, lock_session(server_db)))
    with reporting_progress(listener):
        result = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: the cleanup lock was lost (") and line.endswith("run stopped")
    assert "Traceback" not in result.stderr
    audited = audit_rows(server_db)
    # No batch started after the lock went; on PostgreSQL the next one was in flight already.
    assert len(seen) == 1
    assert len(audited) in ({20, 40} if server_db.backend == "postgresql" else {20})
    (run,) = cleanup_runs(server_db)
    assert (run["status"], run["deleted"], run["detail"]["exit_code"]) == ("failed", len(audited), 1)
    assert run["detail"]["error"] == line.removeprefix("error: ")

    rerun = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)  # the lock is free again
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json()["deleted"] == len(expired) - len(audited)
    assert basket_ids(server_db).isdisjoint(expired)
    assert [run["status"] for run in cleanup_runs(server_db)] == ["failed", "succeeded"]
    verified = cli("audit", "verify", "--as", "bob", "--json", env=server_db.env)
    assert verified.exit_code == 0 and verified.json()["rows"] == len(expired)


def test_run_whose_lock_session_dies_after_its_last_batch_succeeds_and_exits_0(
    cli, server_db: DatabaseUnderTest, prefect_harness: None
) -> None:
    """Its work is done and recorded as succeeded: releasing a lock the server freed already
    must not turn that into exit 1."""
    from flows.runner import reporting_progress
    from tests.baskets.test_locks import kill_session, lock_session

    seed(server_db, 300, 11)
    add_operators(server_db)
    expired = expired_ids(server_db)
    env = {**server_db.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "50"}
    listener, _ = _after_batch(0, lambda: kill_session(server_db, lock_session(server_db)))
    with reporting_progress(listener):
        result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted"] == len(expired)
    (run,) = cleanup_runs(server_db)
    assert (run["status"], run["deleted"]) == ("succeeded", len(expired))
    again = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert again.exit_code == 0 and again.json()["deleted"] == 0


def _drop_idle_sessions(database: DatabaseUnderTest, keep: int) -> int:
    """End every idle session of `database` but `keep` (and the one asking); how many ended."""
    with database.engine.connect() as connection:
        if database.backend == "postgresql":
            return len(
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = "
                    f"current_database() AND state = 'idle' AND pid NOT IN (pg_backend_pid(), {keep})"
                ).all()
            )
        idle = connection.exec_driver_sql(
            "SELECT id FROM information_schema.processlist WHERE command = 'Sleep' AND db = DATABASE() "
            f"AND id NOT IN (CONNECTION_ID(), {keep})"
        ).scalars()
        ended = 0
        for session in list(idle):
            connection.exec_driver_sql(f"KILL CONNECTION {session}")
            ended += 1
        return ended


def test_idle_connections_dropped_between_batches_are_replaced_and_the_run_finishes(
    cli, server_db: DatabaseUnderTest, prefect_harness: None
) -> None:
    from flows.runner import reporting_progress
    from tests.baskets.test_locks import lock_session

    seed(server_db, 300, 11)
    add_operators(server_db)
    expired = expired_ids(server_db)
    env = {**server_db.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "20"}
    dropped: list[int] = []
    listener, _ = _after_batch(
        2, lambda: dropped.append(_drop_idle_sessions(server_db, lock_session(server_db)))
    )
    with reporting_progress(listener):
        result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert dropped and dropped[0] >= 1  # the run's pooled connections were among them
    assert result.exit_code == 0, result.stderr
    assert (result.json()["deleted"], result.json()["skipped"]) == (len(expired), 0)
    assert [run["status"] for run in cleanup_runs(server_db)] == ["succeeded"]


def test_run_whose_final_bookkeeping_fails_exits_1_naming_why_and_is_closed_as_failed(
    cli, store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its success cannot be recorded, nor its failure: it reports the first error, and the next
    run closes its record as failed, so no run is on record as succeeded with exit 1."""
    import flows.retention as retention_flow

    real_finish = retention_flow.finish_cleanup_run

    def finish_on_a_dead_database(*args, succeeded: bool, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the commit of the run record was lost" if succeeded else "database gone")

    env = {**store.env, **NO_SHARE_LIMIT}
    monkeypatch.setattr(retention_flow, "finish_cleanup_run", finish_on_a_dead_database)
    result = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert (
        line
        == "error: RuntimeError: the commit of the run record was lost (set BASKETS_DEBUG=1 for the traceback)"
    )
    assert [run["status"] for run in cleanup_runs(store)] == ["running"]

    monkeypatch.setattr(retention_flow, "finish_cleanup_run", real_finish)
    rerun = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert rerun.exit_code == 0, rerun.stderr
    assert [run["status"] for run in cleanup_runs(store)] == ["failed", "succeeded"]


def test_cleanup_on_a_log_without_its_chain_head_row_exits_6_at_once_deleting_nothing(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    """Not retried batch after batch and skipped (exit 1): a broken chain is no passing fault."""
    before = basket_ids(store)
    with store.engine.begin() as connection:
        connection.execute(delete(AuditChainHead))
    result = cli("cleanup", *AT_NOW, "--as", "alice", env={**store.env, **NO_SHARE_LIMIT})
    assert result.exit_code == 6
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: audit chain broken: the chain head row (audit_chain_head) is missing")
    assert basket_ids(store) == before and audit_rows(store) == []
    (run,) = cleanup_runs(store)
    assert (run["status"], run["deleted"], run["detail"]["exit_code"]) == ("failed", 0, 6)


# --- every run's snapshot is written, sooner or later ---------------------------------------------


def _snapshot_ids(path: str | Path) -> list[str]:
    return sorted(pq.read_table(path).column("basket_id").to_pylist())


def test_snapshot_of_a_run_that_failed_on_an_unwritable_folder_is_written_by_the_next_run(
    cli, store: DatabaseUnderTest, prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the export folder should be")
    expired = expired_ids(store)
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_EXPORT_DIR": str(blocker / "exports")}
    # The folder is checked before any basket is deleted; here it goes bad after that check
    # (a disk unmounted, a folder replaced mid-run), so the run fails at its snapshot.
    with monkeypatch.context() as patched:
        patched.setattr("flows.retention.check_writable_folder", lambda folder, name: None)
        failed = cli("cleanup", *AT_NOW, "--as", "alice", env=env)
    assert failed.exit_code == 2, failed.stderr
    assert "error: setting export_dir: cannot create folder" in failed.stderr
    (run,) = cleanup_runs(store)
    assert (run["status"], run["deleted"]) == ("failed", len(expired))
    assert "snapshot" not in run["detail"] and basket_ids(store).isdisjoint(expired)

    exports = tmp_path / "exports"
    rerun = cli(
        "cleanup", *AT_NOW, "--as", "alice", "--json", env={**env, "BASKETS_EXPORT_DIR": str(exports)}
    )
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json()["deleted"] == 0
    first, second = cleanup_runs(store)
    caught_up = Path(first["detail"]["snapshot"])
    assert caught_up.parent == snapshot_folder(exports, store.url)
    assert _snapshot_ids(caught_up) == sorted(expired)
    assert stat.S_IMODE(caught_up.stat().st_mode) == 0o600
    assert Path(second["detail"]["snapshot"]) == Path(rerun.json()["snapshot"])
    assert sorted(path.name for path in snapshot_folder(exports, store.url).iterdir()) == sorted(
        [caught_up.name, Path(rerun.json()["snapshot"]).name]
    )


def test_snapshots_of_several_killed_runs_in_a_row_are_written_by_the_next_run_without_stray_files(
    db: DatabaseUnderTest, prefect_harness: None, tmp_path: Path
) -> None:
    from baskets.files import TEMP_PREFIX

    store = db  # a bigger store than the fixture's: seeded from empty
    seed(store, 900, 11)
    add_operators_if_missing(store)
    expired = expired_ids(store)
    env = _process_env(store, batch_size=4)
    retention = snapshot_folder(tmp_path / "var" / "exports", store.url)

    def run_until_killed(snapshot_pause_seconds: float, ready: Callable[[], bool]) -> None:
        run = _start_cleanup(env, tmp_path, "--as", "alice", snapshot_pause_seconds=snapshot_pause_seconds)
        try:
            deadline = time.monotonic() + 120
            while not ready() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert run.poll() is None, run.communicate()
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()

    # 1: killed while deleting.
    run_until_killed(0, lambda: _audit_count(store) >= 8)
    killed_at = _audit_count(store)
    assert 0 < killed_at < len(expired), "the first run was not killed mid-way"
    # 2: deletes the rest, then is killed while writing its snapshot (its temporary file is open).
    run_until_killed(120, lambda: any(retention.glob(f"{TEMP_PREFIX}*")))
    assert _audit_count(store) == len(expired)
    assert [run["status"] for run in cleanup_runs(store)] == ["failed", "running"]
    assert not list(retention.glob("*.parquet")) and len(list(retention.glob(f"{TEMP_PREFIX}*"))) == 1

    third = _start_cleanup(env, tmp_path, "--as", "alice", "--json")
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    runs = cleanup_runs(store)
    assert [run["status"] for run in runs] == ["failed", "failed", "succeeded"]
    snapshots = [Path(run["detail"]["snapshot"]) for run in runs]
    assert [len(_snapshot_ids(path)) for path in snapshots] == [killed_at, len(expired) - killed_at, 0]
    assert sorted(_snapshot_ids(snapshots[0]) + _snapshot_ids(snapshots[1])) == sorted(expired)
    assert sorted(retention.iterdir()) == sorted(snapshots)  # the killed writer's temporary file is gone
    assert {stat.S_IMODE(path.stat().st_mode) for path in snapshots} == {0o600}


def test_two_databases_with_one_export_dir_keep_their_snapshots_apart(
    cli, store: DatabaseUnderTest, prefect_harness: None, tmp_path: Path
) -> None:
    from baskets.db import make_engine, upgrade_database

    other_url = f"sqlite:///{tmp_path / 'other' / 'baskets.db'}"
    other = DatabaseUnderTest(
        "sqlite", other_url, make_engine(other_url), {"BASKETS_DATABASE_URL": other_url}
    )
    upgrade_database(other.engine)
    seed(other, 200, 5)
    add_operators(other)
    exports = tmp_path / "shared-exports"
    snapshots = {}
    for database in (store, other, store):  # the second run of `store` finds its own folder again
        expired = expired_ids(database)
        env = {**database.env, **NO_SHARE_LIMIT, "BASKETS_EXPORT_DIR": str(exports)}
        result = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
        assert result.exit_code == 0, result.stderr
        path = Path(result.json()["snapshot"])
        assert path.parent == snapshot_folder(exports, database.url)
        assert _snapshot_ids(path) == sorted(expired)
        snapshots.setdefault(database.url, []).append(path)
    other.engine.dispose()
    assert snapshot_folder(exports, store.url) != snapshot_folder(exports, other.url)
    for url, paths in snapshots.items():
        assert sorted(snapshot_folder(exports, url).iterdir()) == sorted(paths)
