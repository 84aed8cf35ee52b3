"""Benchmark: the retention-cleanup flow on a backlog of expired baskets against a bare batched DELETE.

    .venv/bin/python bench/cleanup.py [--baskets 1000000] [--batch-size N] [--database-url URL]

Seeds the backlog (every basket expired: the run is "as of" three years after the seed), deletes
it with a bare key-ordered batched DELETE without audit, seeds the same rows again, then runs the
suite's `retention-cleanup` flow exactly as `baskets cleanup --force` does (a Prefect server is
started first and not timed). On PostgreSQL each seed is followed by VACUUM (ANALYZE), so both
runs start from the same settled tables. Prints both times, their ratio, and the longest batch
transaction. Not a test: it never fails on a time.

The run is "as of" years after the audit rows it writes are dated (they carry the real time), so
the nightly privacy step (docs/privacy.md) would redact every one of them again and remove the
run's own snapshot. The measured run keeps personal data the longest the settings allow
(`privacy.audit_personal_data_days` and `export_keep_days` 36500), which leaves that step
nothing to do; with --redaction the redaction of those 1,000,000 fresh audit rows is then
measured on its own, as a first run on a large backlog would do it.

On Linux it also prints the CPU time each run used, machine-wide (this process, the database
server when it runs here, the Prefect server) and in this process, and how much work the
machine's CPUs do together against one (a busy loop in one process, then in one per CPU): the
suite overlaps its own work with the database's, the bare delete does not, so how far that
overlap can go depends on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete  # noqa: E402

from baskets.db import make_engine, upgrade_database, write_transaction  # noqa: E402
from baskets.deletion import key_in  # noqa: E402
from baskets.models import Basket  # noqa: E402
from baskets.retention import RetentionPolicy, describe_step_times, walk_expired_batches  # noqa: E402
from baskets.seed import seed_database  # noqa: E402
from config.urls import display_url  # noqa: E402

SEED_NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
AS_OF = SEED_NOW + dt.timedelta(days=3 * 365)  # every seeded basket is past retention


def bare_batched_delete(engine, policy: RetentionPolicy) -> tuple[float, float, int]:
    """The baseline: the same key-ordered walk, one plain DELETE per batch (lines cascade), no audit.

    The ids are bound as the suite binds them (`key_in`: one array parameter on PostgreSQL), so
    the baseline does not pay for a slower way of sending them.
    """
    started, longest, deleted = time.perf_counter(), 0.0, 0
    for batch in walk_expired_batches(engine, policy, AS_OF):
        opened = time.perf_counter()
        with write_transaction(engine) as connection:
            ids = [basket.basket_id for basket in batch]
            connection.execute(delete(Basket).where(key_in(connection, Basket.id, ids)))
        longest = max(longest, time.perf_counter() - opened)
        deleted += len(batch)
    return time.perf_counter() - started, longest, deleted


# The ratio each backend's cleanup may take against its bare batched delete (docs/performance.md).
RATIO_TARGETS = {"sqlite": 2.0, "postgresql": 3.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the settings' batch_size")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument(
        "--redaction",
        action="store_true",
        help="afterwards, time redacting the run's audit rows on their own",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cleanup-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    os.environ["BASKETS_DATABASE_URL"] = url
    os.environ["BASKETS_EXPORT_DIR"] = str(work / "exports")
    if args.batch_size:
        os.environ["BASKETS_RETENTION__BATCH_SIZE"] = str(args.batch_size)
    # Nothing past the privacy cut-offs in the measured run (module docstring).
    os.environ["BASKETS_PRIVACY__AUDIT_PERSONAL_DATA_DAYS"] = "36500"
    os.environ["BASKETS_PRIVACY__EXPORT_KEEP_DAYS"] = "36500"
    from config.settings import load_settings

    settings = load_settings()
    policy = RetentionPolicy.from_settings(settings.retention)
    engine = make_engine(url)
    upgrade_database(engine)
    print(f"database {display_url(engine.url)}, batch size {policy.batch_size}")

    started = time.perf_counter()
    seeded = seed_database(engine, args.baskets, 42, SEED_NOW, replace=True)
    settle(engine)
    seconds = time.perf_counter() - started
    print(f"seeded {seeded.baskets:,} baskets, {seeded.basket_lines:,} lines in {seconds:.0f} s")
    with cpu_used() as bare_cpu:
        bare_seconds, bare_longest, bare_deleted = bare_batched_delete(engine, policy)
    print(
        f"bare batched DELETE: {bare_deleted:,} baskets in {bare_seconds:.1f} s "
        f"(longest batch {bare_longest:.3f} s){bare_cpu.text()}"
    )

    seed_database(engine, args.baskets, 42, SEED_NOW, replace=True)
    settle(engine)
    from prefect.testing.utilities import prefect_test_harness

    from flows.retention import retention_cleanup

    with prefect_test_harness(server_startup_timeout=120):
        retention_cleanup(now=(SEED_NOW - dt.timedelta(days=3650)).isoformat())  # warm-up: deletes nothing
        operator = _admin(engine)
        with cpu_used() as suite_cpu:
            started = time.perf_counter()
            summary = retention_cleanup(now=AS_OF.isoformat(), force=True, operator=operator)
            suite_seconds = time.perf_counter() - started

    print(
        f"retention-cleanup flow: {summary.deleted:,} baskets with audit rows in {suite_seconds:.1f} s "
        f"({summary.batches:,} batches, longest batch transaction "
        f"{summary.longest_batch_seconds:.3f} s, "
        f"snapshot {summary.snapshot_rows:,} rows){suite_cpu.text()}"
    )
    print(f"  steps: {describe_step_times(summary.seconds)}")
    ratio = suite_seconds / bare_seconds
    target = RATIO_TARGETS.get(engine.dialect.name, 2.0)
    print(f"ratio suite / bare: {ratio:.2f} (target <= {target:.1f})")
    print(f"longest batch transaction: {summary.longest_batch_seconds:.3f} s (target <= 0.5 s)")
    if bare_cpu.machine and suite_cpu.machine and bare_cpu.process:
        print(
            f"CPU work suite / bare: {suite_cpu.machine / bare_cpu.machine:.2f} machine-wide, "
            f"{suite_cpu.process / bare_cpu.process:.2f} in this process; CPUs busy on average: "
            f"bare {bare_cpu.machine / bare_seconds:.2f}, suite {suite_cpu.machine / suite_seconds:.2f} "
            f"of {os.cpu_count()} ({parallel_speedup()})"
        )
    if args.redaction:
        measure_redaction(engine, policy.batch_size)
    engine.dispose()


def measure_redaction(engine, batch_size: int) -> None:
    """Redact every audit row the run wrote, as the nightly privacy step does for rows past its
    cut-off (a first run on an old audit log): the time, and the longest batch it took."""
    from baskets.privacy.redaction import redact_rows_past_cutoff

    if engine.dialect.name == "postgresql":  # as autovacuum would have after a million inserts
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE basket_audit")
    with cpu_used() as used:
        started = time.perf_counter()
        redacted = redact_rows_past_cutoff(engine, dt.datetime.now(dt.UTC), batch_size=batch_size)
        seconds = time.perf_counter() - started
    print(
        f"redaction of the run's audit rows on their own: {redacted:,} rows in {seconds:.1f} s "
        f"({redacted / max(seconds, 1e-9):,.0f} rows/s, {batch_size} per transaction){used.text()}"
    )


@dataclass
class CpuUsed:
    """CPU-seconds used while a block ran: machine-wide (Linux, else None) and in this process."""

    machine: float | None = None
    process: float = 0.0

    def text(self) -> str:
        if self.machine is None:
            return ""
        return f"; CPU {self.machine:.1f} s machine-wide, {self.process:.1f} s in this process"


@contextlib.contextmanager
def cpu_used() -> Iterator[CpuUsed]:
    used = CpuUsed()
    machine, process = _machine_busy_seconds(), _process_seconds()
    yield used
    after = _machine_busy_seconds()
    used.machine = None if machine is None or after is None else after - machine
    used.process = _process_seconds() - process


def _machine_busy_seconds() -> float | None:
    """CPU-seconds all CPUs spent busy since boot (user, nice, system, irq, softirq): Linux only."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = ticks
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _process_seconds() -> float:
    times = os.times()
    return times.user + times.system


