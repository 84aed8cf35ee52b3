"""GUID parsing under Hypothesis: every accepted spelling normalises, everything else is refused."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from baskets.guid import EXAMPLE_GUID, parse_guid

CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(
        ch.upper() if flip else ch for ch, flip in zip(text, flips + [False] * len(text), strict=False)
    )


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(a GUID in some accepted spelling, its canonical form)."""
    value = draw(st.uuids())
    canonical = str(value)
    text = draw(st.sampled_from([canonical, value.hex]))
    text = _random_case(text, draw(st.lists(st.booleans(), max_size=36)))
    if draw(st.booleans()):
        text = "{" + text + "}"
    if draw(st.booleans()):
        text = draw(st.sampled_from(["urn:uuid:", "URN:UUID:"])) + text
    padding = draw(st.sampled_from(["", " ", "\t", "\n "]))
    return padding + text + padding, canonical


@given(spellings())
@example(("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", EXAMPLE_GUID))
@example(("3f2504e04f8911d39a0c0305e82c3301", EXAMPLE_GUID))
def test_every_accepted_spelling_normalises_to_lowercase_hyphenated(case: tuple[str, str]) -> None:
    text, canonical = case
    parsed = parse_guid(text)
    assert parsed == canonical
    assert CANONICAL.fullmatch(parsed)


@given(st.uuids())
def test_parsing_is_idempotent_and_agrees_with_uuid(value: uuid.UUID) -> None:
    assert parse_guid(parse_guid(str(value).upper())) == str(value) == str(uuid.UUID(parse_guid(value.hex)))


@given(st.text(max_size=50))
def test_anything_that_is_not_a_guid_is_refused_with_an_example(text: str) -> None:
    assume(CANONICAL.fullmatch(text.strip().lower().removeprefix("urn:uuid:").strip("{}")) is None)
    assume(not re.fullmatch(r"\s*(urn:uuid:)?\{?[0-9a-fA-F]{32}\}?\s*", text, re.IGNORECASE))
    with pytest.raises(ValueError, match=re.escape(f"is not a GUID (expected e.g. {EXAMPLE_GUID})")):
        parse_guid(text)


@pytest.mark.parametrize(
    "text",
    [
        "{3f2504e0-4f89-11d3-9a0c-0305e82c3301",  # unpaired brace
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
        "3f2504e0-4f8911d3-9a0c-0305e82c3301",  # some hyphens missing
        "3f2504e0-4f89-11d3-9a0c-0305e82c330",  # one digit short
        "3f2504e0-4f89-11d3-9a0c-0305e82c33011",  # one digit long
        "3g2504e0-4f89-11d3-9a0c-0305e82c3301",  # not hex
        "uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301",  # wrong prefix
        "",
    ],
)
def test_near_misses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a GUID"):
        parse_guid(text)


@given(st.lists(st.uuids(), min_size=1, max_size=5), st.data())
def test_basket_id_lists_are_normalised_and_deduplicated_in_order(
    values: list[uuid.UUID], data: st.DataObject
) -> None:
    from baskets.deletion import parse_basket_ids

    given_ids = [
        data.draw(st.sampled_from([str(v).upper(), v.hex, "{" + str(v) + "}"])) for v in values + values
    ]
    expected = list(dict.fromkeys(str(v) for v in values))
    assert parse_basket_ids(given_ids) == expected


def test_a_huge_value_is_shown_cut_with_its_length() -> None:
    with pytest.raises(ValueError) as refused:
        parse_guid("f" * 100_000)
    message = str(refused.value)
    assert message == f"'{'f' * 40}… (100,000 characters)' is not a GUID (expected e.g. {EXAMPLE_GUID})"
