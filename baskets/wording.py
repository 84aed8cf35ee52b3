"""How counts and names read in messages: thousands separators, singular and plural, articles."""

from __future__ import annotations

# Nouns whose plural is not the noun plus "s".
_PLURALS = {"batch": "batches", "category": "categories"}


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`count` with thousands separators and `noun` in the number it needs:
    `plural(1, "basket")` is "1 basket", `plural(1234, "basket")` is "1,234 baskets"."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural_form or _PLURALS.get(noun, noun + 's')}"


def with_article(word: str) -> str:
    """`word` after "a" or "an" as it is spoken: "an order_processor", "a system_administrator"."""
    return f"{'an' if word[:1].lower() in tuple('aeiou') else 'a'} {word}"
