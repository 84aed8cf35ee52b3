"""`baskets delete`, `restore`, `shop-account` and `audit verify/show` end to end through the CLI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, update

from baskets.deletion import select_basket_ids
from baskets.filters import BasketFilter
from baskets.models import Basket, BasketAudit, BasketLine, ShopAccount
from baskets.queries import count_baskets
from tests.conftest import DatabaseUnderTest, add_operators, seed

UNKNOWN = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 60, 3)
    add_operators(db)
    return db


def _ids(database: DatabaseUnderTest, count: int, where=None) -> list[str]:  # type: ignore[no-untyped-def]
    query = select(Basket.id).order_by(Basket.id).limit(count)
    if where is not None:
        query = query.where(where)
    with database.engine.connect() as connection:
        return list(connection.scalars(query))


def _count(database: DatabaseUnderTest, table) -> int:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def _basket_and_lines(database: DatabaseUnderTest, basket_id: str) -> tuple:
    with database.engine.connect() as connection:
        basket = connection.execute(
            select(Basket.shop_account_id, Basket.account_id, Basket.account_type, Basket.created_at,
                   Basket.modified_at).where(Basket.id == basket_id)
        ).one_or_none()  # fmt: skip
        lines = connection.execute(
            select(BasketLine.product_id, BasketLine.variant_id, BasketLine.quantity, BasketLine.uom_id)
            .where(BasketLine.basket_id == basket_id)
            .order_by(BasketLine.id)
        ).all()
    return basket, [(p, v, Decimal(q).quantize(Decimal("0.0001")), u) for p, v, q, u in lines]


def test_delete_by_id_removes_basket_and_lines_and_reports_json(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    first, second = _ids(store, 2)
    baskets, lines = _count(store, Basket), _count(store, BasketLine)
    with store.engine.connect() as connection:
        doomed_lines = connection.scalar(
            select(func.count()).select_from(BasketLine).where(BasketLine.basket_id.in_([first, second]))
        )
    result = cli("delete", second.upper(), "{" + first + "}", "--as", "bob", "--note", "ERP change",
                 "--json", env=store.env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert (out["deleted"], out["basket_ids"], out["first_seq"], out["last_seq"]) == (
        2,
        [first, second],
        1,
        2,
    )
    assert (
        out["reason"] == "broken"
        and out["actor"] == "bob"
        and len(out["flow_run_id"]) == 36
        and out["tracked"] is True
    )
    assert (_count(store, Basket), _count(store, BasketLine)) == (baskets - 2, lines - doomed_lines)
    with store.engine.connect() as connection:
        audit = connection.execute(select(BasketAudit.note, BasketAudit.flow_run_id)).all()
    assert audit == [("ERP change", out["flow_run_id"])] * 2


def test_delete_with_an_unknown_id_deletes_nothing_and_names_it(cli, store: DatabaseUnderTest) -> None:
    known = _ids(store, 1)[0]
    baskets = _count(store, Basket)
    result = cli("delete", known, UNKNOWN, "--as", "bob", env=store.env)
    assert result.exit_code == 4
    assert result.stderr.strip() == f"error: no basket with ID {UNKNOWN}: nothing was deleted"
    assert (_count(store, Basket), _count(store, BasketAudit)) == (baskets, 0)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["delete", "abc", "--as", "bob"], "error: BASKET_ID: 'abc' is not a GUID (expected e.g. "),
        (["delete", UNKNOWN, "--reason", "bored", "--as", "bob"], "error: --reason: 'bored' is not a reason"),
        (["delete", "--as", "bob"], "error: no basket IDs and no filter: pass IDs, a filter"),
        (
            ["delete", UNKNOWN, "--account-type", "anonymous", "--as", "bob"],
            "error: give basket IDs or filters",
        ),
        (["delete", "--account-type", "robot", "--as", "bob"], "error: --account-type: 'robot' is not an"),
        (
            ["delete", UNKNOWN, "--note", "x" * 2001, "--as", "bob"],
            "error: --note: 2001 characters is too long",
        ),
        (["audit", "verify", "--head", "xyz", "--as", "bob"], "error: --head: 'xyz' is not a SHA-256 hash"),
        (["audit", "show", "nope", "--as", "bob"], "error: BASKET_ID: 'nope' is not a GUID"),
        (["restore", "nope", "--as", "alice"], "error: BASKET_ID: 'nope' is not a GUID"),
        (["shop-account", "nope", "--as", "alice"], "error: ID: 'nope' is not a GUID"),
        (
            ["delete", "--shop-account-name", "Bik\x1bes", "--yes", "--as", "bob"],
            "error: --shop-account-name: character 4 is U+001B, a control or invisible character",
        ),
        (
            ["delete", "--shop-account-name", "\x00", "--yes", "--as", "bob"],
            "error: --shop-account-name: character 1 is U+0000",
        ),
        (
            ["delete", "--account-id", "c\udcff", "--yes", "--as", "bob"],
            "error: --account-id: character 2 is U+DCFF",
        ),
        (
            ["delete", "--shop-account-email", "x" * 255, "--yes", "--as", "bob"],
            "error: --shop-account-email: 255 characters is longer than the column (at most 254)",
        ),
        (
            ["delete", "--created-before", "0001-01-01T00:00+01:00", "--yes", "--as", "bob"],
            "error: --created-before: '0001-01-01T00:00+01:00' is out of range",
        ),
        (
            ["list", "--modified-after", "9999-12-31T23:59-01:00", "--as", "bob"],
            "error: --modified-after: '9999-12-31T23:59-01:00' is out of range",
        ),
    ],
)
@pytest.mark.backend_independent
def test_bad_input_is_refused_in_one_line_with_exit_2(
    cli, store: DatabaseUnderTest, args: list[str], line: str
) -> None:
    baskets = _count(store, Basket)
    result = cli(*args, env=store.env)
    assert result.exit_code == 2
    assert result.stderr.startswith(line)
    assert len(result.stderr.strip().splitlines()) == 1
    assert _count(store, Basket) == baskets


def test_filtered_delete_shows_the_count_and_deletes_only_with_yes(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    wanted = BasketFilter(account_type="anonymous", created_before="2026-06-01")
    with store.engine.connect() as connection:
        matched = count_baskets(connection, wanted)
        expected = select_basket_ids(connection, wanted.where(), limit=1000)
    flags = ["--account-type", "anonymous", "--created-before", "2026-06-01", "--as", "bob"]
    assert matched > 0
    shown = cli("delete", *flags, "--json", env=store.env)
    assert shown.exit_code == 0, shown.stderr
    assert shown.json() == {"matched": matched, "deleted": 0, "filter": wanted.describe(), "confirmed": False}
    assert _count(store, BasketAudit) == 0
    done = cli("delete", *flags, "--yes", "--json", env=store.env)
    assert done.exit_code == 0, done.stderr
    out = done.json()
    assert out["deleted"] == matched and out["reason"] == "manual"
    assert out["basket_ids"] == expected
    with store.engine.connect() as connection:
        assert count_baskets(connection, wanted) == 0
        reasons = set(connection.scalars(select(BasketAudit.reason)))
    assert reasons == {"manual"}
    assert _count(store, BasketAudit) == matched


@pytest.mark.backend_independent
def test_delete_all_needs_all_and_yes(cli, store: DatabaseUnderTest, prefect_harness: None) -> None:
    total = _count(store, Basket)
    shown = cli("delete", "--all", "--as", "alice", env=store.env)
    assert shown.exit_code == 0
    assert shown.stdout.startswith(f"{total} baskets match --all; nothing deleted. Add --yes")
    done = cli("delete", "--all", "--yes", "--as", "alice", "--json", env=store.env)
    assert done.exit_code == 0, done.stderr
    assert (done.json()["deleted"], _count(store, Basket), _count(store, BasketLine)) == (total, 0, 0)
    verified = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert verified.exit_code == 0 and verified.json()["rows"] == total


def test_audit_verify_prints_head_and_exits_6_naming_the_bad_seq(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    ids = _ids(store, 4)
    assert cli("delete", *ids, "--as", "bob", env=store.env).exit_code == 0
    good = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert good.exit_code == 0
    head = good.json()["head_hash"]
    assert good.json() == {"ok": True, "rows": 4, "head_seq": 4, "head_hash": head, "first_bad_seq": None,
                           "problem": None}  # fmt: skip
    with store.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 3).values(reason="retention"))
    bad = cli("audit", "verify", "--as", "bob", env=store.env)
    assert bad.exit_code == 6
    assert bad.stderr.startswith("error: audit chain broken at seq 3: row 3 was changed")
    bad_json = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert (bad_json.exit_code, bad_json.json()["first_bad_seq"], bad_json.json()["ok"]) == (6, 3, False)


def test_audit_verify_with_saved_head_catches_a_cut_off_tail(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    assert cli("delete", *_ids(store, 3), "--as", "bob", env=store.env).exit_code == 0
    head = cli("audit", "verify", "--as", "bob", "--json", env=store.env).json()["head_hash"]
    with store.engine.begin() as connection:
        kept = connection.scalar(select(BasketAudit.hash).where(BasketAudit.seq == 2))
        connection.execute(delete(BasketAudit).where(BasketAudit.seq == 3))
        from baskets.models import AuditChainHead

        connection.execute(update(AuditChainHead).values(seq=2, hash=kept))
    assert cli("audit", "verify", "--as", "bob", env=store.env).exit_code == 0
    cut = cli("audit", "verify", "--head", head.upper(), "--as", "bob", env=store.env)
    assert cut.exit_code == 6
    assert cut.stderr.startswith(
        f"error: audit chain broken: the chain never had head {head} (it has 2 rows;"
    )
    assert "seq 3" not in cut.stderr  # there is no row 3 to name


def test_audit_verify_with_a_head_the_chain_never_had_says_so(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    assert cli("delete", *_ids(store, 1), "--as", "bob", env=store.env).exit_code == 0
    head = cli("audit", "verify", "--as", "bob", "--json", env=store.env).json()["head_hash"]
    stranger = "ab" * 32
    result = cli("audit", "verify", "--head", stranger, "--as", "bob", env=store.env)
    assert result.exit_code == 6
    assert result.stderr.strip() == (
        f"error: audit chain broken: the chain never had head {stranger} (it has 1 row; its head is "
        f"seq 1, hash {head}): rows after seq 1 were cut off, the chain was rewritten, or that hash "
        "is another database's"
    )
    as_json = cli("audit", "verify", "--head", stranger, "--as", "bob", "--json", env=store.env)
    assert as_json.exit_code == 6
    assert len(as_json.stdout.strip().splitlines()) == 1  # one JSON object, with the error in it
    assert (as_json.json()["ok"], as_json.json()["first_bad_seq"], as_json.json()["exit_code"]) == (
        False,
        None,
        6,
    )
    assert as_json.json()["error"] == result.stderr.strip().removeprefix("error: ")


def test_audit_show_lists_the_deletion_with_its_lines(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    basket_id = _ids(store, 1, Basket.id.in_(select(BasketLine.basket_id)))[0]
    _, lines = _basket_and_lines(store, basket_id)
    assert cli("delete", basket_id, "--as", "bob", "--reason", "manual", env=store.env).exit_code == 0
    shown = cli("audit", "show", basket_id.upper(), "--as", "bob", "--json", env=store.env)
    assert shown.exit_code == 0, shown.stderr
    (event,) = shown.json()["events"]
    assert (event["event"], event["actor"], event["reason"], event["line_count"]) == (
        "deleted", "bob", "manual", len(lines)
    )  # fmt: skip
    assert [line["product_id"] for line in event["lines"]] == [line[0] for line in lines]
    table = cli("audit", "show", basket_id, "--as", "alice", env=store.env)
    assert table.exit_code == 0 and "seq 1: deleted" in table.stdout and lines[0][0] in table.stdout
    missing = cli("audit", "show", UNKNOWN, "--as", "bob", env=store.env)
    assert missing.exit_code == 4 and UNKNOWN in missing.stderr


def test_restore_brings_back_the_same_basket_and_is_chained(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    basket_id = _ids(store, 1, Basket.id.in_(select(BasketLine.basket_id)))[0]
    before = _basket_and_lines(store, basket_id)
    assert cli("delete", basket_id, "--as", "bob", env=store.env).exit_code == 0
    assert _basket_and_lines(store, basket_id) == (None, [])
    restored = cli("restore", basket_id, "--as", "alice", "--note", "by mistake", "--json", env=store.env)
    assert restored.exit_code == 0, restored.stderr
    out = restored.json()
    assert (out["basket_id"], out["line_count"], out["restored_from_seq"], out["seq"]) == (
        basket_id, len(before[1]), 1, 2
    )  # fmt: skip
    after = _basket_and_lines(store, basket_id)
    assert (after[0][:4], after[1]) == (before[0][:4], before[1])  # modified_at: the restore's time
    events = cli("audit", "show", basket_id, "--as", "bob", "--json", env=store.env).json()["events"]
    assert [(e["event"], e["actor"], e["note"]) for e in events] == [
        ("deleted", "bob", None), ("restored", "alice", "by mistake")
    ]  # fmt: skip
    restored_at = dt.datetime.fromisoformat(events[1]["basket_modified_at"]).replace(tzinfo=None)
    assert after[0][4].replace(tzinfo=None) == restored_at > before[0][4].replace(tzinfo=None)
    assert events[1]["basket_modified_at"] == events[1]["occurred_at"]
    assert cli("audit", "verify", "--as", "alice", env=store.env).exit_code == 0
    again = cli("restore", basket_id, "--as", "alice", env=store.env)
    assert again.exit_code == 2
    assert (
        again.stderr.strip()
        == f"error: BASKET_ID: basket {basket_id} exists: only a deleted basket can be restored"
    )
    never = cli("restore", UNKNOWN, "--as", "alice", env=store.env)
    assert never.exit_code == 4
    assert never.stderr.strip() == f"error: BASKET_ID: no deleted basket {UNKNOWN} in the audit log"


def test_shop_account_shows_details_by_shop_account_or_basket_id(cli, store: DatabaseUnderTest) -> None:
    with store.engine.connect() as connection:
        basket_id, shop_id = connection.execute(
            select(Basket.id, Basket.shop_account_id)
            .join(ShopAccount, ShopAccount.id == Basket.shop_account_id)
            .order_by(Basket.id)
            .limit(1)
        ).one()
        name, email = connection.execute(
            select(ShopAccount.name, ShopAccount.email).where(ShopAccount.id == shop_id)
        ).one()
    by_shop = cli("shop-account", shop_id, "--as", "alice", "--json", env=store.env)
    assert by_shop.exit_code == 0, by_shop.stderr
    details = by_shop.json()
    assert (details["shop_account_id"], details["name"], details["email"]) == (shop_id, name, email)
    assert details["basket_count"] >= 1
    assert cli("shop-account", basket_id, "--as", "alice", "--json", env=store.env).json() == details
    table = cli("shop-account", shop_id, "--as", "alice", env=store.env)
    assert table.exit_code == 0 and name in table.stdout


def test_shop_account_that_no_longer_exists_exits_4(cli, store: DatabaseUnderTest) -> None:
    with store.engine.begin() as connection:
        basket_id, shop_id = connection.execute(
            select(Basket.id, Basket.shop_account_id)
            .join(ShopAccount, ShopAccount.id == Basket.shop_account_id)
            .order_by(Basket.id)
            .limit(1)
        ).one()
        connection.execute(delete(ShopAccount).where(ShopAccount.id == shop_id))
        anonymous = connection.scalar(select(Basket.id).where(Basket.account_type == "Anonymous").limit(1))
    gone = cli("shop-account", basket_id, "--as", "alice", env=store.env)
    assert gone.exit_code == 4
    assert gone.stderr.strip() == f"error: shop account {shop_id} of basket {basket_id} no longer exists"
    direct = cli("shop-account", shop_id, "--as", "alice", env=store.env)
    assert direct.exit_code == 4
    assert direct.stderr.strip() == f"error: no shop account (and no basket) with ID {shop_id}"
    guest = cli("shop-account", anonymous, "--as", "alice", env=store.env)
    assert guest.exit_code == 4
    assert guest.stderr.strip() == f"error: basket {anonymous} is anonymous: it has no shop account"


def test_filtered_delete_counts_baskets_deleted_meanwhile_as_gone_not_survived(
    cli, store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the selection of a batch and its delete, someone else deletes two of its baskets
    and a customer changes a third so that it no longer matches: only that one survived."""
    import flows.delete as delete_flow
    from baskets.db import write_transaction
    from baskets.deletion import delete_baskets_with_audit
    from baskets.roles import Actor

    wanted = BasketFilter(account_type="anonymous")
    with store.engine.connect() as connection:
        selected = select_basket_ids(connection, wanted.where(), limit=1000)
    assert len(selected) > 5
    real_select = delete_flow.select_basket_batch
    meddled: list[str] = []

    def select_then_meddle(url, basket_filter, after, limit):  # type: ignore[no-untyped-def]
        batch = real_select(url, basket_filter, after, limit)
        if batch and not meddled:
            meddled.extend(batch[:3])
            with write_transaction(store.engine) as connection:
                delete_baskets_with_audit(connection, batch[:2], actor=Actor("alice", "system_administrator"),
                                          reason="broken", note="concurrent")  # fmt: skip
            with store.engine.begin() as connection:
                connection.execute(
                    update(Basket).where(Basket.id == batch[2]).values(account_type="Customer")
                )
        return batch

    monkeypatch.setattr(delete_flow, "select_basket_batch", select_then_meddle)
    done = cli("delete", "--account-type", "anonymous", "--yes", "--as", "bob", "--json", env=store.env)
    assert done.exit_code == 0, done.stderr
    out = done.json()
    assert (out["deleted"], out["survived"], out["gone"]) == (len(selected) - 3, 1, 2)
    assert out["basket_ids"] == selected[3:]
    assert "kept 1 baskets" not in done.stdout  # --json prints the object only
    assert _ids(store, 10, Basket.id == meddled[2]) == [meddled[2]]


