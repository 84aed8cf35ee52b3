"""`baskets list`: the basket overview, newest first, filtered like the admin page."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel

from baskets.filters import BasketFilter
from baskets.queries import count_baskets, list_baskets
from baskets.roles import Action, authorize
from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    OperatorName,
    emit_json,
    open_runtime,
    stdout,
    with_basket_filter,
)
from flows.results import IsoTime

app = typer.Typer()


class BasketRow(BaseModel):
    """One line of the overview (baskets.queries.OVERVIEW_COLUMNS)."""

    basket_id: str
    shop_account_name: str | None
    shop_account_email: str | None
    account_id: str | None
    account_name: str | None
    account_email: str | None
    account_type: str
    created_at: IsoTime
    modified_at: IsoTime
    line_count: int
    shop_account_id: str | None


class BasketPage(BaseModel):
    """`baskets list`: the rows shown of all that matched the filter."""

    shown: int
    total: int
    filter: dict[str, str]
    baskets: list[BasketRow]


# Upper bound of --limit: a larger value is refused (exit 2) rather than exhausting memory.
MAX_LIST_ROWS = 1_000_000


@app.command("list")
@with_basket_filter
def list_command(
    basket_filter: BasketFilter,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIST_ROWS, help="At most this many rows.")
    ] = 50,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """The basket overview, newest first, filtered like the admin page."""
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.LIST)
        rows = list_baskets(connection, basket_filter, limit)
        # Counted only when the page is full: a shorter page is every match already.
        total = count_baskets(connection, basket_filter) if len(rows) == limit else len(rows)
    page = BasketPage(
        shown=len(rows),
        total=total,
        filter=basket_filter.describe(),
        baskets=[BasketRow.model_validate(row) for row in rows],
    )
    if json_output:
        emit_json(page)
        return
    from rich.table import Table  # here: commands printing JSON or one line need no table

    table = Table(title=describe_page(page.shown, page.total), title_justify="left")
    for heading in (
        "Basket Id", "Shop account name", "Shop account e-mail", "Account Id", "Account name",
        "Account e-mail", "Type", "Created (UTC)", "Modified (UTC)", "Lines",
    ):  # fmt: skip
        table.add_column(heading, overflow="fold")
    for row in page.baskets:
        table.add_row(
            row.basket_id,
            row.shop_account_name or ("" if row.shop_account_id is None else "(deleted)"),
            row.shop_account_email or "",
            row.account_id or "",
            row.account_name or "",
            row.account_email or "",
            row.account_type,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.modified_at:%Y-%m-%d %H:%M}",
            f"{row.line_count:,}",
            end_section=False,
        )
    stdout.print(table)


def describe_page(shown: int, total: int) -> str:
    """The list's title: "50 of 2,062 baskets, newest first", "1 basket", "no baskets match"."""
    if total == 0:
        return "no baskets match"
    if shown == total:
        return f"{plural(total, 'basket')}, newest first"
    return f"{shown:,} of {plural(total, 'basket')}, newest first"
