"""On-demand commands with a Prefect API and no Prefect loaded: the flow runs in the command's
process and is recorded as a flow run through Prefect's REST API (flows.recorded_run).

Every command here is a real `baskets` process pointed at the session's Prefect test server;
what the server then holds is read back with Prefect's own client.
"""
# ruff: noqa: F811 - the loopback receivers are fixtures imported by name

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from baskets.models import Basket, BasketAudit
from tests import loopback_receivers
from tests.conftest import REPO, DatabaseUnderTest, add_operators, seed
from tests.loopback_receivers import WebhookReceiver, webhook_server  # noqa: F401

# Runs `baskets ARGS` (cli.main.main, the console script's entry point), then says on stderr's
# last line which Prefect modules it loaded.
_BASKETS = """
import json, sys
from cli.main import main
try:
    main()
finally:
    print("PREFECT-MODULES " + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect')),
          file=sys.stderr)
"""
# Runs one flow through flows.runner.run_flow as a command does: `python -c SCRIPT FLOW`, the
# parameters as JSON on stdin.
_RUN_FLOW = """
import importlib, json, sys
from baskets.errors import BasketsError
from flows.runner import run_flow
module, name = sys.argv[1].rsplit(".", 1)
try:
    result = run_flow(getattr(importlib.import_module(module), name), **json.loads(sys.stdin.read()))
except BasketsError as error:
    print(json.dumps({"error": type(error).__name__, "message": error.message}))
    sys.exit(error.exit_code)
print(json.dumps({"result": str(result)}))
"""


@pytest.fixture
def api_url(prefect_harness: None) -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def _env(database: DatabaseUnderTest, tmp_path: Path, api: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update({**database.env, "BASKETS_DATABASE_URL": database.url, "PYTHONPATH": str(REPO)})
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api, **extra})
    return env


