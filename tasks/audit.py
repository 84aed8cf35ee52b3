"""Prefect tasks over the audit log: verify the hash chain."""

from __future__ import annotations

from baskets.audit import ChainReport, verify_audit_chain_snapshot
from flows.runner import run_logger, task
from tasks.delete import LOST_CONNECTION, engine_for


@task(name="verify-audit-chain", retries=2, retry_on=LOST_CONNECTION)
def verify_audit_chain_task(database_url: str, head: str | None = None) -> ChainReport:
    """Recompute the audit chain in one snapshot; the report names the first bad seq, if any.

    Does not raise on a broken chain: the caller decides (the CLI exits 6, a report shows it).
    """
    report = verify_audit_chain_snapshot(engine_for(database_url), head)
    logger = run_logger()
    if report.ok:
        logger.info("audit chain holds: %d rows, head %s", report.count, report.head_hash)
    else:
        logger.error("audit chain broken (first bad seq %s): %s", report.first_bad_seq, report.problem)
    return report
