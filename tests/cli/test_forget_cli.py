"""`baskets forget` end to end: an erasure leaves no trace, a dry run changes nothing, bad input
changes nothing, the chain records the erasure and still verifies."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from baskets.models import Base, Basket, BasketAudit, ShopAccount
from tests.conftest import DatabaseUnderTest, add_operators, seed

# The webstore's own account tables keep the person's account: erasing it there is the webstore's job.
WEBSTORE_ACCOUNT_TABLES = ("shop_accounts", "accounts")


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 60, 3)
    add_operators(db)
    return db


def _person(database: DatabaseUnderTest) -> tuple[str, str, list[str]]:
    """The e-mail and shop account ID of a shop account with the most baskets, and those baskets."""
    with database.engine.connect() as connection:
        shop_account_id, email = connection.execute(
            select(ShopAccount.id, ShopAccount.email)
            .join(Basket, Basket.shop_account_id == ShopAccount.id)
            .group_by(ShopAccount.id, ShopAccount.email)
            .order_by(func.count().desc(), ShopAccount.id)
            .limit(1)
        ).one()
        baskets = list(
            connection.scalars(
                select(Basket.id).where(Basket.shop_account_id == shop_account_id).order_by(Basket.id)
            )
        )
    return str(email), str(shop_account_id), [str(basket) for basket in baskets]


def _dump(database: DatabaseUnderTest) -> str:
    """Every row of every table of the suite (all but the webstore's account tables), as text."""
    lines = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in WEBSTORE_ACCOUNT_TABLES:
                continue
            for row in connection.execute(select(table)).all():
                lines.append(f"{table.name}: {tuple(row)!r}")
        lines += [repr(row) for row in connection.execute(text("SELECT * FROM alembic_version")).all()]
    return "\n".join(lines)


def _files_text(folder: Path) -> str:
    """Every file under `folder`: its bytes as text, and a Parquet file's rows read back too."""
    import pyarrow.parquet as pq

    parts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        parts.append(path.read_bytes().decode("utf-8", "replace"))
        if path.suffix == ".parquet":
            parts.append(repr(pq.read_table(path).to_pylist()))
    return "\n".join(parts)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _history_with_their_data(
    cli, store: DatabaseUnderTest, email: str, baskets: list[str], tmp_path: Path
) -> Path:  # type: ignore[no-untyped-def]
    """Exports, a deletion with a note naming them, and a cleanup snapshot, all holding `email`."""
    assert cli("export", "--format", "both", "--as", "alice", env=store.env).exit_code == 0
    deleted = cli(
        "delete", baskets[0], "--as", "bob", "--note", f"customer {email.upper()} asked", env=store.env
    )
    assert deleted.exit_code == 0, deleted.stderr
    with store.engine.begin() as connection:  # one of theirs is long untouched: the cleanup takes it
        connection.execute(
            update(Basket)
            .where(Basket.id == baskets[1])
            .values(modified_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        )
    cleaned = cli("cleanup", "--as", "alice", "--force", env=store.env)
    assert cleaned.exit_code == 0, cleaned.stderr
    export_dir = tmp_path / "var" / "exports"
    assert email in _files_text(export_dir) and email in _dump(store).lower()
    return export_dir


def test_an_erasure_leaves_no_trace_of_the_email_in_any_suite_table_or_file(
    cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    email, shop_account_id, baskets = _person(store)
    assert len(baskets) >= 3
    export_dir = _history_with_their_data(cli, store, email, baskets, tmp_path)
    with store.engine.connect() as connection:
        current = connection.scalar(
            select(func.count()).select_from(Basket).where(Basket.shop_account_id == shop_account_id)
        )
    result = cli("forget", "--email", email.upper(), "--reference", "GDPR-2026-0042", "--as", "alice", "--json",
                 env=store.env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert (out["dry_run"], out["subject"], out["baskets"], out["reference"]) == (
        False,
        "e-mail",
        current,
        "GDPR-2026-0042",
    )
    # The deletion's and the cleanup's audit rows; the CSV and Parquet exports and the snapshot.
    assert out["audit_rows"] >= 2 and out["files"] >= 3
    dump, files = _dump(store).lower(), _files_text(export_dir).lower()
    for trace in (email.lower(), shop_account_id):
        assert trace not in dump
        assert trace not in files
    verified = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert verified.exit_code == 0 and verified.json()["ok"] is True
    with store.engine.connect() as connection:
        record = connection.execute(select(BasketAudit.__table__).where(BasketAudit.event == "erased")).one()
    assert (record.seq, record.actor, record.reason, record.basket_id) == (
        out["seq"],
        "alice",
        "erasure",
        None,
    )
    assert json.loads(record.detail) == {
        "reference": "GDPR-2026-0042", "subject": "e-mail", "baskets": current, "audit_rows": out["audit_rows"],
        "files": out["files"], "file_rows": out["file_rows"],
    }  # fmt: skip


def test_a_dry_run_says_exactly_what_would_change_and_changes_nothing(
    cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    email, _, baskets = _person(store)
    export_dir = _history_with_their_data(cli, store, email, baskets, tmp_path)
    dump, files = _dump(store), _digests(export_dir)
    dry = cli("forget", "--email", email, "--dry-run", "--as", "alice", "--json", env=store.env)
    assert dry.exit_code == 0, dry.stderr
    assert (_dump(store), _digests(export_dir)) == (dump, files)
    real = cli("forget", "--email", email, "--as", "alice", "--json", env=store.env)
    assert real.exit_code == 0, real.stderr
    keys = ("baskets", "audit_rows", "files", "file_rows", "file_paths")
    assert {key: dry.json()[key] for key in keys} == {key: real.json()[key] for key in keys}
    said = cli("forget", "--email", email, "--dry-run", "--as", "alice", env=store.env).stdout
    assert said.strip() == (
        "dry run, nothing changed; an erasure by e-mail would remove: 0 baskets, 0 earlier audit rows, "
        "no rows in the suite's files"
    )


GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    ("args", "code", "start"),
    [
        ([], 2, "error: --email: give exactly one of --email, --account-id or --shop-account-id"),
        (["--email", "a@b.c", "--account-id", "C1"], 2, "error: --email: give exactly one of"),
        (["--email", "a\x00@b.c"], 2, "error: --email: character 2 is U+0000"),
        (["--email", "a\x1b[31m@b.c"], 2, "error: --email: character 2 is U+001B"),
        (["--email", "x" * 100_000 + "@b.c"], 2, "error: --email: 'xxx"),
        (["--email", "not an address"], 2, "error: --email: 'not an address' is not an e-mail address"),
        (["--account-id", "C" * 51], 2, "error: --account-id: 51 characters is too long"),
        (["--account-id", "C1\u200b"], 2, "error: --account-id: character 3 is U+200B"),
        (["--shop-account-id", "abc"], 2, "error: --shop-account-id: 'abc' is not a GUID"),
        (
            ["--shop-account-id", GUID, "--reference", "ticket\x00"],
            2,
            "error: --reference: character 7 is U+0000",
        ),
        (
            ["--shop-account-id", GUID, "--reference", "r" * 201],
            2,
            "error: --reference: 201 characters is too long",
        ),
        (
            ["--email", "a@b.c", "--reference", "for A@B.C"],
            2,
            "error: --reference: it contains the e-mail being erased",
        ),
        (
            ["--shop-account-id", GUID, "--as", "bob"],
            3,
            "error: --as: 'bob' is an order_processor: only system_administrator",
        ),
        (["--shop-account-id", GUID, "--as", "carol"], 3, "error: --as: 'carol' is a content_manager"),
        (["--shop-account-id", GUID, "--as", "nobody"], 3, "error: --as: no operator named 'nobody'"),
        (["--shop-account-id", GUID, "--as", ""], 2, "error: --as: empty operator name"),
    ],
)
@pytest.mark.backend_independent
def test_hostile_input_is_refused_in_one_line_and_changes_nothing(
    cli, store: DatabaseUnderTest, tmp_path: Path, args: list[str], code: int, start: str
) -> None:
    email, _, _ = _person(store)
    assert cli("export", "--as", "alice", env=store.env).exit_code == 0
    export_dir = tmp_path / "var" / "exports"
    dump, files = _dump(store), _digests(export_dir)
    full = [*args] if "--as" in args else [*args, "--as", "alice"]
    result = cli("forget", *full, env=store.env)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith(start), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert (_dump(store), _digests(export_dir)) == (dump, files)


def test_restore_of_an_erased_basket_is_refused_saying_when_and_why(cli, store: DatabaseUnderTest) -> None:
    _, shop_account_id, baskets = _person(store)
    assert (
        cli("forget", "--shop-account-id", shop_account_id.upper(), "--as", "alice", env=store.env).exit_code
        == 0
    )
    restored = cli("restore", baskets[0], "--as", "alice", env=store.env)
    assert restored.exit_code == 4
    assert restored.stderr.startswith(
        f"error: basket {baskets[0]} cannot be restored: its audit row (seq 1) was redacted on "
    )
    assert restored.stderr.strip().endswith("UTC: its personal data was erased on request (baskets forget)")
    shown = cli("audit", "show", baskets[0], "--as", "bob", "--json", env=store.env)
    assert shown.exit_code == 0, shown.stderr
    (event,) = shown.json()["events"]
    assert (event["reason"], event["lines"], event["shop_account_id"], event["redaction"]) == (
        "erasure",
        None,
        None,
        "erasure",
    )
    assert event["redacted"].endswith("erased on request (baskets forget)")


@pytest.mark.parametrize(
    ("fields", "starts"),
    [
        ({"operator": "alice", "email": "a\x00@b.c"}, "email: "),
        ({"operator": "alice", "account_id": "C1", "reference": "x\x00"}, "reference: "),
        ({"operator": "alice"}, "email: give exactly one of `email`, `account_id` or `shop_account_id`"),
        ({"operator": "bob", "account_id": "C1"}, "operator: "),
    ],
)
@pytest.mark.backend_independent
def test_a_run_form_with_bad_fields_fails_the_run_naming_the_field_and_changes_nothing(
    store: DatabaseUnderTest,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, str],
    starts: str,
) -> None:
    from flows.forget import basket_forget

    monkeypatch.setenv("BASKETS_DATABASE_URL", store.url)
    dump = _dump(store)
    state = basket_forget(**fields, return_state=True)
    assert state.is_failed()
    assert (state.message or "").startswith(starts), state.message
    assert _dump(store) == dump


def test_a_run_form_erasure_is_tracked_and_records_its_flow_run(
    store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.forget import basket_forget

    monkeypatch.setenv("BASKETS_DATABASE_URL", store.url)
    _, shop_account_id, baskets = _person(store)
    summary = basket_forget(operator="alice", shop_account_id=shop_account_id, reference="T-7")
    assert (summary["baskets"], summary["reference"], len(summary["flow_run_id"])) == (
        len(baskets),
        "T-7",
        36,
    )
    with store.engine.connect() as connection:
        runs = set(connection.scalars(select(BasketAudit.flow_run_id)))
    assert runs == {summary["flow_run_id"]}


def test_a_change_to_the_erasure_record_or_an_erased_row_fails_verify_naming_the_row(
    cli, store: DatabaseUnderTest
) -> None:
    _, shop_account_id, baskets = _person(store)
    erased = cli("forget", "--shop-account-id", shop_account_id, "--reference", "T-1", "--as", "alice", "--json",
                 env=store.env)  # fmt: skip
    assert erased.exit_code == 0, erased.stderr
    record_seq = erased.json()["seq"]
    assert record_seq == len(baskets) + 1
    for seq, change in ((record_seq, {"detail": '{"reference":"T-2"}'}), (1, {"actor": "mallory"})):
        with store.engine.begin() as connection:
            connection.execute(update(BasketAudit).where(BasketAudit.seq == seq).values(**change))
        broken = cli("audit", "verify", "--as", "bob", env=store.env)
        assert broken.exit_code == 6
        assert broken.stderr.startswith(f"error: audit chain broken at seq {seq}: row {seq} was changed"), (
            broken.stderr
        )
