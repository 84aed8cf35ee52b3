"""Prefect tasks that delete and restore baskets through `baskets.deletion`, with retries and logging."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from baskets.db import write_transaction
from baskets.deletion import (
    DeletionResult,
    MatchingDeletion,
    RestoreResult,
    delete_baskets_still_matching,
    delete_baskets_with_audit,
    restore_basket,
    select_basket_ids,
)
from baskets.errors import NotFound
from baskets.filters import BasketFilter
from baskets.roles import Actor
from baskets.runtime import Runtime
from baskets.schema import filter_condition
from baskets.wording import plural
from flows.runner import run_logger, task

# Retried: a transaction that failed on the connection, a deadlock or a serialization failure
# (PostgreSQL, a concurrent change since its snapshot): it rolled back whole, so running it
# again cannot delete or audit twice. Expected failures (BasketsError) are not retried.
LOST_CONNECTION = (OperationalError,)


@task(
    name="delete-listed-baskets",
    retries=2,
    retry_delay_seconds=1,
    retry_on=LOST_CONNECTION,
)
def delete_listed_baskets(
    runtime: Runtime,
    basket_ids: list[str],
    actor: Actor,
    reason: str,
    note: str | None,
    flow_run_id: str | None,
) -> DeletionResult:
    """Delete exactly `basket_ids` in one transaction, all or nothing.

    Raises NotFound naming the ids that are gone (by the time the rows are locked); then
    nothing is deleted and no audit row is written.
    """
    with write_transaction(runtime.engine) as connection:
        result = delete_baskets_with_audit(
            connection, basket_ids, actor=actor, reason=reason, note=note, flow_run_id=flow_run_id
        )
        if result.missing:
            raise NotFound(
                f"basket_ids: no basket with ID {', '.join(result.missing)}: nothing was deleted",
                field="basket_ids",
            )
    run_logger().info(
        "deleted %s as %s (audit seq %s..%s)",
        plural(len(result.deleted), "basket"), actor.name, result.first_seq, result.last_seq,
    )  # fmt: skip
    return result


@task(name="select-basket-batch", retries=2, retry_on=LOST_CONNECTION)
def select_basket_batch(
    runtime: Runtime, basket_filter: BasketFilter, after: str | None, limit: int
) -> list[str]:
    """The next `limit` ids matching `basket_filter` after `after`, in key order."""
    with runtime.engine.connect() as connection:
        where = filter_condition(connection, basket_filter)
        return select_basket_ids(connection, where, after=after, limit=limit)


@task(
    name="delete-filtered-batch",
    retries=2,
    retry_delay_seconds=1,
    retry_on=LOST_CONNECTION,
)
def delete_filtered_batch(
    runtime: Runtime,
    basket_ids: list[str],
    basket_filter: BasketFilter,
    actor: Actor,
    reason: str,
    note: str | None,
    flow_run_id: str | None,
) -> MatchingDeletion:
    """Delete one batch in its own transaction, re-checking the filter under the row locks:
    a basket changed since it was selected so that it no longer matches is left alone
    (survived); one deleted by someone else meanwhile is gone."""
    with write_transaction(runtime.engine) as connection:
        return delete_baskets_still_matching(
            connection, basket_ids, filter_condition(connection, basket_filter), actor=actor, reason=reason,
            note=note,
            flow_run_id=flow_run_id,
        )  # fmt: skip


@task(name="restore-basket", retries=2, retry_on=LOST_CONNECTION)
def restore_deleted_basket(
    runtime: Runtime, basket_id: str, actor: Actor, note: str | None, flow_run_id: str | None
) -> RestoreResult:
    """Put a deleted basket back from the audit log and chain a 'restored' row."""
    with write_transaction(runtime.engine) as connection:
        result = restore_basket(connection, basket_id, actor=actor, note=note, flow_run_id=flow_run_id)
    run_logger().info(
        "restored basket %s with %d lines from audit seq %d (recorded as seq %d)",
        basket_id, result.line_count, result.restored_from_seq, result.seq,
    )  # fmt: skip
    return result
