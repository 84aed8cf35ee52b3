"""GUID parsing: every spelling people paste in, normalised to lowercase and hyphenated."""

from __future__ import annotations

import re

EXAMPLE_GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

# Braces must pair, hyphens are all there or all absent, `urn:uuid:` is an optional prefix.
_GUID = re.compile(
    r"(?:urn:uuid:)?(\{)?([0-9a-f]{8})(-?)([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{4})\3"
    r"([0-9a-f]{12})(?(1)\})",
    re.IGNORECASE,
)


def parse_guid(text: str) -> str:
    """Return `text` as a lowercase hyphenated GUID.

    Accepts braces, `urn:uuid:`, no hyphens and any case. Raises ValueError naming the
    value and an example when it is not a GUID.
    """
    match = _GUID.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 40 else f"{text[:40]}… ({len(text):,} characters)"
        raise ValueError(f"{shown!r} is not a GUID (expected e.g. {EXAMPLE_GUID})")
    _, a, _, b, c, d, e = match.groups()
    return f"{a}-{b}-{c}-{d}-{e}".lower()
