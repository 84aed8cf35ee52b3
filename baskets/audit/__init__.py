"""The tamper-evident audit log of deleted and restored baskets: the canonical form of a row
(`canonical`), the hash chain (`chain`), and its verification (`verify`). The names other
packages use are importable from here."""

from baskets.audit.canonical import (
    DOCUMENT_COLUMNS,
    HASHED_COLUMNS,
    canonical_document,
    canonical_json,
    canonical_line,
    canonical_lines,
    canonical_lines_text,
    canonical_quantity,
    canonical_row,
    canonical_time,
    canonical_time_text,
    chain_hash,
    parse_lines,
)
from baskets.audit.chain import (
    ChainHead,
    append_documents,
    append_to_chain,
    audit_rows_for_basket,
    chain_head_missing,
    chain_head_query,
    lock_chain_head,
)
from baskets.audit.verify import (
    ChainReport,
    verify_audit_chain,
    verify_audit_chain_snapshot,
)
from baskets.backends.base import CHAIN_HEAD_ID

__all__ = [
    "CHAIN_HEAD_ID",
    "ChainHead",
    "ChainReport",
    "DOCUMENT_COLUMNS",
    "HASHED_COLUMNS",
    "append_documents",
    "append_to_chain",
    "audit_rows_for_basket",
    "canonical_document",
    "canonical_json",
    "canonical_line",
    "canonical_lines",
    "canonical_lines_text",
    "canonical_quantity",
    "canonical_row",
    "canonical_time",
    "canonical_time_text",
    "chain_hash",
    "chain_head_missing",
    "chain_head_query",
    "lock_chain_head",
    "parse_lines",
    "verify_audit_chain",
    "verify_audit_chain_snapshot",
]
