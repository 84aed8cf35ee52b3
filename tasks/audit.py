"""Prefect tasks over the audit log: verify the hash chain."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from baskets.audit import ChainReport, verify_audit_chain_snapshot
from tasks.delete import engine_for, retry_on_lost_connection


@task(
    name="verify-audit-chain", cache_policy=NO_CACHE, retries=2, retry_condition_fn=retry_on_lost_connection
)
def verify_audit_chain_task(database_url: str, head: str | None = None) -> ChainReport:
    """Recompute the audit chain in one snapshot; the report names the first bad seq, if any.

    Does not raise on a broken chain: the caller decides (the CLI exits 6, a report shows it).
    """
    report = verify_audit_chain_snapshot(engine_for(database_url), head)
    logger = get_run_logger()
    if report.ok:
        logger.info("audit chain holds: %d rows, head %s", report.count, report.head_hash)
    else:
        logger.error("audit chain broken (first bad seq %s): %s", report.first_bad_seq, report.problem)
    return report
