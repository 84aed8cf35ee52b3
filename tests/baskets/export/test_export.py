"""The export rows, content rules and atomic files of baskets/export.py, on every database."""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, text

from baskets.backends.sqlite import SQLiteBackend
from baskets.errors import BadInput
from baskets.export import (
    CSV_HEADER,
    EXPORT_SCHEMA,
    FORMULA_TRIGGERS,
    ExportFormat,
    count_export_rows,
    export_baskets,
    export_transport,
    fetch_export_batches,
    format_quantity,
    neutralise_formulas,
    plan_export_paths,
)
from baskets.export.query import _sqlalchemy_batches
from baskets.files import TEMP_PREFIX, TEMP_SUFFIX, FileRules, check_writable_folder, remove_stray_temp_files
from baskets.filters import BasketFilter
from baskets.models import Account, Basket, BasketLine, ShopAccount
from tests.conftest import NOW, DatabaseUnderTest, seed

# An independent statement of the export rows: plain SQL, filters added by hand below.
INDEPENDENT_SQL = """
SELECT s.name, s.email, a.name, a.email, b.account_id, b.account_type, b.id, l.product_id,
       l.variant_id, l.quantity, l.uom_id, b.shop_account_id, b.created_at, b.modified_at
FROM baskets b
LEFT JOIN shop_accounts s ON s.id = b.shop_account_id
LEFT JOIN accounts a ON a.id = b.account_id
LEFT JOIN basket_lines l ON l.basket_id = b.id
"""


def _like_pattern(value: str) -> str:
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _independent_rows(database: DatabaseUnderTest, conditions: str, params: dict[str, Any]) -> list[tuple]:
    sql = INDEPENDENT_SQL + (f" WHERE {conditions}" if conditions else "")
    with database.engine.connect() as connection:
        rows = connection.execute(text(sql), params).all()
    return [_normalise(row) for row in rows]


def _time(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=dt.UTC)


def _normalise(row: Any) -> tuple:
    """One row in plain Python values: quantity as Decimal with 4 places, times aware UTC."""
    values = list(row)
    values[6] = str(values[6])
    values[11] = None if values[11] is None else str(values[11])
    if values[9] is not None:
        values[9] = Decimal(str(values[9])).quantize(Decimal("0.0001"))
    values[12], values[13] = _time(values[12]), _time(values[13])
    return tuple(values)


def _csv_text(value: Any, column: int) -> str:
    """What §5 says the CSV cell of `value` reads, written independently of the code under test."""
    if value is None:
        return ""
    if column == 9:
        return format(value.normalize(), "f")
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _export(database: DatabaseUnderTest, basket_filter: BasketFilter, folder: Path, **kwargs: Any):
    folder = folder / "exports"
    paths = {"csv": folder / "out.csv", "parquet": folder / "out.parquet"}
    kwargs.setdefault("rules", FileRules(overwrite=True, own_folder=folder))  # created, or replaced
    return export_baskets(database.engine, basket_filter, paths, **kwargs), paths


def _parquet_rows(path: Path) -> list[tuple]:
    table = pq.read_table(path)
    assert table.schema.equals(EXPORT_SCHEMA)
    return [tuple(row.values()) for row in table.to_pylist()]


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as stream:
        header, *rows = list(csv.reader(stream))
    return header, rows


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 300, 7)
    return db


def _some(database: DatabaseUnderTest, sql: str) -> Any:
    return database.scalar(sql)


