"""The audit hash chain: canonical rows, and verify catching every kind of tampering."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from baskets.audit import (
    HASHED_COLUMNS,
    PERSONAL_COLUMNS,
    canonical_json,
    canonical_lines,
    canonical_quantity,
    canonical_row,
    chain_hash,
    legacy_chain_hash,
    parse_lines,
    personal_digest,
    verify_audit_chain,
    verify_audit_chain_snapshot,
)
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.models import GENESIS_HASH, AuditChainHead, Basket, BasketAudit
from baskets.roles import Actor
from tests.conftest import DatabaseUnderTest, seed

BOB = Actor("bob", "order_processor")


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "seq": 1, "event": "deleted", "basket_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "occurred_at": dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC), "actor": "bob",
        "actor_role": "order_processor", "reason": "broken", "note": None, "flow_run_id": None,
        "shop_account_id": None, "shop_account_name": None, "shop_account_email": None, "account_id": None,
        "account_name": None, "account_email": None, "account_type": "Anonymous",
        "basket_created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "basket_modified_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "line_count": 0,
        "total_quantity": Decimal("0"), "lines": "[]", "prev_hash": GENESIS_HASH, "detail": None,
        "personal_digest": "d" * 64, "personal_salt": "5" * 32, "redacted_at": None, "redaction": None,
        "legacy_hash": None,
    }  # fmt: skip
    row.update(changes)
    return row


def _chain(database: DatabaseUnderTest, deletions: int = 6) -> list[str]:
    """Seed and delete `deletions` baskets one per transaction; return the hashes."""
    seed(database, 30)
    with database.engine.connect() as connection:
        ids = list(connection.scalars(select(Basket.id).order_by(Basket.id).limit(deletions)))
    for basket_id in ids:
        with write_transaction(database.engine) as connection:
            delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken")
    with database.engine.connect() as connection:
        return list(connection.scalars(select(BasketAudit.hash).order_by(BasketAudit.seq)))


def _verify(database: DatabaseUnderTest, head: str | None = None):  # type: ignore[no-untyped-def]
    return verify_audit_chain_snapshot(database.engine, head)


def test_canonical_row_covers_the_kept_fields_and_the_digest_of_the_personal_part() -> None:
    assert "hash" not in HASHED_COLUMNS
    assert {"seq", "prev_hash", "personal_digest", "total_quantity", "basket_id", "actor"} <= set(
        HASHED_COLUMNS
    )
    assert not set(PERSONAL_COLUMNS) & set(HASHED_COLUMNS)
    assert not {"personal_salt", "redacted_at", "redaction"} & set(HASHED_COLUMNS)
    assert canonical_row(_row()).startswith(b'{"account_type":"Anonymous",')


def test_removing_the_personal_part_leaves_the_hash_as_it_was() -> None:
    full = _row(shop_account_email="zoë@example.com", account_id="C-1", note="asked by phone", lines="[]")
    redacted = _row(**dict.fromkeys(PERSONAL_COLUMNS), personal_salt=None)
    assert chain_hash(GENESIS_HASH, full) == chain_hash(GENESIS_HASH, redacted)


@given(field=st.sampled_from(PERSONAL_COLUMNS), text=st.text(min_size=1, max_size=20))
def test_any_change_to_the_personal_part_changes_its_digest(field: str, text: str) -> None:
    original = _row(shop_account_email="zoë@example.com", lines="[]")
    changed = _row(**{field: text if text != original[field] else text + "x"})
    salt = "ab" * 16
    assert personal_digest(changed, salt) != personal_digest(original, salt)
    assert personal_digest(original, salt) != personal_digest(original, "cd" * 16)


def test_same_instant_in_another_zone_and_float_quantity_hash_the_same() -> None:
    amsterdam = dt.timezone(dt.timedelta(hours=1))
    same = _row(occurred_at=dt.datetime(2026, 11, 1, 13, tzinfo=amsterdam), total_quantity=2.4999999999999996)
    assert chain_hash(GENESIS_HASH, same) == chain_hash(GENESIS_HASH, _row(total_quantity=Decimal("2.5")))


@given(
    field=st.sampled_from([c for c in HASHED_COLUMNS if c not in ("seq", "line_count")]),
    text=st.text(min_size=1, max_size=20),
)
def test_any_change_to_a_text_field_changes_the_hash(field: str, text: str) -> None:
    original = _row()
    if field in ("occurred_at", "basket_created_at", "basket_modified_at"):
        changed = _row(**{field: original[field] + dt.timedelta(microseconds=1)})  # type: ignore[operator]
    elif field == "total_quantity":
        changed = _row(total_quantity=Decimal("0.0001"))
    else:
        changed = _row(**{field: text if text != original[field] else text + "x"})
    assert chain_hash(GENESIS_HASH, changed) != chain_hash(GENESIS_HASH, original)


@given(st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False))
def test_quantity_survives_a_round_trip_through_float(value: Decimal) -> None:
    assert canonical_quantity(float(value)) == canonical_quantity(value) == format(value, "f")


# A row with every awkward value the log can hold; its hash was computed by the first release
# (json.dumps), so a faster canonical form must give exactly these bytes.
_LINES = [
    {"id": 9, "product_id": 'ITEM-2 "Zoë"\n', "variant_id": None, "quantity": Decimal("1.5"), "uom_id": "KG"},
    {"id": 3, "product_id": "ITEM-1", "variant_id": "V\u00e5\u2028", "quantity": 2.4999999999999996,
     "uom_id": None},
]  # fmt: skip
_LINES_TEXT = (
    '[{"id":3,"product_id":"ITEM-1","quantity":"2.5000","uom_id":null,"variant_id":"V\u00e5\u2028"},'
    '{"id":9,"product_id":"ITEM-2 \\"Zoë\\"\\n","quantity":"1.5000","uom_id":"KG","variant_id":null}]'
)


def test_hash_of_a_row_with_awkward_text_is_the_one_the_first_release_wrote() -> None:
    row = _row(
        seq=7, occurred_at=dt.datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=dt.UTC), actor="bøb",
        note="ERP price\tchange \\ broke it \x01 😀", flow_run_id="0b8f2b6c-4a5e-4d6f-9c1e-2f3a4b5c6d7e",
        shop_account_id="a1b2c3d4-0000-4000-8000-000000000001", shop_account_name='=HYPERLINK("x")',
        shop_account_email="zoë@example.com", account_id="C-10042", account_name="Bäckerei Groß GmbH",
        account_type="Customer", basket_created_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        basket_modified_at=dt.datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=dt.UTC), line_count=2,
        total_quantity=Decimal("3.9999"), lines=canonical_lines(_LINES), prev_hash="ab" * 32,
    )  # fmt: skip
    assert canonical_lines(_LINES) == _LINES_TEXT
    assert (
        legacy_chain_hash(row["prev_hash"], row)
        == "4db60683dab843d80ddd36209a3a8f5f7efbb50239b51167e78d573d73f74f40"
    )  # type: ignore[arg-type]


def _reference_json(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@given(
    texts=st.dictionaries(st.sampled_from(HASHED_COLUMNS), st.one_of(st.none(), _TEXT), min_size=1),
    number=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def testcanonical_json_is_byte_for_byte_the_reference_json(texts: dict[str, str | None], number: int) -> None:
    document = {**texts, "seq": number}
    assert canonical_json(document) == _reference_json(document)
    lines = [{"id": abs(number) % 1000, "product_id": text or "", "variant_id": text, "quantity": "1",
              "uom_id": None} for text in texts.values()]  # fmt: skip
    assert canonical_lines(lines).encode() == _reference_json(
        sorted(({**line, "quantity": "1.0000"} for line in lines), key=lambda line: line["id"])
    )


def test_lines_round_trip_in_line_id_order() -> None:
    lines = [
        {"id": 9, "product_id": "ITEM-2", "variant_id": None, "quantity": Decimal("1.5"), "uom_id": "KG"},
        {"id": 3, "product_id": "ITEM-1", "variant_id": "V1", "quantity": 2.0, "uom_id": None},
    ]
    text = canonical_lines(lines)
    assert [line["id"] for line in parse_lines(text)] == [3, 9]
    assert [line["quantity"] for line in parse_lines(text)] == [Decimal("2.0000"), Decimal("1.5000")]


def test_empty_log_verifies_with_the_genesis_head(db: DatabaseUnderTest) -> None:
    report = _verify(db)
    assert (report.ok, report.count, report.head_hash) == (True, 0, GENESIS_HASH)


def test_intact_chain_verifies_and_reports_its_head(db: DatabaseUnderTest) -> None:
    hashes = _chain(db)
    report = _verify(db, head=hashes[3])
    assert (report.ok, report.count, report.head_seq, report.head_hash) == (True, 6, 6, hashes[-1])


def test_changed_field_is_caught_at_its_row(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 4).values(actor="mallory"))
    report = _verify(db)
    assert (report.ok, report.first_bad_seq, report.count) == (False, 4, 3)
    assert "changed" in (report.problem or "")


def test_changed_field_with_recomputed_hash_is_caught_at_the_next_row(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        row = dict(
            connection.execute(select(BasketAudit.__table__).where(BasketAudit.seq == 2)).mappings().one()
        )
        row["actor"] = "nobody"
        connection.execute(
            update(BasketAudit).where(BasketAudit.seq == 2).values(actor=row["actor"],
                                                                   hash=chain_hash(row["prev_hash"], row))
        )  # fmt: skip
    assert _verify(db).first_bad_seq == 3


def test_changed_personal_field_is_caught_at_its_row_by_its_digest(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 2).values(note="nothing to see"))
    report = _verify(db)
    assert (report.first_bad_seq, report.problem) == (
        2,
        "row 2 was changed after it was written (its personal data does not match its digest)",
    )


def test_removed_row_is_caught(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq == 3))
    report = _verify(db)
    assert (report.first_bad_seq, report.count) == (3, 2)
    assert "missing" in (report.problem or "")


def test_removed_and_renumbered_row_is_caught(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq == 3))
        for seq in (4, 5, 6):
            connection.execute(update(BasketAudit).where(BasketAudit.seq == seq).values(seq=seq - 1))
    assert _verify(db).first_bad_seq == 3


def test_two_swapped_rows_are_caught(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 2).values(seq=-2))
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 3).values(seq=2))
        connection.execute(update(BasketAudit).where(BasketAudit.seq == -2).values(seq=3))
    report = _verify(db)
    assert report.first_bad_seq == 2
    assert "link" in (report.problem or "")


def test_cut_off_tail_is_caught_by_the_chain_head_row(db: DatabaseUnderTest) -> None:
    _chain(db)
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq > 4))
    report = _verify(db)
    assert (report.first_bad_seq, report.count) == (5, 4)


def test_cut_off_tail_with_rewound_head_is_caught_only_by_a_saved_head(db: DatabaseUnderTest) -> None:
    hashes = _chain(db)
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq > 4))
        connection.execute(update(AuditChainHead).values(seq=4, hash=hashes[3]))
    assert _verify(db).ok
    report = _verify(db, head=hashes[-1])
    assert (report.ok, report.first_bad_seq) == (False, None)
    assert report.problem == (
        f"the chain never had head {hashes[-1]} (it has 4 rows; its head is seq 4, hash {hashes[3]}): "
        "rows after seq 4 were cut off, the chain was rewritten, or that hash is another database's"
    )


def test_verify_streams_a_log_longer_than_one_chunk(db: DatabaseUnderTest) -> None:
    seed(db, 40)
    with db.engine.connect() as connection:
        ids = list(connection.scalars(select(Basket.id).order_by(Basket.id)))
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="manual")
    with db.engine.connect() as connection:
        report = verify_audit_chain(connection, chunk=7)
    assert (report.ok, report.count) == (True, 40)


def test_postgresql_row_to_json_writes_canonical_json_for_every_code_point(
    postgresql_db: DatabaseUnderTest,
) -> None:
    """The one-statement delete takes the lines' canonical text from PostgreSQL's row_to_json:
    it must escape exactly as canonical_json does, for every character text can hold (NUL
    cannot be in a PostgreSQL text, surrogates are not characters)."""
    with postgresql_db.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT n, row_to_json(x)::text FROM (SELECT n, chr(n) AS s FROM generate_series(1, 1114111) n "
            "WHERE n NOT BETWEEN 55296 AND 57343) x"
        ).all()
    assert len(rows) == 1114111 - 2048
    differing = [(n, text) for n, text in rows if text.encode() != canonical_json({"n": n, "s": chr(n)})]
    assert differing == []


def test_missing_chain_head_row_is_a_broken_chain_and_no_writer_goes_on(db: DatabaseUnderTest) -> None:
    from baskets.deletion import restore_basket
    from baskets.errors import AuditChainBroken

    hashes = _chain(db, 3)
    with db.engine.begin() as connection:
        connection.execute(delete(AuditChainHead))
    report = _verify(db)
    assert (report.ok, report.first_bad_seq, report.count) == (False, 4, 3)
    assert report.problem == (
        "the chain head row is missing (audit_chain_head is empty): rows after seq 3 may have been cut off"
    )
    with db.engine.connect() as connection:
        live = connection.scalar(select(Basket.id).order_by(Basket.id).limit(1))
        gone = connection.scalar(select(BasketAudit.basket_id).where(BasketAudit.seq == 1))
    for write in (
        lambda connection: delete_baskets_with_audit(connection, [live], actor=BOB, reason="broken"),
        lambda connection: restore_basket(connection, gone, actor=Actor("alice", "system_administrator")),
    ):
        with pytest.raises(AuditChainBroken) as broken, write_transaction(db.engine) as connection:
            write(connection)
        assert broken.value.exit_code == 6
        assert broken.value.message.startswith(
            "audit chain broken: the chain head row (audit_chain_head) is missing"
        )
    with db.engine.connect() as connection:
        assert list(connection.scalars(select(BasketAudit.hash).order_by(BasketAudit.seq))) == hashes
        assert connection.scalar(select(Basket.id).where(Basket.id == live)) == live
        assert connection.scalar(select(Basket.id).where(Basket.id == gone)) is None
