"""`baskets serve` refuses what would fail later, before starting a Prefect server."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.conftest import DatabaseUnderTest, run_baskets_process


def without_prefect_api(env: dict[str, str]) -> dict[str, str]:
    """The test environment with no Prefect server named, so `serve` would start its own."""
    for key in [key for key in os.environ if key.startswith("PREFECT_API")]:
        env[key] = ""
    return env


def test_serve_refuses_a_port_in_use_in_one_line(sqlite_db: DatabaseUnderTest, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_baskets_process(
            "serve", "--port", str(port), env=without_prefect_api(dict(sqlite_db.env)), cwd=tmp_path
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: --port: {port} on 127.0.0.1 is in use (pick another, e.g. --port {port + 1}, or point "
        "PREFECT_API_URL at the server that runs there)"
    )


def test_serve_refuses_a_bad_schedule_setting_before_starting(
    sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    env = {**sqlite_db.env, "BASKETS_SCHEDULE__CLEANUP_CRON": "every night"}
    done = run_baskets_process("serve", env=without_prefect_api(env), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: setting schedule.cleanup_cron: 'every night' is not a 5-field cron expression "
        "(expected e.g. 30 2 * * *)"
    )
    assert "Prefect" not in done.stdout


def test_serve_refuses_a_database_that_was_never_initialised(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    env = {"BASKETS_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = run_baskets_process("serve", env=without_prefect_api(env), cwd=tmp_path)
    assert done.returncode == 1
    assert "run `baskets init` first" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
