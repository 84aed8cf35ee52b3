"""What every command shares (cli/console.py): the progress bar's numbers."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from cli.console import ProgressTask
from tests.conftest import DatabaseUnderTest, add_operators, seed


def test_progress_bar_appears_with_the_first_count_not_before() -> None:
    bar = Progress(disable=True)
    task = ProgressTask(bar, "deleting expired baskets")
    assert bar.tasks == []
    task.update(40, 100)
    (shown,) = bar.tasks
    assert (shown.completed, shown.total) == (40, 100)


def test_progress_bar_total_is_the_count_it_ends_on() -> None:
    bar = Progress(disable=True)
    fewer = ProgressTask(bar, "exporting rows", 1_234)
    fewer.update(1_000)
    fewer.finish()
    more = ProgressTask(bar, "deleting expired baskets")
    more.update(10, 8)  # the estimate was low: the total is never below the count
    assert bar.tasks[1].total == 10
    more.update(12)
    more.finish()
    assert [(t.completed, t.total) for t in bar.tasks] == [(1_000, 1_000), (12, 12)]


def test_progress_bar_of_work_that_reports_nothing_never_appears() -> None:
    bar = Progress(disable=True)
    ProgressTask(bar, "exporting rows", 0).finish()
    assert bar.tasks == []


@pytest.mark.backend_independent
def test_cleanup_bar_ends_on_the_number_of_baskets_deleted(
    cli, db: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db, 200, 3)
    add_operators(db)
    bars: list[Progress] = []

    def recording_bar() -> Progress:
        bars.append(Progress(disable=True))
        return bars[-1]

    monkeypatch.setattr("cli.cleanup.progress_bar", recording_bar)
    env = {**db.env, "BASKETS_RETENTION__MAX_SHARE": "1", "BASKETS_RETENTION__BATCH_SIZE": "7"}
    result = cli("cleanup", "--now", "2026-11-01T12:00", "--as", "alice", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    deleted = result.json()["deleted"]
    assert deleted > 7
    (task,) = bars[0].tasks
    assert (task.completed, task.total) == (deleted, deleted)


@pytest.mark.backend_independent
def test_filtered_delete_bar_appears_with_the_first_batch_and_ends_on_the_number_deleted(
    cli, db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import runner

    seed(db, 200, 3)
    add_operators(db)
    bars: list[Progress] = []
    shown_before_work: list[int] = []

    def recording_bar() -> Progress:
        bars.append(Progress(disable=True))
        return bars[-1]

    def first_report(done: int, expected: int | None) -> None:
        shown_before_work.append(len(bars[0].tasks))

    monkeypatch.setattr("cli.delete.progress_bar", recording_bar)
    env = {**db.env, "BASKETS_RETENTION__BATCH_SIZE": "7"}
    with runner.reporting_progress(first_report):
        result = cli("delete", "--account-type", "anonymous", "--yes", "--as", "bob", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    deleted = result.json()["deleted"]
    assert deleted > 7
    (task,) = bars[0].tasks
    assert (task.completed, task.total) == (deleted, deleted)
    # No bar until the first batch was done (listeners hear in order: this one ran first).
    assert shown_before_work[0] == 0 and len(shown_before_work) == -(-deleted // 7)
