"""What the run forms share: a time typed as text, shown as a plain field rather than behind the
UI's None switch that a nullable date-time gets."""

from __future__ import annotations

import datetime as dt

from baskets.errors import BadInput
from baskets.filters import parse_utc_time


def form_time(value: str, field: str) -> dt.datetime | None:
    """A time field of a run form as aware UTC: None when left empty; else an ISO date or time,
    UTC unless it has an offset. BadInput naming `field` when malformed or out of range."""
    if not value.strip():
        return None
    try:
        return parse_utc_time(value)
    except ValueError as error:
        raise BadInput(f"{field}: {error}", field=field) from None
