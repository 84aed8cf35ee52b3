"""Every cell of the §7 role table, through the command line, on every database.

alice is a system administrator, bob an order processor, carol a content manager (a role with
no access here) and nobody is not an operator at all.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.models import Basket, BasketAudit, Operator, ShopAccount
from baskets.roles import Actor, names_look_alike
from flows import runner
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
    "operators list": _row(ALLOWED, REFUSED),
    "audit report": _row(ALLOWED, ALLOWED),
    "audit verify": _row(ALLOWED, ALLOWED),
    "audit show": _row(ALLOWED, ALLOWED),
    "seed --replace": _row(ALLOWED, REFUSED),
    "forget": _row(ALLOWED, REFUSED),
}


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
            "operators list": ["operators", "list"],
            "audit report": ["audit", "report", "--output", str(tmp_path / "report.html")],
            "audit verify": ["audit", "verify"],
            "audit show": ["audit", "show", self.deleted_id],
            "seed --replace": ["seed", "--baskets", "10", "--replace"],
            "forget": ["forget", "--shop-account-id", str(self.shop_account_id), "--dry-run"],
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
@pytest.mark.backend_independent
def test_role_table_cell(
    cli, db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str, actor: str
) -> None:
    # The flows run directly, as without a Prefect API: the cell is the role rule, and a tracked
    # run would only add Prefect's own calls (run forms' refusals: tests/flows/test_run_failures.py).
    monkeypatch.setattr(runner, "prefect_api_configured", lambda: False)
    store = Store(db)
    before = _state(db)
    result = cli(*store.arguments(action, tmp_path), "--as", actor, env=db.env)
    expected = ROLE_TABLE[action][actor]
    assert result.exit_code == expected, result.stderr
    if expected == REFUSED:
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("error: ")
        article = {"bob": "an order_processor", "carol": "a content_manager"}.get(actor, "")
        assert (
            f"no operator named '{actor}'" if actor == "nobody" else f"'{actor}' is {article}"
        ) in result.stderr
        assert _state(db) == before


@pytest.mark.parametrize("actor", ACTORS)
def test_each_operators_role_is_read_from_every_database(cli, db: DatabaseUnderTest, actor: str) -> None:
    """The table's cells are the role rules (SQLite alone); what each database adds is reading
    the operator and their role back: one action each role may do and one only an administrator
    may, for every actor, on every database."""
    add_operators(db)
    for action, arguments in {
        "list": ["list", "--limit", "1"],
        "operators list": ["operators", "list"],
    }.items():
        result = cli(*arguments, "--as", actor, env=db.env)
        assert result.exit_code == ROLE_TABLE[action][actor], (action, result.stderr)


@pytest.mark.backend_independent
def test_a_command_without_any_operator_is_refused(cli, db: DatabaseUnderTest) -> None:
    Store(db)
    result = cli("delete", "--all", "--yes", env=db.env)
    assert result.exit_code == REFUSED
    assert result.stderr.strip() == "error: --as: delete baskets needs an operator (type your operator name)"


def test_the_table_covers_every_action_of_section_7() -> None:
    from baskets.roles import PERMISSIONS, SYSTEM_ADMINISTRATOR, Action, is_permitted

    covered = {
        Action.LIST: "list", Action.EXPORT: "export", Action.DELETE: "delete",
        Action.VIEW_SHOP_ACCOUNT: "shop-account", Action.CLEANUP: "cleanup", Action.FORCE: "cleanup --force",
        Action.RESTORE: "restore", Action.MANAGE_OPERATORS: "operators add", Action.AUDIT: "audit verify",
        Action.REPLACE_DATA: "seed --replace", Action.ERASE: "forget",
    }  # fmt: skip
    assert set(covered) == set(PERMISSIONS)
    for action, command in covered.items():
        assert ROLE_TABLE[command]["alice"] == (
            ALLOWED if is_permitted(SYSTEM_ADMINISTRATOR, action) else REFUSED
        )
        assert ROLE_TABLE[command]["bob"] == (ALLOWED if is_permitted("order_processor", action) else REFUSED)


@pytest.mark.parametrize("spelling", ["ALICE", "Alice", "Àlice", "alicé", "alice ", " alice", "аlice"])
def test_operator_names_match_exactly_on_every_database(cli, db: DatabaseUnderTest, spelling: str) -> None:
    add_operators(db)
    result = cli("list", "--as", spelling, env=db.env)
    assert result.exit_code == REFUSED, result.stderr
    assert result.stderr.strip().startswith(f"error: --as: no operator named {spelling!r}")
    assert cli("list", "--as", "alice", env=db.env).exit_code == ALLOWED


@pytest.mark.parametrize("given", ["", "   "])
@pytest.mark.backend_independent
def test_an_empty_as_is_bad_input_not_the_environment_operator(
    cli, db: DatabaseUnderTest, given: str
) -> None:
    add_operators(db)
    result = cli("list", "--as", given, env={**db.env, "BASKETS_OPERATOR": "alice"})
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --as: empty operator name (expected e.g. --as alice")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("al\x00ice", "error: --as: character 3 is U+0000, a control or invisible character"),
        ("alice\udcff", "error: --as: character 6 is U+DCFF"),  # a shell's undecodable byte
        ("\u200balice", "error: --as: character 1 is U+200B"),
        ("a" * 101, "error: --as: 101 characters is too long for an operator name (at most 100)"),
    ],
)
def test_an_as_no_operator_can_have_is_bad_input_on_every_database(
    cli, db: DatabaseUnderTest, given: str, message: str
) -> None:
    add_operators(db)
    result = cli("delete", "--all", "--yes", "--as", given, env=db.env)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_erp_account_ids_match_exactly_on_every_database(cli, db: DatabaseUnderTest) -> None:
    seed(db, 60, 3)
    add_operators(db)
    with db.engine.connect() as connection:
        account_id = connection.scalar(
            select(Basket.account_id).where(Basket.account_id.like("C%")).order_by(Basket.account_id).limit(1)
        )
        owned = connection.scalar(
            select(func.count()).select_from(Basket).where(Basket.account_id == account_id)
        )
    exact = cli("list", "--account-id", account_id, "--json", "--as", "bob", env=db.env)
    assert exact.json()["shown"] == owned > 0
    for spelling in (account_id.lower(), account_id + " "):
        other = cli("list", "--account-id", spelling, "--json", "--as", "bob", env=db.env)
        assert other.exit_code == 0 and other.json()["shown"] == (
            owned if spelling.strip() == account_id else 0
        )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("al\x00ice", "character 3 of 'al\\x00ice' (U+0000) is not allowed"),
        ("al\u200bice", "character 3 of 'al\\u200bice' (U+200B) is not allowed"),
        ("al\u2028ice", "(U+2028) is not allowed"),
        ("alice\udcff", "(U+DCFF) is not allowed"),
        (" dave", "character 1 of ' dave' (U+0020) is not allowed"),
        ("dave ", "character 5 of 'dave ' (U+0020) is not allowed"),
        ("da  ve", "character 3 of 'da  ve' (U+0020) is not allowed"),
        ("da/ve", "(U+002F) is not allowed (expected letters, digits and . - _ @ with single inner spaces"),
        ("d" * 101, "101 characters is too long (at most 100)"),
        ("retention-policy", "'retention-policy' is the built-in actor"),
        ("Retention-Policy", "'Retention-Policy' is the built-in actor"),
        ("ALICE", "'ALICE' looks like the existing operator 'alice' (differs only by case, accents"),
        ("Àlice", "'Àlice' looks like the existing operator 'alice'"),
        ("\u0430lice", "looks like the existing operator 'alice'"),  # Cyrillic а
        ("alic\u0435", "looks like the existing operator 'alice'"),  # Cyrillic е
        ("aIice", "looks like the existing operator 'alice'"),  # capital I for l
        ("b\u03bfb", "looks like the existing operator 'bob'"),  # Greek ο
        ("alice", "operator 'alice' exists already"),
    ],
)
@pytest.mark.backend_independent
def test_operators_add_refuses_unusable_and_lookalike_names(
    cli, db: DatabaseUnderTest, name: str, message: str
) -> None:
    add_operators(db)
    before = _state(db)
    result = cli("operators", "add", name, "--role", "order_processor", "--as", "alice", env=db.env)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: NAME: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _state(db) == before


def test_operators_add_accepts_names_of_any_script_and_known_roles_in_any_spelling(
    cli, db: DatabaseUnderTest
) -> None:
    add_operators(db)
    added = cli("operators", "add", "Zoë Ångström", "--role", "Product Content-Manager", "--json",
                "--as", "alice", env=db.env)  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert added.json() == {"name": "Zoë Ångström", "role": "product_content_manager"}
    assert (
        cli("operators", "add", "j.smith@shop", "--role", "marketer", "--as", "alice", env=db.env).exit_code
        == 0
    )
    assert (
        cli("operators", "add", "王芳", "--role", "order_processor", "--as", "alice", env=db.env).exit_code
        == 0
    )
    listed = cli("operators", "list", "--json", "--as", "alice", env=db.env).json()["operators"]
    assert sorted(o["name"] for o in listed) == sorted(
        ["alice", "bob", "carol", "Zoë Ångström", "j.smith@shop", "王芳"]
    )
    assert cli("list", "--as", "王芳", env=db.env).exit_code == ALLOWED


@pytest.mark.backend_independent
def test_operators_add_refuses_an_unknown_role_listing_the_known_ones(cli, db: DatabaseUnderTest) -> None:
    add_operators(db)
    before = _state(db)
    result = cli("operators", "add", "dave", "--role", "super_admin", "--as", "alice", env=db.env)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --role: 'super_admin' is not a known role (expected one of system_administrator, "
        "order_processor, content_manager, product_content_manager, marketer, mobile_manager, "
        "shop_account_creator)"
    )
    assert _state(db) == before


# Latin letters (any accent, any case) and digits; dotless ı is a letter of its own, not an i.
LATIN = st.characters(categories=["Ll", "Lu", "Nd"], max_codepoint=0x17F, exclude_characters="ı")


@settings(max_examples=300, deadline=None)
@given(name=st.text(LATIN, min_size=1, max_size=20))
def test_a_name_looks_like_itself_in_any_case_and_with_any_accents(name: str) -> None:
    accented = unicodedata.normalize("NFC", "".join(c + "\u0301" for c in name))
    assert names_look_alike(name, name.upper()) and names_look_alike(name.lower(), name)
    assert names_look_alike(accented, name)


@pytest.mark.parametrize(
    ("first", "second", "alike"),
    [
        ("alice", "aIice", True), ("bob", "b0b", True), ("Bob", "\u0412ob", True), ("mia", "rnia", True),
        ("ana", "anna", False), ("li", "ll", False), ("eva", "ava", False), ("王芳", "王方", False),
    ],
)  # fmt: skip
def test_lookalike_names_are_told_from_merely_similar_ones(first: str, second: str, alike: bool) -> None:
    assert names_look_alike(first, second) is alike
    assert names_look_alike(second, first) is alike
