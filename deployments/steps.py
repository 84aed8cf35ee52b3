"""The pull step of the suite's work-pool deployments: where a worker's flow run works.

A process worker runs each flow run in a new temporary folder, deleted when the run ends; the
suite's relative paths (the default `var/exports`, an SQLite `var/baskets.db`) would land there
and vanish. This step, run by the worker before each flow run, changes into a folder that
stays: `directory` if given, else `basket-maintenance` in the worker user's home folder,
created (owner only) when missing. Nothing is pulled: the flows come from the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_FOLDER = "basket-maintenance"


def enter_working_folder(directory: str = "") -> dict[str, str]:
    """Change into `directory` (default ~/basket-maintenance), creating it when missing.

    Returns {"directory": the absolute folder}, as Prefect's own pull steps do.
    """
    folder = Path(directory).expanduser() if directory.strip() else Path.home() / DEFAULT_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chdir(folder)
    return {"directory": str(folder.resolve())}


# As a deployment's `pull_steps` entry (what `prefect.yaml` says under `pull:`).
PULL_STEPS: list[dict[str, dict[str, str]]] = [{"deployments.steps.enter_working_folder": {}}]