def baskets(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr without the marker line, Prefect modules loaded)."""
    done = subprocess.run(
        [sys.executable, "-c", _BASKETS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    *lines, marker = done.stderr.rstrip("\n").split("\n")
    assert marker.startswith("PREFECT-MODULES "), done.stderr
    return done.returncode, done.stdout, "\n".join(lines), json.loads(marker.removeprefix("PREFECT-MODULES "))


def run_flow_process(env: dict[str, str], cwd: Path, flow: str, **params: Any) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN_FLOW, flow], input=json.dumps(params),
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def server_run(run_id: str) -> tuple[Any, str, list[str], dict[str, Any]]:
    """(flow run, its flow's name, its log messages, its artifacts by key) as the server holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        flow = client.read_flow(run.flow_id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    return run, flow.name, [log.message for log in logs], {artifact.key: artifact for artifact in artifacts}


def latest_run_of(flow_name: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return runs[0] if runs else None


def _ids(database: DatabaseUnderTest, count: int) -> list[str]:
    with database.engine.connect() as connection:
        return list(connection.scalars(select(Basket.id).order_by(Basket.id).limit(count)))


def _flow_run_ids_of(database: DatabaseUnderTest, basket_id: str) -> list[str | None]:
    with database.engine.connect() as connection:
        query = (
            select(BasketAudit.flow_run_id)
            .where(BasketAudit.basket_id == basket_id)
            .order_by(BasketAudit.seq)
        )
        return list(connection.scalars(query))


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    add_operators(db)
    seed(db, 20)
    return db


def test_delete_and_restore_are_recorded_flow_runs_and_load_no_prefect(
    store: DatabaseUnderTest, api_url: str, tmp_path: Path
) -> None:
    env = _env(store, tmp_path, api_url)
    (basket_id,) = _ids(store, 1)
    code, out, err, loaded = baskets(
        env, tmp_path, "delete", basket_id, "--as", "alice", "--note", "n", "--json"
    )
    assert (code, err, loaded) == (0, "", [])
    deleted = json.loads(out)
    assert deleted["tracked"] is True and deleted["basket_ids"] == [basket_id]
    run, flow, logs, artifacts = server_run(deleted["flow_run_id"])
    assert (flow, run.state.type.value, run.state.message) == ("basket-delete", "COMPLETED", None)
    assert run.parameters["basket_ids"] == [basket_id]
    assert (run.parameters["operator"], run.parameters["note"], run.parameters["delete_all"]) == (
        "alice",
        "n",
        False,
    )
    assert "command-line" in run.tags
    assert f"Beginning flow run '{run.name}' for flow 'basket-delete'" in logs
    assert "deleted 1 basket as alice" in logs and logs[-1] == "Finished in state Completed()"
    assert basket_id in artifacts["basket-delete"].data
    assert _flow_run_ids_of(store, basket_id) == [deleted["flow_run_id"]]

    code, out, err, loaded = baskets(env, tmp_path, "restore", basket_id, "--as", "alice")
    assert (code, err, loaded) == (0, "", [])
    restore_run = latest_run_of("basket-restore")
    assert out.strip().endswith(f"flow run {restore_run.id}")
    assert (restore_run.state.type.value, restore_run.parameters["basket_id"]) == ("COMPLETED", basket_id)
    assert _flow_run_ids_of(store, basket_id) == [deleted["flow_run_id"], str(restore_run.id)]
    assert "basket-restore" in server_run(str(restore_run.id))[3]


@pytest.mark.backend_independent
def test_export_dry_run_cleanup_report_and_forget_are_recorded(
    db: DatabaseUnderTest, api_url: str, tmp_path: Path
) -> None:
    add_operators(db)
    seed(db, 20)
    env = _env(db, tmp_path, api_url)
    commands = {
        "report-export": (["export", "--as", "bob", "--output", "x.csv"], "report-export"),
        "retention-cleanup": (["cleanup", "--dry-run", "--as", "alice"], "retention-cleanup-privacy"),
        "audit-report": (["audit", "report", "--as", "bob", "--output", "r.html"], "audit-report"),
        "basket-forget": (["forget", "--email", "nobody@example.com", "--as", "alice"], "basket-forget"),
        "basket-delete": (["delete", "--account-type", "anonymous", "--yes", "--as", "bob"], "basket-delete"),
    }
    for flow, (args, artifact) in commands.items():
        code, _out, err, loaded = baskets(env, tmp_path, *args)
        assert (code, err, loaded) == (0, "", []), flow
        run, flow_name, _logs, artifacts = server_run(str(latest_run_of(flow).id))
        assert (flow_name, run.state.type.value) == (flow, "COMPLETED")
        assert artifact in artifacts, flow
    assert (tmp_path / "x.csv").exists() and (tmp_path / "r.html").exists()
    # The cleanup that deletes keeps Prefect's engine (heartbeats, task runs): not recorded this way.
    code, _out, err, loaded = baskets(env, tmp_path, "cleanup", "--force", "--as", "alice")
    assert code == 0, err
    assert "prefect.flow_engine" in loaded and "command-line" not in latest_run_of("retention-cleanup").tags


@pytest.mark.backend_independent
def test_a_refused_run_ends_failed_with_the_run_forms_message_and_its_exit_code(
    db: DatabaseUnderTest, api_url: str, tmp_path: Path
) -> None:
    add_operators(db)
    seed(db, 5)
    env = _env(db, tmp_path, api_url)
    (basket_id,) = _ids(db, 1)
    code, said = run_flow_process(
        env, tmp_path, "flows.delete.basket_delete", operator="carol", basket_ids=[basket_id]
    )
    assert (code, said["error"]) == (3, "NotPermitted")
    run = latest_run_of("basket-delete")
    assert (run.state.type.value, run.state.message) == ("FAILED", said["message"].splitlines()[0])
    assert said["message"].startswith("operator: ")  # the run form's field, as the engine's path words it
    assert _ids(db, 1) == [basket_id]  # nothing deleted

    assert baskets(env, tmp_path, "delete", *_ids(db, 3)[1:], "--as", "alice")[0] == 0
    with db.engine.begin() as connection:  # a broken chain: the report is written, the run fails (exit 6)
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 2).values(line_count=99))
    code, _out, err, _loaded = baskets(env, tmp_path, "audit", "report", "--as", "bob", "--output", "r.csv",
                                       "--format", "csv")  # fmt: skip
    report = latest_run_of("audit-report")
    assert code == 6 and err.startswith("error: audit chain broken")
    assert report.state.type.value == "FAILED" and report.state.message.startswith("audit chain broken")
    assert (tmp_path / "r.csv").exists()


@pytest.fixture
def alerts(webhook_server: WebhookReceiver) -> WebhookReceiver:
    return webhook_server


@pytest.mark.backend_independent
def test_a_worker_side_failure_ends_failed_and_alerts_as_the_engines_hook_does(
    db: DatabaseUnderTest, api_url: str, tmp_path: Path, alerts: WebhookReceiver
) -> None:
    env = _env(db, tmp_path, api_url, BASKETS_ALERTS__WEBHOOK_URL=alerts.url)
    env["BASKETS_DATABASE_URL"] = "nope://shop:pw-hidden@db/shop"
    code, said = run_flow_process(env, tmp_path, "flows.export.report_export", operator="alice")
    assert (code, said["error"]) == (2, "WorkerMisconfigured")
    run = latest_run_of("report-export")
    assert run.state.type.value == "FAILED" and run.state.message == said["message"]
    (post,) = alerts.posts
    assert (post.body["kind"], post.body["flow"], post.body["flow_run_id"]) == (
        "run-failed",
        "report-export",
        str(run.id),
    )
    assert "pw-hidden" not in json.dumps(post.body) + run.state.message
    assert any(line.startswith("alert sent by webhook") for line in server_run(str(run.id))[2])


