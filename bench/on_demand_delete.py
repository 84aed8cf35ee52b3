"""On-demand speed: wall time of every on-demand command without a Prefect server and with one.

Runs each command as its own process, as an operator would, on a small SQLite database (200
baskets): `baskets list` (no flow), then delete ID, restore, export, cleanup --dry-run, audit
report and forget, first without PREFECT_API_URL (run directly, flows/runner.py), then against
a local Prefect server (flow runs recorded through Prefect's REST API, flows/recorded_run.py;
the bench checks the server holds a Completed run for each), and the same commands with
Prefect loaded first, so that Prefect's engine runs them as in a worker. Prints medians and their ratio to
`baskets list` measured in the same run, wall and CPU time, and the load average. Not a test:
it never fails on a time.

    .venv/bin/python bench/on_demand_delete.py [--runs 5]
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cli.serve import free_port, local_prefect_server  # noqa: E402

BASKETS = [sys.executable, "-m", "cli.main"]
# The same command with Prefect loaded first: its flow runs through Prefect's engine, as in a
# worker (for comparison with the recorded run).
BASKETS_ON_PREFECTS_ENGINE = [
    sys.executable,
    "-c",
    "import prefect, sys, cli.main; sys.argv[0] = 'baskets'; cli.main.main()",
]


@dataclass(frozen=True)
class Sample:
    """One command's wall time, and its CPU time (user + system, with the children it waited
    for): on a busy machine wall time also counts waiting for a CPU, CPU time does not."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], cwd: Path, program: list[str] = BASKETS) -> Sample:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*program, *args], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"baskets {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return Sample(wall=seconds, cpu=_children_cpu() - cpu_before)


def commands(ids: Iterator[str], deleted: list[str]) -> dict[str, Callable[[], list[str]]]:
    """Each on-demand command's arguments, fresh per call (a delete takes the next basket, a
    restore puts back the one deleted last)."""

    def delete() -> list[str]:
        deleted.append(next(ids))
        return ["delete", deleted[-1], "--as", "alice"]

    return {
        "delete ID": delete,
        "restore ID": lambda: ["restore", deleted.pop(), "--as", "alice"],
        "export (csv)": lambda: ["export", "--as", "alice", "--output", "bench.csv", "--overwrite"],
        "cleanup --dry-run": lambda: ["cleanup", "--dry-run", "--as", "alice"],
        "audit report": lambda: [
            "audit",
            "report",
            "--as",
            "alice",
            "--output",
            "report.html",
            "--overwrite",
        ],
        "forget --email": lambda: [
            "forget",
            "--email",
            "nobody@example.com",
            "--as",
            "alice",
            "--reference",
            "B-1",
        ],
    }


def measure(
    runs: int, env: dict[str, str], work: Path, ids: Iterator[str], program: list[str] = BASKETS
) -> dict[str, list[Sample]]:
    deleted: list[str] = []
    samples: dict[str, list[Sample]] = {}
    for name, arguments in commands(ids, deleted).items():
        samples[name] = [timed(arguments(), env, work, program) for _ in range(runs)]
        if name == "delete ID":  # restore puts these back, newest first
            deleted.reverse()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-on-demand-"))
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
    direct = measure(options.runs, env, work, ids)
    with local_prefect_server("127.0.0.1", free_port(), env) as api_url:
        served = {**env, "PREFECT_API_URL": api_url}
        timed(["cleanup", "--dry-run", "--as", "alice"], served, work)  # warm the server's caches
        tracked = measure(options.runs, served, work, ids)
        recorded = completed_runs(api_url)
        engine = measure(options.runs, served, work, ids, BASKETS_ON_PREFECTS_ENGINE)
    expected = options.runs * len(tracked) + 1
    if recorded != expected:
        raise SystemExit(f"the server holds {recorded} Completed command-line runs, expected {expected}")

    print(f"small SQLite database (200 baskets), {os.cpu_count()} CPUs, load {load_before:.1f} at the start "
          f"and {os.getloadavg()[0]:.1f} at the end, {options.runs} runs each; "
          "wall medians in s (CPU medians), ratio to baskets list; "
          f"{recorded} flow runs recorded and Completed")  # fmt: skip
    print()
    print("| command | no server (direct) | server running (recorded) | server running, Prefect's engine |")
    print("| --- | --- | --- | --- |")
    print(f"| baskets list (no flow) | {cell(baseline, base)} | | |")
    for name in direct:
        cells = " | ".join(cell(samples[name], base) for samples in (direct, tracked, engine))
        print(f"| baskets {name} | {cells} |")


def completed_runs(api_url: str) -> int:
    """How many Completed flow runs tagged `command-line` (recorded by a command) the server holds."""
    import httpx

    body = {"flow_runs": {"tags": {"all_": ["command-line"]}, "state": {"type": {"any_": ["COMPLETED"]}}}}
    return int(httpx.post(f"{api_url}/flow_runs/count", json=body, timeout=30).json())


def cell(samples: list[Sample], baseline: float) -> str:
    wall = statistics.median(sample.wall for sample in samples)
    cpu = statistics.median(sample.cpu for sample in samples)
    return f"{wall:.2f} ({cpu:.2f}) {wall / baseline:.1f}x"


if __name__ == "__main__":
    main()
