"""A shop account's details (the admin page's "View shop account"), for system administrators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from baskets.errors import NotFound
from baskets.models import Account, Basket, ShopAccount


def shop_account_details(connection: Connection, guid: str) -> dict[str, Any]:
    """The shop account `guid`, or the shop account of basket `guid`, with its ERP account and
    how many baskets it has open.

    Raises NotFound (exit 4) when neither exists, when the basket is anonymous, or when the
    basket's shop account has been deleted since (a basket may outlive its shop account).
    """
    shop_account_id = guid
    found = connection.scalar(select(ShopAccount.id).where(ShopAccount.id == guid))
    if found is None:
        basket = connection.execute(
            select(Basket.shop_account_id, Basket.account_type).where(Basket.id == guid)
        ).one_or_none()
        if basket is None:
            raise NotFound(f"no shop account (and no basket) with ID {guid}")
        if basket.shop_account_id is None:
            raise NotFound(f"basket {guid} is {basket.account_type.lower()}: it has no shop account")
        shop_account_id = basket.shop_account_id
    row = connection.execute(
        select(
            ShopAccount.id.label("shop_account_id"),
            ShopAccount.name,
            ShopAccount.email,
            ShopAccount.shop_account_type,
            ShopAccount.activated,
            ShopAccount.created_at,
            ShopAccount.account_id,
            Account.name.label("account_name"),
            Account.email.label("account_email"),
            Account.kind.label("account_kind"),
        )
        .outerjoin(Account, Account.id == ShopAccount.account_id)
        .where(ShopAccount.id == shop_account_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"shop account {shop_account_id} of basket {guid} no longer exists")
    details = dict(row._mapping)
    details["basket_count"] = int(
        connection.scalar(
            select(func.count()).select_from(Basket).where(Basket.shop_account_id == shop_account_id)
        )
        or 0
    )
    return details
