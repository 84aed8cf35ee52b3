"""Retention cleanup, plain: the policy, what is expired, batches, the safety share, run records."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    outerjoin,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL

from baskets.audit import canonical_quantity, fold_chain_head
from baskets.db import database_key, write_transaction
from baskets.deletion import delete_baskets_with_audit, split_missing
from baskets.errors import AuditChainBroken, BasketsError, SafetyLimitHit
from baskets.files import DEFAULT_FILE_MODE, FileRules, atomic_file, parquet_of_kind, suite_metadata
from baskets.models import Basket, BasketAudit, BasketLine, CleanupRun, CleanupRunBatch
from baskets.roles import Actor
from config.settings import ACCOUNT_TYPES, RetentionSettings

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    import pyarrow as pa

# What a run reports on: each account type, and empty baskets on their own line.
EMPTY = "empty"
CATEGORIES = (*ACCOUNT_TYPES, EMPTY)
# The stored account_type spelling of each configured (lowercase) type.
STORED_TYPE = {"anonymous": "Anonymous", "contact": "Contact", "customer": "Customer"}
RETENTION_REASON = "retention"
T = TypeVar("T")
# How many skipped basket ids a run's record and failure message name in full.
SKIPPED_IDS_SHOWN = 50


class CleanupIncomplete(BasketsError):
    """Some batches failed even after retries: the rest was done, those baskets wait for the next run."""

    exit_code = 1

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class RetentionPolicy:
    """How long baskets live: days per account type, a shorter life for empty baskets, batching, safety."""

    days: Mapping[str, int]
    empty_basket_days: int = 1
    batch_size: int = 1000
    max_share: float = 0.25
    # `expired` per `now`, built once: every batch of a run re-checks the same condition object,
    # so the delete statement built around it is built once too (`baskets.deletion`).
    _expired: dict[dt.datetime, ColumnElement[bool]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> RetentionPolicy:
        return cls(
            days=dict(settings.days),
            empty_basket_days=settings.empty_basket_days,
            batch_size=settings.batch_size,
            max_share=settings.max_share,
        )

    def __post_init__(self) -> None:
        # Settings validate this already; a policy built by hand must not slip past it.
        short = {kind: days for kind, days in self.days.items() if days < 1}
        if self.empty_basket_days < 1:
            short[EMPTY] = self.empty_basket_days
        if short:
            kind, days = next(iter(short.items()))
            raise BasketsError(f"retention days for {kind}: {days} is below 1 (expected e.g. 30)")

    def retention_days(self, category: str) -> int:
        return self.empty_basket_days if category == EMPTY else self.days[category]

    def cutoffs(self, now: dt.datetime) -> dict[str, dt.datetime]:
        """Per category, the time before which a basket's last modification makes it expired."""
        return {category: now - dt.timedelta(days=self.retention_days(category)) for category in CATEGORIES}

    def expired(self, now: dt.datetime) -> ColumnElement[bool]:
        """The expiry predicate over `baskets` at `now`.

        A basket is expired when it was last modified before its account type's cutoff, or
        when it has no lines and was last modified before the (shorter) empty-basket cutoff.
        """
        kept = self._expired.get(now)
        if kept is not None:
            return kept
        if len(self._expired) >= _EXPIRED_KEPT:  # a policy asked about many times keeps few
            self._expired.clear()
        self._expired[now] = condition = self.expired_given(now, _has_no_lines())
        return condition

    def expired_given(self, now: dt.datetime, no_lines: ColumnElement[bool]) -> ColumnElement[bool]:
        """`expired(now)` with `no_lines` as the test for a basket without lines (`expired` probes
        `basket_lines` per basket; a count over all baskets joins it instead)."""
        cutoffs = self.cutoffs(now)
        by_type = [
            and_(Basket.account_type == STORED_TYPE[kind], Basket.modified_at < cutoffs[kind])
            for kind in ACCOUNT_TYPES
        ]
        return or_(*by_type, and_(no_lines, Basket.modified_at < cutoffs[EMPTY]))


_EXPIRED_KEPT = 4


def _has_no_lines() -> ColumnElement[bool]:
    return ~exists().where(BasketLine.basket_id == Basket.id)


