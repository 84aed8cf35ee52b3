"""The `basket-forget` flow: erase one person's data on request (right to erasure)."""

from __future__ import annotations

from typing import Any

from baskets.privacy.forget import check_reference, parse_subject
from baskets.roles import Action
from baskets.runtime import current_runtime
from flows.failures import fails_the_run_on_refusal
from flows.run_alerts import alert_run_crashed, alert_worker_problem
from flows.runner import create_artifact, current_flow_run_id, flow
from tasks.authorize import authorize_operator
from tasks.privacy import erase_person

FLOW_NAME = "basket-forget"


@flow(
    name=FLOW_NAME,
    validate_parameters=True,
    on_failure=[alert_worker_problem],
    on_crashed=[alert_run_crashed],
)
@fails_the_run_on_refusal
def basket_forget(
    operator: str,
    email: str = "",
    account_id: str = "",
    shop_account_id: str = "",
    reference: str = "",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Erase one person's data: their baskets, the personal part of their audit rows, and their
    rows in the suite's exports and cleanup snapshots.

    1. Check the input, then that `operator` is a system administrator, before reading anything.
    2. Find the person's shop accounts, ERP accounts, current baskets and audit rows.
    3. A dry run reports what would change and stops.
    4. Rewrite the suite's files under export_dir without their rows, each atomically.
    5. In one transaction delete their baskets (audited as `erasure`, written already redacted),
       redact their earlier audit rows, and chain one row recording the erasure (who, when, the
       reference, the counts) without personal data.

    Args:
        operator: Your operator name; only a system administrator may erase.
        email: The person's e-mail address (any case): their shop accounts and ERP accounts
            with it. Fill in exactly one of email, account_id and shop_account_id.
        account_id: Or: the person's ERP account ID, exactly, e.g. C0000050.
        shop_account_id: Or: the person's shop account GUID, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301.
        reference: The request's reference, kept in the audit log, e.g. GDPR-2026-0042 (never the
            e-mail itself; at most 200 characters).
        dry_run: Only report what would be erased; change nothing.
    """
    subject = parse_subject(email, account_id, shop_account_id)
    checked_reference = check_reference(reference, subject)
    runtime = current_runtime()
    settings = runtime.settings
    actor = authorize_operator(runtime, operator, Action.ERASE)
    run_id = current_flow_run_id()
    result = erase_person(
        runtime.engine, subject, actor, checked_reference, settings.export_dir.resolve(),
        settings.file_mode, run_id, dry_run,
    )  # fmt: skip
    summary = {**result.as_json(), "actor": actor.name, "flow_run_id": run_id}
    create_artifact(
        "markdown", key="basket-forget", markdown=erasure_markdown(summary), description="Erasure on request"
    )
    return summary


def erasure_markdown(summary: dict[str, Any]) -> str:
    """The run's artifact: counts only, never the person's data."""
    title = "Erasure (dry run: nothing changed)" if summary["dry_run"] else "Erasure"
    verb = "would be" if summary["dry_run"] else "were"
    return "\n".join(
        [
            f"# {title}",
            "",
            "| | |",
            "| --- | --- |",
            f"| by | {summary['actor']} |",
            f"| person named by | {summary['subject']} |",
            f"| reference | {summary['reference'] or '(none)'} |",
            f"| baskets deleted | {summary['baskets']} |",
            f"| earlier audit rows redacted | {summary['audit_rows']} |",
            f"| files rewritten | {summary['files']} ({summary['file_rows']} rows removed) |",
            f"| recorded as audit seq | {summary['seq'] if summary['seq'] is not None else '-'} |",
            "",
            f"The counts above {verb} changed.",
        ]
    )