def test_missing_chain_head_row_exits_6_in_one_line_for_verify_delete_and_restore(
    cli, store: DatabaseUnderTest, prefect_harness: None
) -> None:
    from baskets.models import AuditChainHead

    deleted, live = _ids(store, 2)
    assert cli("delete", deleted, "--as", "bob", env=store.env).exit_code == 0
    with store.engine.begin() as connection:
        connection.execute(delete(AuditChainHead))
    for args in (("audit", "verify"), ("delete", live), ("restore", deleted)):
        result = cli(*args, "--as", "alice", env=store.env)
        assert result.exit_code == 6, (args, result.stderr)
        (line,) = [line for line in result.stderr.strip().splitlines() if " | " not in line]
        assert line.startswith("error: audit chain broken") and "Traceback" not in result.stderr
    assert (
        _count(store, BasketAudit),
        _ids(store, 1, Basket.id == live),
        _ids(store, 1, Basket.id == deleted),
    ) == (
        1,
        [live],
        [],
    )


@pytest.mark.parametrize(
    ("hostile", "field"),
    [
        ({"shop_account_name": "\x00"}, "shop_account_name"),
        ({"shop_account_email": "a\u200bb"}, "shop_account_email"),
        ({"account_id": "C" * 51}, "account_id"),
        ({"modified_before": "9999-12-31T23:59-01:00"}, "modified_before"),
    ],
)
def test_a_run_form_filter_with_a_hostile_value_fails_the_run_and_deletes_nothing(
    store: DatabaseUnderTest, prefect_harness: None, hostile: dict[str, str], field: str, monkeypatch
) -> None:
    from flows.delete import basket_delete

    monkeypatch.setenv("BASKETS_DATABASE_URL", store.url)
    baskets = _count(store, Basket)
    state = basket_delete(operator="bob", **hostile, return_state=True)
    assert state.is_failed()
    assert (state.message or "").startswith(f"{field}: ")
    assert (_count(store, Basket), _count(store, BasketAudit)) == (baskets, 0)


@pytest.mark.backend_independent
def test_delete_preview_of_one_basket_says_one_basket_matches(cli, store: DatabaseUnderTest) -> None:
    (basket_id,) = _ids(store, 1)
    shown = cli("delete", "--basket-id", basket_id, "--as", "alice", env=store.env)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.strip() == (
        f"1 basket matches --basket-id '{basket_id}'; nothing deleted. Add --yes to delete it."
    )
