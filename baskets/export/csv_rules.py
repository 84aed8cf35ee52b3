"""The CSV content rules of an export, vectorised over whole Arrow batches: formula neutralisation
(CSV injection), quantities without trailing zeros, the §5 headers."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from baskets.export.query import EXPORT_SCHEMA

CSV_HEADER = (
    "Shop account name",
    "Shop account e-mail",
    "Account name",
    "Account e-mail",
    "Account Id",
    "Account type",
    "Basket Id",
    "Product Id",
    "Variant Id",
    "Quantity",
    "Unit of Measure Id",
)
CSV_COLUMNS = EXPORT_SCHEMA.names[: len(CSV_HEADER)]
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = "^[=+\\-@\t\r]"
# Text the database constrains (a GUID, one of three type names) cannot start with a trigger.
_NEVER_FORMULAS = frozenset({"account_type", "basket_id"})
# RFC 4180: CRLF line ends; text quoted, header as the plain names §5 spells.
CSV_WRITE_OPTIONS = pacsv.WriteOptions(
    eol="\r\n", quoting_style="needed", quoting_header="none", batch_size=8192
)


def neutralise_formulas(values: pa.Array) -> pa.Array:
    """Text cells starting with = + - @ tab or CR get a leading ' so spreadsheets show, not run, them."""
    # Options and arrays only, no Python scalars: pyarrow turns those into Arrow scalars through
    # pa.scalar, which imports pandas (~0.2 s of a small export). NULL AND-ed (Kleene) with
    # "not NULL" is false.
    starts_formula = pc.and_kleene(pc.is_valid(values), pc.match_substring_regex(values, _FORMULA_PATTERN))
    if not pc.any(starts_formula).as_py():
        return values
    formulas = pc.filter(values, starts_formula)
    return pc.replace_with_mask(values, starts_formula, pc.utf8_replace_slice(formulas, 0, 0, "'"))


def format_quantity(values: pa.Array) -> pa.Array:
    """Decimal quantities as text without trailing zeros: 2.5000 -> 2.5, 10.0000 -> 10."""
    text = pc.cast(values, pa.string())
    return pc.replace_substring_regex(text, pattern="\\.?0+$", replacement="")


def csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The CSV columns of `batch` under their §5 headers, with the CSV content rules applied."""
    columns = []
    for name in CSV_COLUMNS:
        column = batch.column(name)
        if name == "quantity":
            column = format_quantity(column)
        elif name not in _NEVER_FORMULAS:
            column = neutralise_formulas(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=list(CSV_HEADER))
