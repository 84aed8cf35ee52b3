"""Export benchmark: the suite's export beside the database's own bulk CSV export of the same rows.

    .venv/bin/python bench/export.py --backend sqlite --lines 1000000
    .venv/bin/python bench/export.py --backend postgresql --lines 1000000
    .venv/bin/python bench/export.py --backend mariadb --lines 1000000

Seeds a database of about `--lines` basket lines (4 per basket on average; kept between runs
and re-seeded only when the size differs), then runs, `--repeat` times each and keeping the
best: the database's own client (`sqlite3 -csv`, `psql \\copy (...) to ... csv`,
`mariadb --batch`) on the SQL of `baskets.export.export_query`, and the suite's export of
the same rows in a fresh process (CSV, then Parquet), whose peak RSS is read with wait4().
Not a test: it prints figures and never fails on a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from baskets.backends import backend_named  # noqa: E402
from baskets.db import make_engine, upgrade_database  # noqa: E402
from baskets.export import export_sql  # noqa: E402
from baskets.filters import BasketFilter  # noqa: E402
from baskets.models import Basket, BasketLine  # noqa: E402
from baskets.seed import seed_database  # noqa: E402

SERVER_URLS = {
    "postgresql": os.environ.get("BM_BENCH_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("BM_BENCH_MARIADB_URL", "mariadb+pymysql://root@127.0.0.1:3306/test"),
}
LINES_PER_BASKET = 3.97  # what the seed generator gives on average
SEED_NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

# Runs in a fresh interpreter so its peak RSS is the export's alone.
CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from baskets.db import make_engine
from baskets.export import export_baskets
from baskets.filters import BasketFilter
engine = make_engine({url!r})
started = time.perf_counter()
result = export_baskets(engine, BasketFilter(), {{{fmt!r}: Path({path!r})}})
seconds = time.perf_counter() - started
# VmHWM: this process's own peak RSS (ru_maxrss would count the forking parent too).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"seconds": seconds, "rows": result.rows, "transport": result.transport,
                  "peak_mb": peak_kb / 1024}}))
"""


def database_url(backend: str, lines: int) -> str:
    if backend == "sqlite":
        folder = REPO / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / f'export-{lines}.db'}"
    admin = make_url(SERVER_URLS[backend])
    name = f"bench_export_{lines}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if backend == "postgresql":
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                connection.execute(text(f"CREATE DATABASE {name}"))
        else:
            connection.execute(text(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4"))
    engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def ensure_seeded(url: str, lines: int) -> tuple[int, int]:
    """(baskets, lines) in the database, seeding it first unless it already has this size."""
    engine = make_engine(url)
    upgrade_database(engine)
    baskets = max(1, round(lines / LINES_PER_BASKET))
    with engine.connect() as connection:
        have = connection.scalar(select(func.count()).select_from(Basket)) or 0
    if have != baskets:
        started = time.perf_counter()
        summary = seed_database(engine, baskets, 42, SEED_NOW, replace=True)
        if engine.dialect.name == "sqlite":  # fold the write-ahead log in, as a settled database has
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"seeded {summary.baskets:,} baskets, {summary.basket_lines:,} lines "
              f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    with engine.connect() as connection:
        counts = (
            connection.scalar(select(func.count()).select_from(Basket)) or 0,
            connection.scalar(select(func.count()).select_from(BasketLine)) or 0,
        )
    engine.dispose()
    return counts


def native_export(backend: str, url: str, out: Path) -> tuple[float, int]:
    """Seconds and rows of the database client's own CSV export of the export query."""
    parsed = make_url(url)
    sql = export_sql(BasketFilter(), backend_named(backend))
    sql = " ".join(sql.split())
    env = dict(os.environ)
    if backend == "sqlite":
        command = ["sqlite3", "-csv", "-header", str(parsed.database), sql]
    elif backend == "postgresql":
        if parsed.password:
            env["PGPASSWORD"] = parsed.password
        command = [
            "psql", "-X", "-q", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
            "-U", parsed.username or "postgres", "-d", str(parsed.database),
            "-c", f"\\copy ({sql}) to '{out}' csv header",
        ]  # fmt: skip
    else:
        if parsed.password:
            env["MYSQL_PWD"] = parsed.password
        command = [
            "mariadb", "--batch", "-h", parsed.host or "127.0.0.1", "-P", str(parsed.port or 3306),
            "-u", parsed.username or "root", "-D", str(parsed.database), "-e", sql,
        ]  # fmt: skip
    started = time.perf_counter()
    if backend == "postgresql":
        subprocess.run(command, env=env, check=True)
    else:
        with open(out, "wb") as stream:
            subprocess.run(command, env=env, check=True, stdout=stream)
    seconds = time.perf_counter() - started
    with open(out, "rb") as stream:
        rows = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b"")) - 1
    return seconds, rows


def suite_export(url: str, file_format: str, out: Path) -> tuple[float, float, int, str, float]:
    """(export seconds, process seconds, rows, transport, peak RSS in MB) of one export process."""
    code = CHILD.format(repo=str(REPO), url=url, fmt=file_format, path=str(out))
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, check=True)
    wall = time.perf_counter() - started
    report = json.loads(completed.stdout)
    return report["seconds"], wall, report["rows"], report["transport"], report["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "mariadb"], default="sqlite")
    parser.add_argument("--lines", type=int, default=1_000_000, help="basket lines to seed (about)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--database-url", help="use this database instead (seeded to --lines)")
    args = parser.parse_args()
    if shutil.which({"sqlite": "sqlite3", "postgresql": "psql", "mariadb": "mariadb"}[args.backend]) is None:
        raise SystemExit(f"the {args.backend} command-line client is not installed")

    url = args.database_url or database_url(args.backend, args.lines)
    baskets, lines = ensure_seeded(url, args.lines)
    print(f"{args.backend}: {baskets:,} baskets, {lines:,} lines", flush=True)
    native, csv_runs, parquet_runs = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as name:
        folder = Path(name)
        # Interleaved, so a busy moment on the machine does not favour one side.
        for _ in range(args.repeat):
            native.append(native_export(args.backend, url, folder / "native.csv"))
            csv_runs.append(suite_export(url, "csv", folder / "suite.csv"))
            parquet_runs.append(suite_export(url, "parquet", folder / "suite.parquet"))
    native_seconds, native_rows = min(native)
    best_csv, best_parquet = min(csv_runs), min(parquet_runs)
    client = {"sqlite": "sqlite3 -csv", "postgresql": "psql \\copy ... csv", "mariadb": "mariadb --batch"}
    print(f"rows exported: {best_csv[2]:,} (database client: {native_rows:,})")
    print(f"{'':<28}{'seconds':>9}{'ratio':>8}{'peak RSS MB':>13}")
    print(f"{client[args.backend]:<28}{native_seconds:>9.2f}{1.0:>8.2f}{'':>13}")
    for label, run, runs in (
        (f"suite CSV ({best_csv[3]})", best_csv, csv_runs),
        ("suite Parquet", best_parquet, parquet_runs),
    ):
        peak = max(r[4] for r in runs)
        print(f"{label:<28}{run[0]:>9.2f}{run[0] / native_seconds:>8.2f}{peak:>13.0f}")
    print(f"(suite seconds are the export itself; with interpreter start and imports the CSV process "
          f"took {best_csv[1]:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
