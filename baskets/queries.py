"""Read queries of the basket overview (the admin page's list)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, select

from baskets.filters import BasketFilter
from baskets.models import Account, Basket, BasketLine, ShopAccount

OVERVIEW_COLUMNS = (
    "basket_id",
    "shop_account_name",
    "shop_account_email",
    "account_id",
    "account_name",
    "account_email",
    "account_type",
    "created_at",
    "modified_at",
    "line_count",
    "shop_account_id",
)


def joined_baskets(*columns: Any) -> Select[Any]:
    """`columns` from baskets outer-joined to their shop account and ERP account.

    Both joins are outer: anonymous baskets have neither, and a shop account may be gone.
    """
    return (
        select(*columns)
        .select_from(Basket)
        .outerjoin(ShopAccount, ShopAccount.id == Basket.shop_account_id)
        .outerjoin(Account, Account.id == Basket.account_id)
    )


def overview_query(basket_filter: BasketFilter, limit: int | None = None) -> Select[Any]:
    """The overview rows matching `basket_filter`, newest modification first."""
    line_count = (
        select(func.count(BasketLine.id))
        .where(BasketLine.basket_id == Basket.id)
        .correlate(Basket)
        .scalar_subquery()
    )
    query = (
        joined_baskets(
            Basket.id.label("basket_id"),
            ShopAccount.name.label("shop_account_name"),
            ShopAccount.email.label("shop_account_email"),
            Basket.account_id,
            Account.name.label("account_name"),
            Account.email.label("account_email"),
            Basket.account_type,
            Basket.created_at,
            Basket.modified_at,
            line_count.label("line_count"),
            Basket.shop_account_id,
        )
        .where(basket_filter.where())
        .order_by(Basket.modified_at.desc(), Basket.id)
    )
    return query.limit(limit) if limit is not None else query


def list_baskets(
    connection: Connection, basket_filter: BasketFilter, limit: int | None = 50
) -> list[dict[str, Any]]:
    """The overview as dicts (keys: OVERVIEW_COLUMNS), newest first."""
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:
        from baskets.schema.queries import list_mapped

        return list_mapped(schema, connection, basket_filter, limit)
    rows = connection.execute(overview_query(basket_filter, limit))
    return [dict(row._mapping) for row in rows]


def count_baskets(connection: Connection, basket_filter: BasketFilter) -> int:
    """How many baskets match `basket_filter`."""
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:
        from baskets.schema.queries import count_mapped

        return count_mapped(schema, connection, basket_filter)
    query = joined_baskets(func.count(Basket.id)).where(basket_filter.where())
    return int(connection.scalar(query) or 0)