_CRASHING = """
import os, signal, sys, time
from flows.run_alerts import alert_run_crashed, alert_worker_problem
from flows.runner import flow, run_flow

@flow(name="crash-test", on_failure=[alert_worker_problem], on_crashed=[alert_run_crashed])
def crashing(how: str) -> None:
    if how == "interrupt":
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)

run_flow(crashing, how=sys.argv[1])
"""


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("how", "exit_code", "message"),
    [
        ("interrupt", -signal.SIGINT, "Execution was aborted by an interrupt signal."),
        ("terminate", 143, "Execution was aborted by a termination signal."),
    ],
)
def test_an_interrupted_run_ends_crashed_and_alerts(
    sqlite_db: DatabaseUnderTest, api_url: str, tmp_path: Path, alerts: WebhookReceiver,
    how: str, exit_code: int, message: str,
) -> None:  # fmt: skip
    env = _env(sqlite_db, tmp_path, api_url, BASKETS_ALERTS__WEBHOOK_URL=alerts.url)
    done = subprocess.run([sys.executable, "-c", _CRASHING, how], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == exit_code
    run = latest_run_of("crash-test")
    if how == "terminate":
        assert done.stderr.splitlines() == [f"terminated: flow run {run.id} recorded as Crashed"]
    assert (run.state.type.value, run.state.message) == ("CRASHED", message)
    assert [(p.body["kind"], p.body["flow_run_id"]) for p in alerts.posts] == [("run-crashed", str(run.id))]


# --- a Prefect API that does not answer, or answers wrong: nothing runs ---------------------------------------


@pytest.fixture
def fake_api() -> Iterator[tuple[str, list[tuple[str, str | None]], list[tuple[int, bytes]]]]:
    """An HTTP server on loopback: (its API URL, (path, Authorization) received, answers to give:
    (status, body), the last one repeated)."""
    received: list[tuple[str, str | None]] = []
    answers: list[tuple[int, bytes]] = [(500, b'{"exception_message": "Internal Server Error"}')]
    port = loopback_receivers.free_port()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, self.headers.get("Authorization")))
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/api", received, answers
    server.shutdown()
    server.server_close()


@pytest.mark.backend_independent
def test_an_api_that_refuses_connections_or_answers_wrong_stops_the_delete_before_it_starts(
    db: DatabaseUnderTest, tmp_path: Path, fake_api: tuple[str, list[Any], list[Any]]
) -> None:
    add_operators(db)
    seed(db, 3)
    ids = _ids(db, 3)
    url, received, answers = fake_api
    hint = "basket-delete did not run (start the server or correct PREFECT_API_URL / PREFECT_API_KEY"

    closed = f"http://127.0.0.1:{loopback_receivers.free_port()}/api"
    code, _out, err, _ = baskets(_env(db, tmp_path, closed), tmp_path, "delete", ids[0], "--as", "alice")
    assert code == 1 and err.startswith(
        f"error: the Prefect API at {closed} (PREFECT_API_URL) does not answer ("
    )
    assert hint in err and len(err.splitlines()) == 1

    code, _out, err, _ = baskets(
        _env(db, tmp_path, url, PREFECT_API_KEY="k-1"), tmp_path, "delete", ids[0], "--as", "alice"
    )
    assert (code, err) == (
        1,
        f"error: the Prefect API at {url} (PREFECT_API_URL) answered HTTP 500: Internal Server Error: {hint}, or unset PREFECT_API_URL to run without one)",
    )
    assert received == [("/api/flows/", "Bearer k-1")]

    answers[:] = [(200, b"<html>not an API</html>")]
    code, _out, err, _ = baskets(
        _env(db, tmp_path, url, PREFECT_API_AUTH_STRING="admin:pass"),
        tmp_path,
        "delete",
        ids[1],
        "--as",
        "alice",
    )
    assert code == 1 and "answered HTTP 200 with something that is not JSON" in err
    assert received[-1] == (
        "/api/flows/",
        "Basic YWRtaW46cGFzcw==",
    )  # the auth string wins, as in Prefect's client

    answers[:] = [(201, b'{"id": "f"}'), (401, b'{"detail": "Unauthorized"}')]  # the flow, then not its run
    code, _out, err, _ = baskets(_env(db, tmp_path, url), tmp_path, "delete", ids[2], "--as", "alice")
    assert code == 1 and "answered HTTP 401: Unauthorized: " in err
    assert [path for path, _auth in received[-2:]] == ["/api/flows/", "/api/flow_runs/"]

    profiles = tmp_path / "profiles.toml"  # a key in the active Prefect profile, as Prefect reads it
    profiles.write_text('active = "ops"\n[profiles.ops]\nPREFECT_API_KEY = "from-profile"\n')
    code, _out, err, _ = baskets(
        _env(db, tmp_path, url, PREFECT_PROFILES_PATH=str(profiles)),
        tmp_path,
        "delete",
        ids[2],
        "--as",
        "alice",
    )
    assert code == 1 and received[-1] == ("/api/flows/", "Bearer from-profile")

    missing = tmp_path / "no-such-ca.pem"
    code, _out, err, _ = baskets(
        _env(db, tmp_path, url, PREFECT_API_SSL_CERT_FILE=str(missing)),
        tmp_path,
        "delete",
        ids[0],
        "--as",
        "alice",
    )
    assert (code, err) == (2, f"error: PREFECT_API_SSL_CERT_FILE: {str(missing)!r} is no readable certificate "
                              "file (FileNotFoundError; expected a PEM file of CA certificates)")  # fmt: skip
    for key in ("k\nX-Injected: 1", "k\x1b[31m", "clé"):
        code, _out, err, _ = baskets(
            _env(db, tmp_path, url, PREFECT_API_KEY=key), tmp_path, "delete", ids[0], "--as", "alice"
        )
        assert (code, err) == (2, "error: PREFECT_API_KEY: has control or non-ASCII characters (expected the key "
                                  "exactly as Prefect shows it, on one line)")  # fmt: skip
    assert _ids(db, 3) == ids  # nothing deleted
    assert {basket_id: _flow_run_ids_of(db, basket_id) for basket_id in ids} == {
        basket_id: [] for basket_id in ids
    }


