"""Every deployment of the suite on one screen, served by one process: `python -m deployments.serve`.

`baskets serve` runs this module against the Prefect server named by PREFECT_API_URL (or a
local one it starts). Schedules come from the settings (`[schedule]` in the settings file or
BASKETS_SCHEDULE__* variables); flow runs read the database URL from the same settings.
"""

from __future__ import annotations

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from baskets.roles import RETENTION_ACTOR
from config.settings import Settings, load_settings
from flows.alerting import cleanup_watchdog
from flows.audit_report import audit_report
from flows.delete import basket_delete
from flows.export import report_export
from flows.forget import basket_forget
from flows.retention import retention_cleanup

TAGS = ["basket-maintenance"]
# Flows are found by module path, so a served run works from any working folder.
BY_MODULE = EntrypointType.MODULE_PATH


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """Nightly cleanup, hourly cleanup watchdog, weekly audit report, and the on-demand jobs."""
    timezone = settings.schedule.timezone
    return [
        retention_cleanup.to_deployment(
            name="nightly",
            description="Delete expired baskets as the built-in actor retention-policy, every night.",
            schedules=[Cron(settings.schedule.cleanup_cron, timezone=timezone)],
            # One cleanup at a time: a run that starts while the last one is still busy is
            # cancelled rather than queued (the next night picks up what is left).
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            tags=[*TAGS, "retention"],
            entrypoint_type=BY_MODULE,
        ),
        report_export.to_deployment(
            name="on-demand",
            description="Export the baskets matching the filters to CSV or Parquet.",
            # The run form starts filled in: no filter, CSV, the default path; only the operator
            # (and any filters) left to type.
            parameters={"format": "csv"},
            tags=[*TAGS, "export"],
            entrypoint_type=BY_MODULE,
        ),
        basket_delete.to_deployment(
            name="on-demand",
            description="Delete baskets by ID or filter, with an audit row per basket.",
            tags=[*TAGS, "delete"],
            entrypoint_type=BY_MODULE,
        ),
        basket_forget.to_deployment(
            name="on-demand",
            description="Erase one person's data on request: baskets, audit rows, rows in exports.",
            tags=[*TAGS, "privacy"],
            entrypoint_type=BY_MODULE,
        ),
        audit_report.to_deployment(
            name="weekly",
            description="Report deleted baskets per day, reason, account type and actor; weekly "
            "and on demand.",
            # The schedule has no operator at the keyboard: it reads as the built-in actor.
            schedules=[
                Cron(
                    settings.schedule.audit_report_cron,
                    timezone=timezone,
                    parameters={"operator": RETENTION_ACTOR},
                )
            ],
            tags=[*TAGS, "audit"],
            entrypoint_type=BY_MODULE,
        ),
        cleanup_watchdog.to_deployment(
            name="hourly",
            description="Alert when no retention-cleanup has succeeded for alerts.stale_after_hours.",
            schedules=[Cron("0 * * * *", timezone=timezone)],
            tags=[*TAGS, "alerts"],
            entrypoint_type=BY_MODULE,
        ),
    ]


def deployments_on_a_pool(settings: Settings, api_url: str) -> dict[str, str]:
    """The deployments `serve` would register that the server at `api_url` already has on a work
    pool (`baskets deploy` or prefect.yaml made them), by name, with their pool.

    `serve` must not take those over: it would overwrite their schedules and pull step, and pause
    them all when it stops, leaving the pool's workers nothing to run.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    found: dict[str, str] = {}
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for deployment in build_deployments(settings):
            name = f"{deployment.flow_name}/{deployment.name}"
            try:
                existing = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                found[name] = existing.work_pool_name
    return found


def serve_deployments(settings: Settings, limit: int | None = None) -> None:
    """Register the deployments with the Prefect server and run their flow runs until stopped."""
    serve(*build_deployments(settings), limit=limit)


if __name__ == "__main__":
    serve_deployments(load_settings())
