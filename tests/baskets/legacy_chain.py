"""An audit chain as the release before migration 0006 wrote it: every column hashed, no digest."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa

from baskets.audit import LEGACY_HASHED_COLUMNS, canonical_lines, legacy_chain_hash
from baskets.models import GENESIS_HASH, QUANTITY, UTCDateTime
from tests.conftest import DatabaseUnderTest

_TIMES = ("occurred_at", "basket_created_at", "basket_modified_at")
_OLD_AUDIT = sa.table(
    "basket_audit",
    *(
        sa.column(name, UTCDateTime() if name in _TIMES else QUANTITY if name == "total_quantity" else None)
        for name in (*LEGACY_HASHED_COLUMNS, "hash")
    ),
)
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def legacy_row(seq: int, prev_hash: str) -> dict[str, object]:
    """Row `seq` of a legacy chain, with its hash as that release computed it."""
    row: dict[str, object] = {
        "seq": seq, "event": "deleted", "basket_id": str(uuid.UUID(int=seq)),
        "occurred_at": START + dt.timedelta(days=seq), "actor": "bob", "actor_role": "order_processor",
        "reason": "broken", "note": f"note {seq}", "flow_run_id": None,
        "shop_account_id": str(uuid.UUID(int=10_000 + seq)), "shop_account_name": f"Zoë {seq}",
        "shop_account_email": f"zoe{seq}@example.com", "account_id": f"C{seq:07d}",
        "account_name": "Bäckerei Groß", "account_email": f"erp{seq}@example.com", "account_type": "Customer",
        "basket_created_at": START, "basket_modified_at": START + dt.timedelta(hours=seq), "line_count": 1,
        "total_quantity": Decimal("2.5"),
        "lines": canonical_lines(
            [{"id": seq, "product_id": "ITEM-1", "variant_id": None, "quantity": Decimal("2.5"), "uom_id": None}]
        ),
        "prev_hash": prev_hash,
    }  # fmt: skip
    row["hash"] = legacy_chain_hash(prev_hash, row)
    return row


def write_legacy_chain(database: DatabaseUnderTest, count: int) -> list[str]:
    """Insert `count` legacy rows and move the chain head to the last; returns their hashes.
    The database must be at a revision before 0006."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        rows.append(legacy_row(seq, prev))
        prev = str(rows[-1]["hash"])
    with database.engine.begin() as connection:
        connection.execute(sa.insert(_OLD_AUDIT), rows)
        connection.execute(sa.text("UPDATE audit_chain_head SET seq = :seq, hash = :hash WHERE id = 1"),
                           {"seq": count, "hash": prev})  # fmt: skip
    return [str(row["hash"]) for row in rows]
