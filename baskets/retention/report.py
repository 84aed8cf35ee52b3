"""What a cleanup run reports: its per-category markdown (the typed result is flows.results')."""

from __future__ import annotations

from typing import TYPE_CHECKING

from baskets.retention.batches import RunTally
from baskets.retention.policy import EMPTY, CleanupPlan, RetentionPolicy

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
