"""What every settings module shares: the limits, the error type and the checks of days and seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator

DEFAULT_SETTINGS_FILE = Path(__file__).parent.parent / "defaults.toml"
ACCOUNT_TYPES = ("anonymous", "contact", "customer")
ENV_PREFIX = "BASKETS_"
# BASKETS_* variables the product reads that are not settings.
NON_SETTING_VARIABLES = frozenset({"BASKETS_CONFIG", "BASKETS_DEBUG"})
# A hundred years: any cut-off `now - days` stays a date every database can compare with.
MAX_RETENTION_DAYS = 36_500
# The longest lock wait or statement a cleanup batch may be allowed (one hour).
MAX_LIMIT_SECONDS = 3600
# The longest `bookkeeping_prefix`: with it the longest name of the suite's own tables and indexes
# (ix_basket_audit_redacted_at_occurred_at, 39 characters) stays within PostgreSQL's 63.
MAX_BOOKKEEPING_PREFIX = 24


class SettingsError(ValueError):
    """A setting has a bad value; the message is one line naming it and a good value."""


def shown(name: str) -> str:
    """A key or variable name as a message shows it: quoted when it holds control characters."""
    return name if name.isprintable() else repr(name)


def check_days(value: int, example: int) -> int:
    if value < 1:
        raise ValueError(f"{value} is below 1 (expected whole days >= 1, e.g. {example})")
    if value > MAX_RETENTION_DAYS:
        raise ValueError(
            f"{value} is above {MAX_RETENTION_DAYS} "
            f"(expected whole days 1..{MAX_RETENTION_DAYS}, e.g. {example})"
        )
    return value


def check_seconds(value: float, example: int) -> float:
    if not 0 < value <= MAX_LIMIT_SECONDS:
        raise ValueError(
            f"{value:g} is out of range (expected seconds 0 < seconds <= {MAX_LIMIT_SECONDS}, e.g. {example})"
        )
    return value


def check_bookkeeping_prefix(value: str) -> str:
    """A prefix for the suite's own table names on a shop's database: lower-case ASCII letters,
    digits and underscores, starting with a letter, 1 to MAX_BOOKKEEPING_PREFIX characters."""
    expected = (
        f"expected 1 to {MAX_BOOKKEEPING_PREFIX} lower-case letters, digits or underscores "
        "starting with a letter, e.g. bm_ or shop_audit_"
    )
    if len(value) > MAX_BOOKKEEPING_PREFIX:
        raise ValueError(f"a prefix of {len(value):,} characters ({expected})")
    if not (value and value[0] in _LOWER and set(value) <= _PREFIX_CHARACTERS):
        raise ValueError(f"{value!r} is not a table name prefix ({expected})")
    return value


_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_PREFIX_CHARACTERS = _LOWER | frozenset("0123456789_")


def _parse_file_mode(value: object) -> int:
    """An octal mode written as text ("0600", "640", "0o660"): the owner reads and writes, nothing is
    executable. A number is refused: `file_mode = 600` in TOML is decimal 600, not 0600."""
    expected = "expected an octal mode the owner reads and writes, nothing executable, e.g. 0600 or 0640"
    text = str(value).strip().lower().removeprefix("0o")
    if not isinstance(value, str) or not (3 <= len(text) <= 4 and set(text) <= set("01234567")):
        raise ValueError(f"{value!r} is not a file mode ({expected})")
    mode = int(text, 8)
    if mode & 0o600 != 0o600 or mode & 0o111 or mode > 0o666:
        raise ValueError(f"{value!r} is not allowed ({expected})")
    return mode


# A setting that reads its own text (so the environment's text is not read as a number first).
FileMode = Annotated[int, BeforeValidator(_parse_file_mode)]
