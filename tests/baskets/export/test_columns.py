"""Arrow columns built from buffers equal what pyarrow.array builds from the same values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baskets.export.columns import arrow_column
from baskets.export.query import QUANTITY_TYPE, UTC_TIMESTAMP

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # any text a database holds
TIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(9999, 12, 31),
    timezones=st.sampled_from([None, dt.UTC]),
)
QUANTITIES = st.decimals(min_value=Decimal("-99999999999999"), max_value=Decimal("99999999999999"), places=4)


@settings(deadline=None)  # a shared, busy machine
@given(st.lists(st.none() | TEXT, max_size=50))
def test_strings_equal_pyarrows(values: list[str | None]) -> None:
    assert arrow_column(values, pa.string()).equals(pa.array(values, pa.string()))


@settings(deadline=None)  # a shared, busy machine
@given(st.lists(st.none() | TIMES, max_size=50))
def test_times_equal_pyarrows_a_naive_one_read_as_utc(values: list[dt.datetime | None]) -> None:
    assert arrow_column(values, UTC_TIMESTAMP).equals(pa.array(values, UTC_TIMESTAMP))


@settings(deadline=None)  # a shared, busy machine
@given(st.lists(st.none() | QUANTITIES, max_size=50))
def test_quantities_equal_pyarrows(values: list[Decimal | None]) -> None:
    assert arrow_column(values, QUANTITY_TYPE).equals(pa.array(values, QUANTITY_TYPE))


def test_a_quantity_with_more_places_than_the_type_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match=r"1\.00001 has more than 4 decimal places"):
        arrow_column([Decimal("1.00001")], QUANTITY_TYPE)


def test_control_characters_nul_and_long_values_survive_exactly() -> None:
    values = ["a\x00b", "\x1b[31m", "é" * 100_000, "", None, "日本"]
    column = arrow_column(values, pa.string())
    assert column.to_pylist() == values and column.null_count == 1


def test_an_empty_batch_and_all_nulls() -> None:
    assert arrow_column([], pa.string()).equals(pa.array([], pa.string()))
    assert arrow_column([None, None], QUANTITY_TYPE).to_pylist() == [None, None]
