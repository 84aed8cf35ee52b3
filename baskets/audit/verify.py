"""Verifying the audit chain: recompute every hash from seq 1 and name the first row that does not hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
)

from baskets.audit.canonical import STORED_COLUMNS, chain_hash, legacy_chain_hash, personal_digest
from baskets.audit.chain import REDACTED, chain_head_query
from baskets.db import snapshot_read
from baskets.models import GENESIS_HASH, BasketAudit
from baskets.wording import plural


@dataclass(frozen=True)
class ChainReport:
    """What `verify_audit_chain` found. `problem` is None when the chain holds; `first_bad_seq`
    names the first row that does not, and is None also when the rows hold but a saved head
    given to check against is not among them (no row to name)."""

    count: int  # rows read
    head_seq: int  # seq of the last row that verified
    head_hash: str  # hash of that row (GENESIS_HASH for an empty log)
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_audit_chain(connection: Connection, head: str | None = None, chunk: int = 2000) -> ChainReport:
    """Recompute the chain from seq 1 and report the first row that does not hold.

    Catches a changed field (hash mismatch), a removed row (gap in seq, or broken prev_hash
    link), swapped rows (broken link), a tail cut off behind the chain head's back (head row
    disagrees), and, given `head` (a hash saved earlier), a tail cut off together with the
    chain head. Streams the log, so memory stays flat on a big one.
    """
    stored_head = connection.execute(chain_head_query()).first()
    columns = [BasketAudit.__table__.c[name] for name in STORED_COLUMNS]
    result = connection.execution_options(stream_results=True, yield_per=chunk).execute(
        select(*columns).order_by(BasketAudit.seq)
    )
    expected_seq, prev_hash, prev_legacy, count = 1, GENESIS_HASH, GENESIS_HASH, 0
    saved_head_seen = head is None or head == GENESIS_HASH
    problem: tuple[int, str] | None = None
    with result:
        for row in result.mappings():
            seq = int(row["seq"])
            if seq != expected_seq:
                gap = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
                problem = (expected_seq, f"row {gap} missing (next row is {seq})")
            elif row["prev_hash"] != prev_hash:
                problem = (seq, f"row {seq} does not link to row {seq - 1} (removed or reordered rows)")
            else:
                found = row_problem(row, prev_legacy)
                problem = None if found is None else (seq, found)
            if problem:
                break
            count, prev_hash, expected_seq = count + 1, row["hash"], seq + 1
            prev_legacy = row["legacy_hash"] or prev_legacy
            saved_head_seen = saved_head_seen or head in (row["hash"], row["legacy_hash"])
    last_seq = expected_seq - 1
    if problem is None:
        problem = _head_problem(stored_head, last_seq, prev_hash)
    if problem is None and not saved_head_seen:
        return ChainReport(
            count=count,
            head_seq=last_seq,
            head_hash=prev_hash,
            problem=f"the chain never had head {head} (it has {plural(count, 'row')}; its head is "
            f"seq {last_seq}, hash {prev_hash}): rows after seq {last_seq} were cut off, the chain "
            "was rewritten, or that hash is another database's",
        )
    if problem is None:
        return ChainReport(count=count, head_seq=last_seq, head_hash=prev_hash)
    return ChainReport(
        count=count, head_seq=last_seq, head_hash=prev_hash, first_bad_seq=problem[0], problem=problem[1]
    )


def row_problem(row: Mapping[Any, Any], prev_legacy: str = GENESIS_HASH) -> str | None:
    """What is wrong with one stored audit row on its own (its link to the row before is the
    caller's to check), or None.

    A row whose personal part is still there must match the digest the chain hashed; a redacted
    row must hold no personal part at all; the kept fields, the digest, seq and prev_hash must give
    the stored hash. A row written before migration 0006 and not redacted must also still give
    its `legacy_hash` (its hash then, over the whole row), linked to the row before's.
    """
    seq = row["seq"]
    if row["redacted_at"] is None:
        if personal_digest(row, row["personal_salt"]) != row["personal_digest"]:
            return f"row {seq} was changed after it was written (its personal data does not match its digest)"
    elif any(row[name] is not None for name in REDACTED):
        return f"row {seq} was changed after it was written (it is marked redacted but holds personal data)"
    if chain_hash(row["prev_hash"], row) != row["hash"]:
        return f"row {seq} was changed after it was written (hash mismatch)"
    legacy = row["legacy_hash"] is not None and row["redacted_at"] is None
    if legacy and legacy_chain_hash(prev_legacy, {**row, "prev_hash": prev_legacy}) != row["legacy_hash"]:
        return f"row {seq} was changed after it was written (it no longer gives its hash from before 0006)"
    return None


def _head_problem(stored_head: Any, last_seq: int, last_hash: str) -> tuple[int, str] | None:
    """(first bad seq, problem) when the chain head row is missing or disagrees with the last
    row that verified (seq `last_seq`, hash `last_hash`); None when it agrees."""
    if stored_head is None:
        return (
            last_seq + 1,
            f"the chain head row is missing (audit_chain_head is empty): rows after seq {last_seq} "
            "may have been cut off",
        )
    head_seq = int(stored_head.seq)
    if (head_seq, stored_head.hash) == (last_seq, last_hash):
        return None
    if head_seq > last_seq:
        return last_seq + 1, f"rows after seq {last_seq} missing (the chain head is at seq {head_seq})"
    return (
        min(last_seq, head_seq + 1),
        f"the chain head (seq {head_seq}) does not match the last row (seq {last_seq})",
    )


def verify_audit_chain_snapshot(engine: Engine, head: str | None = None) -> ChainReport:
    """`verify_audit_chain` in one read-only snapshot, so deletions running meanwhile do not
    look like tampering."""
    with snapshot_read(engine) as connection:
        return verify_audit_chain(connection, head)
