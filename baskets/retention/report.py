"""What a cleanup run reports: per-category markdown, the summary, the failure message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baskets.retention.batches import SKIPPED_IDS_SHOWN, RunTally
from baskets.retention.policy import EMPTY, CleanupPlan, RetentionPolicy
from baskets.roles import Actor
from baskets.wording import plural

# pyarrow is imported by the snapshot's functions only: `baskets status` reads the expiry
# predicate from here and should not pay for loading it.
if TYPE_CHECKING:
    pass

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
        "skip_reasons": dict(tally.skip_reasons),
        "longest_batch_seconds": round(tally.longest_batch_seconds, 3),
        "snapshot": str(snapshot) if snapshot else None,
        "snapshot_rows": snapshot_rows,
    }
    return summary


def describe_incomplete(summary: Mapping[str, Any]) -> str:
    """The one-line failure message of a run that skipped baskets, e.g. 'retention cleanup
    incomplete: skipped 1 basket: lock wait timeout (left for the next run: <id>); ...'."""
    ids = summary.get("skipped_basket_ids", [])
    more = summary["skipped"] - len(ids)
    named = ", ".join(ids) + (f" and {more:,} more" if more > 0 else "")
    reasons = summary.get("skip_reasons") or {}
    why = "; ".join(
        reason if len(reasons) == 1 else f"{reason} ({count:,})" for reason, count in reasons.items()
    )
    return (
        f"retention cleanup incomplete: skipped {plural(summary['skipped'], 'basket')}"
        f"{': ' + why if why else ''} (left for the next run: {named}); deleted {summary['deleted']:,}, "
        f"survived {summary['survived']:,}; {summary['failed_batches']} of {summary['batches']} "
        "batches failed after retries"
    )
