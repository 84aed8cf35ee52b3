"""What a command that runs no flow loads on SQLite: no other database's SQLAlchemy dialect, no
Prefect, pandas or pyarrow, and not the modules of the commands it is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, DatabaseUnderTest, add_operators

# Runs one `baskets` command in-process, then prints how it ended (None: it succeeded) and which of
# the watched modules it loaded.
_RUN_AND_LIST_MODULES = """
import json, sys
from cli.main import app
ended = None
try:
    app(args=sys.argv[1:], standalone_mode=False)
except BaseException as error:  # a refusal: the modules loaded until then matter here
    ended = type(error).__name__
watched = sys.argv[0].split(",")
print(json.dumps([ended, sorted(name for name in watched if name in sys.modules)]))
"""

# Loaded by no SQLite command that runs no flow.
_NOT_ON_SQLITE = ["sqlalchemy.dialects.postgresql", "prefect", "pandas", "pyarrow", "fastapi"]
# Loaded by `list` (and `status`) only if something imports them at start-up: other commands' work.
_OTHER_COMMANDS = ["baskets.audit", "baskets.deletion", "baskets.privacy.forget", "rich.progress"]


def _run(
    database: DatabaseUnderTest, tmp_path: Path, args: list[str], watched: list[str]
) -> tuple[str | None, list[str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update({**database.env, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")})
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES.replace("sys.argv[0]", repr(",".join(watched))), *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ended, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return ended, loaded


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--as", "bob"],
        ["list", "--as", "bob", "--json"],
        ["status", "--json"],
        ["operators", "list", "--as", "alice"],
    ],
)
def test_sqlite_commands_without_a_flow_load_no_other_dialect_nor_prefect_pandas_or_pyarrow(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, args: list[str]
) -> None:
    add_operators(sqlite_db)
    assert _run(sqlite_db, tmp_path, args, _NOT_ON_SQLITE) == (None, [])


def test_baskets_list_loads_none_of_the_other_commands_modules(
    sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    add_operators(sqlite_db)
    assert _run(sqlite_db, tmp_path, ["list", "--as", "bob"], _OTHER_COMMANDS) == (None, [])
    # Its table only when it prints one.
    printed = _run(sqlite_db, tmp_path, ["list", "--as", "bob"], ["rich.table"])
    assert printed == (None, ["rich.table"])
    assert _run(sqlite_db, tmp_path, ["list", "--as", "bob", "--json"], ["rich.table"]) == (None, [])


def test_a_refused_list_loads_none_of_them_either(sqlite_db: DatabaseUnderTest, tmp_path: Path) -> None:
    """The watch list is real: `delete` does load the deletion module, `list` refused does not."""
    add_operators(sqlite_db)
    assert _run(sqlite_db, tmp_path, ["list", "--as", "nobody"], _OTHER_COMMANDS) == ("NotPermitted", [])
    loaded = _run(sqlite_db, tmp_path, ["delete", "not-a-guid", "--as", "alice"], ["baskets.deletion"])
    assert loaded == ("BadInput", ["baskets.deletion"])


@pytest.mark.backend_independent
def test_guid_columns_are_native_uuid_on_postgresql_only_as_before() -> None:
    """The models name SQLAlchemy's generic UUID (not the PostgreSQL dialect's module), which is
    the very class `postgresql.UUID` is: the DDL and the values stay what the migrations made."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    from baskets.models import GUID, Basket

    native = GUID.dialect_impl(postgresql.dialect())
    assert isinstance(native, postgresql.UUID) and native.as_uuid is False  # values stay lowercase text
    column = Basket.__table__.c.id
    assert column.type.compile(dialect=postgresql.dialect()) == "UUID"
    assert column.type.compile(dialect=sqlite.dialect()) == "VARCHAR(36)"
    assert column.type.compile(dialect=mysql.dialect()) == "VARCHAR(36)"
