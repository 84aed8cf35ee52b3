"""`baskets deploy --pool NAME`: the suite's deployments on a work pool, made from the settings.

The same deployments as `baskets serve` (deployments/serve.py), with the schedules of the
settings in their time zone, registered with the Prefect server of PREFECT_API_URL for the
workers of a process work pool (created if missing). Each is stamped with the installed
version ("basket-maintenance==0.1.0"): a worker with another version installed fails the run
with one line and an alert (flows.failures.check_deployed_version) instead of running other
code. Workers need no checkout: see deployments/steps.py for the folder their runs work in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baskets.errors import BadInput
from config.settings import Settings


@dataclass(frozen=True)
class Deployed:
    name: str
    schedules: list[str]


def check_pool_name(pool: str) -> str:
    name = pool.strip()
    if not name or not name.isprintable() or "/" in name or "%" in name or len(name) > 100:
        raise BadInput(f"pool: {pool!r} is not a work pool name (expected e.g. `pool` baskets)", field="pool")
    return name


def deploy_to_pool(settings: Settings, pool: str, *, version: str) -> tuple[bool, list[Deployed]]:
    """Create `pool` (process type) if missing, then create or update every deployment on it with
    the pull step of deployments/steps.py and `version`. Returns (pool created, deployments)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate, WorkPoolCreate
    from prefect.client.schemas.objects import VersionInfo
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    from deployments.serve import build_deployments
    from deployments.steps import PULL_STEPS

    created = False
    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=pool,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
            created = True
        else:
            if found.type != ProcessWorker.type:
                raise BadInput(
                    f"--pool: {pool!r} is a {found.type} work pool (expected a process work pool, e.g. "
                    f"prefect work-pool create {pool}-process --type process)"
                )
        deployed = []
        for deployment in build_deployments(settings):
            deployment.version = version
            deployment_id = deployment.apply(
                work_pool_name=pool, version_info=VersionInfo(type="prefect:simple", version=version)
            )
            client.update_deployment(deployment_id, DeploymentUpdate(pull_steps=list(PULL_STEPS)))
            deployed.append(Deployed(f"{deployment.flow_name}/{deployment.name}", _schedules(deployment)))
    return created, deployed


def _schedules(deployment: Any) -> list[str]:
    return [f"{s.schedule.cron} ({s.schedule.timezone})" for s in deployment.schedules]


def profile_api_url() -> str:
    from flows.runner import prefect_setting

    return prefect_setting("PREFECT_API_URL")
