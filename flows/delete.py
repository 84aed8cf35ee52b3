"""The `basket-delete` and `basket-restore` flows: delete baskets with an audit trail, or put one back."""

from __future__ import annotations

from typing import Literal

from baskets.deletion import check_note, parse_basket_ids
from baskets.errors import BadInput
from baskets.filters import BasketFilter
from baskets.roles import Action
from baskets.runtime import current_runtime
from flows.failures import fails_the_run_on_refusal
from flows.results import DeleteResult, RestoreResult
from flows.run_alerts import alert_run_crashed, alert_worker_problem
from flows.runner import create_artifact, current_flow_run_id, flow, report_progress, run_logger
from tasks.authorize import authorize_operator
from tasks.delete import (
    delete_filtered_batch,
    delete_listed_baskets,
    restore_deleted_basket,
    select_basket_batch,
)

# The flow result (and `--json`) lists at most this many ids; the audit log has them all.
RESULT_ID_LIMIT = 10_000
ARTIFACT_ID_LIMIT = 50


@flow(
    name="basket-delete",
    validate_parameters=True,
    on_failure=[alert_worker_problem],
    on_crashed=[alert_run_crashed],
)
@fails_the_run_on_refusal
def basket_delete(
    operator: str,
    basket_ids: tuple[str, ...] = (),
    shop_account_name: str = "",
    shop_account_email: str = "",
    basket_id: str = "",
    shop_account_id: str = "",
    account_id: str = "",
    account_type: Literal["any", "customer", "anonymous", "contact"] = "any",
    created_before: str = "",
    created_after: str = "",
    modified_before: str = "",
    modified_after: str = "",
    delete_all: bool = False,
    reason: Literal["default", "broken", "manual"] = "default",
    note: str = "",
) -> DeleteResult:
    """Delete baskets with their lines, one chained audit row per basket in the same transaction.

    1. Check that `operator` may delete baskets, before touching any data.
    2. Listed `basket_ids`: all in one transaction; if any is unknown nothing is deleted (exit 4).
       Filters (or `delete_all`): key-ordered batches, each its own transaction, each
       re-checking the filter under the row locks.
    3. Record a markdown artifact and return counts, ids, the audit seq range and the flow run id.

    An expected refusal (not permitted, unknown IDs, bad input) fails the run with one line
    naming the form field; the caller gets the BasketsError back.

    Args:
        operator: Your operator name; a system administrator or order processor may delete.
        basket_ids: Delete exactly these baskets (GUIDs, any spelling), all or none. Leave empty
            to delete by the filters below.
        shop_account_name: Filter - part of the shop account name, any case (`%` and `_` match
            themselves).
        shop_account_email: Filter - part of the shop account e-mail, any case.
        basket_id: Filter - one basket GUID, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301.
        shop_account_id: Filter - the baskets of one shop account, by its GUID.
        account_id: Filter - the baskets of one ERP account, by its exact ID.
        account_type: Filter - customer, anonymous or contact baskets; any for all three.
        created_before: Filter - created before this ISO date or time, e.g. 2026-01-31 or
            2026-01-31T18:00:00+01:00 (UTC unless it has an offset).
        created_after: Filter - created at or after this time.
        modified_before: Filter - last modified before this time.
        modified_after: Filter - last modified at or after this time.
        delete_all: Allow a delete with no filter at all: every basket.
        reason: Why, for the audit log; default: broken for listed basket IDs, manual for filters.
        note: Free text kept in each audit row (at most 2000 characters).
    """
    basket_filter = BasketFilter.from_form(
        shop_account_name=shop_account_name, shop_account_email=shop_account_email,
        basket_id=basket_id, shop_account_id=shop_account_id, account_id=account_id,
        account_type=account_type, created_before=created_before, created_after=created_after,
        modified_before=modified_before, modified_after=modified_after,
    )  # fmt: skip
    chosen_reason = None if reason == "default" else reason
    return _delete_baskets(operator, list(basket_ids), basket_filter, delete_all, chosen_reason, note or None)


