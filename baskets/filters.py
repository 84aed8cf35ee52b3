"""The basket filter of the admin page (§4): one pydantic model for list, export, delete and run forms."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, String, and_, true

from baskets.errors import BadInput
from baskets.guid import parse_guid
from baskets.models import Account, Basket, ShopAccount

AccountTypeName = Literal["customer", "anonymous", "contact"]

# The command-line flag of each field, for messages a person can act on.
FLAGS = {
    "shop_account_name": "--shop-account-name",
    "shop_account_email": "--shop-account-email",
    "basket_id": "--basket-id",
    "shop_account_id": "--shop-account-id",
    "account_id": "--account-id",
    "account_type": "--account-type",
    "created_before": "--created-before",
    "created_after": "--created-after",
    "modified_before": "--modified-before",
    "modified_after": "--modified-after",
}
EXAMPLE_TIME = "2026-01-31 or 2026-01-31T18:00:00+01:00"
# Times every backend stores (MariaDB's DATETIME starts at year 1000), with room around them:
# a retention cut-off up to a century before (retention days <= 36500) and the day after a
# date-only --until are still datetimes. No webstore has a basket outside this range.
EARLIEST_TIME = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
# Unicode categories a typed value never needs: controls (NUL included), invisible format
# characters, lone surrogates (undecodable bytes from a shell), line and paragraph separators.
UNTYPABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# The column each text filter compares with: a longer value cannot match, and some drivers
# refuse it, so it is refused before any query runs.
TEXT_COLUMNS = {
    "shop_account_name": ShopAccount.name,
    "shop_account_email": ShopAccount.email,
    "account_id": Basket.account_id,
}


def column_length(column: Any) -> int:
    """The declared length of a String column."""
    declared = column.type
    if not isinstance(declared, String) or declared.length is None:
        raise TypeError(f"{column} is not a String column with a length")
    return declared.length


def check_typable(text: str) -> str:
    """`text` itself; ValueError naming the first control, invisible or undecodable character."""
    for position, character in enumerate(text, start=1):
        if unicodedata.category(character) in UNTYPABLE_CATEGORIES:
            raise ValueError(
                f"character {position} is U+{ord(character):04X}, a control or invisible character "
                "(expected printable text only)"
            )
    return text


class TimeOutOfRange(ValueError):
    """A well-formed time outside EARLIEST_TIME up to LATEST_TIME (in UTC)."""


def parse_utc_time(value: Any) -> dt.datetime:
    """An ISO date or datetime as an aware UTC datetime; UTC unless an offset is given.

    Raises ValueError with an example of a good value when `value` is malformed, and
    TimeOutOfRange (a ValueError) when it is outside EARLIEST_TIME up to LATEST_TIME in UTC.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO date or datetime (expected e.g. {EXAMPLE_TIME})"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise TimeOutOfRange(
            f"{str(value)!r} is out of range (expected a time from {EARLIEST_TIME:%Y-%m-%d} "
            f"up to {LATEST_TIME:%Y-%m-%d} UTC, e.g. {EXAMPLE_TIME})"
        )
    return utc


class BasketFilter(BaseModel):
    """Filters that combine with AND; None means 'any'.

    Text filters match a case-insensitive substring in which `%` and `_` are literal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shop_account_name: str | None = None
    shop_account_email: str | None = None
    basket_id: str | None = None
    shop_account_id: str | None = None
    account_id: str | None = None
    account_type: AccountTypeName | None = None
    created_before: dt.datetime | None = None
    created_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None
    modified_after: dt.datetime | None = None

    # Every field's validator runs whatever path the filter came by (flags, run form, Python),
    # so a value no column could hold or no driver could send never reaches a query.

    @field_validator("basket_id", "shop_account_id", mode="before")
    @classmethod
    def _guid(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        from baskets.schema.loading import current_mapping, parse_key_as

        mapping = current_mapping()  # the shop's own tables: their key types (baskets.schema)
        if mapping is None:
            return parse_guid(check_typable(str(value)))
        kind = mapping.basket.key_type if info.field_name == "basket_id" else "text"
        return str(parse_key_as(kind, str(value)))

    @field_validator("shop_account_name", "shop_account_email", "account_id", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        text = check_typable(str(value)).strip()
        if not text:
            raise ValueError("is empty (leave it out to match everything)")
        limit = column_length(TEXT_COLUMNS[str(info.field_name)])
        if len(text) > limit:
            raise ValueError(f"{len(text)} characters is longer than the column (at most {limit})")
        return text

    @field_validator("account_type", mode="before")
    @classmethod
    def _account_type(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip().lower()
        if text not in ("customer", "anonymous", "contact"):
            raise ValueError(f"{value!r} is not an account type (expected customer, anonymous or contact)")
        return text

    @field_validator("created_before", "created_after", "modified_before", "modified_after", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return None if value is None else parse_utc_time(value)

    @classmethod
    def from_form(cls, **fields: str) -> BasketFilter:
        """Build from a run form's filter fields, where an empty field (and account_type `any`)
        means no filter: the form shows each field as plain text, where a nullable one would
        hide behind the UI's None switch. Bad values as `from_flags`."""
        return cls.from_flags(
            **{name: None if value == "" or (name, value) == ("account_type", "any") else value
               for name, value in fields.items()}
        )  # fmt: skip

    @classmethod
    def from_flags(cls, **values: Any) -> BasketFilter:
        """Build from command-line flags or run-form fields; on a bad value raise BadInput naming
        the field (`account_type: ...`)."""
        try:
            return cls(**values)
        except ValidationError as error:
            first = error.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            message = first["msg"].removeprefix("Value error, ")
            raise BadInput(f"{field}: {message}" if field else message, field=field or None) from None

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)

    def describe(self) -> dict[str, str]:
        """The filters in use, as flag → value, for artifacts and messages."""
        return {
            FLAGS[name]: value.isoformat() if isinstance(value, dt.datetime) else str(value)
            for name, value in self.model_dump(exclude_none=True).items()
        }

    def where(self) -> ColumnElement[bool]:
        """The SQL condition; expects `baskets` joined (outer) to shop_accounts and accounts."""
        conditions: list[ColumnElement[bool]] = []
        if self.shop_account_name is not None:
            conditions.append(ShopAccount.name.icontains(self.shop_account_name, autoescape=True))
        if self.shop_account_email is not None:
            conditions.append(ShopAccount.email.icontains(self.shop_account_email, autoescape=True))
        if self.basket_id is not None:
            conditions.append(Basket.id == self.basket_id)
        if self.shop_account_id is not None:
            conditions.append(Basket.shop_account_id == self.shop_account_id)
        if self.account_id is not None:
            conditions.append(Basket.account_id == self.account_id)
        if self.account_type is not None:
            conditions.append(Basket.account_type == self.account_type.capitalize())
        if self.created_before is not None:
            conditions.append(Basket.created_at < self.created_before)
        if self.created_after is not None:
            conditions.append(Basket.created_at >= self.created_after)
        if self.modified_before is not None:
            conditions.append(Basket.modified_at < self.modified_before)
        if self.modified_after is not None:
            conditions.append(Basket.modified_at >= self.modified_after)
        return and_(true(), *conditions)

    def needs_shop_account_join(self) -> bool:
        return self.shop_account_name is not None or self.shop_account_email is not None


__all__ = ["Account", "BasketFilter", "TimeOutOfRange", "parse_utc_time"]
