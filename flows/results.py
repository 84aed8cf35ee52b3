"""What the on-demand flows return: typed results that the command line prints as text and, with
`--json`, as `model_dump(mode="json")`, and that a Prefect run keeps as its result."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

if TYPE_CHECKING:  # baskets.retention loads pyarrow, which the commands importing this should not pay for
    from baskets.retention import CleanupPlan, RunTally

# Times as ISO 8601 with their offset (2026-10-08T00:00:00+00:00), as every JSON output writes them.
IsoTime = Annotated[dt.datetime, PlainSerializer(lambda value: value.isoformat(), when_used="json")]


class Result(BaseModel):
    """A flow's result. Its validator and serializer are built on first use rather than at import:
    every command imports this module, and each prints at most one of these."""

    model_config = ConfigDict(defer_build=True)


class DeleteResult(Result):
    """basket-delete: what was deleted, kept and audited."""

    deleted: int
    survived: int  # changed since selection so that they no longer match: kept
    gone: int  # deleted by someone else meanwhile
    basket_ids: list[str]  # at most RESULT_ID_LIMIT; the audit log has them all
    basket_ids_truncated: bool
    first_seq: int | None
    last_seq: int | None
    actor: str
    reason: str
    filter: dict[str, str]  # flag -> value
    flow_run_id: str | None
    tracked: bool = False  # whether a Prefect flow run tracked it (set by flows.runner.run_flow)


class RestoreResult(Result):
    """basket-restore: the basket put back and the audit row recording it."""

    restored: int = 1
    basket_id: str
    line_count: int
    restored_from_seq: int
    seq: int
    actor: str
    flow_run_id: str | None
    tracked: bool = False


class ExportedFile(Result):
    format: str
    path: str
    sha256: str
    bytes: int


class ExportResult(Result):
    """report-export: the files written and what is in them."""

    baskets: int
    lines: int
    rows: int
    files: list[ExportedFile]
    filter: dict[str, str]
    operator: str
    transport: str
    seconds: float
    flow_run_id: str | None
    tracked: bool = False


class AuditReportResult(Result):
    """audit-report: the window's figures, the chain's status and the report written."""

    since: IsoTime
    until: IsoTime
    deleted: int
    lines: int
    restored: int
    # Erasures on request in the window, and its audit rows redacted since: counts only.
    erasures: int = 0
    redacted: int = 0
    per_account_type: dict[str, int]
    per_reason: dict[str, int]
    per_actor: dict[str, int]
    chain: str
    chain_detail: str | None
    format: str
    path: str
    operator: str
    flow_run_id: str | None
    tracked: bool = False


# --- retention-cleanup -------------------------------------------------------------------------


class PrivacyCounts(Result):
    """What the nightly run redacted and removed past the personal-data end dates (docs/privacy.md);
    in a dry run what it would. Cut-offs as ISO 8601 text."""

    audit_cutoff: str
    audit_rows_redacted: int
    files_cutoff: str
    files_removed: int


class CategoryCounts(Result):
    """One retention category's counts in a run (`baskets.retention.CategoryTally`)."""

    selected: int = 0
    deleted: int = 0
    survived: int = 0  # touched since selection: no longer expired when its delete came
    gone: int = 0  # deleted by someone else between selection and delete
    skipped: int = 0  # failed on its own even after retries


class _CleanupRun(Result):
    """What every retention-cleanup result says: the run, its plan and how long each step took."""

    run_id: int
    flow_run_id: str | None
    actor: str
    as_of: str  # ISO 8601, as the run's `now`
    all_baskets: int
    share: float
    max_share: float
    over_limit: bool
    cutoffs: dict[str, str]  # category -> ISO 8601: last modified before this expires
    seconds: dict[str, float]  # step -> seconds (planning, deleting, snapshot, privacy)
    privacy: PrivacyCounts | None = None
    tracked: bool = False


class CleanupDryRunResult(_CleanupRun):
    """retention-cleanup with dry_run: what a real run at the same time would delete."""

    dry_run: bool = True
    would_delete: dict[str, int]  # category -> baskets
    would_delete_total: int


def _about_run(plan: CleanupPlan, privacy: dict[str, Any], about_run: dict[str, Any]) -> dict[str, Any]:
    """The fields of `_CleanupRun` from a run's plan, its privacy counts and `about_run` (run_id,
    actor, flow_run_id, seconds)."""
    return {
        **about_run,
        "actor": about_run["actor"].name,
        "seconds": dict(about_run["seconds"]),
        "as_of": plan.as_of.isoformat(),
        "all_baskets": plan.all_baskets,
        "share": round(plan.share, 6),
        "max_share": plan.max_share,
        "over_limit": plan.over_limit,
        "cutoffs": {name: cutoff.isoformat() for name, cutoff in plan.cutoffs.items()},
        "privacy": privacy,
    }


def cleanup_dry_run_result(
    plan: CleanupPlan, privacy: dict[str, Any], **about_run: Any
) -> CleanupDryRunResult:
    """A dry run's result from its plan (`about_run`: run_id, actor, flow_run_id, seconds)."""
    return CleanupDryRunResult(
        **_about_run(plan, privacy, about_run), would_delete=dict(plan.expired), would_delete_total=plan.total
    )


