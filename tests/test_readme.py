"""Every runnable example in README.md is run here, so the README cannot drift from the commands.

The ```bash blocks of README.md are run as they stand, each with `bash` under `set -euo
pipefail`, in a folder set up as `make demo` leaves the repository root: `var/baskets.db` from
`baskets demo` (with fewer baskets) and `.venv/bin` holding this interpreter's bin folder, with
`baskets` running this tree's command line (`python -m cli.main`, PYTHONPATH on this tree).
Every command must exit 0 and print what the README says it does. SQLite only: the README's
examples use the embedded default. Slow: each command that runs a flow starts a temporary
Prefect server (about 10 s).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("sqlite" not in BACKENDS, reason="the README's examples run on SQLite only"),
]

README = REPO / "README.md"
DEMO_BASKETS = 500  # `make demo` seeds 20,000; the examples need only some

# README lines that are not run here, and why. Anything else in a ```bash block is run.
SKIPPED: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^make\b"),
        "builds .venv and seeds 20,000 baskets, or runs the whole suite: the fixture sets up the "
        "demo database as `make demo` does, with fewer baskets",
    ),
    (re.compile(r"(^|[\s/])pytest\b"), "runs the test suite, which would run this test again"),
    (re.compile(r"\bbaskets serve\b"), "a long-running server that does not exit"),
    (re.compile(r"\bpip install\b"), "installs packages from a registry"),
    (re.compile(r"\bPREFECT_API_URL=http"), "needs a Prefect server already running (`baskets serve`)"),
)

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# What each README command must print on stdout (every pattern, searched), by how it begins.
# A `baskets` command the README adds must get an entry here: the test says so.
EXPECTED: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(command), outputs)
    for command, outputs in (
        (r"^baskets list\b(?!.*--json)", (rf"(?m)^\W*{GUID}\W",)),
        (r"^baskets operators add (\S+) --role (\S+)", (r"added operator '\w+' as \w+",)),
        (
            r"^baskets export\b.*--format both",
            (
                r"wrote [\d,]+ lines? of [\d,]+ baskets? to \S*var/exports/baskets-\S+\.csv\b",
                r"\S+\.parquet\b",
            ),
        ),
        (r"^baskets export\b", (r"wrote [\d,]+ lines? of [\d,]+ baskets? to \S*var/exports/",)),
        (r"^baskets delete\b", (r"deleted 1 basket \(audit seq \d+\.\.\d+\)",)),
        (r"^baskets audit show\b", (r"seq \d+: deleted", r"basket_id\W+" + GUID)),
        (r"^baskets restore\b", (rf"restored basket {GUID} with \d+ lines? from audit seq \d+",)),
        (r"^baskets audit verify\b", (r"audit chain holds: \d+ rows", r"head hash [0-9a-f]{64}")),
        (r"^baskets cleanup --dry-run\b", (r"dry run as of .*: nothing deleted", r"anonymous baskets")),
        (
            r"^baskets audit report\b",
            (r"audit chain intact", r"wrote \S*var/exports/audit-report-\d{8}T\d{6}Z\.html"),
        ),
        (r"^baskets status\b", (r"(?m)^healthy: retention-cleanup succeeded",)),
    )
)


@dataclass(frozen=True)
class Example:
    """One ```bash block of the README: the section it is in, what is run and what is not."""

    section: str
    run: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (line, why)


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPPED if pattern.search(command)), None)


def readme_examples(text: str) -> list[Example]:
    """The ```bash blocks of `text` in order, their commands split into run and skipped."""
    examples = []
    section = "top"
    # A heading, a bash block, or another fenced block (consumed, so its `#` lines are no headings).
    pattern = r"^```bash\n(?P<bash>.*?)^```$|^```[^\n]*\n.*?^```$|^(?P<heading>#+ [^\n]*)$"
    for match in re.finditer(pattern, text, re.M | re.S):
        if match.group("heading"):
            section = match.group("heading").lstrip("# ").strip()
            continue
        if match.group("bash") is None:
            continue
        # Join continued lines; drop blank and comment-only lines.
        commands = [
            line.strip()
            for line in match.group("bash").replace("\\\n", " ").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        run = tuple(command for command in commands if skip_reason(command) is None)
        skipped = tuple((command, str(skip_reason(command))) for command in commands if skip_reason(command))
        examples.append(Example(section, run, skipped))
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))
RUNNABLE = [example for example in EXAMPLES if example.run]


def expected_output(command: str) -> tuple[str, ...] | None:
    return next((outputs for pattern, outputs in EXPECTED if pattern.search(command)), None)


# --- what is run and what is not -------------------------------------------------------------------


def test_quick_start_is_run_whole() -> None:
    quick_start = [example for example in EXAMPLES if example.section == "Quick start"]
    assert len(quick_start) == 1, "README.md has one ```bash block under '## Quick start'"
    assert quick_start[0].skipped == (), "every Quick start line must be runnable here"
    assert any(command.startswith("baskets audit verify") for command in quick_start[0].run)


def test_readme_skips_only_builds_the_test_suite_and_servers() -> None:
    skipped = [(line, why) for example in EXAMPLES for line, why in example.skipped]
    # Today: `make demo`, `make test` and the two ways of running the tests, under Tests.
    assert any(line.startswith("make demo") for line, _ in skipped)
    for line, why in skipped:
        assert why, line
        # A `baskets` command is only ever skipped for being a server.
        assert not re.match(r"^baskets\b", line) or "baskets serve" in line, line


def test_every_readme_baskets_command_has_an_expected_output() -> None:
    missing = [
        command
        for example in RUNNABLE
        for command in example.run
        if re.match(r"^(\S+=\S+\s+)*baskets\b", command) and expected_output(command) is None
    ]
    assert missing == [], "add what these README commands print to EXPECTED in tests/test_readme.py"


def test_extraction_joins_continued_lines_and_drops_comments() -> None:
    text = (
        "# T\n## Quick start\n```toml\n# not a heading\n```\n"
        "```bash\n# a comment\nbaskets list \\\n  --limit 5   # newest\nmake demo\n```\n"
    )
    (example,) = readme_examples(text)
    assert example.section == "Quick start"
    assert example.run == ("baskets list    --limit 5   # newest",)
    assert example.skipped[0][0] == "make demo" and "make demo" in example.skipped[0][1]


# --- running them -----------------------------------------------------------------------------------


def example_env(folder: Path) -> dict[str, str]:
    """This process's environment without settings of its own, pointed at `folder`'s demo."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BASKETS_") and key not in ("PREFECT_API_URL", "PREFECT_PROFILE")
    }
    env |= {
        "BASKETS_DATABASE_URL": f"sqlite:///{folder / 'var' / 'baskets.db'}",
        "BASKETS_EXPORT_DIR": str(folder / "var" / "exports"),
        "PREFECT_HOME": str(folder / ".prefect"),
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    return env


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as `make demo` leaves the repository root: .venv/bin and var/ with the demo."""
    bin_dir = Path(sys.executable).parent
    folder = tmp_path_factory.mktemp("readme-demo")
    # .venv/bin: this interpreter's bin folder, with `baskets` running this tree's command line
    # (`python -m cli.main`, as the console script of pyproject.toml does once installed), so the
    # examples do not depend on which tree the shared environment was installed from.
    venv_bin = folder / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for entry in bin_dir.iterdir():
        if entry.name != "baskets":
            (venv_bin / entry.name).symlink_to(entry)
    (venv_bin / "baskets").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli.main "$@"\n')
    (venv_bin / "baskets").chmod(0o755)
    done = subprocess.run(
        [str(folder / ".venv" / "bin" / "baskets"), "demo", "--baskets", str(DEMO_BASKETS)],
        cwd=folder,
        env=example_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"baskets demo exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert list((folder / "var" / "exports").glob("baskets-*.csv")), "the demo writes an export"
    return folder


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda example: example.section)
def test_readme_example_runs_and_prints_what_it_says(
    example: Example, demo_folder: Path, tmp_path: Path
) -> None:
    # Each block on its own copy of the demo, so one block's changes do not steer the next.
    folder = tmp_path / "repo"
    shutil.copytree(demo_folder, folder, symlinks=True, ignore=shutil.ignore_patterns(".prefect"))
    marker = "@@readme-command {}@@"
    script = ["set -euo pipefail"]
    for index, command in enumerate(example.run):
        script.append(f"printf '\\n{marker.format(index)}\\n'; printf '\\n{marker.format(index)}\\n' >&2")
        script.append(command)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=folder,
        env=example_env(folder),
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
    )
    outputs = re.split(r"\n@@readme-command \d+@@\n", done.stdout)[1:]
    errors = re.split(r"\n@@readme-command \d+@@\n", done.stderr)[1:]
    if done.returncode != 0:
        failed = example.run[len(outputs) - 1] if outputs else "(before the first command)"
        pytest.fail(f"`{failed}` exited {done.returncode}:\n{(errors or [done.stderr])[-1][-3000:]}")
    assert len(outputs) == len(example.run)
    for command, output in zip(example.run, outputs, strict=True):
        for pattern in expected_output(command) or ():
            assert re.search(pattern, output), f"`{command}` did not print {pattern!r}; it printed:\n{output}"