def _filters(database: DatabaseUnderTest) -> list[tuple[BasketFilter, str, dict[str, Any]]]:
    """(filter, the same condition in hand-written SQL, its parameters) for each §4 filter."""
    empty_basket = _some(
        database, "SELECT b.id FROM baskets b WHERE NOT EXISTS (SELECT 1 FROM basket_lines l "
        "WHERE l.basket_id = b.id) ORDER BY b.id LIMIT 1",
    )  # fmt: skip
    full_basket = _some(database, "SELECT basket_id FROM basket_lines ORDER BY basket_id DESC LIMIT 1")
    shop_account = _some(
        database, "SELECT shop_account_id FROM baskets WHERE shop_account_id IS NOT NULL "
        "ORDER BY shop_account_id LIMIT 1",
    )  # fmt: skip
    account = _some(database, "SELECT min(account_id) FROM baskets")
    cut = NOW - dt.timedelta(days=200)
    cut_param = cut.replace(tzinfo=None)
    like = "lower({}) LIKE lower(:p) ESCAPE '!'"
    return [
        (BasketFilter(), "", {}),
        (BasketFilter(shop_account_name="MÜLLER"), like.format("s.name"), {"p": _like_pattern("müller")}),
        (BasketFilter(shop_account_email="_"), like.format("s.email"), {"p": _like_pattern("_")}),
        (BasketFilter(shop_account_email="100%"), like.format("s.email"), {"p": _like_pattern("100%")}),
        (
            BasketFilter(basket_id=str(empty_basket).upper()),
            "CAST(b.id AS VARCHAR(36)) = :p",
            {"p": str(empty_basket)},
        ),
        (BasketFilter(basket_id=str(full_basket)), "CAST(b.id AS VARCHAR(36)) = :p", {"p": str(full_basket)}),
        (
            BasketFilter(shop_account_id=str(shop_account)),
            "CAST(b.shop_account_id AS VARCHAR(36)) = :p",
            {"p": str(shop_account)},
        ),
        (BasketFilter(account_id=account), "b.account_id = :p", {"p": account}),
        (BasketFilter(account_type="anonymous"), "b.account_type = 'Anonymous'", {}),
        (BasketFilter(account_type="customer"), "b.account_type = 'Customer'", {}),
        (BasketFilter(account_type="contact"), "b.account_type = 'Contact'", {}),
        (BasketFilter(created_before=cut), "b.created_at < :p", {"p": cut_param}),
        (BasketFilter(created_after=cut), "b.created_at >= :p", {"p": cut_param}),
        (BasketFilter(modified_before=cut), "b.modified_at < :p", {"p": cut_param}),
        (
            BasketFilter(modified_after=cut, account_type="customer", shop_account_name="a"),
            f"b.modified_at >= :p AND b.account_type = 'Customer' AND {like.format('s.name')}".replace(
                ":p)", ":q)"
            ),
            {"p": cut_param, "q": _like_pattern("a")},
        ),
    ]


def test_exported_rows_equal_an_independent_query_for_every_filter(
    store: DatabaseUnderTest, tmp_path: Path
) -> None:
    if store.backend == "sqlite":
        # SQLite keeps times as text: compare them in the stored form.
        def to_param(value: Any) -> Any:
            return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, dt.datetime) else value
    else:

        def to_param(value: Any) -> Any:
            return value

    for basket_filter, conditions, params in _filters(store):
        expected = _independent_rows(store, conditions, {k: to_param(v) for k, v in params.items()})
        assert expected, f"seed data gives no rows for {basket_filter.describe()}"
        result, paths = _export(store, basket_filter, tmp_path)
        label = basket_filter.describe()
        assert sorted(_parquet_rows(paths["parquet"]), key=repr) == sorted(expected, key=repr), label
        header, rows = _csv_rows(paths["csv"])
        assert header == list(CSV_HEADER)
        expected_csv = [[_csv_text(value, i) for i, value in enumerate(row[:11])] for row in expected]
        assert sorted(rows) == sorted(expected_csv), label
        assert result.rows == len(expected)
        assert result.lines == sum(1 for row in expected if row[7] is not None)
        assert result.baskets == len({row[6] for row in expected})


