"""`baskets demo`, the main job of `make demo`, end to end on the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from baskets.audit import verify_audit_chain
from baskets.db import make_engine


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
    snapshot = next((tmp_path / "var" / "exports" / "retention").glob("deleted-baskets-*.parquet"))
    assert pq.read_metadata(snapshot).num_rows == audited
    assert f"deleted {audited:,} baskets with an audit row each" in result.stdout

    again = cli("demo", "--baskets", "400")  # make demo twice: starts over, still works
    assert again.exit_code == 0, again.stderr
