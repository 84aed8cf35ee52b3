"""Every cell of the §7 role table, through the command line, on every database.

alice is a system administrator, bob an order processor, carol a content manager (a role with
no access here) and nobody is not an operator at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.models import Basket, BasketAudit, Operator, ShopAccount
from baskets.roles import Actor
from tests.conftest import DatabaseUnderTest, add_operators, seed

ALLOWED, REFUSED = 0, 3
ACTORS = ("alice", "bob", "carol", "nobody")


def _row(admin: int, processor: int) -> dict[str, int]:
    return {"alice": admin, "bob": processor, "carol": REFUSED, "nobody": REFUSED}


# action -> expected exit code per actor, straight from PRODUCT.md §7.
ROLE_TABLE: dict[str, dict[str, int]] = {
    "list": _row(ALLOWED, ALLOWED),
    "export": _row(ALLOWED, ALLOWED),
    "delete": _row(ALLOWED, ALLOWED),
    "shop-account": _row(ALLOWED, REFUSED),
    "cleanup": _row(ALLOWED, REFUSED),
    "cleanup --force": _row(ALLOWED, REFUSED),
    "restore": _row(ALLOWED, REFUSED),
    "operators add": _row(ALLOWED, REFUSED),
    "audit report": _row(ALLOWED, ALLOWED),
    "audit verify": _row(ALLOWED, ALLOWED),
    "audit show": _row(ALLOWED, ALLOWED),
    "seed --replace": _row(ALLOWED, REFUSED),
}
NEEDS_PREFECT = {"export", "delete", "cleanup", "cleanup --force", "restore", "audit report"}


class Store:
    """A seeded database with the three operators, one deleted basket and one live one."""

    def __init__(self, database: DatabaseUnderTest) -> None:
        seed(database, 40, 5)
        add_operators(database)
        with database.engine.connect() as connection:
            self.live_id, self.deleted_id = connection.scalars(select(Basket.id).order_by(Basket.id).limit(2))
            self.shop_account_id = connection.scalar(select(ShopAccount.id).order_by(ShopAccount.id).limit(1))
        with write_transaction(database.engine) as connection:
            delete_baskets_with_audit(connection, [self.deleted_id], actor=Actor("bob", "order_processor"),
                                      reason="broken")  # fmt: skip

    def arguments(self, action: str, tmp_path: Path) -> list[str]:
        return {
            "list": ["list", "--limit", "1"],
            "export": ["export", "--account-type", "contact", "--output", str(tmp_path / "out.csv")],
            "delete": ["delete", self.live_id],
            "shop-account": ["shop-account", self.shop_account_id],
            "cleanup": ["cleanup", "--dry-run"],
            "cleanup --force": ["cleanup", "--dry-run", "--force"],
            "restore": ["restore", self.deleted_id],
            "operators add": ["operators", "add", "dave", "--role", "order_processor"],
            "audit report": ["audit", "report", "--output", str(tmp_path / "report.html")],
            "audit verify": ["audit", "verify"],
            "audit show": ["audit", "show", self.deleted_id],
            "seed --replace": ["seed", "--baskets", "10", "--replace"],
        }[action]


def _state(database: DatabaseUnderTest) -> tuple[int, int, int]:
    with database.engine.connect() as connection:
        return (
            int(connection.scalar(select(func.count()).select_from(Basket)) or 0),
            int(connection.scalar(select(func.count()).select_from(BasketAudit)) or 0),
            int(connection.scalar(select(func.count()).select_from(Operator)) or 0),
        )


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", list(ROLE_TABLE))
def test_role_table_cell(
    cli, db: DatabaseUnderTest, tmp_path: Path, request: pytest.FixtureRequest, action: str, actor: str
) -> None:
    if action in NEEDS_PREFECT:
        request.getfixturevalue("prefect_harness")
    store = Store(db)
    before = _state(db)
    result = cli(*store.arguments(action, tmp_path), "--as", actor, env=db.env)
    expected = ROLE_TABLE[action][actor]
    assert result.exit_code == expected, result.stderr
    if expected == REFUSED:
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("error: ")
        assert (f"no operator named '{actor}'" if actor == "nobody" else f"'{actor}' is a ") in result.stderr
        assert _state(db) == before


def test_a_command_without_any_operator_is_refused(cli, db: DatabaseUnderTest) -> None:
    Store(db)
    result = cli("delete", "--all", "--yes", env=db.env)
    assert result.exit_code == REFUSED
    assert (
        result.stderr.strip()
        == "error: delete baskets needs an operator: pass --as NAME or set BASKETS_OPERATOR"
    )


def test_the_table_covers_every_action_of_section_7() -> None:
    from baskets.roles import PERMISSIONS, SYSTEM_ADMINISTRATOR, Action, is_permitted

    covered = {
        Action.LIST: "list", Action.EXPORT: "export", Action.DELETE: "delete",
        Action.VIEW_SHOP_ACCOUNT: "shop-account", Action.CLEANUP: "cleanup", Action.FORCE: "cleanup --force",
        Action.RESTORE: "restore", Action.MANAGE_OPERATORS: "operators add", Action.AUDIT: "audit verify",
        Action.REPLACE_DATA: "seed --replace",
    }  # fmt: skip
    assert set(covered) == set(PERMISSIONS)
    for action, command in covered.items():
        assert ROLE_TABLE[command]["alice"] == (
            ALLOWED if is_permitted(SYSTEM_ADMINISTRATOR, action) else REFUSED
        )
        assert ROLE_TABLE[command]["bob"] == (ALLOWED if is_permitted("order_processor", action) else REFUSED)
