"""One batch of a cleanup: deleted with its audit rows in one transaction, and the run's running counts."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, update

from baskets.backends import BatchLimits, backend_for
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit, split_missing
from baskets.models import CleanupRun
from baskets.retention.policy import CATEGORIES, RETENTION_REASON, ExpiredBasket, RetentionPolicy
from baskets.roles import Actor

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    pass

# How many skipped basket ids a run's record and failure message name in full.
SKIPPED_IDS_SHOWN = 50


@dataclass
class CategoryTally:
    selected: int = 0
    deleted: int = 0
    survived: int = 0  # touched since selection: no longer expired when its delete came
    gone: int = 0  # deleted by someone else between selection and delete
    skipped: int = 0  # failed on its own even after retries (its batch's others went on)


@dataclass
class RunTally:
    """The running counts of one cleanup run, as stored in cleanup_runs."""

    categories: dict[str, CategoryTally] = field(
        default_factory=lambda: {category: CategoryTally() for category in CATEGORIES}
    )
    batches: int = 0
    failed_batches: int = 0
    skipped_ids: list[str] = field(default_factory=list)
    # Why baskets were skipped: a reason (`baskets.db.describe_failure`) and how many it cost.
    skip_reasons: dict[str, int] = field(default_factory=dict)
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
            "skip_reasons": dict(self.skip_reasons),
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


def delete_expired_batch(
    engine: Engine,
    batch: Sequence[ExpiredBasket],
    *,
    policy: RetentionPolicy,
    now: dt.datetime,
    actor: Actor,
    run_id: int,
    tally: RunTally,
    flow_run_id: str | None = None,
    limits: BatchLimits | None = None,
    new_batch: bool = True,
) -> BatchOutcome:
    """Delete one batch with its audit rows; the outcome carries the run's counts after it.

    One short write transaction (bounded by `limits`, see `write_transaction`): the expiry
    predicate is re-checked under row locks (a basket touched since selection survives without
    an audit row), and the audit rows, the deletes and the run's counts in its own row commit
    together or not at all. `tally` is not changed, so after an exception (nothing of the batch
    was changed) the batch can simply be retried. `new_batch` False: a part of a batch counted
    already (see `tasks.retention.delete_batch_isolating_failures`).
    """
    ids = [basket.basket_id for basket in batch]
    category_of = {basket.basket_id: basket.category for basket in batch}
    started = time.perf_counter()
    with write_transaction(engine, limits, batch=True) as connection:
        result = delete_baskets_with_audit(
            connection,
            ids,
            actor=actor,
            reason=RETENTION_REASON,
            flow_run_id=flow_run_id,
            still_matches=policy.expired_on(connection, now),
            occurred_at=dt.datetime.now(dt.UTC),
        )
        survived, gone = split_missing(connection, result.missing)
        counted = _counted(
            tally, category_of, result.deleted, survived, gone, result.first_seq, result.last_seq, new_batch
        )
        store_tally(connection, run_id, counted)
    seconds = time.perf_counter() - started
    backend_for(engine).after_batch(engine)  # outside the transaction (SQLite: the WAL checkpoint)
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
    new_batch: bool = True,
) -> RunTally:
    counted = RunTally(
        categories={name: CategoryTally(**asdict(value)) for name, value in tally.categories.items()},
        batches=tally.batches + int(new_batch),
        failed_batches=tally.failed_batches,
        skipped_ids=list(tally.skipped_ids),
        skip_reasons=dict(tally.skip_reasons),
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


def record_skipped_baskets(
    engine: Engine,
    baskets: Sequence[ExpiredBasket],
    *,
    run_id: int,
    tally: RunTally,
    reason: str,
    new_batch: bool = True,
    new_failure: bool = True,
) -> RunTally:
    """Count `baskets`, which failed even after retries, as skipped for `reason` (they wait for
    the next run); returns the run's counts after it, also stored in the run's record.
    `new_batch`/`new_failure` False: their batch is counted already, or counted as failed."""
    category_of = {basket.basket_id: basket.category for basket in baskets}
    counted = _counted(tally, category_of, [], [], [], None, None, new_batch)
    counted.failed_batches += int(new_failure)
    counted.skip_reasons[reason] = counted.skip_reasons.get(reason, 0) + len(baskets)
    for basket in baskets:
        counted.categories[basket.category].skipped += 1
        counted.skipped_ids.append(basket.basket_id)
    with engine.begin() as connection:
        store_tally(connection, run_id, counted)
    return counted


def store_tally(connection: Connection, run_id: int, tally: RunTally, **extra: Any) -> None:
    """Put `tally` (and `extra` details) into the run's row."""
    connection.execute(
        update(CleanupRun).where(CleanupRun.id == run_id).values(**tally_columns(tally, **extra))
    )


def tally_columns(tally: RunTally, **extra: Any) -> dict[str, Any]:
    return {
        "selected": tally.total("selected"),
        "deleted": tally.total("deleted"),
        "survived": tally.total("survived"),
        "skipped": tally.total("skipped"),
        "detail": json.dumps(tally.as_detail() | extra, default=str),
    }