def test_rows_come_grouped_by_basket_and_empty_baskets_give_one_row(
    store: DatabaseUnderTest, tmp_path: Path
) -> None:
    result, paths = _export(store, BasketFilter(), tmp_path)
    rows = _parquet_rows(paths["parquet"])
    ids = [row[6] for row in rows]
    seen_runs = [basket_id for i, basket_id in enumerate(ids) if i == 0 or ids[i - 1] != basket_id]
    assert len(seen_runs) == len(set(ids)) == result.baskets == store.scalar("SELECT count(*) FROM baskets")
    empty = [row for row in rows if row[7] is None]
    assert empty, "the seed has baskets without lines"
    assert all(row[8] is None and row[9] is None and row[10] is None for row in empty)
    assert len(empty) == store.scalar(
        "SELECT count(*) FROM baskets b WHERE NOT EXISTS (SELECT 1 FROM basket_lines l WHERE l.basket_id = b.id)"
    )


def test_every_transport_gives_the_same_rows(
    store: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SQLiteBackend, "in_process_export_max_bytes", 0)  # ADBC's child, however small
    for basket_filter in (BasketFilter(), BasketFilter(account_type="customer", created_after="2025-06-01")):
        fast = pa.Table.from_batches(list(fetch_export_batches(store.engine, basket_filter)), EXPORT_SCHEMA)
        plain = pa.Table.from_batches(list(_sqlalchemy_batches(store.engine, basket_filter)), EXPORT_SCHEMA)
        assert fast.equals(plain)
    expected = {"sqlite": "adbc-sqlite", "postgresql": "adbc-postgresql", "mariadb": "connectorx-mysql"}
    assert export_transport(store.engine, BasketFilter()) == expected[store.backend]


@pytest.mark.parametrize("wal_bytes", [0, 4096])
def test_a_small_sqlite_database_is_read_in_process_and_a_larger_one_through_adbcs_child(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wal_bytes: int
) -> None:
    seed(sqlite_db, 50, 3)
    sqlite_db.engine.dispose()  # the WAL checkpointed into the file
    path = Path(sqlite_db.engine.url.database or "")
    wal = path.with_name(path.name + "-wal")
    wal.unlink(missing_ok=True)
    if wal_bytes:  # a WAL (never opened here) counts towards the size
        wal.write_bytes(b"\0" * wal_bytes)
    stored = path.stat().st_size + wal_bytes  # the file and its WAL count
    monkeypatch.setattr(SQLiteBackend, "in_process_export_max_bytes", stored)
    assert export_transport(sqlite_db.engine, BasketFilter()) == "sqlalchemy"
    wal.unlink(missing_ok=True)
    in_process = export_baskets(sqlite_db.engine, BasketFilter(), {"csv": tmp_path / "small.csv"})
    monkeypatch.setattr(SQLiteBackend, "in_process_export_max_bytes", path.stat().st_size - 1)
    assert export_transport(sqlite_db.engine, BasketFilter()) == "adbc-sqlite"
    child = export_baskets(sqlite_db.engine, BasketFilter(), {"csv": tmp_path / "large.csv"})
    assert (in_process.transport, child.transport) == ("sqlalchemy", "adbc-sqlite")
    assert (tmp_path / "small.csv").read_bytes() == (tmp_path / "large.csv").read_bytes()
    assert in_process.lines == child.lines > 0


def test_sqlite_text_filter_folds_unicode_case(sqlite_db: DatabaseUnderTest, tmp_path: Path) -> None:
    _insert_basket(sqlite_db, "ZOË Ångström", "zoe@example.com", [("ITEM-1", Decimal("1"))])
    _insert_basket(sqlite_db, "Other", "other@example.com", [("ITEM-2", Decimal("2"))])
    assert export_transport(sqlite_db.engine, BasketFilter(shop_account_name="zoë")) == "sqlalchemy"
    result, paths = _export(sqlite_db, BasketFilter(shop_account_name="zoë ån"), tmp_path)
    assert [row[0] for row in _csv_rows(paths["csv"])[1]] == ["ZOË Ångström"]
    assert result.baskets == 1


_counter = iter(range(1, 10**9))


