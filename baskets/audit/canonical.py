"""The canonical form of an audit row: the values and bytes its hash covers, the same on every database."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from baskets.models import BasketAudit

# The personal part of a row (docs/privacy.md): hashed as its digest (`personal_digest`), so it
# can be removed later (a redaction) while the chain still verifies.
PERSONAL_COLUMNS: tuple[str, ...] = (
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "note", "lines",
)  # fmt: skip
# Not hashed directly: the hash itself, the personal part and its salt (their digest is), and the
# mark a redaction leaves (when and why), which a redaction writes without changing the hash.
_UNHASHED = frozenset({"hash", "personal_salt", "redacted_at", "redaction", *PERSONAL_COLUMNS})
STORED_COLUMNS: tuple[str, ...] = tuple(column.name for column in BasketAudit.__table__.columns)
# What the hash covers: the kept fields, the personal part's digest, seq and prev_hash.
HASHED_COLUMNS: tuple[str, ...] = tuple(name for name in STORED_COLUMNS if name not in _UNHASHED)
# What the hash of a row written before migration 0006 covered (now its `legacy_hash`): every
# column of that release's table but the hash.
LEGACY_HASHED_COLUMNS: tuple[str, ...] = (
    "seq", "event", "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
    "total_quantity", "lines", "prev_hash",
)  # fmt: skip
TIME_COLUMNS = frozenset({"occurred_at", "basket_created_at", "basket_modified_at", "redacted_at"})
_QUANTITY_COLUMNS = frozenset({"total_quantity"})
# How canonical_document treats each column: as a time, a quantity, or anything else (str).
_KIND_OF: dict[str, type] = {
    name: dt.datetime if name in TIME_COLUMNS else Decimal if name in _QUANTITY_COLUMNS else str
    for name in STORED_COLUMNS
}
# What a writer supplies per row; append_documents adds the chain columns, digest and salt.
DOCUMENT_COLUMNS: tuple[str, ...] = (
    "event", "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
    "total_quantity", "lines", "detail",
)  # fmt: skip
_FOUR_PLACES = Decimal("0.0001")


def canonical_quantity(value: Decimal | float | int | str) -> str:
    """A quantity as a decimal string with exactly four places, e.g. '2.5000'.

    SQLite keeps Numeric as REAL, so a value read back may be 2.4999999999; rounding to the
    column's four places gives the same text on every backend.
    """
    return _four_places(str(value))


@functools.lru_cache(maxsize=65_536)
def _four_places(text: str) -> str:
    # Keyed on the text, like the Decimal it is parsed from: a cleanup canonicalises millions of
    # quantities, most of them the same few values.
    return format(Decimal(text).quantize(_FOUR_PLACES), "f")


def canonical_time(value: dt.datetime) -> str:
    """An aware time as ISO 8601 UTC with microseconds, e.g. '2026-11-01T12:00:00.000000+00:00'."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} in an audit row")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_time_text(text: str) -> str:
    """A time selected by `Backend.canonical_time_column` as `canonical_time` would write it."""
    if len(text) == 32:  # canonical already
        return text
    if len(text) == 26 and text[10] == " " and text[19] == ".":  # SQLAlchemy's SQLite text
        return f"{text[:10]}T{text[11:]}+00:00"
    # Any other SQLite text, read as UTCDateTime reads it.
    return canonical_time(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def canonical_json(document: Any) -> bytes:
    """Sorted-key compact JSON, non-ASCII kept as UTF-8: byte for byte what
    `json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`
    gives for the strings, integers and nulls of an audit row (a test holds the two together),
    about ten times faster."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_document(row: Mapping[str, Any], names: Sequence[str] = HASHED_COLUMNS) -> dict[str, Any]:
    """The columns `names` of an audit row as the values its canonical JSON holds.

    Times are ISO UTC with microseconds, quantities four-place decimal strings, None is null;
    the same row therefore gives the same document on SQLite, PostgreSQL and MariaDB.
    """
    document: dict[str, Any] = {}
    for name in names:
        value, kind = row[name], _KIND_OF[name]
        if value is None or kind is str and type(value) is str:  # most values: kept as they are
            document[name] = value
        elif kind is dt.datetime:
            document[name] = canonical_time(value)
        elif kind is Decimal:
            document[name] = canonical_quantity(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            document[name] = int(value)
        else:
            document[name] = str(value)
    return document


def canonical_row(row: Mapping[str, Any]) -> bytes:
    """The bytes the hash of an audit row covers: sorted-key compact JSON of HASHED_COLUMNS (the
    kept fields, the personal part's digest, seq and prev_hash)."""
    return canonical_json(canonical_document(row, HASHED_COLUMNS))


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256(prev_hash ‖ canonical row) as 64 lowercase hex digits."""
    return linked_hash(prev_hash, canonical_row(row))


def legacy_chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash a row had before migration 0006: SHA-256(prev_hash ‖ canonical JSON of
    LEGACY_HASHED_COLUMNS), personal part included as it is."""
    return linked_hash(prev_hash, canonical_json(canonical_document(row, LEGACY_HASHED_COLUMNS)))


def personal_digest(row: Mapping[str, Any], salt: str | None) -> str:
    """SHA-256 of the personal part of `row` (PERSONAL_COLUMNS) and its random `salt`, as the
    canonical JSON of those values: what the chain hashes in the personal part's place."""
    document = canonical_document(row, PERSONAL_COLUMNS)
    document["personal_salt"] = salt
    return hashlib.sha256(canonical_json(document)).hexdigest()


def linked_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def canonical_line(
    line_id: int, product_id: str, variant_id: str | None, quantity: Decimal | float | str, uom_id: str | None
) -> dict[str, Any]:
    """One basket line as it is kept in an audit row's `lines`."""
    return {
        "id": int(line_id),
        "product_id": product_id,
        "variant_id": variant_id,
        "quantity": canonical_quantity(quantity),
        "uom_id": uom_id,
    }


def canonical_lines(lines: Iterable[Mapping[str, Any]]) -> str:
    """Basket lines as the canonical JSON text kept in an audit row (enough to restore them)."""
    ordered = sorted(lines, key=lambda line: int(line["id"]))
    return canonical_lines_text([canonical_line(*_LINE_FIELDS(line)) for line in ordered])


_LINE_FIELDS = operator.itemgetter("id", "product_id", "variant_id", "quantity", "uom_id")


def canonical_lines_text(lines: Sequence[Mapping[str, Any]]) -> str:
    """`canonical_lines` of lines already made by `canonical_line` and in line id order."""
    return canonical_json(lines).decode()


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The lines of an audit row back as dicts, quantities as Decimal. A basket of the shop's own
    tables (`baskets.schema.rows`) keeps them under `lines` beside its tables' rows."""
    parsed = json.loads(text)
    lines = parsed["lines"] if isinstance(parsed, dict) else parsed
    return [{**line, "quantity": Decimal(line["quantity"])} for line in lines]
