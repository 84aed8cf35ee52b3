"""Flows without a Prefect API run directly: no temporary server, no Prefect import, same work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from baskets.errors import BadInput, NotFound
from baskets.models import Basket, BasketAudit
from flows import runner
from tests.conftest import REPO, DatabaseUnderTest, add_operators, seed

# Runs one `baskets` command in-process, then prints which heavy packages it loaded.
_RUN_AND_LIST_MODULES = """
import json, sys
from cli.main import app
try:
    app(args=sys.argv[1:], standalone_mode=False)
except BaseException:  # the command's own refusal: only the modules matter here
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {"prefect", "pandas", "pyarrow"})))
"""


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 40, 5)
    add_operators(db)
    return db


def _env_without_prefect_api(database: DatabaseUnderTest, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {
        **env,
        **database.env,
        "PREFECT_HOME": str(tmp_path / "fresh-prefect-home"),
        "PYTHONPATH": str(REPO),
    }


def _baskets(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _first_id(database: DatabaseUnderTest) -> str:
    with database.engine.connect() as connection:
        return str(connection.scalar(select(Basket.id).order_by(Basket.id).limit(1)))


@pytest.mark.backend_independent
def test_flow_commands_without_prefect_api_start_no_server_and_load_no_prefect(
    store: DatabaseUnderTest, tmp_path: Path
) -> None:
    env = _env_without_prefect_api(store, tmp_path)
    basket_id = _first_id(store)
    commands = [
        ["delete", basket_id, "--as", "alice", "--json"],
        ["restore", basket_id, "--as", "alice", "--json"],
        ["export", "--as", "alice", "--json"],
        ["cleanup", "--dry-run", "--as", "alice", "--json"],
        ["cleanup", "--as", "alice", "--force", "--json"],
        ["audit", "report", "--as", "alice", "--json"],
    ]
    for args in commands:
        done = _baskets(args, env, tmp_path)
        assert done.returncode == 0, (args, done.stderr)
        *output, modules = done.stdout.strip().splitlines()
        assert "prefect" not in json.loads(modules), args
        if args[0] in ("delete", "restore", "export"):  # only the report and the cleanup use pandas
            assert "pandas" not in json.loads(modules), args
        summary = json.loads(output[-1])
        assert summary["tracked"] is False and summary.get("flow_run_id") is None, args
    # A temporary Prefect server would have created its database under PREFECT_HOME.
    assert not (tmp_path / "fresh-prefect-home").exists()
    with store.engine.connect() as connection:
        rows = connection.execute(select(BasketAudit.event, BasketAudit.flow_run_id)).all()
    assert len(rows) > 2 and {flow_run for _, flow_run in rows} == {None}
    assert ("restored", None) in rows


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--as", "bob"],
        ["status"],
        ["operators", "list", "--as", "alice"],
        ["audit", "verify", "--as", "bob"],
        ["audit", "show", "00000000-0000-0000-0000-000000000001", "--as", "bob"],
        ["shop-account", "00000000-0000-0000-0000-000000000001", "--as", "alice"],
        ["init"],
        # not seed: its generator is built on pyarrow (which loads pandas)
    ],
)
def test_commands_that_run_no_flow_load_no_prefect_pandas_or_pyarrow(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, args: list[str]
) -> None:
    add_operators(sqlite_db)
    done = _baskets(args, _env_without_prefect_api(sqlite_db, tmp_path), tmp_path)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [], done.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["delete", "{ID}", "--as", "carol"], 3),
        (["restore", "{ID}", "--as", "bob"], 3),
        (["export", "--as", "carol"], 3),
        (["audit", "report", "--as", "carol"], 3),
        (["cleanup", "--as", "bob"], 3),
        (["cleanup", "--dry-run", "--as", "nobody"], 3),
    ],
)
@pytest.mark.backend_independent
def test_refusals_come_before_any_flow_in_direct_mode_and_load_no_prefect(
    store: DatabaseUnderTest, tmp_path: Path, args: list[str], code: int
) -> None:
    basket_id = _first_id(store)
    env = _env_without_prefect_api(store, tmp_path)
    full = [sys.executable, "-m", "cli.main", *(a.replace("{ID}", basket_id) for a in args)]
    done = subprocess.run(full, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "fresh-prefect-home").exists()
    with store.engine.connect() as connection:
        assert connection.scalar(select(BasketAudit.seq).limit(1)) is None


def _direct_flow(fn, **options):  # type: ignore[no-untyped-def]
    return runner.DeferredFlow(fn, {"name": "test-flow", **options})


def test_direct_run_retries_a_task_on_its_retry_exception_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(runner, "prefect_api_configured", lambda: False)
    calls: list[str] = []

    @runner.task(name="flaky", retries=2, retry_on=(OperationalError,))
    def flaky(kind: str) -> str:
        calls.append(kind)
        if len(calls) < 3 and kind == "lost":
            raise OperationalError("select 1", {}, Exception("connection lost"))
        if kind == "missing":
            raise NotFound("no basket with ID x")
        return "done"

    assert runner.run_flow(_direct_flow(lambda: flaky("lost"))) == "done"
    assert calls == ["lost", "lost", "lost"]
    calls.clear()
    with pytest.raises(NotFound):
        runner.run_flow(_direct_flow(lambda: flaky("missing")))
    assert calls == ["missing"]  # an expected failure is final


def test_direct_run_refuses_a_bad_parameter_as_bad_input_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "prefect_api_configured", lambda: False)

    def flow_body(count: int, reason: str = "manual") -> dict[str, int]:
        return {"count": count}

    flow = _direct_flow(flow_body, validate_parameters=True)
    with pytest.raises(BadInput, match=r"^count: .*integer.*'many'"):
        runner.run_flow(flow, count="many")
    assert runner.run_flow(flow, count="3") == {"count": 3, "tracked": False}


def test_direct_run_has_no_flow_run_artifacts_or_prefect_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "prefect_api_configured", lambda: False)

    def flow_body() -> dict[str, object]:
        return {
            "run": runner.current_flow_run_id(),
            "artifact": runner.create_artifact("markdown", key="k", markdown="m"),
            "logger": runner.run_logger().name,
        }

    assert runner.run_flow(_direct_flow(flow_body)) == {
        "run": None, "artifact": None, "logger": "baskets.run", "tracked": False
    }  # fmt: skip


def test_prefect_api_url_in_the_active_profile_counts_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        'active = "ops"\n[profiles.ops]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\nPREFECT_API_KEY = "k"\n'
    )
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.delenv("PREFECT_API_KEY", raising=False)
    assert runner.prefect_setting("PREFECT_API_URL") == "http://127.0.0.1:4200/api"
    assert runner.prefect_setting("PREFECT_API_KEY") == "k"
    monkeypatch.setenv("PREFECT_API_KEY", " from-the-environment ")  # the environment wins
    assert runner.prefect_setting("PREFECT_API_KEY") == "from-the-environment"
    monkeypatch.setenv("PREFECT_PROFILE", "local")
    assert runner.prefect_setting("PREFECT_API_URL") == ""


def test_a_result_model_gives_the_text_and_the_json_from_the_same_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    monkeypatch.setattr(runner, "prefect_api_configured", lambda: False)
    from flows.results import AuditReportResult, DeleteResult

    deleted = DeleteResult(
        deleted=2, survived=1, gone=0, basket_ids=["a", "b"], basket_ids_truncated=False, first_seq=5,
        last_seq=6, actor="bob", reason="manual", filter={"--account-type": "contact"}, flow_run_id=None,
    )  # fmt: skip
    tracked = runner.run_flow(_direct_flow(lambda: deleted))
    assert tracked.tracked is False and tracked.deleted == 2
    assert tracked.model_dump(mode="json") == {
        "deleted": 2, "survived": 1, "gone": 0, "basket_ids": ["a", "b"], "basket_ids_truncated": False,
        "first_seq": 5, "last_seq": 6, "actor": "bob", "reason": "manual",
        "filter": {"--account-type": "contact"}, "flow_run_id": None, "tracked": False,
    }  # fmt: skip
    since = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    report = AuditReportResult(
        since=since, until=since + dt.timedelta(days=7), deleted=0, lines=0, restored=0, per_account_type={},
        per_reason={}, per_actor={}, chain="intact", chain_detail="", format="csv", path="r.csv",
        operator="bob", flow_run_id=None,
    )  # fmt: skip
    assert report.model_dump(mode="json")["until"] == "2026-10-08T00:00:00+00:00"


@pytest.mark.parametrize("heartbeats", [False, True])
def test_a_tracked_command_run_has_heartbeats_only_when_asked_and_the_settings_come_back_after(
    heartbeats: bool,
) -> None:
    from prefect.settings import PREFECT_API_URL, get_current_settings

    from flows import prefect_flow

    before = get_current_settings()
    with prefect_flow.running_flow(heartbeats=heartbeats):
        inside = get_current_settings()
        assert inside.flows.heartbeat_frequency == (before.flows.heartbeat_frequency if heartbeats else None)
        assert PREFECT_API_URL.value() == before.api.url  # every other setting as it was
        assert inside.logging.level == before.logging.level
    assert get_current_settings() is before and before.flows.heartbeat_frequency == 180
