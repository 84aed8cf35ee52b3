"""Benchmark: what redactable audit rows cost, against the whole-row hash of the release before.

    .venv/bin/python bench/audit_redaction.py [--rows 200000] [--database-url URL]

1. Per row, in this process: hashing a canonical document as the release before did (the whole
   row) against the current form (a salt, the digest of the personal part, then the kept fields
   and the digest), as `baskets.audit.append_documents` does: the Python work a cleanup does per
   deleted basket for its audit row.
2. On a database (default a temporary SQLite file): a retention redaction of every audit row,
   in batches of 1,000, against the deletion that wrote those rows in the first place.

Prints the times and their ratios. Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from baskets.audit import (  # noqa: E402
    HASHED_COLUMNS,
    LEGACY_HASHED_COLUMNS,
    PERSONAL_COLUMNS,
    canonical_json,
    new_salt,
)
from baskets.db import make_engine, upgrade_database, write_transaction  # noqa: E402
from baskets.deletion import delete_baskets_with_audit  # noqa: E402
from baskets.models import Basket  # noqa: E402
from baskets.privacy.redaction import redact_rows_past_cutoff  # noqa: E402
from baskets.roles import Actor  # noqa: E402
from baskets.seed import seed_database  # noqa: E402

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _document(seq: int) -> dict[str, object]:
    return {
        "seq": seq, "event": "deleted", "basket_id": f"3f2504e0-4f89-11d3-9a0c-{seq:012d}",
        "occurred_at": "2026-11-01T12:00:00.000000+00:00", "actor": "retention-policy",
        "actor_role": "system",
        "reason": "retention", "note": None, "flow_run_id": None,
        "shop_account_id": "a1b2c3d4-0000-4000-8000-000000000001", "shop_account_name": "Anna Brown",
        "shop_account_email": "anna.brown@example.de", "account_id": "C0000004",
        "account_name": "Bäckerei Groß",
        "account_email": "info@example.de", "account_type": "Customer",
        "basket_created_at": "2025-01-01T00:00:00.000000+00:00",
        "basket_modified_at": "2025-02-01T00:00:00.000000+00:00", "line_count": 3, "total_quantity": "7.0000",
        "lines": '[{"id":1,"product_id":"ITEM-1","quantity":"2.0000","uom_id":null,"variant_id":null}]',
        "detail": None, "legacy_hash": None, "prev_hash": "0" * 64,
    }  # fmt: skip


def _per_row(rows: int) -> tuple[float, float]:
    documents = [_document(seq) for seq in range(rows)]
    started = time.perf_counter()
    for document in documents:
        hashlib.sha256(b"0" * 64 + canonical_json({name: document[name] for name in LEGACY_HASHED_COLUMNS}))
    legacy = time.perf_counter() - started
    started = time.perf_counter()
    for document in documents:
        salt = new_salt()
        personal = {name: document[name] for name in PERSONAL_COLUMNS}
        personal["personal_salt"] = salt
        document["personal_digest"] = hashlib.sha256(canonical_json(personal)).hexdigest()
        hashlib.sha256(b"0" * 64 + canonical_json({name: document[name] for name in HASHED_COLUMNS}))
    current = time.perf_counter() - started
    return legacy, current


def _redaction(url: str, baskets: int) -> tuple[float, float]:
    engine = make_engine(url)
    upgrade_database(engine)
    seed_database(engine, baskets, 7, NOW)
    with engine.connect() as connection:
        ids = [str(basket_id) for basket_id in connection.scalars(select(Basket.id).order_by(Basket.id))]
    started = time.perf_counter()
    for start in range(0, len(ids), 1000):
        with write_transaction(engine) as connection:
            delete_baskets_with_audit(connection, ids[start : start + 1000], actor=Actor("bench", "system"),
                                      reason="retention", occurred_at=NOW)  # fmt: skip
    deleting = time.perf_counter() - started
    started = time.perf_counter()
    redacted = redact_rows_past_cutoff(engine, NOW + dt.timedelta(seconds=1), batch_size=1000)
    redacting = time.perf_counter() - started
    assert redacted == len(ids), (redacted, len(ids))
    engine.dispose()
    return deleting, redacting


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--baskets", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    legacy, current = _per_row(args.rows)
    print(f"hashing {args.rows:,} audit documents: whole row {legacy:.2f} s, kept fields + salted digest "
          f"{current:.2f} s, ratio {current / legacy:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        deleting, redacting = _redaction(url, args.baskets)
    print(f"{args.baskets:,} baskets: deleting with audit rows {deleting:.2f} s, redacting those rows "
          f"{redacting:.2f} s, ratio {redacting / deleting:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
