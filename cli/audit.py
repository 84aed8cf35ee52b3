"""`baskets audit verify|show|report`: check the hash chain, a basket's audit rows, the deletions report.

The audit, privacy and schema modules are imported by the command that uses them, so that the other
commands of the `baskets` process do not pay for their start-up.
"""

from __future__ import annotations

import os
import re
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict

from baskets.errors import AuditChainBroken, BadInput, NotFound
from baskets.roles import Action, authorize
from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    OperatorName,
    emit_json,
    open_runtime,
    parse_now,
    stderr,
    stdout,
)
from flows.results import AuditEvent, AuditLine, AuditShowResult
from flows.runner import run_flow

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(help="The audit log of deleted and restored baskets.", no_args_is_help=True)

_HASH = re.compile(r"[0-9a-f]{64}")
EXAMPLE_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class ChainVerification(BaseModel):
    """`baskets audit verify`: whether the hash chain holds, and where it breaks if not."""

    model_config = ConfigDict(defer_build=True)  # built by `audit verify`, not by every command's start

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None
    error: str | None = None  # when broken: the one line the command fails with (exit 6)
    exit_code: int | None = None


@app.command("verify")
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
    from baskets.audit import verify_audit_chain_snapshot

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
    verified = ChainVerification(
        ok=report.ok,
        rows=report.count,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
        error=None if report.ok else broken.message,
        exit_code=None if report.ok else broken.exit_code,
    )
    if json_output:
        emit_json(verified.model_dump(mode="json", exclude={"error", "exit_code"} if verified.ok else None))
    if not report.ok:
        raise broken
    if not json_output:
        saved = " and contains the saved head" if head else ""
        stdout.print(
            f"audit chain holds{saved}: {plural(verified.rows, 'row')}, head seq {verified.head_seq:,}",
            highlight=False,
        )
        stdout.print(f"head hash {verified.head_hash} (keep it to check against later with --head)")


@app.command("show")
def show_command(
    basket_id: Annotated[str, typer.Argument(metavar="BASKET_ID", help="GUID of a deleted basket.")],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Every audit row of one basket (its deletions and restores), with the lines it had."""
    from baskets.audit import audit_rows_for_basket
    from baskets.schema.loading import parse_basket_key

    try:
        parsed = parse_basket_key(basket_id)
    except ValueError as error:
        raise BadInput(f"BASKET_ID: {error}") from None
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.AUDIT)
        rows = audit_rows_for_basket(connection, parsed)
    if not rows:
        raise NotFound(f"no audit rows for basket {parsed}: it was never deleted by this suite")
    shown = AuditShowResult(basket_id=parsed, events=[_audit_event(row) for row in rows])
    if json_output:
        emit_json(shown)
        return
    for event in shown.events:
        stdout.print(_event_table(event))
        if event.lines is None:
            stdout.print("lines: (redacted)", highlight=False)
        else:
            stdout.print(_lines_table(event.lines))


def _audit_event(row: dict[str, Any]) -> AuditEvent:
    """An audit row as `audit show` gives it: its lines parsed, the salt, digest and legacy hash
    left out; a redacted row says when and why (its personal part is gone: docs/privacy.md)."""
    from baskets.audit import parse_lines
    from baskets.privacy.redaction import describe_redaction

    return AuditEvent.model_validate(
        {
            **row,
            "lines": None if row["lines"] is None else parse_lines(row["lines"]),
            "redacted": None if row["redacted_at"] is None else describe_redaction(row),
        }
    )


def _event_table(event: AuditEvent) -> Table:
    from rich.table import Table  # here: commands printing JSON or one line need no table

    from baskets.audit import PERSONAL_COLUMNS

    table = Table(show_header=False, title=f"seq {event.seq}: {event.event}", title_justify="left")
    for key in (
        "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
        "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
        "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
        "total_quantity", "hash",
    ):  # fmt: skip
        value = getattr(event, key)
        if event.redacted and key in PERSONAL_COLUMNS:
            value = "(redacted)"
        table.add_row(key, "" if value is None else str(value))
    if event.redacted:
        table.add_row("redacted", event.redacted.removeprefix("its "))
    return table


def _lines_table(lines: list[AuditLine]) -> Table:
    from rich.table import Table  # here: commands printing JSON or one line need no table

    table = Table("Line", "Product Id", "Variant Id", "Quantity", "Unit of Measure Id", title_justify="left")
    for line in lines:
        table.add_row(
            str(line.id), line.product_id, line.variant_id or "",
            format(line.quantity.normalize(), "f"), line.uom_id or "",
        )  # fmt: skip
    return table


@app.command("report")
def report_command(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="From this ISO date/time, inclusive (default: 7 days before --until).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Up to this ISO date/time; a date includes that day (default: now).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    report_format: Annotated[str, typer.Option("--format", help="html, csv or parquet.")] = "html",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="File to write (default: <export dir>/audit-report-<UTC time>.<ext>).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing report of that name (never any other file)."),
    ] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Report deleted baskets per day, reason, account type and actor, with the audit chain status.

    HTML is one self-contained page with charts; CSV and Parquet hold one row per day, reason,
    account type and actor. Exits 6 (after writing the report) when the audit chain is broken.
    """
    # Imported here: pandas and Prefect would slow every other command's start.
    from baskets.audit_report import (
        REPORT_FILE_KINDS,
        authorize_report_reader,
        parse_report_format,
        refuse_builtin_actor,
        resolve_window,
    )

    chosen_format = parse_report_format(report_format)
    window = resolve_window(since, until, parse_now(None))
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    refuse_builtin_actor(name)
    # Not resolved: a symbolic link at --output is refused, not followed.
    target = os.path.abspath(output.expanduser()) if output else None
    if target is not None:  # refuse a bad --output before anything is read
        from baskets.files import FileRules, check_target

        settings = runtime.settings
        rules = FileRules(overwrite=overwrite, own_folder=settings.export_dir, mode=settings.file_mode)
        check_target(Path(target), rules.protecting(settings.database_url), REPORT_FILE_KINDS[chosen_format])
    with runtime.engine.connect() as connection:
        authorize_report_reader(connection, name)
    runtime.engine.dispose()
    from flows.audit_report import audit_report

    spinner = stderr.status("writing the audit report") if stderr.is_terminal else nullcontext()
    with spinner:
        summary = run_flow(
            audit_report,
            operator=name,  # type: ignore[arg-type]  # authorize_report_reader refused None
            since=window.since.isoformat(),
            until=window.until.isoformat(),
            report_format=chosen_format,
            output=target or "",
            overwrite=overwrite,
        )
    if json_output:
        emit_json(summary)
        return
    per_type = ", ".join(f"{kind} {count:,}" for kind, count in summary.per_account_type.items())
    stdout.print(
        f"{plural(summary.deleted, 'basket')} deleted from {window.describe()}"
        f"{f' ({per_type})' if per_type else ''}, {summary.restored:,} restored, "
        f"{plural(summary.erasures, 'erasure')} on request, {summary.redacted:,} audit rows redacted; "
        f"audit chain {summary.chain}",
        highlight=False,
    )
    stdout.print(f"wrote {summary.path}", highlight=False)
