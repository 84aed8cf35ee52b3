"""A cleanup run's record in cleanup_runs: started, abandoned, refused, finished; step times."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    insert,
    select,
    update,
)

from baskets.errors import BasketsError
from baskets.models import CleanupRun
from baskets.retention.batches import RunTally, store_tally
from baskets.retention.policy import CleanupPlan
from baskets.roles import Actor

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    pass


class CleanupIncomplete(BasketsError):
    """Some batches failed even after retries: the rest was done, those baskets wait for the next run."""

    exit_code = 1

    def __init__(self, message: str, summary: Any) -> None:
        """`summary`: the run's result (flows.results.CleanupResult), for the command to print."""
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class AbandonedRun:
    run_id: int
    started_at: dt.datetime
    first_seq: int | None
    last_seq: int | None


def start_cleanup_run(
    engine: Engine,
    *,
    actor: Actor,
    dry_run: bool,
    as_of: dt.datetime,
    flow_run_id: str | None,
) -> tuple[int, list[AbandonedRun]]:
    """Record a new run as `running`; call it holding the cleanup lock.

    Holding the lock means no other run is alive, so any row still `running` belongs to a
    process that died: it is closed as failed and returned, so its deletions can be reported.
    """
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        stale = connection.execute(
            select(CleanupRun.id, CleanupRun.started_at, CleanupRun.detail).where(
                CleanupRun.status == "running"
            )
        ).all()
        abandoned = []
        for run_id, started_at, detail in stale:
            # Its counts are those of its last committed batch, which wrote them in its own row.
            found = json.loads(detail or "{}")
            found["error"] = "abandoned: the process ended before the run finished (killed or crashed)"
            connection.execute(
                update(CleanupRun)
                .where(CleanupRun.id == run_id)
                .values(status="failed", finished_at=now, detail=json.dumps(found))
            )
            abandoned.append(AbandonedRun(run_id, started_at, found.get("first_seq"), found.get("last_seq")))
        run_id = connection.execute(
            insert(CleanupRun).values(
                started_at=now,
                status="running",
                actor=actor.name,
                dry_run=dry_run,
                as_of=as_of,
                flow_run_id=flow_run_id,
                detail=json.dumps(RunTally().as_detail()),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(run_id), abandoned


def record_refused_run(
    engine: Engine,
    *,
    actor: Actor,
    dry_run: bool,
    as_of: dt.datetime,
    flow_run_id: str | None,
    error: BasketsError,
) -> int:
    """Record a run that never started its work (another run held the lock) as failed."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        run_id = connection.execute(
            insert(CleanupRun).values(
                started_at=now,
                finished_at=now,
                status="failed",
                actor=actor.name,
                dry_run=dry_run,
                as_of=as_of,
                flow_run_id=flow_run_id,
                detail=json.dumps({"error": error.message, "exit_code": error.exit_code}),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(run_id)


def _store_final_tally(connection: Connection, run_id: int, tally: RunTally, **extra: Any) -> None:
    """`_store_tally` at the run's end, keeping the counts its batches stored when they are
    further on than `tally` (a run that failed between batches closes with the tally it had
    before its batch loop)."""
    detail = connection.scalar(select(CleanupRun.detail).where(CleanupRun.id == run_id).with_for_update())
    stored = json.loads(detail or "{}")
    if stored.get("batches", 0) + stored.get("failed_batches", 0) <= tally.batches + tally.failed_batches:
        store_tally(connection, run_id, tally, **extra)
        return
    connection.execute(
        update(CleanupRun)
        .where(CleanupRun.id == run_id)
        .values(detail=json.dumps(stored | extra, default=str))
    )


class StepTimes:
    """How long each step of a run took, in seconds: `took = StepTimes()`, `with took("deleting"): ...`.

    A step is timed even when it raises, so a failed run's record says where it spent its time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - started, 3)


def describe_step_times(seconds: Mapping[str, float]) -> str:
    """`StepTimes.seconds` as one line: 'planning 0.6 s, deleting 30.1 s, snapshot 2.0 s'."""
    return ", ".join(f"{step} {value:.1f} s" for step, value in seconds.items())


def finish_cleanup_run(
    engine: Engine,
    run_id: int,
    tally: RunTally,
    *,
    succeeded: bool,
    plan: CleanupPlan | None = None,
    error: str | None = None,
    exit_code: int | None = None,
    snapshot: Path | None = None,
    seconds: Mapping[str, float] | None = None,
    privacy: Mapping[str, Any] | None = None,
) -> None:
    """Close the run's record as succeeded or failed, with its final counts and details
    (`seconds`: how long each step took, as `StepTimes` measures them; `privacy`: what the
    run redacted and removed, baskets.privacy)."""
    extra: dict[str, Any] = {}
    if privacy is not None:
        extra["privacy"] = dict(privacy)
    if seconds is not None:
        extra["seconds"] = dict(seconds)
    if plan is not None:
        extra["expired_at_start"] = plan.expired
        extra["all_baskets"] = plan.all_baskets
        extra["cutoffs"] = {name: cutoff.isoformat() for name, cutoff in plan.cutoffs.items()}
    if error is not None:
        extra["error"] = error
        extra["exit_code"] = exit_code
    if snapshot is not None:
        extra["snapshot"] = str(snapshot)
    with engine.begin() as connection:
        _store_final_tally(connection, run_id, tally, **extra)
        connection.execute(
            update(CleanupRun)
            .where(CleanupRun.id == run_id)
            .values(status="succeeded" if succeeded else "failed", finished_at=dt.datetime.now(dt.UTC))
        )
        if plan is not None and not tally.batches:
            # A dry run (or a run refused before deleting) reports what it selected.
            connection.execute(update(CleanupRun).where(CleanupRun.id == run_id).values(selected=plan.total))


def cleanup_run_record(connection: Connection, run_id: int) -> dict[str, Any]:
    """The stored record of one run, with `detail` parsed; a running run's counts are its last batch's."""
    record = dict(connection.execute(select(CleanupRun).where(CleanupRun.id == run_id)).mappings().one())
    record["detail"] = json.loads(record["detail"]) if record["detail"] else {}
    return record
