"""The domain modules leave every database difference to baskets.backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where the suite's behaviour lives: everything but the backends themselves and the migrations
# (which run once per database, as Alembic scripts) and the table declarations (whose types
# name their per-backend variants).
DOMAIN_FILES = sorted(
    path
    for folder in ("baskets", "flows", "tasks")
    for path in (REPO / folder).rglob("*.py")
    if not {"backends", "migrations"} & set(path.relative_to(REPO).parts) and path.name != "models.py"
)
# A look at which database is on the other end: a dialect's or URL's backend name, or a
# comparison with one of the names.
BRANCH = re.compile(
    r"dialect\.name|get_backend_name\(|[!=]=\s*[\"'](?:sqlite|postgresql|mysql|mariadb)[\"']"
    r"|in\s*\(\s*[\"'](?:sqlite|postgresql|mysql|mariadb)[\"']"
)


def test_the_domain_modules_are_found() -> None:
    names = {path.relative_to(REPO).as_posix() for path in DOMAIN_FILES}
    assert {
        "baskets/deletion/delete.py",
        "baskets/audit/chain.py",
        "flows/retention.py",
        "tasks/retention.py",
    } <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: path.relative_to(REPO).as_posix())
def test_no_domain_module_branches_on_the_database(path: Path) -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if BRANCH.search(line)
    ]
    assert found == [], "move these into baskets/backends:\n" + "\n".join(found)


def test_the_check_sees_a_branch() -> None:
    assert BRANCH.search('if engine.dialect.name == "postgresql":')
    assert BRANCH.search('if backend in ("mysql", "mariadb"):')
    assert BRANCH.search("url.get_backend_name() != 'sqlite'")
    assert not BRANCH.search("backend_for(engine).key_in(column, keys)")
