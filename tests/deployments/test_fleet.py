"""End to end on a fleet: a real Prefect server, a process work pool, deployments made by
`baskets deploy` and by `prefect deploy` from the packaged prefect.yaml, and process workers
started from an installed package in folders without a checkout. Alerts arrive at a real SMTP
server and HTTP endpoint on loopback.

One server and one worker venv for the module (each takes seconds to start); workers are started
per test with the settings the test is about.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DatabaseUnderTest, add_operators, seed
from tests.deployments.fleet import (
    PrefectServer,
    Worker,
    build_wheel,
    clean_env,
    make_worker_venv,
    wait_until,
)
from tests.loopback_receivers import SmtpReceiver, free_port, start_smtp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
NIGHTLY = "retention-cleanup/nightly"
WATCHDOG = "cleanup-watchdog/hourly"
EXPORT = "report-export/on-demand"


# --- the fleet ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@pytest.fixture(scope="module")
def worker_python(fleet_home: Path) -> Path:
    """The python of a venv with the wheel of this working tree installed, and no checkout."""
    wheel = build_wheel(REPO, fleet_home / "dist")
    return make_worker_venv(fleet_home / "venv", wheel)


@pytest.fixture(scope="module")
def prefect_api(fleet_home: Path) -> Iterator[str]:
    server = PrefectServer(fleet_home / "server")
    try:
        yield server.api_url
    finally:
        server.stop()


@pytest.fixture
def api(prefect_api: str) -> Iterator[str]:
    """This process's Prefect client pointed at the fleet's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        yield prefect_api


