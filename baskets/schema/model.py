"""The mapping: where a shop keeps its baskets, lines and the rows deleted with them (a TOML file)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baskets.schema.conditions import MAX_ITEMS, MAX_TEXT, Condition, check_identifier

KeyType = Literal["integer", "guid", "text"]
AccountType = Literal["Customer", "Anonymous", "Contact"]
DeleteRule = Literal["cascade", "explicit"]
# A child table's rows may also outlive their basket: `set_null` unlinks them instead of deleting.
ChildRule = Literal["cascade", "explicit", "set_null"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _names(*fields: str) -> Any:
    def check(cls: Any, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [check_identifier(item) for item in value]
        return check_identifier(value)

    return field_validator(*fields)(classmethod(check))  # type: ignore[arg-type]


class BasketTable(_Strict):
    """The basket table: its key (and the key's type), when a basket was created and last changed."""

    table: str
    key: str
    key_type: KeyType
    created: str
    modified: str

    _checked = _names("table", "key", "created", "modified")


class AccountTypeRule(_Strict):
    type: AccountType
    when: Condition


class AccountTypes(_Strict):
    """The account type of a basket: the first rule whose `when` holds, else `default`."""

    default: AccountType = "Customer"
    rules: list[AccountTypeRule] = Field(default_factory=list, max_length=MAX_ITEMS)


class Party(_Strict):
    """A shop account or ERP account: `id` is a basket-table column; with `table` (keyed by `key`)
    `name` and `email` are columns of that table, without it columns of the basket table.
    `name` may list columns (first and last name), joined with a space."""

    id: str | None = None
    table: str | None = None
    key: str | None = None
    name: str | list[str] | None = Field(default=None)
    email: str | None = None

    _checked = _names("id", "table", "key", "name", "email")

    @model_validator(mode="after")
    def _joined(self) -> Party:
        if self.table is not None and (self.key is None or self.id is None):
            raise ValueError("table needs key (its key column) and id (the basket column referring to it)")
        if self.key is not None and self.table is None:
            raise ValueError("key belongs with table")
        return self

    def name_columns(self) -> list[str]:
        return [] if self.name is None else [self.name] if isinstance(self.name, str) else list(self.name)


class LineTable(_Strict):
    """The basket lines: each refers to its basket by `basket_column`."""

    table: str
    key: str
    basket_column: str
    product: str
    variant: str | None = None
    quantity: str
    unit: str | None = None
    delete: DeleteRule = "explicit"

    _checked = _names("table", "key", "basket_column", "product", "variant", "quantity", "unit")


class ChildTable(_Strict):
    """Rows deleted (and restored) with a basket: referring to the basket by `basket_column`, or
    to a row of another child table (`parent`) by `parent_column`. `delete`: `cascade` when the
    shop's own foreign key deletes them (ON DELETE CASCADE), `explicit` to delete them first,
    `set_null` for rows that outlive the basket (a payment): their `basket_column` is set to
    NULL in the delete's transaction, and a restore links them to the basket again."""

    table: str
    key: str
    basket_column: str | None = None
    parent: str | None = None
    parent_column: str | None = None
    delete: ChildRule = "explicit"

    _checked = _names("table", "key", "basket_column", "parent", "parent_column")

    @model_validator(mode="after")
    def _one_link(self) -> ChildTable:
        if (self.basket_column is None) == (self.parent is None):
            raise ValueError("give basket_column, or parent with parent_column (one of them)")
        if (self.parent is None) != (self.parent_column is None):
            raise ValueError("parent and parent_column go together")
        if self.delete == "set_null" and self.basket_column is None:
            raise ValueError('delete = "set_null" needs basket_column (the column set to NULL)')
        return self


class Mapping(_Strict):
    """A whole mapping file."""

    name: str = Field(max_length=60)
    description: str | None = Field(default=None, max_length=MAX_TEXT * 4)
    basket: BasketTable
    account_type: AccountTypes = Field(default_factory=AccountTypes)
    shop_account: Party = Field(default_factory=Party)
    account: Party = Field(default_factory=Party)
    lines: LineTable
    children: list[ChildTable] = Field(default_factory=list, max_length=MAX_ITEMS)
    protect: Condition | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.isprintable() or not value.strip():
            raise ValueError(f"{value!r} is not a name (expected printable text, e.g. magento2)")
        return value

    @model_validator(mode="after")
    def _tables_fit(self) -> Mapping:
        owned = [self.basket.table, self.lines.table, *(child.table for child in self.children)]
        repeated = sorted({name for name in owned if owned.count(name) > 1})
        if repeated:
            raise ValueError(f"table {repeated[0]} is mapped twice (expected each table once)")
        earlier = {self.lines.table}
        for child in self.children:
            if child.parent is not None and child.parent not in earlier:
                raise ValueError(
                    f"children: parent {child.parent} of {child.table} is not the line table or a child "
                    "deleted with the basket listed before it"
                )
            if child.delete != "set_null":
                earlier.add(child.table)
        return self

    def owned_tables(self) -> list[str]:
        """The tables whose rows a basket owns, parents before children (restore order)."""
        return [self.basket.table, self.lines.table, *(child.table for child in self.children)]

    def child_links(self) -> list[ChildTable]:
        """The line table and the children as ChildTable, parents first."""
        line = ChildTable(
            table=self.lines.table, key=self.lines.key, basket_column=self.lines.basket_column,
            delete=self.lines.delete,
        )  # fmt: skip
        return [line, *self.children]
