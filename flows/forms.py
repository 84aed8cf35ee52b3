"""What the run forms share: a time typed as text, shown as a plain field rather than behind the
UI's None switch that a nullable date-time gets; the basket filter's fields and their descriptions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from baskets.errors import BadInput
from baskets.filters import BasketFilter, parse_utc_time


def form_time(value: str, field: str) -> dt.datetime | None:
    """A time field of a run form as aware UTC: None when left empty; else an ISO date or time,
    UTC unless it has an offset. BadInput naming `field` when malformed or out of range."""
    if not value.strip():
        return None
    try:
        return parse_utc_time(value)
    except ValueError as error:
        raise BadInput(f"{field}: {error}", field=field) from None


# The basket filter's run-form fields, shared by basket-delete and report-export. Each is a
# pydantic Field default: Prefect shows its description in the run form (a docstring's Args line
# would have to be repeated in each flow), and the flow gets the default when the field is left
# empty. Empty (and account_type `any`) means no filter (`BasketFilter.from_form`).
FILTER_FIELDS = (
    "shop_account_name", "shop_account_email", "basket_id", "shop_account_id", "account_id",
    "account_type", "created_before", "created_after", "modified_before", "modified_after",
)  # fmt: skip
AccountType = Literal["any", "customer", "anonymous", "contact"]
SHOP_ACCOUNT_NAME = Field(
    default="", description="Filter - part of the shop account name, any case (`%` and `_` match themselves)."
)
SHOP_ACCOUNT_EMAIL = Field(default="", description="Filter - part of the shop account e-mail, any case.")
BASKET_ID = Field(
    default="", description="Filter - one basket GUID, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301."
)
SHOP_ACCOUNT_ID = Field(default="", description="Filter - the baskets of one shop account, by its GUID.")
ACCOUNT_ID = Field(default="", description="Filter - the baskets of one ERP account, by its exact ID.")
ACCOUNT_TYPE: AccountType = Field(
    default="any", description="Filter - customer, anonymous or contact baskets; any for all three."
)
CREATED_BEFORE = Field(
    default="",
    description="Filter - created before this ISO date or time, e.g. 2026-01-31 or "
    "2026-01-31T18:00:00+01:00 (UTC unless it has an offset).",
)
CREATED_AFTER = Field(default="", description="Filter - created at or after this time.")
MODIFIED_BEFORE = Field(default="", description="Filter - last modified before this time.")
MODIFIED_AFTER = Field(default="", description="Filter - last modified at or after this time.")


def form_filter(fields: dict[str, Any]) -> BasketFilter:
    """The basket filter of a run form, from the flow's parameters (`locals()` will do: only the
    FILTER_FIELDS are read). BadInput naming the field on a bad value."""
    return BasketFilter.from_form(**{name: fields[name] for name in FILTER_FIELDS})