def _insert_basket(
    database: DatabaseUnderTest,
    shop_name: str,
    shop_email: str,
    lines: list[tuple[str, Decimal]],
    account: tuple[str, str, str | None] | None = None,
    uom: str | None = "PCS",
) -> str:
    number = next(_counter)
    shop_id = f"00000000-0000-4000-8000-{number:012d}"
    basket_id = f"11111111-0000-4000-8000-{number:012d}"
    when = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    with database.engine.begin() as connection:
        if account is not None:
            connection.execute(insert(Account).values(id=account[0], name=account[1], email=account[2],
                                                      kind="customer"))  # fmt: skip
        connection.execute(
            insert(ShopAccount).values(
                id=shop_id, name=shop_name, email=shop_email, shop_account_type="customer",
                account_id=account[0] if account else None, activated=True, created_at=when,
            )
        )  # fmt: skip
        connection.execute(
            insert(Basket).values(
                id=basket_id, shop_account_id=shop_id, account_id=account[0] if account else None,
                account_type="Customer" if account else "Anonymous", created_at=when, modified_at=when,
            )
        )  # fmt: skip
        for product, quantity in lines:
            connection.execute(
                insert(BasketLine).values(basket_id=basket_id, product_id=product, variant_id=None,
                                          quantity=quantity, uom_id=uom)
            )  # fmt: skip
    return basket_id


@pytest.mark.backend_independent
def test_every_formula_trigger_is_neutralised_and_numbers_are_not(
    db: DatabaseUnderTest, tmp_path: Path
) -> None:
    for i, trigger in enumerate(FORMULA_TRIGGERS):
        _insert_basket(
            db,
            f"{trigger}SUM(A1) shop",
            f"{trigger}mail{i}@example.com",
            [(f"{trigger}ITEM{i}", Decimal("-2.5000")), ("ITEM-OK", Decimal("10.0000"))],
            account=(f"{trigger}C{i}", f'{trigger}HYPERLINK("x")', f"{trigger}erp{i}@example.com"),
            uom=f"{trigger}U",
        )
    _insert_basket(
        db, "Plain 'quoted' \"name\", with comma", "plain@example.com", [("A=1", Decimal("0.1250"))]
    )
    result, paths = _export(db, BasketFilter(), tmp_path)
    header, rows = _csv_rows(paths["csv"])
    quantity = header.index("Quantity")
    by_trigger = {row[0][1]: row for row in rows if row[0].startswith("'")}
    assert set(by_trigger) == set(FORMULA_TRIGGERS)
    for trigger, row in by_trigger.items():
        texts = [
            cell for i, cell in enumerate(row) if i not in (quantity, 5, 6) and cell not in ("ITEM-OK", "")
        ]
        assert all(cell.startswith("'" + trigger) for cell in texts), (trigger, row)
    quantities = sorted({row[quantity] for row in rows})
    assert quantities == ["-2.5", "0.125", "10"]
    plain = next(row for row in rows if row[1] == "plain@example.com")
    assert plain[0] == "Plain 'quoted' \"name\", with comma"
    assert plain[7] == "A=1"
    # Parquet keeps the values as they are, typed.
    table = pq.read_table(paths["parquet"])
    assert table.schema.field("quantity").type == pa.decimal128(18, 4)
    assert set(table.column("quantity").to_pylist()) == {Decimal("-2.5"), Decimal("10"), Decimal("0.125")}
    assert "=SUM(A1) shop" in table.column("shop_account_name").to_pylist()
    assert result.lines == 2 * len(FORMULA_TRIGGERS) + 1