def cleanup_result(
    plan: CleanupPlan,
    tally: RunTally,
    privacy: dict[str, Any],
    *,
    snapshot: Path,
    snapshot_rows: int,
    **about_run: Any,
) -> CleanupResult:
    """A real run's result from its plan and tally (`about_run`: run_id, actor, flow_run_id, seconds)."""
    from baskets.retention.batches import SKIPPED_IDS_SHOWN

    return CleanupResult(
        **_about_run(plan, privacy, about_run),
        selected=tally.total("selected"),
        deleted=tally.total("deleted"),
        survived=tally.total("survived"),
        gone=tally.total("gone"),
        skipped=tally.total("skipped"),
        per_category={name: asdict(counts) for name, counts in tally.categories.items()},
        batches=tally.batches,
        failed_batches=tally.failed_batches,
        skipped_basket_ids=tally.skipped_ids[:SKIPPED_IDS_SHOWN],
        skip_reasons=dict(tally.skip_reasons),
        longest_batch_seconds=round(tally.longest_batch_seconds, 3),
        snapshot=str(snapshot),
        snapshot_rows=snapshot_rows,
    )


class CleanupResult(_CleanupRun):
    """retention-cleanup: what the run deleted, kept and skipped, and its snapshot."""

    dry_run: bool = False
    selected: int
    deleted: int
    survived: int
    gone: int
    skipped: int
    per_category: dict[str, CategoryCounts]
    batches: int
    failed_batches: int
    skipped_basket_ids: list[str]  # the first few; the run record has the count
    skip_reasons: dict[str, int]  # reason -> baskets
    longest_batch_seconds: float
    snapshot: str | None
    snapshot_rows: int | None
    heartbeat: str | None = None  # "sent" or "failed: …" when [alerts] heartbeat_url is set

    def incomplete_message(self) -> str:
        """The one-line failure message of a run that skipped baskets, e.g. 'retention cleanup
        incomplete: skipped 1 basket: lock wait timeout (left for the next run: <id>); ...'."""
        from baskets.wording import plural

        more = self.skipped - len(self.skipped_basket_ids)
        named = ", ".join(self.skipped_basket_ids) + (f" and {more:,} more" if more > 0 else "")
        reasons = self.skip_reasons
        why = "; ".join(
            reason if len(reasons) == 1 else f"{reason} ({count:,})" for reason, count in reasons.items()
        )
        return (
            f"retention cleanup incomplete: skipped {plural(self.skipped, 'basket')}"
            f"{': ' + why if why else ''} (left for the next run: {named}); deleted {self.deleted:,}, "
            f"survived {self.survived:,}; {self.failed_batches} of {self.batches} "
            "batches failed after retries"
        )


# --- baskets status ------------------------------------------------------------------------------


class CleanupRunRecord(Result):
    """One recorded cleanup run as `baskets status` shows it (`baskets.status.CleanupRunSummary`)."""

    status: str
    completed_at: IsoTime
    started_at: IsoTime
    finished_at: IsoTime | None
    as_of: IsoTime
    actor: str
    dry_run: bool
    selected: int
    deleted: int
    survived: int
    skipped: int
    flow_run_id: str | None
    reason: str | None  # why it failed, as recorded
    privacy: dict[str, Any] | None  # what it redacted and removed; None for runs before that


class AuditHead(Result):
    seq: int
    hash: str


class AlertSent(Result):
    channel: str
    target: str
    delivered: bool
    error: str | None


class StatusResult(Result):
    """`baskets status`: the health of the nightly cleanup, where alerts go and which were sent."""

    healthy: bool
    problems: list[str]
    checked_at: IsoTime
    stale_after_hours: float
    hours_since_success: float | None
    last_success: CleanupRunRecord | None
    last_run: CleanupRunRecord | None
    baskets: dict[str, int]  # per account type, and total
    expired_waiting: dict[str, int]
    audit_head: AuditHead
    redacted_audit_rows: dict[str, int]  # per reason: retention, erasure
    database: str
    alert_channels: dict[str, Any]
    alerts_sent: list[AlertSent]


# --- baskets audit show --------------------------------------------------------------------------

# Quantities as plain decimal text without trailing zeros (2, 0.5), as the exports write them.
Quantity = Annotated[Decimal, PlainSerializer(lambda value: format(value.normalize(), "f"), when_used="json")]


class AuditLine(Result):
    """A basket line as its audit row keeps it (a mapped shop's line key may be text or a GUID)."""

    id: int | str
    product_id: str
    variant_id: str | None
    quantity: Quantity
    uom_id: str | None


class AuditEvent(Result):
    """One audit row of a basket; its personal part is None once redacted (`redacted` says why)."""

    seq: int
    event: str
    basket_id: str | None
    occurred_at: IsoTime
    actor: str
    actor_role: str
    reason: str
    note: str | None
    flow_run_id: str | None
    shop_account_id: str | None
    shop_account_name: str | None
    shop_account_email: str | None
    account_id: str | None
    account_name: str | None
    account_email: str | None
    account_type: str | None
    basket_created_at: IsoTime | None
    basket_modified_at: IsoTime | None
    line_count: int | None
    total_quantity: Quantity | None
    lines: list[AuditLine] | None
    detail: str | None
    redacted_at: IsoTime | None
    redaction: str | None
    prev_hash: str
    hash: str
    redacted: str | None  # when and why its personal part was removed


class AuditShowResult(Result):
    """`baskets audit show`: every audit row of one basket, oldest first."""

    basket_id: str
    events: list[AuditEvent]
