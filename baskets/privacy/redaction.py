"""Redaction: removing the personal part of audit rows while their hash chain still verifies.

A row's hash covers its kept fields and the digest of its personal part (`baskets.audit`), so
setting the personal part and its salt to NULL leaves the hash as it was. The row is marked
with when and why (`redacted_at`, `redaction`); those two are not hashed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, select, update

from baskets.audit import PERSONAL_COLUMNS
from baskets.db import write_transaction
from baskets.models import BasketAudit

RETENTION = "retention"
ERASURE = "erasure"
# Why a row was redacted, as `restore` and `audit show` say it.
WHY = {
    RETENTION: "its personal data passed the audit retention (privacy.audit_personal_data_days)",
    ERASURE: "its personal data was erased on request (baskets forget)",
}
_IN_LIST = 1000


def describe_redaction(row: Mapping[str, Any]) -> str:
    """One line on when and why audit row `row` was redacted."""
    when = row["redacted_at"]
    shown = f"{when:%Y-%m-%d %H:%M} UTC" if isinstance(when, dt.datetime) else str(when)
    why = WHY.get(row["redaction"] or "", f"redacted ({row['redaction']})")
    return f"its audit row (seq {row['seq']}) was redacted on {shown}: {why}"


def redact_audit_rows(connection: Connection, seqs: Sequence[int], *, reason: str, when: dt.datetime) -> int:
    """Remove the personal part of the audit rows `seqs` not redacted yet; returns how many were.

    Runs in the caller's transaction. The hash, the digest and every kept field stay.
    """
    cleared: dict[str, Any] = dict.fromkeys((*PERSONAL_COLUMNS, "personal_salt"))
    redacted = 0
    ordered = sorted(set(seqs))
    for start in range(0, len(ordered), _IN_LIST):
        chunk = ordered[start : start + _IN_LIST]
        redacted += connection.execute(
            update(BasketAudit)
            .where(BasketAudit.seq.in_(chunk), BasketAudit.redacted_at.is_(None))
            .values(**cleared, redacted_at=when, redaction=reason)
        ).rowcount
    return redacted


def audit_retention_cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """The time before which an audit row's personal part has been kept long enough."""
    return now - dt.timedelta(days=days)


def _past_cutoff(cutoff: dt.datetime) -> ColumnElement[bool]:
    # An erasure's own row holds no personal data: there is nothing to redact.
    return and_(
        BasketAudit.occurred_at < cutoff, BasketAudit.redacted_at.is_(None), BasketAudit.event != "erased"
    )


def count_rows_past_cutoff(connection: Connection, cutoff: dt.datetime) -> int:
    """How many audit rows a redaction at `cutoff` would redact."""
    return int(
        connection.scalar(select(func.count()).select_from(BasketAudit).where(_past_cutoff(cutoff))) or 0
    )


def redact_rows_past_cutoff(
    engine: Engine, cutoff: dt.datetime, *, batch_size: int, when: dt.datetime | None = None
) -> int:
    """Redact every audit row written before `cutoff`, oldest first, `batch_size` rows per
    transaction; returns how many were redacted. A run stopped half-way leaves whole batches done
    and the next run does the rest.

    Each batch is the first rows of one range of the index (redacted_at, occurred_at) (migration
    0007): rows not redacted yet, written before the cut-off. Redacting a batch takes its rows
    out of that range, so the next batch starts where this one ended, without walking past rows
    redacted before or rows still within their keeping time. An erasure's own row stays in the
    range unredacted (it holds no personal data); there are few. The walk ends at the first batch
    that redacts nothing, so no row is read twice in vain.
    """
    moment = when or dt.datetime.now(dt.UTC)
    redacted = 0
    while True:
        with write_transaction(engine) as connection:
            seqs = list(
                connection.scalars(
                    select(BasketAudit.seq)
                    .where(_past_cutoff(cutoff))
                    # The index's own order: redacted_at is NULL throughout, but PostgreSQL reads
                    # the index in order only when ORDER BY names its columns from the first.
                    .order_by(BasketAudit.redacted_at, BasketAudit.occurred_at)
                    .limit(batch_size)
                )
            )
            done = redact_audit_rows(connection, seqs, reason=RETENTION, when=moment) if seqs else 0
        redacted += done
        if not done:
            return redacted


def count_redacted_rows(connection: Connection) -> dict[str, int]:
    """Redacted audit rows per reason (`retention`, `erasure`), every reason present."""
    counts = dict.fromkeys((RETENTION, ERASURE), 0)
    rows = connection.execute(
        select(BasketAudit.redaction, func.count())
        .where(BasketAudit.redacted_at.is_not(None))
        .group_by(BasketAudit.redaction)
    )
    for reason, count in rows:
        counts[str(reason)] = int(count)
    return counts
