"""`baskets cleanup`: run the retention-cleanup flow now, or see what it would delete."""

from __future__ import annotations

from typing import Annotated

import typer

from baskets.roles import authorize_cleanup
from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    NowOption,
    OperatorName,
    ProgressTask,
    emit_json,
    open_runtime,
    parse_now,
    progress_bar,
    stdout,
)
from flows.results import CleanupDryRunResult, CleanupResult, PrivacyCounts
from flows.runner import run_flow

app = typer.Typer()
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Report what a real run with the same --now would delete; change nothing.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Delete even past the safety share (retention.max_share); system_administrator only."
    ),
]


@app.command("cleanup")
def cleanup(
    dry_run: DryRun = False,
    now: NowOption = None,
    force: Force = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Delete baskets past their retention (per account type; empty baskets sooner), with audit rows.

    Without --as (or BASKETS_OPERATOR) it runs as the nightly schedule does, as the built-in
    actor retention-policy; with --as the operator must be a system_administrator.
    """
    # Imported here: baskets.retention loads pyarrow, which no other command should pay for.
    from baskets.retention import CleanupIncomplete
    from flows.command_alerts import prefect_server_answers

    as_of = parse_now(now)
    prefect_server_answers()  # else an alert, and exit 1: cron's cleanup must not fail silently
    runtime = open_runtime(database_url)
    name = runtime.operator(operator)
    # Refuse a wrong operator before any flow run starts: a refusal is no failed run to alert on.
    with runtime.engine.connect() as connection:
        authorize_cleanup(connection, name, force)
    from flows.retention import retention_cleanup
    from flows.runner import reporting_progress

    with progress_bar() as bar:
        deleting = ProgressTask(bar, "deleting expired baskets")
        with reporting_progress(deleting.update):
            try:
                # A run that deletes is long and unattended: Prefect's engine, with heartbeats.
                summary = run_flow(
                    retention_cleanup,
                    heartbeats=not dry_run,
                    now=as_of.isoformat(),
                    dry_run=dry_run,
                    force=force,
                    operator=name or "",
                )
            except CleanupIncomplete as error:
                deleting.finish()
                _report(error.summary, json_output)
                raise
        deleting.finish()
    _report(summary, json_output)


def _report(summary: CleanupResult | CleanupDryRunResult, json_output: bool) -> None:
    if json_output:
        emit_json(summary)
    elif isinstance(summary, CleanupDryRunResult):
        _report_dry_run(summary)
    else:
        _report_run(summary)


def _report_dry_run(summary: CleanupDryRunResult) -> None:
    from baskets.retention import CATEGORIES, CATEGORY_TITLES

    stdout.print(
        f"[bold]dry run[/] as of {_minutes(summary.as_of, 19)} UTC: nothing deleted; a real run would delete"
    )
    for category in CATEGORIES:
        stdout.print(
            f"  {summary.would_delete[category]:>10,}  {CATEGORY_TITLES[category].lower()}"
            f"  (last modified before {_minutes(summary.cutoffs[category])})"
        )
    stdout.print(
        f"  {summary.would_delete_total:>10,}  in all, of {plural(summary.all_baskets, 'basket')} "
        f"({summary.share:.1%}; the limit is {summary.max_share:.0%})"
    )
    if summary.over_limit:
        stdout.print(
            "  [yellow]over the safety share:[/] a real run would delete nothing and exit 5 "
            "unless a system_administrator adds --force"
        )
    _report_privacy(summary.privacy, "would redact", "would remove")


def _report_run(summary: CleanupResult) -> None:
    from baskets.retention import CATEGORIES, CATEGORY_TITLES, describe_step_times

    stdout.print(
        f"retention cleanup as of {_minutes(summary.as_of, 19)} UTC by {summary.actor} "
        f"(run {summary.run_id}):"
    )
    for category in CATEGORIES:
        counts = summary.per_category[category]
        stdout.print(
            f"  {CATEGORY_TITLES[category].lower():<44} selected {counts.selected:>9,}  "
            f"deleted {counts.deleted:>9,}  survived {counts.survived:>6,}  "
            f"skipped {counts.skipped:>6,}"
        )
    stdout.print(
        f"  deleted {summary.deleted:,} in {plural(summary.batches, 'batch')} "
        f"(longest {summary.longest_batch_seconds} s); snapshot {summary.snapshot}"
    )
    _report_privacy(summary.privacy, "redacted", "removed")
    if summary.seconds:
        stdout.print(f"  took {describe_step_times(summary.seconds)}")


def _minutes(iso: str, width: int = 16) -> str:
    """ISO 8601 text as `YYYY-MM-DD HH:MM` (width 16) or with seconds (width 19)."""
    return iso[:width].replace("T", " ")


def _report_privacy(privacy: PrivacyCounts | None, redacted: str, removed: str) -> None:
    if privacy:
        stdout.print(
            f"  personal data: {redacted} {plural(privacy.audit_rows_redacted, 'audit row')} "
            f"written before {_minutes(privacy.audit_cutoff)}, {removed} "
            f"{plural(privacy.files_removed, 'file')} written before "
            f"{_minutes(privacy.files_cutoff)} from export_dir",
            highlight=False,
        )


def demo_cleanup(operator: str) -> None:
    """The demo's cleanup step: a dry run, then the real run (forced: a fresh two-year backlog is
    far over the safety share), as `operator`."""
    # Imported here: baskets.retention loads pyarrow, which no other command should pay for.
    from baskets.retention import CATEGORIES, CATEGORY_TITLES
    from flows.retention import retention_cleanup

    planned = run_flow(retention_cleanup, dry_run=True, operator=operator)
    stdout.print(
        f"[bold]cleanup, dry run[/] (`baskets cleanup --dry-run --as {operator}`): "
        f"{planned.would_delete_total:,} of {plural(planned.all_baskets, 'basket')} "
        f"{'is' if planned.would_delete_total == 1 else 'are'} past retention"
    )
    for category in CATEGORIES:
        stdout.print(f"   {planned.would_delete[category]:>9,}  {CATEGORY_TITLES[category].lower()}")
    done = run_flow(retention_cleanup, heartbeats=True, force=planned.over_limit, operator=operator)
    forced = " --force" if planned.over_limit else ""
    stdout.print(
        f"[bold]cleanup[/] (`baskets cleanup{forced} --as {operator}`): deleted "
        f"{plural(done.deleted, 'basket')} with an audit row each, "
        f"{done.survived:,} survived because touched; "
        f"snapshot {done.snapshot}",
        highlight=False,
    )
