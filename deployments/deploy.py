"""`baskets deploy --pool NAME`: the suite's deployments on a work pool, made from the settings.

The same deployments as `baskets serve` (deployments/serve.py), with the schedules of the
settings in their time zone, registered with the Prefect server of PREFECT_API_URL for the
workers of a process work pool (created if missing). Each is stamped with the installed
version ("basket-maintenance==0.1.0"): a worker with another version installed fails the run
with one line and an alert (flows.failures.check_deployed_version) instead of running other
code. Workers need no checkout: see deployments/steps.py for the folder their runs work in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from baskets.errors import BadInput, BasketsError
from config.settings import Settings
from flows.console import DatabaseUrl, JsonOutput, emit_json, read_settings, stdout
from flows.failures import VERSION_STAMP, installed_version

PoolName = Annotated[
    str,
    typer.Option("--pool", help="The process work pool the workers poll, e.g. baskets (created if missing)."),
]


@dataclass(frozen=True)
class Deployed:
    name: str
    schedules: list[str]


def deploy(pool: PoolName, database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Create or update the deployments on a work pool of the Prefect server in PREFECT_API_URL.

    Schedules come from the settings, in schedule.timezone; each deployment is stamped with the
    installed version, which every worker must have. Start workers with
    `prefect worker start --pool NAME` where basket-maintenance is installed.
    """
    settings = read_settings(database_url)
    pool = check_pool_name(pool)
    api_url = os.environ.get("PREFECT_API_URL", "").strip() or _profile_api_url()
    if not api_url:
        raise BadInput(
            "PREFECT_API_URL is not set (expected the API of the Prefect server the workers use, "
            "e.g. PREFECT_API_URL=http://prefect.internal:4200/api)"
        )
    from flows.command_alerts import PREFECT_HEALTH_TIMEOUT_SECONDS, server_answers

    problem = server_answers(api_url, PREFECT_HEALTH_TIMEOUT_SECONDS)
    if problem:
        raise BasketsError(f"the Prefect server at PREFECT_API_URL does not answer: {problem}")
    version = f"{VERSION_STAMP}{installed_version()}"
    created_pool, deployed = deploy_to_pool(settings, pool, version=version)
    if json_output:
        emit_json(
            {
                "pool": pool,
                "pool_created": created_pool,
                "version": version,
                "deployments": [{"name": d.name, "schedules": d.schedules} for d in deployed],
            }
        )
        return
    if created_pool:
        stdout.print(f"created the process work pool {pool!r}", highlight=False)
    for item in deployed:
        when = "; ".join(item.schedules) or "on demand"
        stdout.print(f"deployed {item.name} on {pool!r}: {when}", markup=False, highlight=False)
    stdout.print(
        f"stamped {version}: start workers with `prefect worker start --pool {pool}` where that version "
        "is installed",
        markup=False,
        highlight=False,
    )


def check_pool_name(pool: str) -> str:
    name = pool.strip()
    if not name or not name.isprintable() or "/" in name or "%" in name or len(name) > 100:
        raise BadInput(f"--pool: {pool!r} is not a work pool name (expected e.g. --pool baskets)")
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


def _profile_api_url() -> str:
    from flows.runner import _profile_api_url as from_profile

    return from_profile() or ""
