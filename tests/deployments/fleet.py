"""A small fleet for end-to-end tests: a real Prefect server, the package installed into a venv
with no checkout, and process workers started from that venv in folders of their own.

- `build_wheel(repo, out)` writes the wheel of the working tree (by hand: no build backend,
  no network), as `pip wheel .` would for this pure-Python package;
- `make_worker_venv(folder, wheel)` makes a venv whose only basket-maintenance is that wheel
  (its other dependencies come from the venv running the tests, by a plain path .pth: no
  editable install of a checkout leaks in);
- `PrefectServer` runs `prefect server start` on a free loopback port with its own PREFECT_HOME
  and SQLite database;
- `Worker` runs `python -m prefect worker start --pool NAME` from that venv, in an empty folder,
  with HOME there too (its runs work in ~/basket-maintenance).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tests.loopback_receivers import free_port

# The packages and package data pyproject.toml ships.
PACKAGES = ("config", "baskets", "tasks", "flows", "deployments", "cli")
DATA_SUFFIXES = (".toml", ".ini", ".mako", ".yaml", ".service")
# In a worker venv: a module that hides the database drivers when BM_TEST_HIDE_DRIVERS is set, as
# on a machine where the package was installed without its [postgres] or [mariadb] extra.
HIDE_DRIVERS = """
import os, sys
class _HideDrivers:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg2", "pymysql", "MySQLdb", "mariadb"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
if os.environ.get("BM_TEST_HIDE_DRIVERS"):
    sys.meta_path.insert(0, _HideDrivers())
"""


def build_wheel(repo: Path, out: Path, version: str | None = None) -> Path:
    """The wheel of `repo` (its packages, package data and console script) in `out`."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version = version or project["version"]
    dist = f"basket_maintenance-{version}"
    files: dict[str, bytes] = {}
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", *DATA_SUFFIXES):
                files[path.relative_to(repo).as_posix()] = path.read_bytes()
    requires = "".join(f"Requires-Dist: {r}\n" for r in project["dependencies"])
    files[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: basket-maintenance\nVersion: {version}\n{requires}"
    ).encode()
    files[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests.deployments.fleet\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    scripts = "".join(f"{name} = {target}\n" for name, target in project["scripts"].items())
    files[f"{dist}.dist-info/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist}.dist-info/RECORD", "", ""])
    files[f"{dist}.dist-info/RECORD"] = record.getvalue().encode()
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def make_worker_venv(folder: Path, wheel: Path) -> Path:
    """A venv with `wheel` installed (pip install --no-deps); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # The test venv's packages (Prefect, SQLAlchemy, the drivers), by path only: its .pth files,
    # such as an editable install of a checkout, are not processed.
    (purelib / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (purelib / "bm_hide_drivers.py").write_text(HIDE_DRIVERS)
    (purelib / "bm_hide_drivers.pth").write_text("import bm_hide_drivers\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True, cwd=folder, env=clean_env(), capture_output=True,
    )  # fmt: skip
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the test run's PYTHONPATH (which names the checkout), Prefect
    API or BASKETS_* settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith(("BASKETS_", "PREFECT_API", "PREFECT_HOME"))
    }
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_TO_API_ENABLED="true",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.update(extra)
    return env


def wait_until(check: object, timeout: float, what: str, interval: float = 0.5) -> object:
    """Call `check()` until it returns something truthy; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class PrefectServer:
    """`prefect server start` on a free loopback port, its own home and SQLite database."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "server.log"
        self.env = clean_env(
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            PREFECT_UI_ENABLED="false",
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self.healthy, 180, f"the Prefect server (log: {self.log})")

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the Prefect server exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        stop_group(self.process, signal.SIGTERM, 30)


def stop_group(process: subprocess.Popen[bytes], signum: int, timeout: float) -> int:
    """Send `signum` to the process group; SIGKILL it if it has not ended within `timeout` s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


class Worker:
    """A process worker on `pool`, started from `python`'s venv in `folder` (its cwd and HOME)."""

    def __init__(self, python: Path, api_url: str, pool: str, folder: Path, env: dict[str, str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.log = folder / "worker.log"
        self.env = clean_env(
            PREFECT_API_URL=api_url,
            PREFECT_HOME=str(folder / ".prefect"),
            HOME=str(folder),
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="1",
            **env,
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(python), "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
                env=self.env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        return stop_group(self.process, signal.SIGINT, 30)

    def kill(self) -> None:
        """SIGKILL the worker and every flow-run process it started (a machine that died)."""
        for pid in re.findall(r"\bpid[ =:]+(\d+)", self.output()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
        stop_group(self.process, signal.SIGKILL, 10)