def parallel_speedup() -> str:
    """How much more work all CPUs do together than one: a busy loop in one process, then in
    one per CPU at once; 2.00 on two CPUs that do not slow each other down."""
    cpus = os.cpu_count() or 1
    alone = _busy_loop(0)
    with multiprocessing.get_context("spawn").Pool(cpus) as pool:
        together = pool.map(_busy_loop, range(cpus))
    return f"{cpus} busy processes at once do {cpus * alone / max(together):.2f}x the work of one"


def _busy_loop(_: int, rounds: int = 10_000_000) -> float:
    started = time.perf_counter()
    total = 0
    for number in range(rounds):
        total += number * number
    return time.perf_counter() - started


def settle(engine) -> None:
    """Give both runs the same starting point, that of a database autovacuum has looked after:
    on PostgreSQL, VACUUM (ANALYZE) after a seed. Without it the second run would walk the first
    run's dead index entries and heap versions of the same keys (the seed replaces with DELETE)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE) baskets, basket_lines, shop_accounts, accounts")


def _admin(engine) -> str:
    from sqlalchemy import insert, select

    from baskets.models import Operator
    from baskets.roles import SYSTEM_ADMINISTRATOR

    with engine.begin() as connection:
        if connection.scalar(select(Operator.name).where(Operator.name == "bench-admin")) is None:
            connection.execute(
                insert(Operator).values(name="bench-admin", role=SYSTEM_ADMINISTRATOR, created_at=SEED_NOW)
            )
    return "bench-admin"


if __name__ == "__main__":
    main()
