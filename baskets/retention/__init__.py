"""Retention cleanup, plain: the policy (`policy`), one batch and the run's counts (`batches`),
the run's record (`runs`), the Parquet snapshot (`snapshot`) and what a run reports (`report`).

The names other packages use are importable from here.
"""

from baskets.retention.batches import (
    SKIPPED_IDS_SHOWN,
    BatchOutcome,
    CategoryTally,
    RunTally,
    delete_expired_batch,
    record_skipped_baskets,
)
from baskets.retention.policy import (
    CATEGORIES,
    EMPTY,
    RETENTION_REASON,
    CleanupPlan,
    ExpiredBasket,
    RetentionPolicy,
    check_safety_share,
    count_expired_baskets,
    plan_cleanup,
    select_expired_basket_ids,
    selected_ahead,
    walk_expired_batches,
)
from baskets.retention.report import (
    CATEGORY_TITLES,
    category_report_markdown,
)
from baskets.retention.runs import (
    AbandonedRun,
    CleanupIncomplete,
    StepTimes,
    cleanup_run_record,
    describe_step_times,
    finish_cleanup_run,
    record_refused_run,
    start_cleanup_run,
)
from baskets.retention.snapshot import (
    record_snapshot,
    runs_missing_snapshot,
    snapshot_folder,
    snapshot_path,
    snapshot_rules,
    snapshot_schema,
    write_parquet_snapshot,
)

__all__ = [
    "CATEGORIES", "CATEGORY_TITLES", "EMPTY", "RETENTION_REASON", "SKIPPED_IDS_SHOWN", "AbandonedRun",
    "BatchOutcome", "CategoryTally", "CleanupIncomplete", "CleanupPlan", "ExpiredBasket", "RetentionPolicy",
    "RunTally", "StepTimes", "category_report_markdown", "check_safety_share", "cleanup_run_record",
    "count_expired_baskets", "delete_expired_batch", "describe_step_times",
    "finish_cleanup_run", "plan_cleanup", "record_refused_run", "record_skipped_baskets", "record_snapshot",
    "runs_missing_snapshot", "select_expired_basket_ids", "selected_ahead", "snapshot_folder",
    "snapshot_path", "snapshot_rules", "snapshot_schema", "start_cleanup_run", "walk_expired_batches",
    "write_parquet_snapshot",
]  # fmt: skip
