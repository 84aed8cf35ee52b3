"""`baskets serve`: serve the schedules and on-demand deployments, with a local Prefect server if needed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from baskets.errors import BadInput, BasketsError
from cli.console import DatabaseUrl, JsonOutput, emit_json, open_runtime, read_settings, stderr, stdout
from config.settings import Settings

app = typer.Typer()
SERVER_START_TIMEOUT_S = 120.0


@app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address of a local Prefect server started by this command.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port of that local Prefect server.")
    ] = 4200,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the schedules and on-demand jobs to Prefect until stopped with Ctrl-C.

    Nightly retention-cleanup, hourly cleanup-watchdog, weekly audit-report; on demand
    report-export, basket-delete and audit-report.

    Uses the Prefect server named by PREFECT_API_URL, or starts a local one and prints its UI address.
    """
    # Refuse bad settings and an unmigrated database now, not at 02:30 tonight.
    runtime = open_runtime(database_url)
    runtime.engine.dispose()
    env = {**os.environ, "BASKETS_DATABASE_URL": runtime.settings.database_url}
    api_url = configured_api_url()
    with contextlib.ExitStack() as stack:
        if api_url is None:
            api_url = stack.enter_context(local_prefect_server(host, port, env))
            stdout.print(f"Prefect UI: {api_url.removesuffix('/api')}", highlight=False)
        else:
            stdout.print(f"using the Prefect server at {api_url}", highlight=False)
        env["PREFECT_API_URL"] = api_url
        refuse_pool_deployments(runtime.settings, api_url)
        schedule = runtime.settings.schedule
        stdout.print(
            f"serving retention-cleanup/nightly ({schedule.cleanup_cron}), audit-report/weekly "
            f"({schedule.audit_report_cron}), cleanup-watchdog/hourly in {schedule.timezone}; "
            "report-export/on-demand, basket-delete/on-demand; Ctrl-C stops",
            highlight=False,
        )
        code = run_until_stopped([sys.executable, "-m", "deployments.serve"], env)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise BasketsError(f"the deployment server stopped with exit code {code}")


def refuse_pool_deployments(settings: Settings, api_url: str) -> None:
    """BadInput (exit 2) when the server has the suite's deployments on a work pool: `serve` and a
    work pool are alternatives, and serving would take the pool's deployments over."""
    from deployments.serve import deployments_on_a_pool

    taken = deployments_on_a_pool(settings, api_url)
    if taken:
        pools = ", ".join(sorted(set(taken.values())))
        raise BadInput(
            f"the Prefect server at PREFECT_API_URL runs {len(taken)} of these deployments on work pool "
            f"{pools} ({', '.join(sorted(taken))}): baskets serve would take them over (expected "
            "either workers on that pool or baskets serve, not both; point PREFECT_API_URL at another "
            "server, or delete those deployments first)"
        )


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, if any."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@contextlib.contextmanager
def local_prefect_server(host: str, port: int, env: dict[str, str]) -> Iterator[str]:
    """Start `prefect server start` on host:port, wait until it answers, yield its API URL, stop it.

    Raises BadInput when the port is taken, BasketsError when the server does not come up.
    """
    if _port_in_use(host, port):
        raise BadInput(
            f"--port: {port} on {host} is in use (pick another, e.g. --port {port + 1}, or point "
            "PREFECT_API_URL at the server that runs there)"
        )
    log_path = Path(env.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser() / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{host}:{port}/api"
    stderr.print(f"starting a local Prefect server on {host}:{port} (log: {log_path})", highlight=False)
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            env={key: value for key, value in env.items() if key != "PREFECT_API_URL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            # Out of the terminal's process group: Ctrl-C reaches the deployment server first,
            # which still needs this one to pause its schedules; this one is stopped after it.
            start_new_session=True,
        )
    try:
        _wait_until_healthy(api_url, server, log_path)
        yield api_url
    finally:
        _stop(server)


def _wait_until_healthy(api_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    import urllib.error  # here: only `baskets serve` waits for a server (HTTP client start-up)
    import urllib.request

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BasketsError(f"the Prefect server exited with code {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise BasketsError(
        f"the Prefect server did not answer within {SERVER_START_TIMEOUT_S:.0f} s; see {log_path}"
    )


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run `command` in the foreground; Ctrl-C or SIGTERM stops it gracefully. Returns its exit code."""
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        try:
            return child.wait()
        except KeyboardInterrupt:  # the child got the same Ctrl-C: give it time to stop cleanly
            try:
                return child.wait(timeout=30)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                return -signal.SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(child)


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


PoolName = Annotated[
    str,
    typer.Option("--pool", help="The process work pool the workers poll, e.g. baskets (created if missing)."),
]


@app.command("deploy")
def deploy_command(pool: PoolName, database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Create or update the deployments on a work pool of the Prefect server in PREFECT_API_URL.

    Schedules come from the settings, in schedule.timezone; each deployment is stamped with the
    installed version, which every worker must have. Start workers with
    `prefect worker start --pool NAME` where basket-maintenance is installed.
    """
    from deployments.deploy import check_pool_name, deploy_to_pool, profile_api_url
    from flows.failures import VERSION_STAMP, installed_version

    settings = read_settings(database_url)
    pool = check_pool_name(pool)
    api_url = os.environ.get("PREFECT_API_URL", "").strip() or profile_api_url()
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
