"""The retention policy: what is expired at a time, in key-ordered batches, counted; the safety share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    exists,
    func,
    or_,
    outerjoin,
    select,
)

from baskets.backends import backend_for
from baskets.errors import BasketsError, SafetyLimitHit
from baskets.models import Basket, BasketLine
from config.settings import ACCOUNT_TYPES, RetentionSettings

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    pass

# What a run reports on: each account type, and empty baskets on their own line.
EMPTY = "empty"
CATEGORIES = (*ACCOUNT_TYPES, EMPTY)
# The stored account_type spelling of each configured (lowercase) type.
STORED_TYPE = {"anonymous": "Anonymous", "contact": "Contact", "customer": "Customer"}
RETENTION_REASON = "retention"
T = TypeVar("T")


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

    def expired_on(self, connection: Connection, now: dt.datetime) -> ColumnElement[bool]:
        """`expired(now)` over the schema `connection`'s engine runs on (`baskets.schema`)."""
        from baskets.schema import mapped_schema
        from baskets.schema.queries import mapped_expired

        schema = mapped_schema(connection)
        return self.expired(now) if schema is None else mapped_expired(schema, self, now)

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
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.queries import select_mapped_expired

        batch = limit or policy.batch_size
        return select_mapped_expired(schema, connection, policy, now, after=after, limit=batch)
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

    Where the backend counts faster so (`Backend.counts_by_joining_lines`: PostgreSQL), in one
    pass over all baskets, each joined to the distinct basket ids of the lines, instead of
    probing `basket_lines` once per basket as the selection of a batch does. SQLite and MariaDB
    probe an index far more cheaply than they join. The counts are the same either way: a dry run must report
    exactly what the batches then select, which the tests hold on every database.
    """
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.queries import count_mapped_expired

        return count_mapped_expired(schema, connection, policy, now)
    if backend_for(connection).counts_by_joining_lines:
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
    from baskets.schema import mapped_schema
    from baskets.schema.queries import count_mapped_baskets

    schema = mapped_schema(connection)
    return CleanupPlan(
        as_of=now,
        cutoffs=policy.cutoffs(now),
        expired=count_expired_baskets(connection, policy, now),
        all_baskets=(
            int(connection.scalar(select(func.count()).select_from(Basket)) or 0)
            if schema is None
            else count_mapped_baskets(schema, connection)
        ),
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
