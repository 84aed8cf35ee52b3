"""Deleting baskets with their audit rows (`delete`) and restoring them (`restore`); the ids they
take (`keys`). The names other packages use are importable from here."""

from baskets.deletion.delete import (
    DeletionResult,
    MatchingDeletion,
    delete_basket_rows,
    delete_baskets_still_matching,
    delete_baskets_with_audit,
    names_account_tables,
)
from baskets.deletion.keys import (
    IN_LIST_SIZE,
    NOTE_MAX_CHARS,
    REASON_MAX_CHARS,
    check_note,
    existing_basket_ids,
    key_in,
    parse_basket_ids,
    select_basket_ids,
    split_missing,
)
from baskets.deletion.restore import RestoreResult, latest_deletion, restore_basket

__all__ = [
    "IN_LIST_SIZE", "NOTE_MAX_CHARS", "REASON_MAX_CHARS", "DeletionResult", "MatchingDeletion",
    "RestoreResult",
    "check_note", "delete_basket_rows", "delete_baskets_still_matching", "delete_baskets_with_audit",
    "existing_basket_ids", "key_in", "latest_deletion", "names_account_tables", "parse_basket_ids",
    "restore_basket", "select_basket_ids", "split_missing",
]  # fmt: skip
