"""On-demand speed: wall time of `baskets delete ID` with a Prefect server running, and without one.

Runs each command as its own process, as an operator would, on a small SQLite database, and
prints medians and their ratio to `baskets list` (the same start-up without Prefect) measured
in the same run. Not a test: it never fails on a time.

    .venv/bin/python bench/on_demand_delete.py [--runs 7] [--runs-without-server 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.commands.serve import free_port, local_prefect_server  # noqa: E402

BASKETS = [sys.executable, "-m", "flows.cli"]


@dataclass(frozen=True)
class Sample:
    """One command's wall time, and its CPU time (user + system, with the children it waited
    for): on a busy machine wall time also counts waiting for a CPU, CPU time does not."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], cwd: Path) -> Sample:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*BASKETS, *args], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"baskets {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return Sample(wall=seconds, cpu=_children_cpu() - cpu_before)


def describe(label: str, samples: list[Sample], baseline: float) -> str:
    walls = [sample.wall for sample in samples]
    median = statistics.median(walls)
    cpu = statistics.median(sample.cpu for sample in samples)
    return (
        f"{label:<40} wall median {median:5.2f} s  min {min(walls):5.2f} s  max {max(walls):5.2f} s  "
        f"CPU median {cpu:5.2f} s  n={len(samples)}  ({median / baseline:4.1f}x baskets list)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--runs-without-server", type=int, default=3)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-delete-"))
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")},
        "PREFECT_HOME": str(work / "prefect-home"),
        "BASKETS_DATABASE_URL": f"sqlite:///{work / 'baskets.db'}",
        "PYTHONPATH": str(REPO),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    timed(["init"], env, work)
    timed(["operators", "add", "alice", "--role", "system_administrator"], env, work)
    timed(["seed", "--baskets", "200"], env, work)
    listed = subprocess.run(
        [*BASKETS, "list", "--limit", "100", "--json", "--as", "alice"], env=env, cwd=work,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ids = iter(row["basket_id"] for row in json.loads(listed.stdout)["baskets"])

    baseline = [timed(["list", "--limit", "5", "--as", "alice"], env, work) for _ in range(options.runs)]
    base = statistics.median(sample.wall for sample in baseline)
    print(f"small SQLite database (200 baskets), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(describe("baskets list (no Prefect)", baseline, base))

    with local_prefect_server("127.0.0.1", free_port(), env) as api_url:
        served = {**env, "PREFECT_API_URL": api_url}
        timed(["delete", next(ids), "--as", "alice"], served, work)  # warm the server's caches
        with_server = [
            timed(["delete", next(ids), "--as", "alice"], served, work) for _ in range(options.runs)
        ]
    print(describe("baskets delete ID, server running", with_server, base))

    without = [
        timed(["delete", next(ids), "--as", "alice"], env, work) for _ in range(options.runs_without_server)
    ]
    print(describe("baskets delete ID, no server (ephemeral)", without, base))


if __name__ == "__main__":
    main()
