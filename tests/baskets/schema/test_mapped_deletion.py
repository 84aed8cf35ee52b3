"""Deleting on a mapped schema at the domain level: protection re-checked under the locks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import insert, select

from baskets.db import make_engine, write_transaction
from baskets.deletion import delete_baskets_with_audit, split_missing
from baskets.retention import RetentionPolicy
from baskets.roles import Actor
from baskets.schema import attach_mapping, load_mapping, mapped_schema
from baskets.schema.bookkeeping import init_bookkeeping
from baskets.schema.rows import decode_value, encode_value
from tests.baskets.schema.shop import build_shop, cart, payment

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
ROBOT = Actor("retention-policy", "system")


def test_a_basket_protected_after_selection_survives_the_batch(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    mapping = load_mapping(str(build_shop(engine, tmp_path)))
    attach_mapping(engine, mapping)
    schema = mapped_schema(engine)
    assert schema is not None
    init_bookkeeping(engine, schema)
    policy = RetentionPolicy(days={"anonymous": 30, "contact": 90, "customer": 180})
    from baskets.retention.policy import select_expired_basket_ids

    with engine.connect() as connection:
        selected = [basket.basket_id for basket in select_expired_basket_ids(connection, policy, NOW)]
    assert selected == ["10", "11", "14"]  # 12 is protected already, 13 is fresh
    with engine.begin() as connection:  # a payment starts for cart 11 after the selection
        connection.execute(insert(payment).values(id=2, cart_id=11, state="authorized"))
    with write_transaction(engine) as connection:
        result = delete_baskets_with_audit(
            connection,
            selected,
            actor=ROBOT,
            reason="retention",
            still_matches=policy.expired_on(connection, NOW),
        )
        survived, gone = split_missing(connection, result.missing)
    assert result.deleted == ["10", "14"] and survived == ["11"] and gone == []
    with engine.connect() as connection:
        assert list(connection.scalars(select(cart.c.id).order_by(cart.c.id))) == [11, 12, 13]
    engine.dispose()


def test_values_round_trip_through_their_json_form() -> None:
    import uuid
    from decimal import Decimal

    values = [None, True, 7, "ü", 1.5, Decimal("12.3400"), dt.datetime(2026, 1, 2, 3, 4, 5, 6),
              dt.datetime(2026, 1, 2, tzinfo=dt.UTC), dt.date(2026, 1, 2), dt.time(1, 2, 3), dt.timedelta(days=1, seconds=3),
              uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301"), b"\x00\xff", {"a": [1, 2]}]  # fmt: skip
    for value in values:
        back = decode_value(encode_value(value))
        assert back == value and type(back) is type(value)
