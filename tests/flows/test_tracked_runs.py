"""What a command's run through Prefect's engine (Prefect loaded, a Prefect API configured) costs
beyond Prefect itself: its plain parameters are stored without loading FastAPI, and a run no
deployment made reads nothing back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from baskets.models import Basket, BasketAudit
from tests.conftest import NOW, REPO, DatabaseUnderTest, add_operators, seed

# Runs one `baskets` command in-process with Prefect loaded first (so that Prefect's engine runs its
# flow, as in a worker: without it the run is recorded through the API, tests/flows/test_recorded_runs.py),
# then prints whether it loaded FastAPI.
_RUN_AND_LIST_FASTAPI = """
import json, sys
import prefect
from cli.main import app
app(args=sys.argv[1:], standalone_mode=False)
print(json.dumps("fastapi" in sys.modules))
"""


@dataclasses.dataclass
class _Window:
    since: dt.date


def _declared(fn: Any) -> Any:
    from flows.prefect_flow import SuiteFlow

    return SuiteFlow(fn, name="tracked-test")


@pytest.mark.backend_independent
def test_plain_parameters_are_stored_as_prefects_own_encoder_stores_them() -> None:
    from prefect import Flow

    def body(**parameters: Any) -> None:
        return None

    suite, prefects = _declared(body), Flow(body, name="tracked-test")
    plain = {
        "operator": "alice\x00\u202e" + "x" * 100_000,  # control characters and a huge value
        "basket_ids": ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "b"),
        "limits": [1, 2.5, None, True],
        "delete_all": False,
        "count": 10**30,
        "note": "",
    }
    assert suite.serialize_parameters(plain) == prefects.serialize_parameters(plain)
    assert suite.serialize_parameters(plain)["basket_ids"] == ["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "b"]
    # Anything else is left to Prefect: the same result as Prefect's own, whatever it is.
    other = {"operator": "alice", "window": _Window(dt.date(2026, 10, 1)), "quantity": Decimal("1.5")}
    assert suite.serialize_parameters(other) == prefects.serialize_parameters(other)
    nested = {"filters": {"account_type": "contact"}, "paths": (Path("/tmp/x"),)}
    assert suite.serialize_parameters(nested) == prefects.serialize_parameters(nested)


@pytest.mark.backend_independent
def test_a_run_no_deployment_made_does_not_read_its_flow_run_back(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefect.runtime.deployment

    from flows.failures import check_deployed_version

    reads: list[Any] = []

    async def read_flow_run(flow_run_id: Any) -> Any:
        reads.append(flow_run_id)
        raise AssertionError("the flow run was read back from the API")

    monkeypatch.setattr(prefect.runtime.deployment, "_get_flow_run", read_flow_run)

    def body() -> str:
        check_deployed_version()
        return "ran"

    assert _declared(body)() == "ran"
    assert reads == []


@pytest.mark.backend_independent
def test_a_tracked_delete_and_restore_store_their_parameters_without_loading_fastapi(
    prefect_harness: None, sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    basket_id, env = _seeded_with_server(sqlite_db, 5)
    for args in (["delete", basket_id, "--as", "alice"], ["restore", basket_id, "--as", "alice", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", _RUN_AND_LIST_FASTAPI, *args],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) is False, args
    restored = json.loads(done.stdout.strip().splitlines()[-2])
    assert restored["tracked"] is True and restored["basket_id"] == basket_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(restored["flow_run_id"])
    assert run.parameters == {"basket_id": basket_id, "operator": "alice", "note": ""}
    with sqlite_db.engine.connect() as connection:
        events = connection.execute(select(BasketAudit.event).order_by(BasketAudit.seq)).scalars().all()
    assert events == ["deleted", "restored"]


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("command", "shown"),
    [
        # The forced run's warning is shown; Prefect's "Beginning flow run" and "Finished in state" are not.
        (["cleanup", "--force", "--as", "alice", "--now", NOW.isoformat()], ["WARNING"]),
        (["delete", "{basket_id}", "--as", "alice"], []),
    ],
)
def test_a_tracked_run_shows_warnings_but_not_prefects_info_lines_on_the_terminal(
    prefect_harness: None, sqlite_db: DatabaseUnderTest, tmp_path: Path, command: list[str], shown: list[str]
) -> None:

    basket_id, env = _seeded_with_server(sqlite_db, 40)
    env.pop("PREFECT_LOGGING_LEVEL", None)  # Prefect's default (INFO), as an operator has it
    args = [arg.format(basket_id=basket_id) for arg in command]
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "deleted" in done.stdout
    assert [line.split("|")[1].strip() for line in done.stderr.splitlines() if line.count("|") >= 2] == shown
    assert "Finished in state" not in done.stdout + done.stderr


def _seeded_with_server(database: DatabaseUnderTest, baskets: int) -> tuple[str, dict[str, str]]:
    """Seed `database` with `baskets` and the test operators; its first basket's ID, and the
    environment of a command that uses it with the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    seed(database, baskets)
    add_operators(database)
    with database.engine.connect() as connection:
        basket_id = str(connection.scalar(select(Basket.id).order_by(Basket.id).limit(1)))
    env = {
        **os.environ,
        **database.env,
        "PYTHONPATH": str(REPO),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    return basket_id, env
