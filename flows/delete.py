"""The `basket-delete` and `basket-restore` flows: delete baskets with an audit trail, or put one back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from baskets.deletion import DeletionResult, MatchingDeletion, check_note, parse_basket_ids
from baskets.errors import BadInput
from baskets.filters import BasketFilter
from baskets.roles import Action, Actor
from baskets.runtime import Runtime, current_runtime
from baskets.wording import plural
from flows import forms
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
    shop_account_name: str = forms.SHOP_ACCOUNT_NAME,
    shop_account_email: str = forms.SHOP_ACCOUNT_EMAIL,
    basket_id: str = forms.BASKET_ID,
    shop_account_id: str = forms.SHOP_ACCOUNT_ID,
    account_id: str = forms.ACCOUNT_ID,
    account_type: forms.AccountType = forms.ACCOUNT_TYPE,
    created_before: str = forms.CREATED_BEFORE,
    created_after: str = forms.CREATED_AFTER,
    modified_before: str = forms.MODIFIED_BEFORE,
    modified_after: str = forms.MODIFIED_AFTER,
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
    naming the form field; the caller gets the BasketsError back. The filter fields' descriptions
    are in flows/forms.py (shared with report-export).

    Args:
        operator: Your operator name; a system administrator or order processor may delete.
        basket_ids: Delete exactly these baskets (GUIDs, any spelling), all or none. Leave empty
            to delete by the filters below.
        delete_all: Allow a delete with no filter at all: every basket.
        reason: Why, for the audit log; default: broken for listed basket IDs, manual for filters.
        note: Free text kept in each audit row (at most 2000 characters).
    """
    basket_filter = forms.form_filter(locals())
    chosen_reason = None if reason == "default" else reason
    return _delete_baskets(operator, list(basket_ids), basket_filter, delete_all, chosen_reason, note or None)


@dataclass
class _Deleted:
    """What a deletion's transactions did, added up."""

    deleted: list[str] = field(default_factory=list)
    survived: int = 0
    gone: int = 0
    first_seq: int | None = None
    last_seq: int | None = None

    def add(self, result: DeletionResult | MatchingDeletion) -> None:
        """Add one transaction's result (a filtered batch's also counts survivors and gone ones)."""
        self.deleted.extend(result.deleted)
        if isinstance(result, MatchingDeletion):
            self.survived += len(result.survived)
            self.gone += len(result.gone)
        if result.first_seq is not None:
            self.first_seq = self.first_seq if self.first_seq is not None else result.first_seq
            self.last_seq = result.last_seq


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
    reason = reason or ("broken" if basket_ids else "manual")
    done = _Deleted()
    if basket_ids:
        if not basket_filter.is_empty() or delete_all:
            raise BadInput(
                "basket_ids: give basket IDs or filters, not both (empty one of them)", field="basket_ids"
            )
        # All or none: NotFound (nothing deleted) when any of them is not a basket.
        done.add(delete_listed_baskets(runtime, parse_basket_ids(basket_ids), actor, reason, note, run_id))
    else:
        if basket_filter.is_empty() and not delete_all:
            raise BadInput(
                "no basket IDs and no filter: fill in one (e.g. `account_type` anonymous), "
                "or use `delete_all` to delete every basket"
            )
        _delete_filtered(runtime, basket_filter, actor, reason, note, run_id, done)
    summary = DeleteResult(
        deleted=len(done.deleted), survived=done.survived, gone=done.gone,
        basket_ids=done.deleted[:RESULT_ID_LIMIT], basket_ids_truncated=len(done.deleted) > RESULT_ID_LIMIT,
        first_seq=done.first_seq, last_seq=done.last_seq, actor=actor.name, reason=reason,
        filter=basket_filter.describe(), flow_run_id=run_id,
    )  # fmt: skip
    run_logger().info("deleted %s as %s", plural(len(done.deleted), "basket"), actor.name)
    create_artifact("markdown", key="basket-delete", markdown=_deletion_markdown(summary, done.deleted),
                             description="Baskets deleted by this run")  # fmt: skip
    return summary


def _delete_filtered(
    runtime: Runtime,
    basket_filter: BasketFilter,
    actor: Actor,
    reason: str,
    note: str | None,
    run_id: str | None,
    done: _Deleted,
) -> None:
    """Delete the baskets matching `basket_filter` in key-ordered batches, each its own
    transaction re-checking the filter, adding each batch to `done` and reporting progress."""
    after: str | None = None
    selected = 0
    batch_size = runtime.settings.retention.batch_size
    while batch := select_basket_batch(runtime, basket_filter, after, batch_size):
        after = batch[-1]
        done.add(delete_filtered_batch(runtime, batch, basket_filter, actor, reason, note, run_id))
        selected += len(batch)
        report_progress(selected)


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