@pytest.mark.backend_independent
def test_csv_parses_back_with_pandas_to_the_same_values(store: DatabaseUnderTest, tmp_path: Path) -> None:
    _, paths = _export(store, BasketFilter(), tmp_path)
    header, rows = _csv_rows(paths["csv"])
    frame = pd.read_csv(paths["csv"], dtype=str, keep_default_na=False, encoding="utf-8")
    assert list(frame.columns) == header == list(CSV_HEADER)
    assert frame.values.tolist() == rows
    raw = paths["csv"].read_bytes()
    assert raw.startswith(",".join(CSV_HEADER).encode() + b"\r\n")
    assert raw.count(b"\r\n") == len(rows) + 1
    raw.decode("utf-8")  # strict UTF-8
    parquet = pq.read_table(paths["parquet"]).to_pandas()
    assert len(parquet) == len(frame)
    assert (parquet["basket_id"].tolist()) == frame["Basket Id"].tolist()
    assert str(parquet["basket_created_at"].dtype) == "datetime64[us, UTC]"


@pytest.mark.backend_independent
def test_result_names_each_file_with_its_sha256(store: DatabaseUnderTest, tmp_path: Path) -> None:
    result, paths = _export(store, BasketFilter(account_type="contact"), tmp_path)
    assert {file.format: file.path for file in result.files} == paths
    for file in result.files:
        assert file.sha256 == hashlib.sha256(file.path.read_bytes()).hexdigest()
        assert file.bytes == file.path.stat().st_size
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["out.csv", "out.parquet"]


@pytest.mark.backend_independent
def test_progress_gets_the_running_row_count_and_its_total_is_known_up_front(
    store: DatabaseUnderTest, tmp_path: Path
) -> None:
    seen: list[int] = []
    result, _ = _export(store, BasketFilter(), tmp_path, progress=seen.append)
    assert seen and seen[-1] == result.rows and seen == sorted(seen)
    with store.engine.connect() as connection:
        assert count_export_rows(connection, BasketFilter()) == result.rows
        assert count_export_rows(connection, BasketFilter(account_type="contact")) < result.rows


@pytest.mark.backend_independent
def test_a_filter_matching_nothing_writes_a_header_only_csv(store: DatabaseUnderTest, tmp_path: Path) -> None:
    result, paths = _export(store, BasketFilter(shop_account_name="no such name anywhere"), tmp_path)
    assert (result.baskets, result.lines, result.rows) == (0, 0, 0)
    assert paths["csv"].read_bytes() == (",".join(CSV_HEADER) + "\r\n").encode()
    assert pq.read_table(paths["parquet"]).num_rows == 0


