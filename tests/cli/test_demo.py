"""`baskets demo`, the main job of `make demo`, end to end on the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from baskets.audit import verify_audit_chain
from baskets.db import make_engine
from baskets.retention import snapshot_folder


def test_demo_seeds_exports_cleans_up_and_audits_every_deleted_basket(
    cli, tmp_path: Path, prefect_harness: None
) -> None:
    result = cli("demo", "--baskets", "400")
    assert result.exit_code == 0, result.stderr

    database = tmp_path / "var" / "baskets.db"
    assert database.is_file()
    exports = sorted((tmp_path / "var" / "exports").glob("baskets-*.*"))
    assert [path.suffix for path in exports] == [".csv", ".parquet"]
    csv_lines = exports[0].read_text(encoding="utf-8").splitlines()
    assert csv_lines[0].startswith("Shop account name,Shop account e-mail,Account name")
    parquet_rows = pq.read_metadata(exports[1]).num_rows
    assert len(csv_lines) - 1 == parquet_rows > 400  # one row per line, plus empty baskets

    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        remaining = connection.exec_driver_sql("select count(*) from baskets").scalar()
        audited = connection.exec_driver_sql(
            "select count(*) from basket_audit where reason = 'retention' and actor = 'demo-admin'"
        ).scalar()
        report = verify_audit_chain(connection)
    assert remaining + audited == 400
    assert audited > 0
    assert report.ok and report.count == audited
    snapshot_dir = snapshot_folder(tmp_path / "var" / "exports", f"sqlite:///{database}")
    snapshot = next(snapshot_dir.glob("deleted-baskets-*.parquet"))
    assert pq.read_metadata(snapshot).num_rows == audited
    assert f"deleted {audited:,} baskets with an audit row each" in result.stdout

    with engine.connect() as connection:
        first_run_left = {row[0] for row in connection.exec_driver_sql("select id from baskets")}
    again = cli("demo", "--baskets", "400")  # make demo twice: starts over, still works
    assert again.exit_code == 0, again.stderr
    # ... and the baskets it starts over from went with an audit row each, as demo-admin.
    with engine.connect() as connection:
        replaced = connection.exec_driver_sql(
            "select basket_id, actor, reason from basket_audit where note = 'seed --replace'"
        ).all()
        assert verify_audit_chain(connection).ok
    engine.dispose()
    assert {row[0] for row in replaced} == first_run_left
    assert {(row[1], row[2]) for row in replaced} == {("demo-admin", "manual")}
    assert f"deleted the previous demo's {len(first_run_left):,} baskets" in again.stdout


def _database_in_use(cli, tmp_path: Path, *, with_operator: bool) -> tuple[str, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    env = {"BASKETS_DATABASE_URL": url}
    assert cli("init", env=env).exit_code == 0
    if with_operator:
        assert cli("operators", "add", "alice", "--role", "system_administrator", env=env).exit_code == 0
    assert cli("seed", "--baskets", "30", env=env).exit_code == 0
    return url, env


def _counts(url: str) -> tuple[int, int, list[str]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        baskets = connection.exec_driver_sql("select count(*) from baskets").scalar_one()
        audited = connection.exec_driver_sql("select count(*) from basket_audit").scalar_one()
        names = list(connection.exec_driver_sql("select name from operators order by name").scalars())
    engine.dispose()
    return baskets, audited, names


def test_demo_refuses_a_database_with_other_operators_and_changes_nothing(cli, tmp_path: Path) -> None:
    url, env = _database_in_use(cli, tmp_path, with_operator=True)
    result = cli("demo", "--baskets", "50", "--database-url", url)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --database-url: not a demo database (it has other operators (alice)); the demo "
        "replaces only its own data: point it at a new database, e.g. --database-url sqlite:///var/demo.db"
    )
    assert _counts(url) == (30, 0, ["alice"])


def test_demo_refuses_baskets_it_did_not_make_even_without_operators(cli, tmp_path: Path) -> None:
    url, env = _database_in_use(cli, tmp_path, with_operator=False)
    result = cli("demo", "--baskets", "50", env=env)
    assert result.exit_code == 2
    assert "not a demo database (it has baskets the demo did not make)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _counts(url) == (30, 0, [])
