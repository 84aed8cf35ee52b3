"""The §4 filters: each matches exactly what an independent evaluation in Python says."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from baskets.errors import BadInput
from baskets.filters import BasketFilter, parse_utc_time
from baskets.queries import count_baskets, list_baskets
from tests.conftest import NOW, DatabaseUnderTest, seed

EVERYTHING = """
select b.id, b.shop_account_id, b.account_id, b.account_type, b.created_at, b.modified_at,
       s.name as shop_account_name, s.email as shop_account_email
from baskets b left join shop_accounts s on s.id = b.shop_account_id
"""


def _all_baskets(database: DatabaseUnderTest) -> list[dict[str, Any]]:
    with database.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(text(EVERYTHING))]
    for row in rows:
        for key in ("created_at", "modified_at"):
            value = row[key]
            value = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
            row[key] = value.replace(tzinfo=dt.UTC)
        row["id"] = str(row["id"])
        row["shop_account_id"] = None if row["shop_account_id"] is None else str(row["shop_account_id"])
    return rows


def _expected(rows: list[dict[str, Any]], f: BasketFilter) -> set[str]:
    def keep(row: dict[str, Any]) -> bool:
        checks = [
            f.shop_account_name is None
            or (row["shop_account_name"] or "\0").lower().find(f.shop_account_name.lower()) >= 0
            and row["shop_account_name"] is not None,
            f.shop_account_email is None
            or row["shop_account_email"] is not None
            and f.shop_account_email.lower() in row["shop_account_email"].lower(),
            f.basket_id is None or row["id"] == f.basket_id,
            f.shop_account_id is None or row["shop_account_id"] == f.shop_account_id,
            f.account_id is None or row["account_id"] == f.account_id,
            f.account_type is None or row["account_type"].lower() == f.account_type,
            f.created_before is None or row["created_at"] < f.created_before,
            f.created_after is None or row["created_at"] >= f.created_after,
            f.modified_before is None or row["modified_at"] < f.modified_before,
            f.modified_after is None or row["modified_at"] >= f.modified_after,
        ]
        return all(checks)

    return {row["id"] for row in rows if keep(row)}


def _matched(database: DatabaseUnderTest, f: BasketFilter) -> set[str]:
    with database.engine.connect() as connection:
        found = {str(row["basket_id"]) for row in list_baskets(connection, f, None)}
        assert count_baskets(connection, f) == len(found)
    return found


@pytest.fixture
def store(db: DatabaseUnderTest) -> tuple[DatabaseUnderTest, list[dict[str, Any]]]:
    seed(db, 600, 21)
    return db, _all_baskets(db)


def test_each_filter_matches_an_independent_evaluation(store) -> None:
    database, rows = store
    owned = next(row for row in rows if row["shop_account_name"] and row["account_id"])
    samples = {
        "shop_account_name": owned["shop_account_name"][2:6].upper(),
        "shop_account_email": owned["shop_account_email"].split("@")[1].upper(),
        "basket_id": owned["id"].upper(),
        "shop_account_id": "{" + owned["shop_account_id"] + "}",
        "account_id": owned["account_id"],
        "account_type": "Contact",
        "created_before": (NOW - dt.timedelta(days=200)).date().isoformat(),
        "created_after": (NOW - dt.timedelta(days=100)).isoformat(),
        "modified_before": (NOW - dt.timedelta(days=300)).strftime("%Y-%m-%dT%H:%M+02:00"),
        "modified_after": (NOW - dt.timedelta(days=30)).isoformat(),
    }
    for field, value in samples.items():
        basket_filter = BasketFilter.from_flags(**{field: value})
        expected = _expected(rows, basket_filter)
        assert expected, f"{field}={value!r} should match something in the seeded store"
        assert _matched(database, basket_filter) == expected, field
    combined = BasketFilter.from_flags(account_type="customer", modified_after=samples["modified_after"])
    assert _matched(database, combined) == _expected(rows, combined)


def test_wildcards_in_text_filters_are_literal(db: DatabaseUnderTest) -> None:
    seed(db, 10, 1)
    with db.engine.begin() as connection:
        connection.execute(text("delete from basket_lines"))
        connection.execute(text("delete from baskets"))
        connection.execute(text("delete from shop_accounts"))
        for n, (name, email) in enumerate(
            [
                ("100% Bikes", "sales_desk@x.example"),
                ("1000 Bikes", "salesXdesk@x.example"),
                ("Zoë Ångström", "zoe%shop@x.example"),
            ]
        ):
            shop = f"00000000-0000-4000-8000-00000000000{n}"
            connection.execute(
                text(
                    "insert into shop_accounts (id, name, email, shop_account_type, activated, created_at) "
                    "values (:id, :name, :email, 'customer', :yes, :at)"
                ),
                {"id": shop, "name": name, "email": email, "yes": True, "at": "2026-01-01 00:00:00"},
            )
            connection.execute(
                text(
                    "insert into baskets (id, shop_account_id, account_type, created_at, modified_at) "
                    "values (:id, :shop, 'Customer', :at, :at)"
                ),
                {"id": f"10000000-0000-4000-8000-00000000000{n}", "shop": shop, "at": "2026-01-01 00:00:00"},
            )

    def names(**flags: str) -> set[str]:
        with db.engine.connect() as connection:
            return {
                row["shop_account_name"]
                for row in list_baskets(connection, BasketFilter.from_flags(**flags), None)
            }

    assert names(shop_account_name="0%") == {"100% Bikes"}
    assert names(shop_account_name="%") == {"100% Bikes"}
    assert names(shop_account_email="s_d") == {"100% Bikes"}
    assert names(shop_account_email="_") == {"100% Bikes"}
    assert names(shop_account_email="E%S") == {"Zoë Ångström"}
    # Case folding beyond ASCII: SQLite's own lower() would miss these.
    assert names(shop_account_name="ZOË ÅNG") == {"Zoë Ångström"}
    assert names(shop_account_name="bikes") == {"100% Bikes", "1000 Bikes"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_name_substring_filter_agrees_with_python_for_any_substring(store, data) -> None:
    database, rows = store
    names = sorted({row["shop_account_name"] for row in rows if row["shop_account_name"]})
    name = data.draw(st.sampled_from(names))
    start = data.draw(st.integers(0, len(name) - 1))
    end = data.draw(st.integers(start + 1, len(name)))
    needle = name[start:end]
    if not needle.strip():
        return
    spelled = data.draw(st.sampled_from([needle, needle.upper(), needle.lower()]))
    basket_filter = BasketFilter.from_flags(shop_account_name=spelled)
    assert _matched(database, basket_filter) == _expected(rows, basket_filter)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"basket_id": "abc"},
            "basket_id: 'abc' is not a GUID (expected e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301)",
        ),
        ({"shop_account_id": "{3f2504e0-4f89-11d3-9a0c-0305e82c3301"}, "shop_account_id: '{3f2504e0"),
        (
            {"account_type": "guest"},
            "account_type: 'guest' is not an account type (expected customer, anonymous or contact)",
        ),
        ({"created_before": "31/01/2026"}, "created_before: '31/01/2026' is not an ISO date or datetime"),
        ({"modified_after": "2026-13-01"}, "modified_after: '2026-13-01' is not an ISO date or datetime"),
        ({"shop_account_name": "   "}, "shop_account_name: is empty"),
    ],
)
def test_malformed_filter_values_are_refused_naming_the_field(flags: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput) as refused:
        BasketFilter.from_flags(**flags)
    assert refused.value.message.startswith(message)
    assert refused.value.exit_code == 2


def test_times_without_offset_are_utc_and_offsets_are_honoured() -> None:
    assert parse_utc_time("2026-01-31") == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert parse_utc_time("2026-01-31T18:00") == dt.datetime(2026, 1, 31, 18, tzinfo=dt.UTC)
    assert parse_utc_time("2026-01-31T18:00+01:00") == dt.datetime(2026, 1, 31, 17, tzinfo=dt.UTC)
    assert parse_utc_time("2026-01-31T18:00:00Z") == dt.datetime(2026, 1, 31, 18, tzinfo=dt.UTC)


def test_describe_lists_the_flags_in_use() -> None:
    basket_filter = BasketFilter.from_flags(account_type="CUSTOMER", created_after="2026-01-01")
    assert basket_filter.describe() == {
        "--account-type": "customer",
        "--created-after": "2026-01-01T00:00:00+00:00",
    }
    assert BasketFilter().is_empty() and not basket_filter.is_empty()


GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
# What no typed value needs: controls (NUL included), invisible format characters, lone
# surrogates (a shell's undecodable bytes), line and paragraph separators.
UNTYPABLE = st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp"])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"shop_account_name": "\x00"}, "shop_account_name: character 1 is U+0000, a control or invisible"),
        ({"shop_account_name": "Bik\x1bes"}, "shop_account_name: character 4 is U+001B"),
        ({"shop_account_email": "a\u200bb@x"}, "shop_account_email: character 2 is U+200B"),
        ({"shop_account_email": "a@x\u2028"}, "shop_account_email: character 4 is U+2028"),
        ({"account_id": "C\udcff"}, "account_id: character 2 is U+DCFF"),
        ({"basket_id": GUID + "\x00"}, "basket_id: character 37 is U+0000"),
        ({"shop_account_id": "\ufeff" + GUID}, "shop_account_id: character 1 is U+FEFF"),
        ({"shop_account_name": "a" * 201}, "shop_account_name: 201 characters is longer than the column "
                                           "(at most 200)"),
        ({"shop_account_email": "a" * 255}, "shop_account_email: 255 characters is longer than the column "
                                            "(at most 254)"),
        ({"account_id": "9" * 1_000_000}, "account_id: 1000000 characters is longer than the column "
                                          "(at most 50)"),
        ({"created_before": "0001-01-01T00:00+01:00"}, "created_before: '0001-01-01T00:00+01:00' is out of "
                                                       "range (expected a time from 1900-01-01 up to 9999-01-01"),
        ({"modified_after": "9999-12-31T23:59-01:00"}, "modified_after: '9999-12-31T23:59-01:00' is out of range"),
        ({"created_after": "1899-12-31"}, "created_after: '1899-12-31' is out of range"),
        ({"modified_before": "2026-01-31\x00"}, "modified_before: '2026-01-31\\x00' is not an ISO date"),
    ],
)  # fmt: skip
def test_hostile_filter_values_are_refused_naming_the_field(flags: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput) as refused:
        BasketFilter.from_flags(**flags)
    assert refused.value.message.startswith(message)
    assert len(refused.value.message) < 300 and "\n" not in refused.value.message


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["shop_account_name", "shop_account_email", "account_id", "basket_id"]),
    before=st.text(max_size=10),
    bad=UNTYPABLE,
    after=st.text(max_size=10),
)
def test_a_value_with_any_control_or_invisible_character_is_refused(
    field: str, before: str, bad: str, after: str
) -> None:
    value = before + bad + after
    with pytest.raises(BadInput) as refused:
        BasketFilter.from_flags(**{field: value})
    assert refused.value.message.startswith(f"{field}: ")
    # The same model refuses it when built directly, as a run form or a Python call builds it.
    with pytest.raises(ValueError, match=field):
        BasketFilter(**{field: value})


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["shop_account_name", "shop_account_email", "account_id"]),
    value=st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]), min_size=1, max_size=260),
)
def test_printable_text_is_kept_up_to_its_column_length_and_refused_past_it(field: str, value: str) -> None:
    limit = {"shop_account_name": 200, "shop_account_email": 254, "account_id": 50}[field]
    text = value.strip()
    if not text:
        return
    if len(text) <= limit:
        assert getattr(BasketFilter.from_flags(**{field: value}), field) == text
    else:
        with pytest.raises(BadInput, match=f"longer than the column \\(at most {limit}\\)"):
            BasketFilter.from_flags(**{field: value})


# ISO 8601 offsets are whole minutes (+hh:mm): a time written with an offset has no finer one.
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(timezones=OFFSETS), field=st.sampled_from(["created_before", "modified_after"]))
def test_any_time_with_any_offset_is_kept_as_utc_or_refused_as_bad_input(
    moment: dt.datetime, field: str
) -> None:
    try:
        utc = moment.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    storable = utc is not None and dt.datetime(1900, 1, 1, tzinfo=dt.UTC) <= utc < dt.datetime(
        9999, 1, 1, tzinfo=dt.UTC
    )
    if storable:
        assert getattr(BasketFilter.from_flags(**{field: moment.isoformat()}), field) == utc
    else:
        with pytest.raises(BadInput, match="is out of range"):
            BasketFilter.from_flags(**{field: moment.isoformat()})


def test_the_longest_allowed_values_run_on_every_database_and_match_nothing(db: DatabaseUnderTest) -> None:
    seed(db, 20, 2)
    longest = [
        BasketFilter(shop_account_name="Ω" * 200),
        BasketFilter(shop_account_name="%_" * 100),
        BasketFilter(shop_account_email="é" * 254),
        BasketFilter(account_id="C" * 50),
        BasketFilter(created_before="1900-01-01", modified_after="9998-12-31T23:59:59.999999"),
    ]
    for basket_filter in longest:
        assert _matched(db, basket_filter) == set()