@dataclass
class Receivers:
    """Where the fleet's alerts go: SMTP and a webhook; plus the dead-man's switch's GETs."""

    smtp: SmtpReceiver
    webhook_url: str
    heartbeat_url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    pings: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "BASKETS_ALERTS__SMTP_HOST": self.smtp.host,
            "BASKETS_ALERTS__SMTP_PORT": str(self.smtp.port),
            "BASKETS_ALERTS__MAIL_TO": '["ops@shop.example"]',
            "BASKETS_ALERTS__WEBHOOK_URL": self.webhook_url,
            "BASKETS_ALERTS__HEARTBEAT_URL": self.heartbeat_url,
        }

    def wait_for(self, count: int) -> None:
        """Wait until `count` alerts have arrived by mail and by webhook: a flow's failure hook
        sends them after its run's state is final, so `run` can return before they are out."""
        arrived = lambda: len(self.smtp.mails) >= count and len(self.posts) >= count  # noqa: E731
        wait_until(arrived, 60, f"{count} alerts by mail and by webhook")

    def alerts(self) -> list[tuple[str, str, str]]:
        """(kind, flow, reason) of every alert that arrived by both channels."""
        by_mail = sorted(str(mail.message["X-Baskets-Alert"]) for mail in self.smtp.mails)
        by_post = sorted(post["kind"] for post in self.posts)
        assert by_mail == by_post, (by_mail, by_post)
        return sorted((post["kind"], post["flow"], post["reason"]) for post in self.posts)


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    smtp, controller = start_smtp(tmp_path)
    port = free_port()
    found = Receivers(
        smtp,
        f"http://127.0.0.1:{port}/hooks/alerts-secret-path",
        f"http://127.0.0.1:{port}/ping/check-uuid-secret",
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            found.posts.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            found.pings.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield found
    server.shutdown()
    server.server_close()
    controller.stop()


@contextlib.contextmanager
def worker(python: Path, api_url: str, pool: str, folder: Path, env: dict[str, str]) -> Iterator[Worker]:
    started = Worker(python, api_url, pool, folder, env)
    try:
        yield started
    finally:
        started.stop()


def baskets(python: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`baskets ARGS` as the installed console script of the worker venv (no checkout)."""
    return subprocess.run(
        [str(python.parent / "baskets"), *args],
        cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def run(name: str, parameters: dict[str, Any] | None = None, timeout: float = 240) -> Any:
    """Run deployment `name` and wait for its end; returns the flow run."""
    from prefect.deployments import run_deployment

    return run_deployment(name, parameters=parameters or {}, timeout=timeout, poll_interval=1)


def run_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def read_deployment(name: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


# --- the tests ------------------------------------------------------------------------------------


def test_baskets_deploy_and_a_worker_without_a_checkout_run_the_nightly_and_an_export(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    add_operators(sqlite_db)
    seed(sqlite_db, 60)
    deployer = tmp_path / "deployer"
    deployer.mkdir()
    settings = {
        "BASKETS_SCHEDULE__TIMEZONE": "Europe/Amsterdam",
        "BASKETS_SCHEDULE__CLEANUP_CRON": "15 3 * * *",
    }
    made = baskets(worker_python, "deploy", "--pool", "fleet", "--json", cwd=deployer,
                   env={**settings, "PREFECT_API_URL": api})  # fmt: skip
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert (summary["pool"], summary["pool_created"], summary["version"]) == (
        "fleet",
        True,
        "basket-maintenance==0.1.0",
    )
    nightly = read_deployment(NIGHTLY)
    assert (nightly.work_pool_name, nightly.version) == ("fleet", "basket-maintenance==0.1.0")
    assert nightly.pull_steps == [{"deployments.steps.enter_working_folder": {}}]
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [
        ("15 3 * * *", "Europe/Amsterdam")
    ]

    home = tmp_path / "worker-1"
    # The export folder is the default, relative one: it must land in the worker's working
    # folder (~/basket-maintenance), not in the temporary folder the worker gives each run.
    env = {**sqlite_db.env, **receivers.env(), "BASKETS_RETENTION__MAX_SHARE": "1"}
    with worker(worker_python, api, "fleet", home, env):
        cleaned = run(NIGHTLY, {"now": "2026-11-01T12:00:00+00:00"})
        assert cleaned.state.is_completed(), (cleaned.state, run_logs(cleaned.id))
        exported = run(EXPORT, {"operator": "bob", "format": "csv"})
        assert exported.state.is_completed(), (exported.state, run_logs(exported.id))
        refused = run(EXPORT, {"operator": "carol"})
    folder = home / "basket-maintenance" / "var" / "exports"
    assert len(list(folder.rglob("*.parquet"))) == 1  # the cleanup's snapshot
    [csv_file] = folder.glob("baskets-*.csv")
    links = link_artifacts(exported.id)
    host = socket.gethostname()
    assert [(a.type, a.data) for a in links] == [
        ("markdown", f"[{csv_file.name} (on {host})]({csv_file.as_uri()})")
    ]
    assert links[0].description.startswith(f"csv export on host {host}, ")
    # The dead-man's switch was pinged once, after the successful cleanup.
    assert receivers.pings == ["/ping/check-uuid-secret"]
    # carol may not export: refused for its caller, who sees why; nobody is paged.
    assert refused.state.is_failed() and refused.state.message.startswith("operator: ")
    assert receivers.alerts() == []
    assert "check-uuid-secret" not in "\n".join(run_logs(cleaned.id))


def link_artifacts(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                key=ArtifactFilterKey(like_="report-export-%"),
            )
        )


def deploy(pool: str, version: str = "basket-maintenance==0.1.0", **settings: Any) -> None:
    """`baskets deploy --pool POOL`, in this process, stamped `version`."""
    from config.settings import Settings
    from deployments.deploy import deploy_to_pool

    deploy_to_pool(Settings(**settings), pool, version=version)


def test_a_worker_with_another_version_fails_the_run_in_one_line_and_alerts(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    deploy("fleet", version="basket-maintenance==0.0.9")
    with worker(worker_python, api, "fleet", tmp_path / "w", {**sqlite_db.env, **receivers.env()}):
        cleaned = run(NIGHTLY)
        exported = run(EXPORT, {"operator": "bob"})
        receivers.wait_for(2)
    expected = (
        "this worker has basket-maintenance 0.1.0 installed but the deployment was made with 0.0.9 "
        "(expected the same version on every worker: pip install 'basket-maintenance==0.0.9', "
        "or run `baskets deploy` again)"
    )
    assert (cleaned.state.type.value, cleaned.state.message) == ("FAILED", expected)
    assert (exported.state.type.value, exported.state.message) == ("FAILED", expected)
    assert receivers.alerts() == [
        ("run-failed", "report-export", expected),
        ("run-failed", "retention-cleanup", expected),
    ]
    assert not any("Traceback" in line for line in run_logs(cleaned.id))
    assert receivers.pings == []
    assert sqlite_db.scalar("SELECT count(*) FROM cleanup_runs") == 0  # nothing ran


def test_a_worker_with_a_bad_setting_alerts_from_every_flow_with_its_alert_settings(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    deploy("fleet")
    bad = {**sqlite_db.env, **receivers.env(), "BASKETS_RETENTION__MAX_SHARE": "2"}
    with worker(worker_python, api, "fleet", tmp_path / "w", bad):
        states = {name: run(name, params) for name, params in
                  [(NIGHTLY, {}), (WATCHDOG, {}), (EXPORT, {"operator": "bob"})]}  # fmt: skip
        receivers.wait_for(3)
    setting = "setting retention.max_share: 2.0 is not a share (expected 0 < share <= 1, e.g. 0.25)"
    assert {name: (r.state.type.value, r.state.message) for name, r in states.items()} == {
        NIGHTLY: ("FAILED", setting),
        WATCHDOG: ("FAILED", setting),
        EXPORT: ("FAILED", setting),
    }
    assert receivers.alerts() == [
        ("run-failed", "report-export", setting),
        ("run-failed", "retention-cleanup", setting),
        ("watchdog-failed", "cleanup-watchdog", setting),
    ]


def test_a_worker_without_the_driver_extra_or_without_its_database_alerts_without_secrets(
    worker_python: Path, api: str, receivers: Receivers, tmp_path: Path
) -> None:
    deploy("fleet")
    closed = free_port()
    url = f"postgresql://shop:s3cret-pw@127.0.0.1:{closed}/shop"
    no_driver = {"BASKETS_DATABASE_URL": url, "BM_TEST_HIDE_DRIVERS": "1", **receivers.env()}
    with worker(worker_python, api, "fleet", tmp_path / "w1", no_driver):
        cleaned = run(NIGHTLY)
        receivers.wait_for(1)
    unreachable = {"BASKETS_DATABASE_URL": url, "BASKETS_CONNECT_TIMEOUT_SECONDS": "2", **receivers.env()}
    with worker(worker_python, api, "fleet", tmp_path / "w2", unreachable):
        watched = run(WATCHDOG)
        receivers.wait_for(2)
    driver = (
        "database_url: the postgresql driver (psycopg) is not installed here "
        "(expected pip install 'basket-maintenance[postgres]')"
    )
    assert (cleaned.state.type.value, cleaned.state.message) == ("FAILED", driver)
    assert watched.state.is_failed()
    alerts = receivers.alerts()
    assert [(kind, flow) for kind, flow, _ in alerts] == [
        ("run-failed", "retention-cleanup"),
        ("watchdog-failed", "cleanup-watchdog"),
    ]
    assert alerts[0][2] == driver
    assert f"127.0.0.1:{closed}" in alerts[1][2] or "Connection refused" in alerts[1][2], alerts[1][2]
    sent = json.dumps(receivers.posts) + "".join(m.message.as_string() for m in receivers.smtp.mails)
    assert "s3cret-pw" not in sent


def test_a_cleanup_refused_because_another_runs_pages_nobody_and_is_not_the_last_run(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    from baskets.locks import cleanup_lock

    deploy("fleet")
    with (
        worker(worker_python, api, "fleet", tmp_path / "w", {**sqlite_db.env, **receivers.env()}),
        cleanup_lock(sqlite_db.engine),  # another cleanup, from the command line
    ):
        refused = run(NIGHTLY)
    assert refused.state.is_failed() and refused.state.message.startswith("another cleanup is running")
    assert receivers.alerts() == []
    status = baskets(worker_python, "status", "--json", cwd=tmp_path, env=sqlite_db.env)
    assert json.loads(status.stdout)["last_run"] is None
    assert sqlite_db.scalar("SELECT count(*) FROM cleanup_runs") == 1  # recorded, but not shown


def test_the_watchdog_closes_a_run_whose_worker_died_as_crashed_and_alerts(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    import sqlite3

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    deploy("fleet")
    env = {**sqlite_db.env, **receivers.env(), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
    database = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    database.execute("BEGIN IMMEDIATE")  # the run waits for this write lock: it stays Running
    try:
        dying = Worker(worker_python, api, "fleet", tmp_path / "dying", env)
        started = run_deployment(NIGHTLY, timeout=0)
        with get_client(sync_client=True) as client:
            running = wait_until(
                lambda: (r := client.read_flow_run(started.id)).state.is_running() and r, 120, "a Running run"
            )
        # The machine died: its run and its worker, without a word to the server.
        assert kill_processes_of(running.id) >= 1
        dying.kill()
    finally:
        database.execute("ROLLBACK")
        database.close()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(started.id).state.is_running()  # left Running
    with worker(worker_python, api, "fleet", tmp_path / "w", env):
        watched = run(WATCHDOG, {"crashed_after_minutes": 0.05})
        receivers.wait_for(2)
    assert watched.state.is_completed(), (watched.state, run_logs(watched.id))
    with get_client(sync_client=True) as client:
        closed = client.read_flow_run(started.id).state
    assert closed.type.value == "CRASHED" and "closed as Crashed by the cleanup-watchdog" in closed.message
    kinds = [(kind, flow) for kind, flow, _ in receivers.alerts()]
    assert kinds == [("run-crashed", "retention-cleanup"), ("stale-success", "retention-cleanup")]


def kill_processes_of(flow_run_id: Any) -> int:
    """SIGKILL every process of this machine that runs flow run `flow_run_id`; how many."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    killed = 0
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if marker in environ.read_bytes().split(b"\0"):
                os.kill(int(environ.parent.name), signal.SIGKILL)
                killed += 1
    return killed


def test_baskets_serve_refuses_to_take_over_the_pools_deployments(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    deploy("fleet")
    before = read_deployment(NIGHTLY)
    served = baskets(worker_python, "serve", cwd=tmp_path, env={**sqlite_db.env, "PREFECT_API_URL": api})
    assert served.returncode == 2
    [line] = served.stderr.strip().splitlines()
    assert line.startswith(
        "error: the Prefect server at PREFECT_API_URL runs 6 of these deployments on work pool fleet"
    )
    after = read_deployment(NIGHTLY)
    assert (after.work_pool_name, after.paused, after.pull_steps, after.updated) == (
        "fleet",
        False,
        before.pull_steps,
        before.updated,
    )


def test_prefect_deploy_of_the_packaged_prefect_yaml_runs_on_a_worker_without_a_checkout(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    add_operators(sqlite_db)
    seed(sqlite_db, 40)
    packaged = subprocess.run(
        [str(worker_python), "-c", "import deployments, pathlib; print(pathlib.Path(deployments.__file__).with_name('prefect.yaml'))"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=clean_env(),
    ).stdout.strip()  # fmt: skip
    assert "site-packages" in packaged
    subprocess.run(
        [str(worker_python), "-m", "prefect", "work-pool", "create", "baskets", "--type", "process"],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(PREFECT_API_URL=api),
    )  # fmt: skip
    made = subprocess.run(
        [str(worker_python), "-m", "prefect", "deploy", "--all", "--no-prompt", "--prefect-file", packaged],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env(PREFECT_API_URL=api), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    nightly = read_deployment(NIGHTLY)
    assert (nightly.work_pool_name, nightly.pull_steps) == (
        "baskets",
        [{"deployments.steps.enter_working_folder": {}}],
    )
    home = tmp_path / "w"
    with worker(worker_python, api, "baskets", home, {**sqlite_db.env, **receivers.env()}):
        exported = run(EXPORT, {"operator": "bob", "account_type": "customer"})
    assert exported.state.is_completed(), (exported.state, run_logs(exported.id))
    assert len(list((home / "basket-maintenance" / "var" / "exports").glob("baskets-*.csv"))) == 1


def unit_settings(name: str) -> dict[str, str]:
    text = (REPO / "deployments" / "systemd" / name).read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_the_service_units_run_installed_commands_and_stop_whole_groups() -> None:
    worker_unit = unit_settings("basket-maintenance-worker.service")
    assert worker_unit["ExecStart"].endswith("/bin/prefect worker start --pool baskets --type process")
    assert (worker_unit["KillMode"], worker_unit["KillSignal"], worker_unit["SendSIGKILL"]) == (
        "control-group",
        "SIGTERM",
        "yes",
    )
    server_unit = unit_settings("prefect-server.service")
    assert "prefect server start --host 127.0.0.1" in server_unit["ExecStart"]
    assert server_unit["KillMode"] == "control-group"
    serve_unit = unit_settings("basket-maintenance-serve.service")
    assert serve_unit["ExecStart"].endswith("/bin/baskets serve")
    assert int(serve_unit["TimeoutStopSec"]) > int(worker_unit["TimeoutStopSec"])
    for name in (
        "basket-maintenance-worker.service",
        "prefect-server.service",
        "basket-maintenance-serve.service",
    ):
        text = (REPO / "deployments" / "systemd" / name).read_text(encoding="utf-8")
        assert "/srv" not in text and "WorkingDirectory=~" in text


def test_stopping_a_worker_as_its_unit_does_ends_the_worker_and_its_runs_process_in_time(
    worker_python: Path, api: str, sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    import sqlite3

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    unit = unit_settings("basket-maintenance-worker.service")
    deploy("fleet")
    stopping = Worker(worker_python, api, "fleet", tmp_path / "w", sqlite_db.env)
    database = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    database.execute("BEGIN IMMEDIATE")  # the run waits for this write lock while the unit stops
    try:
        started = run_deployment(NIGHTLY, timeout=0)
        with get_client(sync_client=True) as client:
            wait_until(lambda: client.read_flow_run(started.id).state.is_running(), 120, "a Running run")
        group = os.getpgid(stopping.process.pid)
        os.killpg(group, getattr(signal, unit["KillSignal"]))  # KillMode=control-group
    finally:
        database.execute("ROLLBACK")
        database.close()
    # Within TimeoutStopSec the worker and the run's process have ended: no SIGKILL needed, nothing
    # runs on. The run's state stays Running (the worker ends its process without a word to the
    # server): the watchdog closes it as Crashed and alerts, as for a worker that died (above).
    assert stopping.process.wait(timeout=int(unit["TimeoutStopSec"])) is not None
    wait_until(
        lambda: kill_processes_of(started.id) == 0, int(unit["TimeoutStopSec"]), "the run's process to end"
    )
    assert "Worker 'ProcessWorker" in stopping.output() and "stopped!" in stopping.output()
    assert sqlite_db.scalar("SELECT count(*) FROM cleanup_runs WHERE status = 'succeeded'") == 0
    # Close the run as the watchdog would, so it holds no slot of the deployment's concurrency
    # limit for the tests after this one.
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(started.id, Crashed(message="closed by the test"), force=True)


def test_workers_share_a_server_database_and_one_cleanup_runs_at_a_time(
    worker_python: Path, api: str, server_db: DatabaseUnderTest, receivers: Receivers, tmp_path: Path
) -> None:
    from prefect.deployments import run_deployment

    seed(server_db, 60)
    deploy("fleet")
    env = {**server_db.env, **receivers.env(), "BASKETS_RETENTION__MAX_SHARE": "1",
           "BASKETS_EXPORT_DIR": str(tmp_path / "shared-exports")}  # fmt: skip
    with (
        worker(worker_python, api, "fleet", tmp_path / "w1", env),
        worker(worker_python, api, "fleet", tmp_path / "w2", env),
    ):
        first = run_deployment(NIGHTLY, parameters={"now": "2026-11-01T12:00:00+00:00"}, timeout=0)
        second = run(NIGHTLY, {"now": "2026-11-01T12:00:00+00:00"})
        done = wait_until(lambda: (r := read_flow_run(first.id)).state.is_final() and r, 240, "the first run")
    states = sorted(r.state.type.value for r in (done, read_flow_run(second.id)))
    # The deployment's limit cancels a second run while the first is busy; a second that starts
    # after the first finished has nothing left to delete. Either way one cleanup deleted.
    assert states in (["CANCELLED", "COMPLETED"], ["COMPLETED", "COMPLETED"]), states
    assert (
        server_db.scalar("SELECT count(*) FROM cleanup_runs WHERE status = 'succeeded' AND deleted > 0") == 1
    )
    assert receivers.alerts() == []
    assert receivers.pings == ["/ping/check-uuid-secret"] * states.count("COMPLETED")


def read_flow_run(flow_run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)
