"""`baskets status` (health for cron and monitoring: exit 0 healthy, 1 not) and `baskets alerts test`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from baskets.wording import plural
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    NowOption,
    emit_json,
    open_runtime,
    parse_now,
    read_settings,
    stdout,
)
from config.urls import display_url
from flows.results import AlertSent, CleanupRunRecord, StatusResult

if TYPE_CHECKING:
    from baskets.alerts import Delivery

app = typer.Typer()
alerts_app = typer.Typer(help="Check where failure and stale-cleanup alerts go.", no_args_is_help=True)
SendAlert = Annotated[
    bool,
    typer.Option(
        "--alert", help="When not healthy, also send the stale-success alert (for cron without Prefect)."
    ),
]


@app.command("status")
def status(
    now: NowOption = None,
    alert: SendAlert = False,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Health of the nightly cleanup: last success, baskets, expired ones waiting, audit head.

    Exit 0 when a cleanup succeeded within alerts.stale_after_hours, 1 when not.
    """
    # Imported here: the expiry predicate pulls in the retention module (and pyarrow), which
    # `baskets list` and the other commands should not pay for at start-up.
    from baskets.alerts import deliver_alert, describe_channels
    from baskets.status import check_health, stale_success_alert
    from flows.command_alerts import alert_if_it_fails

    checked_at = parse_now(now)
    # With --alert, a check that cannot be made (bad settings, database unreachable) alerts too.
    with alert_if_it_fails(
        alert, kind="check-failed", flow="retention-cleanup", doing="baskets status could not check"
    ):
        runtime = open_runtime(database_url)
        with runtime.engine.connect() as connection:
            report = check_health(connection, runtime.settings, checked_at)
    deliveries: list[Delivery] = []
    if alert and not report.healthy:
        deliveries = deliver_alert(
            stale_success_alert(report, display_url(runtime.engine.url)), runtime.settings.alerts
        )
    result = StatusResult.model_validate(
        {
            **report.as_json(),
            "database": display_url(runtime.engine.url),
            "alert_channels": describe_channels(runtime.settings.alerts),
            "alerts_sent": [_delivery_json(d) for d in deliveries],
        }
    )
    if json_output:
        emit_json(result)
    else:
        _print_report(result)
    if not result.healthy:
        raise typer.Exit(1)


@alerts_app.command("test")
def alerts_test(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Send a test alert on every configured channel; exit 1 unless all of them delivered it."""
    from baskets.alerts import Alert, deliver_alert, describe_channels

    settings = read_settings(database_url)
    alert = Alert(
        kind="test",
        flow="retention-cleanup",
        state="Test",
        reason="a test alert sent by `baskets alerts test`; no action needed",
        occurred_at=dt.datetime.now(dt.UTC),
    )
    deliveries = deliver_alert(alert, settings.alerts)
    ok = bool(deliveries) and all(d.delivered for d in deliveries)
    if json_output:
        emit_json(
            {
                "delivered": ok,
                "alert_channels": describe_channels(settings.alerts),
                "alerts_sent": [_delivery_json(d) for d in deliveries],
            }
        )
    elif not deliveries:
        stdout.print("no alert channel configured: set [alerts] smtp_host and mail_to, and/or webhook_url")
    else:
        _print_deliveries(deliveries)
    if not ok:
        raise typer.Exit(1)


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "channel": delivery.channel,
        "target": delivery.target,
        "delivered": delivery.delivered,
        "error": delivery.error,
    }


def _counts_line(counts: dict[str, int]) -> str:
    parts = ", ".join(f"{name} {value:,}" for name, value in counts.items() if name != "total")
    return f"{counts['total']:,} ({parts})"


def _print_report(report: StatusResult) -> None:
    if report.healthy:
        stdout.print(
            f"[green]healthy[/]: retention-cleanup succeeded {report.hours_since_success:g} hours ago"
        )
    else:
        stdout.print(f"[red]NOT healthy[/]: {'; '.join(report.problems)}", highlight=False)
    rows: list[tuple[str, str]] = [("database", report.database)]
    last = report.last_success
    if last:
        rows.append(
            (
                "last success",
                f"{last.completed_at:%Y-%m-%d %H:%M} UTC by {last.actor}: selected {last.selected:,}, "
                f"deleted {last.deleted:,}, survived {last.survived:,}, skipped {last.skipped:,}"
                + (f" (flow run {last.flow_run_id})" if last.flow_run_id else ""),
            )
        )
        if last.privacy:
            rows.append(("personal data", _privacy_line(last.privacy, report.redacted_audit_rows)))
    else:
        rows.append(("last success", "never"))
    run = report.last_run
    if run and (not last or run.flow_run_id != last.flow_run_id or run.as_of != last.as_of):
        rows.append(("last run", _last_run_line(run)))
    rows += [
        ("baskets", _counts_line(report.baskets)),
        ("expired, waiting", _counts_line(report.expired_waiting)),
        ("audit head", f"#{report.audit_head.seq} {report.audit_head.hash}"),
        ("alert after", f"{report.stale_after_hours:g} hours without a successful cleanup"),
        ("alerts go to", _channels_line(report.alert_channels)),
    ]
    for label, value in rows:
        stdout.print(f"{label:<17} {value}", markup=False, highlight=False)
    _print_deliveries(report.alerts_sent)


def _last_run_line(run: CleanupRunRecord) -> str:
    line = f"{run.status}, as of {run.as_of:%Y-%m-%d %H:%M} UTC: skipped {run.skipped:,}"
    return line + (f"; reason: {run.reason}" if run.reason else "")


def _privacy_line(privacy: dict[str, Any], redacted: dict[str, int]) -> str:
    return (
        f"last success redacted {plural(privacy['audit_rows_redacted'], 'audit row')}, removed "
        f"{plural(privacy['files_removed'], 'file')}; redacted in all: {redacted.get('retention', 0):,} "
        f"by retention, {redacted.get('erasure', 0):,} by erasure"
    )


def _channels_line(channels: dict[str, Any]) -> str:
    targets = []
    if channels["email"]["configured"]:
        targets.append(f"e-mail to {', '.join(channels['email']['to'])} via {channels['email']['smtp']}")
    if channels["webhook"]["configured"]:
        targets.append(f"webhook {channels['webhook']['url']}")
    return "; ".join(targets) or "nowhere (configure [alerts])"


def _print_deliveries(deliveries: list[Delivery] | list[AlertSent]) -> None:
    for delivery in deliveries:
        outcome = "sent" if delivery.delivered else f"FAILED: {delivery.error}"
        stdout.print(
            f"alert by {delivery.channel} to {delivery.target}: {outcome}", markup=False, highlight=False
        )