def test_stray_temp_files_are_removed_but_a_live_one_is_kept(sqlite_db: DatabaseUnderTest, tmp_path: Path):
    folder = tmp_path / "exports"
    folder.mkdir()
    stray = folder / f"{TEMP_PREFIX}old.csv.deadbeef{TEMP_SUFFIX}"
    stray.write_text("half a file")
    live = folder / f"{TEMP_PREFIX}live.csv.cafef00d{TEMP_SUFFIX}"
    with open(live, "wb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        unrelated = folder / "notes.partial"
        unrelated.write_text("not ours")
        _export(sqlite_db, BasketFilter(), tmp_path)
        assert not stray.exists()
        assert live.exists()
        assert unrelated.exists()
    assert remove_stray_temp_files(folder) == [live]


def test_a_failed_export_leaves_no_file_behind(sqlite_db: DatabaseUnderTest, tmp_path: Path) -> None:
    seed(sqlite_db, 50, 3)

    def fail(rows: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _export(sqlite_db, BasketFilter(), tmp_path, progress=fail)
    assert list((tmp_path / "exports").iterdir()) == []


@pytest.mark.parametrize(
    ("export_format", "output", "expected"),
    [
        ("csv", None, {"csv": "exports/baskets-20261101T120000Z.csv"}),
        ("both", None, {"csv": "exports/baskets-20261101T120000Z.csv",
                        "parquet": "exports/baskets-20261101T120000Z.parquet"}),
        ("PARQUET", "mine.data", {"parquet": "mine.data"}),
        ("both", "x/report.csv", {"csv": "x/report.csv", "parquet": "x/report.parquet"}),
        ("csv", ".", {"csv": "baskets-20261101T120000Z.csv"}),
    ],
)  # fmt: skip
def test_export_paths(
    export_format: str, output: str | None, expected: dict[str, str], tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    paths = plan_export_paths(export_format, output, Path("exports"), NOW)
    assert paths == {fmt: tmp_path / path for fmt, path in expected.items()}


@pytest.mark.parametrize(
    ("export_format", "output", "message"),
    [
        ("xml", None, "format: 'xml' is not a format (expected csv, parquet or both)"),
        ("csv", "missing/folder/", "output: folder 'missing/folder/' does not exist"),
    ],
)
def test_bad_format_or_output_is_refused_naming_the_field(export_format, output, message, tmp_path) -> None:
    with pytest.raises(BadInput) as refused:
        plan_export_paths(export_format, output, tmp_path, NOW)
    assert refused.value.message.startswith(message)
    assert ExportFormat.BOTH.file_formats() == ["csv", "parquet"]


@given(st.text(max_size=30))
def test_neutralise_formulas_prefixes_exactly_the_trigger_cells(value: str) -> None:
    (out,) = neutralise_formulas(pa.array([value])).to_pylist()
    assert out == ("'" + value if value[:1] in FORMULA_TRIGGERS else value)


@given(st.decimals(min_value=Decimal("-99999999999999"), max_value=Decimal("99999999999999"), places=4,
                   allow_nan=False, allow_infinity=False))  # fmt: skip
def test_format_quantity_drops_trailing_zeros_only(value: Decimal) -> None:
    (out,) = format_quantity(pa.array([value], pa.decimal128(18, 4))).to_pylist()
    assert Decimal(out) == value
    assert out == format(value.normalize(), "f") or (value == 0 and out == "0")
    assert "e" not in out.lower()


def test_sqlite_fast_path_leaves_this_process_connections_and_the_file_intact(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ADBC links its own SQLite; in the same process it would drop Python's file locks and
    # delete the WAL under it on close ("disk I/O error" on the next connection).
    seed(sqlite_db, 200, 3)
    monkeypatch.setattr(SQLiteBackend, "in_process_export_max_bytes", 0)  # ADBC's child, however small
    assert export_transport(sqlite_db.engine, BasketFilter()) == "adbc-sqlite"
    for round_ in range(3):
        result = export_baskets(sqlite_db.engine, BasketFilter(), {"csv": tmp_path / f"run{round_}.csv"})
        assert result.lines == sqlite_db.scalar("select count(*) from basket_lines")
        sqlite_db.engine.dispose()  # fresh connections must open cleanly, WAL and all
        with sqlite_db.engine.begin() as connection:
            connection.execute(text("update baskets set modified_at = modified_at"))
            assert connection.execute(text("pragma integrity_check")).scalar() == "ok"
            assert connection.execute(text("pragma journal_mode")).scalar() == "wal"


@pytest.mark.parametrize("where", ["a file", "under a file", "deep under a file"])
def test_folder_check_refuses_a_file_or_a_path_under_one_and_changes_nothing(
    tmp_path: Path, where: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    folder = {"a file": notes, "under a file": notes / "exports", "deep under a file": notes / "a" / "b"}[
        where
    ]
    with pytest.raises(BadInput) as refused:
        check_writable_folder(folder, "setting export_dir")
    assert refused.value.message == (
        f"setting export_dir: cannot write in {str(folder)!r}: {str(notes)!r} is not a folder "
        "(expected a writable folder, e.g. var/exports)"
    )
    assert notes.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [notes]


def test_folder_check_accepts_a_folder_still_to_be_made_without_making_it(tmp_path: Path) -> None:
    check_writable_folder(tmp_path / "exports" / "nightly", "setting export_dir")
    check_writable_folder(tmp_path, "setting export_dir")
    assert list(tmp_path.iterdir()) == []


def test_folder_check_names_a_control_character_path_on_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "bad\nname"
    notes.write_text("")
    with pytest.raises(BadInput) as refused:
        check_writable_folder(notes / "exports", "setting export_dir")
    assert "\n" not in refused.value.message and "bad\\nname" in refused.value.message
