"""`baskets delete`, `baskets restore` and `baskets shop-account`.

The deletion and shop-account modules are imported by the commands that use them, so that the
other commands of the `baskets` process do not pay for their start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from baskets.errors import BadInput, NotFound
from baskets.filters import BasketFilter
from baskets.guid import parse_guid
from baskets.queries import count_baskets
from baskets.roles import Action, authorize
from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    OperatorName,
    ProgressTask,
    emit_json,
    open_runtime,
    progress_bar,
    stdout,
    with_basket_filter,
)
from cli.errors import fields_named
from flows.results import DeleteResult, RestoreResult
from flows.runner import run_flow

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer()
REASONS = ("broken", "manual")


def _check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    cleaned = reason.strip().lower()
    if cleaned not in REASONS:
        raise BadInput(f"--reason: {reason!r} is not a reason (expected broken or manual)")
    return cleaned


@app.command("delete")
@with_basket_filter
def delete_command(
    basket_filter: BasketFilter,
    basket_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[BASKET_ID]...", help="Basket GUIDs (any spelling).", show_default=False),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="broken (default for IDs) or manual (default for filters).", show_default=False
        ),
    ] = None,  # fmt: skip
    note: Annotated[str | None, typer.Option("--note", help="Free text kept in the audit log.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete what the filters match.")] = False,
    delete_all: Annotated[bool, typer.Option("--all", help="Allow a delete without any filter.")] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Delete baskets with their lines, each with an audit row (all or nothing for listed IDs).

    With filters instead of IDs it shows how many baskets match and deletes them only with --yes.
    """
    from baskets.deletion import check_note, existing_basket_ids, parse_basket_ids

    reason = _check_reason(reason)
    note = check_note(note)
    ids = parse_basket_ids(basket_ids or [])
    if ids and (not basket_filter.is_empty() or delete_all):
        raise BadInput("give basket IDs or filters, not both (e.g. baskets delete ID --as NAME)")
    if not ids and basket_filter.is_empty() and not delete_all:
        raise BadInput(
            "no basket IDs and no filter: pass IDs, a filter (e.g. --account-type anonymous), "
            "or --all to delete every basket"
        )
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    with runtime.engine.connect() as connection:
        authorize(connection, name, Action.DELETE)
        if ids:
            found = existing_basket_ids(connection, ids)
            unknown = [basket_id for basket_id in ids if basket_id not in found]
            if unknown:
                raise NotFound(f"no basket with ID {', '.join(unknown)}: nothing was deleted")
        else:
            matched = count_baskets(connection, basket_filter)
    if not ids and not yes:
        _report_match(matched, basket_filter, json_output)
        return
    from flows.delete import basket_delete
    from flows.runner import reporting_progress

    # A bar for a filtered delete of more than one basket: it appears with the first batch done
    # and ends on the number of baskets the run went through (some may have changed meanwhile).
    with progress_bar() as bar:
        deleting = ProgressTask(bar, "deleting baskets", 0 if ids or matched < 2 else matched)
        with reporting_progress(deleting.update):
            summary = run_flow(
                basket_delete,
                operator=name or "",
                basket_ids=ids,
                **basket_filter.model_dump(mode="json", exclude_none=True),
                delete_all=delete_all,
                reason=reason or "default",
                note=note or "",
            )
        deleting.finish()
    if json_output:
        emit_json(summary)
        return
    seqs = f"audit seq {summary.first_seq}..{summary.last_seq}" if summary.deleted else "no audit rows"
    stdout.print(f"deleted {plural(summary.deleted, 'basket')} ({seqs}), {_run_named(summary)}")
    if summary.survived:
        kept = plural(summary.survived, "basket")
        stdout.print(f"kept {kept} that changed since selection and no longer match")


def _report_match(matched: int, basket_filter: BasketFilter, json_output: bool) -> None:
    described = basket_filter.describe()
    if json_output:
        emit_json({"matched": matched, "deleted": 0, "filter": described, "confirmed": False})
        return
    filters = " ".join(f"{flag} {value!r}" for flag, value in described.items()) or "--all"
    them = "it" if matched == 1 else "them"
    stdout.print(
        f"{plural(matched, 'basket')} {'matches' if matched == 1 else 'match'} {filters}; nothing deleted. "
        f"Add --yes to delete {them}.",
        highlight=False,
    )


@app.command("restore")
@fields_named(basket_id="BASKET_ID")
def restore_command(
    basket_id: Annotated[str, typer.Argument(metavar="BASKET_ID", help="GUID of a deleted basket.")],
    note: Annotated[str | None, typer.Option("--note", help="Free text kept in the audit log.")] = None,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Put a deleted basket and its lines back from the audit log (system_administrator only)."""
    from baskets.deletion import check_note, latest_deletion, parse_basket_ids

    (parsed,) = parse_basket_ids([basket_id])
    note = check_note(note)
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    with runtime.engine.connect() as connection:
        authorize(connection, name, Action.RESTORE)
        latest_deletion(connection, parsed)
    from flows.delete import basket_restore

    summary = run_flow(basket_restore, basket_id=parsed, operator=name or "", note=note or "")
    if json_output:
        emit_json(summary)
        return
    stdout.print(
        f"restored basket {summary.basket_id} with {plural(summary.line_count, 'line')} from audit seq "
        f"{summary.restored_from_seq} (recorded as seq {summary.seq}), "
        f"{_run_named(summary)}"
    )


def _run_named(summary: DeleteResult | RestoreResult) -> str:
    """The flow run that tracked a change, or that none did (run without a Prefect API)."""
    return f"flow run {summary.flow_run_id}" if summary.tracked else "not tracked by Prefect"


@app.command("shop-account")
def shop_account_command(
    guid: Annotated[str, typer.Argument(metavar="ID", help="Shop account GUID, or a basket GUID.")],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """A shop account's details, given its ID or one of its baskets' (system_administrator only)."""
    from baskets.shop_accounts import shop_account_details

    try:
        parsed = parse_guid(guid)
    except ValueError as error:
        raise BadInput(f"ID: {error}") from None
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.VIEW_SHOP_ACCOUNT)
        details = shop_account_details(connection, parsed)
    if json_output:
        emit_json(details)
        return
    stdout.print(_details_table(details))


def _details_table(details: dict[str, Any]) -> Table:
    from rich.table import Table  # here: commands printing JSON or one line need no table

    table = Table(show_header=False, title=f"Shop account {details['shop_account_id']}", title_justify="left")
    labels = {
        "name": "Name", "email": "E-mail", "shop_account_type": "Shop account type",
        "activated": "Activated", "created_at": "Created (UTC)", "account_id": "Account Id (ERP)",
        "account_name": "Account name", "account_email": "Account e-mail", "account_kind": "Account kind",
        "basket_count": "Open baskets",
    }  # fmt: skip
    for key, label in labels.items():
        value = details[key]
        if key == "created_at":
            value = f"{value:%Y-%m-%d %H:%M}"
        table.add_row(label, "" if value is None else str(value))
    return table
