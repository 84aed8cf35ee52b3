"""Prefect tasks over `baskets.privacy`: erasure on request, audit redaction and file retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from baskets.privacy.file_retention import files_past_cutoff, remove_files_past_cutoff
from baskets.privacy.forget import ErasureResult, ErasureSubject, erase_personal_data
from baskets.privacy.redaction import count_rows_past_cutoff, redact_rows_past_cutoff
from baskets.roles import Actor
from baskets.wording import plural
from flows.runner import run_logger, task
from tasks.delete import LOST_CONNECTION


@task(name="erase-personal-data", retries=2, retry_delay_seconds=1, retry_on=LOST_CONNECTION)
def erase_person(
    engine: Engine,
    subject: ErasureSubject,
    actor: Actor,
    reference: str | None,
    export_dir: Path,
    file_mode: int,
    flow_run_id: str | None,
    dry_run: bool,
) -> ErasureResult:
    """Erase one person's baskets, audit rows and file rows (or say what would go)."""
    result = erase_personal_data(
        engine, subject, actor=actor, reference=reference, export_dir=export_dir,
        file_mode=file_mode, flow_run_id=flow_run_id, dry_run=dry_run,
    )  # fmt: skip
    run_logger().info(
        "%s by %s: %d baskets, %d audit rows, %d files",
        "erasure (dry run)" if dry_run else "erasure", subject.what, result.baskets, result.audit_rows,
        len(result.files),
    )  # fmt: skip
    return result


@task(name="redact-audit-rows")
def redact_audit_past_cutoff(engine: Engine, cutoff: dt.datetime, batch_size: int, dry_run: bool) -> int:
    """Redact the personal part of audit rows older than `cutoff`, in batches; returns how many
    were (with `dry_run`: how many would be)."""
    if dry_run:
        with engine.connect() as connection:
            return count_rows_past_cutoff(connection, cutoff)
    redacted = redact_rows_past_cutoff(engine, cutoff, batch_size=batch_size)
    run_logger().info("redacted %s written before %s", plural(redacted, "audit row"), cutoff.isoformat())
    return redacted


@task(name="remove-old-files")
def remove_old_files(export_dir: Path, cutoff: dt.datetime, dry_run: bool) -> int:
    """Remove the suite's files under `export_dir` written before `cutoff`; returns how many
    were (with `dry_run`: how many would be)."""
    if dry_run:
        return len(files_past_cutoff(export_dir, cutoff))
    removed = remove_files_past_cutoff(export_dir, cutoff)
    run_logger().info(
        "removed %d files written before %s from %s", len(removed), cutoff.isoformat(), export_dir
    )
    return len(removed)


@task(name="publish-privacy-report")
def publish_privacy_report(privacy: dict[str, object], dry_run: bool) -> None:
    """A markdown artifact with what the nightly run redacted and removed (counts only)."""
    from flows.runner import create_artifact

    verb = "would redact" if dry_run else "redacted"
    removed = "would remove" if dry_run else "removed"
    create_artifact(
        "markdown",
        key="retention-cleanup-privacy",
        description="retention cleanup: personal data past its end date",
        markdown="\n".join(
            [
                "# Retention cleanup: personal data",
                "",
                "| | |",
                "| --- | --- |",
                f"| audit rows {verb} | {privacy['audit_rows_redacted']} "
                f"(written before {privacy['audit_cutoff']}) |",
                f"| files {removed} from export_dir | {privacy['files_removed']} "
                f"(written before {privacy['files_cutoff']}) |",
            ]
        ),
    )
