"""`baskets forget`: erase one person's data on request (system administrators only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from baskets.roles import Action, authorize
from baskets.wording import plural
from cli.console import DatabaseUrl, JsonOutput, OperatorName, emit_json, open_runtime, stdout
from flows.runner import run_flow

app = typer.Typer()


@app.command("forget")
def forget_command(
    email: Annotated[
        str | None,
        typer.Option("--email", help="The person's e-mail address (any case).", show_default=False),
    ] = None,
    account_id: Annotated[
        str | None, typer.Option("--account-id", help="Or: their exact ERP account ID.", show_default=False)
    ] = None,
    shop_account_id: Annotated[
        str | None, typer.Option("--shop-account-id", help="Or: their shop account GUID.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say exactly what would change; change nothing.")
    ] = False,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="The request's reference, kept in the audit log, e.g. GDPR-2026-0042.",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Erase one person's data on request (system_administrator only).

    Deletes their baskets, redacts their earlier audit rows, and removes their rows from the
    suite's exports and snapshots.

    The audit chain records the erasure (who, when, the reference, the counts) without the
    person's data, and still verifies.
    """
    from baskets.privacy.forget import check_reference, parse_subject

    subject = parse_subject(email, account_id, shop_account_id)
    checked = check_reference(reference, subject)
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    with runtime.engine.connect() as connection:
        authorize(connection, name, Action.ERASE)
    from flows.forget import basket_forget

    summary = run_flow(
        basket_forget,
        operator=name or "",
        email=subject.value if subject.kind == "email" else "",
        account_id=subject.value if subject.kind == "account_id" else "",
        shop_account_id=subject.value if subject.kind == "shop_account_id" else "",
        reference=checked or "",
        dry_run=dry_run,
    )
    if json_output:
        emit_json(summary)
        return
    _report(summary)


def _report(summary: dict[str, Any]) -> None:
    files = ", ".join(summary["file_paths"])
    in_files = (
        f"{plural(summary['file_rows'], 'row')} in {plural(summary['files'], 'file')} ({files})"
        if summary["files"]
        else "no rows in the suite's files"
    )
    counts = (
        f"{plural(summary['baskets'], 'basket')}, {plural(summary['audit_rows'], 'earlier audit row')}, "
        f"{in_files}"
    )
    if summary["dry_run"]:
        stdout.print(f"dry run, nothing changed; an erasure by {summary['subject']} would remove: {counts}",
                     highlight=False)  # fmt: skip
        return
    stdout.print(
        f"erased by {summary['subject']}: {counts}; recorded as audit seq {summary['seq']} "
        f"(reference {summary['reference'] or 'none'})",
        highlight=False,
    )
