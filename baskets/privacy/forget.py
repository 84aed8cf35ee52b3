"""Erasure on request (`baskets forget`): one person's baskets, audit rows and file rows.

1. Find the person: by e-mail (their shop accounts and ERP accounts with that address, any
   case), by ERP account ID, or by shop account ID.
2. Rewrite the suite's own files under export_dir that hold their rows (exports, cleanup
   snapshots) without those rows, each atomically (`baskets.files.atomic_file`).
3. In one transaction: delete their current baskets, audited with reason `erasure` and written
   already redacted; redact every earlier audit row about them; and chain one `erased` row
   recording the erasure itself (who, when, the reference, how many baskets, rows and files)
   without any personal data.

Files come before the database: if the transaction fails, running the command again finds the
same rows and does the rest; the files it already rewrote have nothing left to remove.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from baskets.audit import append_documents, canonical_json, canonical_time, lock_chain_head
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.files import DEFAULT_FILE_MODE
from baskets.privacy.erasure_files import FileChange, erasure_file_rules, files_about, rewrite_without
from baskets.privacy.redaction import ERASURE, redact_audit_rows
from baskets.privacy.subject import ErasureSubject, check_reference, parse_subject, plan_erasure
from baskets.roles import Actor

# Whom an erasure is about is parsed and checked in baskets.privacy.subject; the commands and the
# flow import those two from here, beside the erasure they lead to.
ERASED_EVENT = "erased"
__all__ = ["ErasureResult", "ErasureSubject", "check_reference", "erase_personal_data", "parse_subject"]


@dataclass(frozen=True)
class ErasureResult:
    dry_run: bool
    subject: str  # what named the person (e-mail, ERP account ID, shop account ID), never the value
    reference: str | None
    baskets: int
    audit_rows: int
    files: list[FileChange]
    seq: int | None  # the `erased` row recording it (None for a dry run)
    first_seq: int | None  # the deletion rows of the current baskets
    last_seq: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "subject": self.subject,
            "reference": self.reference,
            "baskets": self.baskets,
            "audit_rows": self.audit_rows,
            "files": len(self.files),
            "file_rows": sum(change.rows for change in self.files),
            "file_paths": [str(change.path) for change in self.files],
            "seq": self.seq,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


def erase_personal_data(
    engine: Engine,
    subject: ErasureSubject,
    *,
    actor: Actor,
    reference: str | None,
    export_dir: Path,
    file_mode: int = DEFAULT_FILE_MODE,
    flow_run_id: str | None = None,
    dry_run: bool = False,
    when: dt.datetime | None = None,
) -> ErasureResult:
    """Erase `subject` (module docstring); with `dry_run`, only say what would change.

    Raises BadInput when a file cannot be rewritten (nothing in the database changed then).
    """
    with engine.connect() as connection:
        plan = plan_erasure(connection, subject)
    matcher = plan.file_rows()
    changes = files_about(export_dir, matcher)
    if dry_run:
        return ErasureResult(
            True,
            subject.what,
            reference,
            len(plan.basket_ids),
            len(plan.audit_seqs),
            changes,
            None,
            None,
            None,
        )
    rules = erasure_file_rules(export_dir, file_mode).protecting(engine.url)
    for change in changes:
        rewrite_without(change, matcher, rules)
    moment = when or dt.datetime.now(dt.UTC)
    with write_transaction(engine) as connection:
        lock_chain_head(connection)  # first: the plan below sees every writer that came before
        plan = plan_erasure(connection, subject)
        deleted = delete_baskets_with_audit(
            connection, plan.basket_ids, actor=actor, reason=ERASURE, flow_run_id=flow_run_id,
            still_matches=plan.baskets_condition(), occurred_at=moment, redaction=ERASURE,
        )  # fmt: skip
        redacted = redact_audit_rows(connection, plan.audit_seqs, reason=ERASURE, when=moment)
        record = _erasure_record(
            actor, moment, flow_run_id,
            {"reference": reference, "subject": subject.what, "baskets": len(deleted.deleted),
             "audit_rows": redacted, "files": len(changes), "file_rows": sum(c.rows for c in changes)},
        )  # fmt: skip
        head = append_documents(connection, lock_chain_head(connection), [record])
    return ErasureResult(
        False, subject.what, reference, len(deleted.deleted), redacted, changes, head.seq,
        deleted.first_seq, deleted.last_seq,
    )  # fmt: skip


def _erasure_record(
    actor: Actor, when: dt.datetime, flow_run_id: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    """The chain's record of an erasure: who, when and what it counted; no personal data."""
    empty = dict.fromkeys(
        ("basket_id", "note", "shop_account_id", "shop_account_name", "shop_account_email", "account_id",
         "account_name", "account_email", "account_type", "basket_created_at", "basket_modified_at",
         "line_count", "total_quantity", "lines")
    )  # fmt: skip
    return {
        **empty,
        "event": ERASED_EVENT,
        "occurred_at": canonical_time(when),
        "actor": actor.name,
        "actor_role": actor.role,
        "reason": ERASURE,
        "flow_run_id": flow_run_id,
        "detail": canonical_json(detail).decode(),
    }