@pytest.mark.backend_independent
def test_a_parameter_too_big_for_the_server_stops_the_run_before_it_starts(
    db: DatabaseUnderTest, api_url: str, tmp_path: Path
) -> None:
    add_operators(db)
    seed(db, 3)
    env = _env(db, tmp_path, api_url)
    output = tmp_path / "big.csv"
    code, said = run_flow_process(
        env,
        tmp_path,
        "flows.export.report_export",
        operator="alice",
        output=str(output),
        shop_account_name="x" * 600_000,
    )
    assert (code, said["error"]) == (1, "PrefectApiUnavailable")
    assert "answered HTTP 422" in said["message"] and "report-export did not run" in said["message"]
    assert not output.exists()


@pytest.mark.backend_independent
def test_a_recorded_run_stores_no_database_password(
    db: DatabaseUnderTest, api_url: str, tmp_path: Path
) -> None:
    from tests.cli.test_no_secrets import prefect_database_text

    secret = "S3cr3t-Recorded-77"
    add_operators(db)
    seed(db, 3)
    env = _env(db, tmp_path, api_url)
    env["BASKETS_DATABASE_URL"] = f"{db.url}?password={secret}"
    (basket_id,) = _ids(db, 1)
    code, out, err, _ = baskets(env, tmp_path, "delete", basket_id, "--as", "alice", "--json")
    assert code == 0, err
    assert secret not in out + err and secret not in prefect_database_text()


@pytest.mark.backend_independent
def test_an_api_that_fails_once_the_work_began_is_a_warning_and_the_work_stays_done(
    db: DatabaseUnderTest, tmp_path: Path, fake_api: tuple[str, list[Any], list[Any]]
) -> None:
    add_operators(db)
    seed(db, 2)
    (basket_id,) = _ids(db, 1)
    url, received, answers = fake_api
    run_id = "0b6a3c1e-5d7f-4a2b-9c8d-1e2f3a4b5c6d"
    flow_run = json.dumps({"id": run_id, "name": "calm-otter"}).encode()
    answers[:] = [(201, b'{"id": "f"}'), (201, flow_run), (500, b"{}")]
    code, out, err, loaded = baskets(_env(db, tmp_path, url), tmp_path, "delete", basket_id, "--as", "alice")
    assert (code, loaded) == (0, [])
    assert out.strip() == f"deleted 1 basket (audit seq 1..1), flow run {run_id}"
    assert err.splitlines() == [
        f"warning: could not {doing} flow run {run_id}: the Prefect API at {url} answered HTTP 500"
        for doing in ("attach an artifact to", "end (Completed)", "send the log lines of")
    ]
    assert [path for path, _auth in received] == [
        "/api/flows/", "/api/flow_runs/", "/api/artifacts/", f"/api/flow_runs/{run_id}/set_state", "/api/logs/",
    ]  # fmt: skip
    assert _flow_run_ids_of(db, basket_id) == [run_id]
