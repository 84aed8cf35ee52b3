"""`baskets audit verify` and `baskets audit show` (the `audit` sub-app; `audit report` joins it)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table

from baskets.audit import PERSONAL_COLUMNS, audit_rows_for_basket, parse_lines, verify_audit_chain_snapshot
from baskets.errors import AuditChainBroken, BadInput, NotFound
from baskets.guid import parse_guid
from baskets.privacy.redaction import describe_redaction
from baskets.roles import Action, authorize
from baskets.wording import plural
from flows.console import DatabaseUrl, JsonOutput, OperatorName, emit_json, open_runtime, stdout

audit_app = typer.Typer(help="The audit log of deleted and restored baskets.", no_args_is_help=True)

_HASH = re.compile(r"[0-9a-f]{64}")
EXAMPLE_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@audit_app.command("verify")
def verify_command(
    head: Annotated[
        str | None,
        typer.Option(
            "--head", help="A head hash saved earlier: also catch a cut-off tail.", show_default=False
        ),
    ] = None,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Recompute the hash chain; exit 6 naming the first bad sequence number when it does not hold."""
    if head is not None:
        head = head.strip().lower()
        if not _HASH.fullmatch(head):
            raise BadInput(
                f"--head: {head!r} is not a SHA-256 hash (expected 64 hex digits, e.g. {EXAMPLE_HASH})"
            )
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.AUDIT)
    report = verify_audit_chain_snapshot(runtime.engine, head)
    where = "" if report.first_bad_seq is None else f" at seq {report.first_bad_seq}"
    broken = AuditChainBroken(f"audit chain broken{where}: {report.problem}")
    if json_output:
        failure = {} if report.ok else {"error": broken.message, "exit_code": broken.exit_code}
        emit_json(
            {
                "ok": report.ok,
                "rows": report.count,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "first_bad_seq": report.first_bad_seq,
                "problem": report.problem,
                **failure,
            }
        )
    if not report.ok:
        raise broken
    if not json_output:
        saved = " and contains the saved head" if head else ""
        stdout.print(f"audit chain holds{saved}: {plural(report.count, 'row')}, head seq {report.head_seq}")
        stdout.print(f"head hash {report.head_hash} (keep it to check against later with --head)")


@audit_app.command("show")
def show_command(
    basket_id: Annotated[str, typer.Argument(metavar="BASKET_ID", help="GUID of a deleted basket.")],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Every audit row of one basket (its deletions and restores), with the lines it had."""
    try:
        parsed = parse_guid(basket_id)
    except ValueError as error:
        raise BadInput(f"BASKET_ID: {error}") from None
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.AUDIT)
        rows = audit_rows_for_basket(connection, parsed)
    if not rows:
        raise NotFound(f"no audit rows for basket {parsed}: it was never deleted by this suite")
    for row in rows:
        row["lines"] = None if row["lines"] is None else parse_lines(row["lines"])
        # A redacted row shows that it was, when and why; its personal part is gone (docs/privacy.md).
        row["redacted"] = None if row["redacted_at"] is None else describe_redaction(row)
        for hidden in ("personal_salt", "personal_digest", "legacy_hash"):
            row.pop(hidden)
    if json_output:
        emit_json({"basket_id": parsed, "events": rows})
        return
    for row in rows:
        stdout.print(_event_table(row))
        if row["lines"] is None:
            stdout.print("lines: (redacted)", highlight=False)
        else:
            stdout.print(_lines_table(row["lines"]))


def _event_table(row: dict[str, Any]) -> Table:
    table = Table(show_header=False, title=f"seq {row['seq']}: {row['event']}", title_justify="left")
    for key in (
        "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
        "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
        "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
        "total_quantity", "hash",
    ):  # fmt: skip
        value = row[key]
        if row["redacted"] and key in PERSONAL_COLUMNS:
            value = "(redacted)"
        table.add_row(key, "" if value is None else str(value))
    if row["redacted"]:
        table.add_row("redacted", row["redacted"].removeprefix("its "))
    return table


def _lines_table(lines: list[dict[str, Any]]) -> Table:
    table = Table("Line", "Product Id", "Variant Id", "Quantity", "Unit of Measure Id", title_justify="left")
    for line in lines:
        table.add_row(
            str(line["id"]), line["product_id"], line["variant_id"] or "",
            format(line["quantity"].normalize(), "f"), line["uom_id"] or "",
        )  # fmt: skip
    return table


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
