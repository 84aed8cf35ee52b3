"""Counts and names in messages (baskets/wording.py)."""

from __future__ import annotations

import pytest

from baskets.wording import plural, with_article


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "basket", "0 baskets"),
        (1, "basket", "1 basket"),
        (2, "line", "2 lines"),
        (1_234, "basket", "1,234 baskets"),
        (1, "batch", "1 batch"),
        (12_345_678, "batch", "12,345,678 batches"),
        (3, "shop account", "3 shop accounts"),
    ],
)
def test_plural_counts_with_separators_in_the_number_the_count_needs(count, noun, expected) -> None:
    assert plural(count, noun) == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("order_processor", "an order_processor"),
        ("system_administrator", "a system_administrator"),
        ("content_manager", "a content_manager"),
        ("Order_processor", "an Order_processor"),
        ("", "a "),
    ],
)
def test_with_article_picks_a_or_an_by_the_first_letter(role, expected) -> None:
    assert with_article(role) == expected