def _category_column() -> ColumnElement[str]:
    """'Empty' for baskets without lines, else the stored account type (lowercased in Python)."""
    return case((_has_no_lines(), "Empty"), else_=Basket.account_type)


@dataclass(frozen=True)
class ExpiredBasket:
    basket_id: str
    category: str  # one of CATEGORIES


def select_expired_basket_ids(
    connection: Connection,
    policy: RetentionPolicy,
    now: dt.datetime,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[ExpiredBasket]:
    """The next `limit` (default: the policy's batch size) expired baskets in key order after `after`."""
    query = (
        select(Basket.id, _category_column())
        .where(policy.expired(now))
        .order_by(Basket.id)
        .limit(limit or policy.batch_size)
    )
    if after is not None:
        query = query.where(Basket.id > after)
    return [ExpiredBasket(basket_id, category.lower()) for basket_id, category in connection.execute(query)]


def walk_expired_batches(
    engine: Engine, policy: RetentionPolicy, now: dt.datetime
) -> Iterator[list[ExpiredBasket]]:
    """Batches of expired baskets in key order, each selected on a short connection of its own.

    Selection resumes after the last key of the previous batch, so the walk ends even when a
    batch is left undeleted (it failed, or its baskets were touched) and is linear overall.
    """
    after: str | None = None
    while True:
        with engine.connect() as connection:
            batch = select_expired_basket_ids(connection, policy, now, after=after)
        if not batch:
            return
        yield batch
        if len(batch) < policy.batch_size:
            return
        after = batch[-1].basket_id


def selected_ahead(batches: Iterator[T]) -> Iterator[T]:
    """The items of `batches`, each next one fetched in a background thread while the caller
    works on the current one.

    With `walk_expired_batches` this selects batch n + 1 (a read on a connection of its own,
    keys above all of batch n's) while batch n is deleted: the database runs the selection while
    this process builds and hashes audit rows. An error in the selection is raised here, in
    the caller's thread, at the batch it would have produced.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="select-next-batch") as pool:
        upcoming = pool.submit(next, batches, None)
        while (item := upcoming.result()) is not None:
            upcoming = pool.submit(next, batches, None)
            yield item


def count_expired_baskets(
    connection: Connection, policy: RetentionPolicy, now: dt.datetime
) -> dict[str, int]:
    """How many baskets a run at `now` would select, per category (every category present).

    On PostgreSQL in one pass over all baskets, each joined to the distinct basket ids of the
    lines, instead of probing `basket_lines` once per basket as the selection of a batch does:
    the probes took 1.3 to 1.6 s at 300,000 baskets, the join 0.6 s. SQLite and MariaDB probe
    an index far more cheaply than they join (there the join took three and five times as long
    as the probes at 200,000). The counts are the same either way: a dry run must report
    exactly what the batches then select, which the tests hold on every database.
    """
    if connection.dialect.name == "postgresql":
        with_lines = select(BasketLine.basket_id).distinct().subquery("with_lines")
        no_lines = with_lines.c.basket_id.is_(None)
        category = case((no_lines, "Empty"), else_=Basket.account_type).label("category")
        query = (
            select(category, func.count())
            .select_from(outerjoin(Basket, with_lines, with_lines.c.basket_id == Basket.id))
            .where(policy.expired_given(now, no_lines))
        )
    else:
        category = _category_column().label("category")
        query = select(category, func.count()).where(policy.expired(now))
    rows = connection.execute(query.group_by(category)).all()
    counts = dict.fromkeys(CATEGORIES, 0)
    for name, count in rows:
        counts[str(name).lower()] = int(count)
    return counts


@dataclass(frozen=True)
class CleanupPlan:
    """What a run at `as_of` is going to delete, and whether the safety share allows it."""

    as_of: dt.datetime
    cutoffs: dict[str, dt.datetime]
    expired: dict[str, int]
    all_baskets: int
    max_share: float

    @property
    def total(self) -> int:
        return sum(self.expired.values())

    @property
    def share(self) -> float:
        return self.total / self.all_baskets if self.all_baskets else 0.0

    @property
    def over_limit(self) -> bool:
        return self.share > self.max_share


def plan_cleanup(connection: Connection, policy: RetentionPolicy, now: dt.datetime) -> CleanupPlan:
    """Count what is expired at `now` against all baskets (the dry run and the safety check)."""
    return CleanupPlan(
        as_of=now,
        cutoffs=policy.cutoffs(now),
        expired=count_expired_baskets(connection, policy, now),
        all_baskets=int(connection.scalar(select(func.count()).select_from(Basket)) or 0),
        max_share=policy.max_share,
    )


def check_safety_share(plan: CleanupPlan, *, forced: bool) -> None:
    """Raise SafetyLimitHit (exit 5) when the plan deletes more than the allowed share, unless forced."""
    if plan.over_limit and not forced:
        raise SafetyLimitHit(
            f"this run would delete {plan.total:,} of {plan.all_baskets:,} baskets "
            f"({plan.share:.1%}), more than the limit of {plan.max_share:.0%} "
            "(retention.max_share): nothing deleted. Check the retention settings and `now`, "
            "or rerun with `force` as a system administrator"
        )


# --- one batch -------------------------------------------------------------------------------


@dataclass
class CategoryTally:
    selected: int = 0
    deleted: int = 0
    survived: int = 0  # touched since selection: no longer expired when its delete came
    gone: int = 0  # deleted by someone else between selection and delete
    skipped: int = 0  # in a batch that failed even after retries


@dataclass
class RunTally:
    """The running counts of one cleanup run, as stored in cleanup_runs."""

    categories: dict[str, CategoryTally] = field(
        default_factory=lambda: {category: CategoryTally() for category in CATEGORIES}
    )
    batches: int = 0
    failed_batches: int = 0
    skipped_ids: list[str] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    longest_batch_seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(getattr(tally, name) for tally in self.categories.values())

    def as_detail(self) -> dict[str, Any]:
        return {
            "per_category": {name: asdict(tally) for name, tally in self.categories.items()},
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "gone": self.total("gone"),
            "skipped_basket_ids": self.skipped_ids[:SKIPPED_IDS_SHOWN],
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "longest_batch_seconds": round(self.longest_batch_seconds, 3),
        }


@dataclass(frozen=True)
class BatchOutcome:
    selected: int
    deleted: list[str]
    survived: list[str]
    gone: list[str]
    first_seq: int | None
    last_seq: int | None
    seconds: float  # how long the batch's write transaction was open
    tally: RunTally  # the run's counts after this batch


# The counts after the previous batch of a run, from a function that waits for it to commit (at
# most the seconds given, or as long as it takes for None): `Future.result` of that batch.
PreviousBatch = Callable[[float | None], "RunTally"]
# How long an overlapping batch holds its deleted baskets' locks waiting for the previous batch
# (normally a few milliseconds; the batch target is 1 s in all) before it rolls back and runs again
# once that batch is done.
PREVIOUS_BATCH_WAIT_SECONDS = 0.5


def delete_expired_batch(
    engine: Engine,
    batch: Sequence[ExpiredBasket],
    *,
    policy: RetentionPolicy,
    now: dt.datetime,
    actor: Actor,
    run_id: int,
    tally: RunTally | PreviousBatch,
    flow_run_id: str | None = None,
) -> BatchOutcome:
    """Delete one batch with its audit rows; the outcome carries the run's counts after it.

    One short write transaction: the expiry predicate is re-checked under row locks (a basket
    touched since selection survives without an audit row), and the audit rows, the deletes
    and the run's counts commit together or not at all. `tally` is not changed, so after an
    exception (nothing of the batch was changed) the batch can simply be retried.

    `tally` is the run's counts before this batch or, on PostgreSQL, a `PreviousBatch`: the
    baskets are then deleted while the previous batch still writes its audit rows, and the chain
    head is locked once it has committed (`delete_baskets_with_audit`'s `wait_for_chain`). If it
    has not within PREVIOUS_BATCH_WAIT_SECONDS (it is being retried), TimeoutError: this batch
    rolls back rather than hold its baskets' locks, to run again after it.
    """
    ids = [basket.basket_id for basket in batch]
    category_of = {basket.basket_id: basket.category for basket in batch}
    previous_batch = tally if callable(tally) else None
    before: list[RunTally] = [] if callable(tally) else [tally]  # the counts, once known

    def wait_for_previous_batch() -> None:
        if previous_batch is not None:
            before.append(previous_batch(PREVIOUS_BATCH_WAIT_SECONDS))

    started = time.perf_counter()
    with write_transaction(engine) as connection:
        result = delete_baskets_with_audit(
            connection,
            ids,
            actor=actor,
            reason=RETENTION_REASON,
            flow_run_id=flow_run_id,
            still_matches=policy.expired(now),
            occurred_at=dt.datetime.now(dt.UTC),
            wait_for_chain=None if previous_batch is None else wait_for_previous_batch,
        )
        if not before:  # nothing deleted, the chain untouched: the counts still go in order
            wait_for_previous_batch()
        survived, gone = split_missing(connection, result.missing)
        counted = _counted(
            before[0], category_of, result.deleted, survived, gone, result.first_seq, result.last_seq
        )
        _store_batch_tally(connection, run_id, counted)
    seconds = time.perf_counter() - started
    counted.longest_batch_seconds = max(counted.longest_batch_seconds, seconds)
    return BatchOutcome(
        len(ids), result.deleted, survived, gone, result.first_seq, result.last_seq, seconds, counted
    )


def _counted(
    tally: RunTally,
    category_of: Mapping[str, str],
    deleted: Sequence[str],
    survived: Sequence[str],
    gone: Sequence[str],
    first_seq: int | None,
    last_seq: int | None,
) -> RunTally:
    counted = RunTally(
        categories={name: CategoryTally(**asdict(value)) for name, value in tally.categories.items()},
        batches=tally.batches + 1,
        failed_batches=tally.failed_batches,
        skipped_ids=list(tally.skipped_ids),
        first_seq=tally.first_seq if tally.first_seq is not None else first_seq,
        last_seq=last_seq if last_seq is not None else tally.last_seq,
        longest_batch_seconds=tally.longest_batch_seconds,
    )
    for name, ids in (
        ("selected", category_of),
        ("deleted", deleted),
        ("survived", survived),
        ("gone", gone),
    ):
        for category, count in Counter(map(category_of.__getitem__, ids)).items():
            tally_of = counted.categories[category]
            setattr(tally_of, name, getattr(tally_of, name) + count)
    return counted


def record_failed_batch(
    engine: Engine, batch: Sequence[ExpiredBasket], *, run_id: int, tally: RunTally
) -> RunTally:
    """Count a batch that failed even after retries as skipped (its baskets wait for the next
    run); returns the run's counts after it, also stored in the run's record."""
    counted = _counted(tally, {basket.basket_id: basket.category for basket in batch}, [], [], [], None, None)
    counted.failed_batches += 1
    for basket in batch:
        counted.categories[basket.category].skipped += 1
        counted.skipped_ids.append(basket.basket_id)
    with engine.begin() as connection:
        _store_batch_tally(connection, run_id, counted)
    return counted


# --- the run's record in cleanup_runs ------------------------------------------------------


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
            last_batch = latest_batch_counts(connection, run_id) or {}
            found = json.loads(last_batch.pop("detail", None) or detail or "{}")
            found["error"] = "abandoned: the process ended before the run finished (killed or crashed)"
            connection.execute(
                update(CleanupRun)
                .where(CleanupRun.id == run_id)
                .values(status="failed", finished_at=now, detail=json.dumps(found), **last_batch)
            )
            connection.execute(delete(CleanupRunBatch).where(CleanupRunBatch.run_id == run_id))
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


def _store_tally(connection: Connection, run_id: int, tally: RunTally, **extra: Any) -> None:
    """Put `tally` (and `extra` details) into the run's row and drop its batch rows.

    If a stored batch is further on than `tally` (a run that failed while a batch was in flight:
    that batch committed after the flow stopped counting), its counts go in instead."""
    columns = _tally_columns(tally, **extra)
    last_batch = latest_batch_counts(connection, run_id)
    if last_batch is not None:
        stored = json.loads(last_batch["detail"])
        if stored["batches"] + stored["failed_batches"] > tally.batches + tally.failed_batches:
            columns = last_batch | {"detail": json.dumps(stored | extra, default=str)}
    connection.execute(update(CleanupRun).where(CleanupRun.id == run_id).values(**columns))
    connection.execute(delete(CleanupRunBatch).where(CleanupRunBatch.run_id == run_id))


def _store_batch_tally(connection: Connection, run_id: int, tally: RunTally) -> None:
    """Record the run's counts after a batch, in the batch's transaction (see CleanupRunBatch)."""
    batch = tally.batches + tally.failed_batches
    connection.execute(insert(CleanupRunBatch).values(run_id=run_id, batch=batch, **_tally_columns(tally)))


def _tally_columns(tally: RunTally, **extra: Any) -> dict[str, Any]:
    return {
        "selected": tally.total("selected"),
        "deleted": tally.total("deleted"),
        "survived": tally.total("survived"),
        "skipped": tally.total("skipped"),
        "detail": json.dumps(tally.as_detail() | extra, default=str),
    }


def with_last_batch(connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
    """A cleanup_runs row (`record`, with its `id` and `status`) with, while the run is running,
    the counts and detail its last batch stored."""
    if record["status"] != "running":
        return record
    return record | (latest_batch_counts(connection, record["id"]) or {})


def latest_batch_counts(connection: Connection, run_id: int) -> dict[str, Any] | None:
    """The counts and detail a running (or abandoned) run's last batch stored, if any."""
    row = connection.execute(
        select(
            CleanupRunBatch.selected,
            CleanupRunBatch.deleted,
            CleanupRunBatch.survived,
            CleanupRunBatch.skipped,
            CleanupRunBatch.detail,
        )
        .where(CleanupRunBatch.run_id == run_id)
        .order_by(CleanupRunBatch.batch.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


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
) -> None:
    """Close the run's record as succeeded or failed, with its final counts and details
    (`seconds`: how long each step took, as `StepTimes` measures them)."""
    extra: dict[str, Any] = {}
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
    with write_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":  # the head rows the overlapping batches added go
            try:
                fold_chain_head(connection)
            except AuditChainBroken:
                if succeeded:
                    raise
                # A run failing on a missing chain head still records its failure (the check
                # raised before writing anything, so the transaction goes on).
        _store_tally(connection, run_id, tally, **extra)
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
    row = connection.execute(select(CleanupRun).where(CleanupRun.id == run_id)).mappings().one()
    record = with_last_batch(connection, dict(row))
    record["detail"] = json.loads(record["detail"]) if record["detail"] else {}
    return record


# --- the Parquet snapshot ------------------------------------------------------------------


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


def __getattr__(name: str) -> Any:
    if name == "SNAPSHOT_SCHEMA":  # the schema by its old name, built on first use
        return snapshot_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    fetch = _adbc_postgresql_chunks if engine.dialect.name == "postgresql" else _sqlalchemy_chunks
    rows = 0
    schema = snapshot_schema().with_metadata(suite_metadata(SNAPSHOT_KIND))
    dictionary = [name for name in schema.names if name not in _SNAPSHOT_UNIQUE]
    with (
        atomic_file(path, rules, parquet_of_kind(SNAPSHOT_KIND)) as file,
        pq.ParquetWriter(file.temp, schema, use_dictionary=dictionary) as writer,
    ):
        time.sleep(pause_in_snapshot_seconds)
        for chunk in fetch(engine, query):
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
        if name in ("basket_id", "shop_account_id"):  # uuid on PostgreSQL: text for Arrow
            column = cast(column, String)
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


def _adbc_postgresql_chunks(engine: Engine, query: Select[Any]) -> Iterator[pa.Table]:
    """The snapshot's rows as Arrow straight from PostgreSQL's wire format (ADBC): about ten
    times faster than a Python object per value, which took as long as the whole bare delete."""
    import adbc_driver_postgresql.dbapi as adbc_postgresql
    import pyarrow as pa
    import pyarrow.compute as pc

    sql = str(
        query.compile(
            dialect=postgresql.dialect(paramstyle="numeric_dollar"), compile_kwargs={"literal_binds": True}
        )
    )
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_postgresql.connect(uri) as connection, connection.cursor() as cursor:
        # The run's rows were just inserted, so basket_audit has no statistics for them and the
        # planner, expecting a handful, sorts a bitmap scan's rows (on disk, for a million)
        # instead of reading the primary key in order. Without sorts it takes the key order.
        cursor.execute("SET enable_sort = off")
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            columns = []
            for target in snapshot_schema():
                column = batch.column(target.name)
                if isinstance(column.type, pa.ExtensionType):  # numeric arrives as text
                    column = column.storage
                # Times are stored as naive UTC: the same instants, labelled UTC.
                columns.append(column if column.type == target.type else pc.cast(column, target.type))
            yield pa.Table.from_arrays(columns, schema=snapshot_schema())


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


# --- what a run reports --------------------------------------------------------------------

CATEGORY_TITLES = {
    "anonymous": "Anonymous baskets",
    "contact": "Contact baskets",
    "customer": "Customer baskets",
    EMPTY: "Empty baskets (no lines, any account type)",
}


def category_report_markdown(
    category: str,
    *,
    policy: RetentionPolicy,
    plan: CleanupPlan,
    tally: RunTally | None,
    dry_run: bool,
) -> str:
    """The markdown a run publishes for one category: cutoff, selected, deleted, survived."""
    days = policy.retention_days(category)
    cutoff = plan.cutoffs[category]
    lines = [
        f"# Retention cleanup: {CATEGORY_TITLES[category]}",
        "",
        f"Run as of {plan.as_of:%Y-%m-%d %H:%M:%S} UTC{' (dry run: nothing deleted)' if dry_run else ''}.",
        "",
        "| | |",
        "| --- | --- |",
        f"| cutoff | last modified before {cutoff:%Y-%m-%d %H:%M:%S} UTC ({days} days) |",
    ]
    if dry_run or tally is None:
        lines.append(f"| would delete | {plan.expired[category]:,} |")
    else:
        counts = tally.categories[category]
        lines += [
            f"| selected | {counts.selected:,} |",
            f"| deleted (audited) | {counts.deleted:,} |",
            f"| survived because touched | {counts.survived:,} |",
            f"| already gone | {counts.gone:,} |",
            f"| skipped (failed batch) | {counts.skipped:,} |",
        ]
    if category == EMPTY:
        lines += ["", "A basket without lines counts here whatever its account type."]
    return "\n".join(lines) + "\n"


def run_summary(
    *,
    run_id: int,
    plan: CleanupPlan,
    tally: RunTally | None,
    dry_run: bool,
    actor: Actor,
    flow_run_id: str | None,
    snapshot: Path | None = None,
    snapshot_rows: int | None = None,
    seconds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The counts of a run as one JSON-ready object (the flow's result and `--json` output);
    `seconds` says how long each step took (planning, deleting, snapshot)."""
    summary: dict[str, Any] = {
        "run_id": run_id,
        "flow_run_id": flow_run_id,
        "actor": actor.name,
        "dry_run": dry_run,
        "as_of": plan.as_of.isoformat(),
        "all_baskets": plan.all_baskets,
        "share": round(plan.share, 6),
        "max_share": plan.max_share,
        "over_limit": plan.over_limit,
        "cutoffs": {name: cutoff.isoformat() for name, cutoff in plan.cutoffs.items()},
        "seconds": dict(seconds or {}),
    }
    if dry_run or tally is None:
        summary["would_delete"] = dict(plan.expired)
        summary["would_delete_total"] = plan.total
        return summary
    summary |= {
        "selected": tally.total("selected"),
        "deleted": tally.total("deleted"),
        "survived": tally.total("survived"),
        "gone": tally.total("gone"),
        "skipped": tally.total("skipped"),
        "per_category": {name: asdict(counts) for name, counts in tally.categories.items()},
        "batches": tally.batches,
        "failed_batches": tally.failed_batches,
        "skipped_basket_ids": tally.skipped_ids[:SKIPPED_IDS_SHOWN],
        "longest_batch_seconds": round(tally.longest_batch_seconds, 3),
        "snapshot": str(snapshot) if snapshot else None,
        "snapshot_rows": snapshot_rows,
    }
    return summary


def describe_incomplete(summary: Mapping[str, Any]) -> str:
    """The one-line failure message of a run whose batches did not all succeed."""
    ids = summary.get("skipped_basket_ids", [])
    more = summary["skipped"] - len(ids)
    named = ", ".join(ids) + (f" and {more:,} more" if more > 0 else "")
    return (
        f"retention cleanup incomplete: {summary['failed_batches']} of {summary['batches']} batches "
        f"failed after retries; deleted {summary['deleted']:,}, survived {summary['survived']:,}, "
        f"skipped {summary['skipped']:,} (left for the next run: {named})"
    )