def _delete_baskets(
    operator: str,
    basket_ids: list[str] | None,
    basket_filter: BasketFilter,
    delete_all: bool,
    reason: str | None,
    note: str | None,
) -> DeleteResult:
    runtime = current_runtime()
    actor = authorize_operator(runtime, operator, Action.DELETE)
    run_id = current_flow_run_id()
    note = check_note(note)
    if basket_ids:
        if not basket_filter.is_empty() or delete_all:
            raise BadInput(
                "basket_ids: give basket IDs or filters, not both (empty one of them)", field="basket_ids"
            )
        ids = parse_basket_ids(basket_ids)
        # All or none: NotFound (nothing deleted) when any of them is not a basket.
        result = delete_listed_baskets(runtime, ids, actor, reason or "broken", note, run_id)
        deleted, first_seq, last_seq = result.deleted, result.first_seq, result.last_seq
        survived: list[str] = []
        gone = 0
    else:
        if basket_filter.is_empty() and not delete_all:
            raise BadInput(
                "no basket IDs and no filter: fill in one (e.g. `account_type` anonymous), "
                "or use `delete_all` to delete every basket"
            )
        deleted, survived, gone, first_seq, last_seq = [], [], 0, None, None
        after: str | None = None
        done = 0
        batch_size = runtime.settings.retention.batch_size
        while batch := select_basket_batch(runtime, basket_filter, after, batch_size):
            after = batch[-1]
            result = delete_filtered_batch(
                runtime, batch, basket_filter, actor, reason or "manual", note, run_id
            )
            deleted.extend(result.deleted)
            survived.extend(result.survived)
            gone += len(result.gone)
            if result.first_seq is not None:
                first_seq = first_seq if first_seq is not None else result.first_seq
                last_seq = result.last_seq
            done += len(batch)
            report_progress(done)
    summary = DeleteResult(
        deleted=len(deleted),
        survived=len(survived),
        gone=gone,
        basket_ids=deleted[:RESULT_ID_LIMIT],
        basket_ids_truncated=len(deleted) > RESULT_ID_LIMIT,
        first_seq=first_seq,
        last_seq=last_seq,
        actor=actor.name,
        reason=reason or ("broken" if basket_ids else "manual"),
        filter=basket_filter.describe(),
        flow_run_id=run_id,
    )
    run_logger().info("deleted %d baskets as %s", len(deleted), actor.name)
    create_artifact("markdown", key="basket-delete", markdown=_deletion_markdown(summary, deleted),
                             description="Baskets deleted by this run")  # fmt: skip
    return summary


def _deletion_markdown(summary: DeleteResult, deleted: list[str]) -> str:
    seqs = f"{summary.first_seq}..{summary.last_seq}" if summary.first_seq is not None else "none"
    filters = ", ".join(f"`{flag} {value}`" for flag, value in summary.filter.items()) or "basket IDs"
    lines = [
        "# Baskets deleted",
        "",
        "| | |",
        "| --- | --- |",
        f"| deleted | {summary.deleted:,} |",
        f"| changed since selection, kept | {summary.survived:,} |",
        f"| deleted by someone else meanwhile | {summary.gone:,} |",
        f"| by | {summary.actor} |",
        f"| reason | {summary.reason} |",
        f"| selected by | {filters} |",
        f"| audit seq | {seqs} |",
        "",
    ]
    if deleted:
        lines += [
            "| basket id |",
            "| --- |",
            *(f"| {basket_id} |" for basket_id in deleted[:ARTIFACT_ID_LIMIT]),
        ]
        if len(deleted) > ARTIFACT_ID_LIMIT:
            lines.append(f"| … and {len(deleted) - ARTIFACT_ID_LIMIT} more (see `baskets audit report`) |")
    return "\n".join(lines)


@flow(
    name="basket-restore",
    validate_parameters=True,
    on_failure=[alert_worker_problem],
    on_crashed=[alert_run_crashed],
)
@fails_the_run_on_refusal
def basket_restore(basket_id: str, operator: str, note: str = "") -> RestoreResult:
    """Put a deleted basket and its lines back from the audit log.

    1. Check that `operator` is a system administrator, before touching any data.
    2. Restore from the basket's latest deletion (refused if a basket with that ID exists)
       and record the restore in the audit chain.

    Args:
        basket_id: The GUID of the deleted basket, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301.
        operator: Your operator name; only a system administrator may restore.
        note: Free text kept in the audit row of the restore (at most 2000 characters).
    """
    return _restore(basket_id, operator, note or None)


def _restore(basket_id: str, operator: str, note: str | None) -> RestoreResult:
    runtime = current_runtime()
    actor = authorize_operator(runtime, operator, Action.RESTORE)
    (parsed,) = parse_basket_ids([basket_id], field="basket_id")
    run_id = current_flow_run_id()
    result = restore_deleted_basket(runtime, parsed, actor, check_note(note), run_id)
    summary = RestoreResult(
        basket_id=result.basket_id,
        line_count=result.line_count,
        restored_from_seq=result.restored_from_seq,
        seq=result.seq,
        actor=actor.name,
        flow_run_id=run_id,
    )
    create_artifact(
        "markdown",
        key="basket-restore",
        markdown=(
            f"# Basket restored\n\n`{result.basket_id}` with {result.line_count} lines, from audit seq "
            f"{result.restored_from_seq}, by {actor.name}; recorded as audit seq {result.seq}."
        ),
    )
    return summary
