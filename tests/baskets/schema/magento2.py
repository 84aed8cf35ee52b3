"""Magento 2's quote tables as its declarative schema defines them, on MariaDB.

Transcribed from magento/magento2 app/code/Magento/Quote/etc/db_schema.xml (commit 025d0de0, the
2.4 line): every column with its type, nullability and default, the primary keys, the foreign
keys with their ON DELETE rules, and the indexes. `store` is the Store module's table the quote
refers to (only the columns the quote tests need besides its key). Column specs are compact:
`name type [null] [=default]`, types i (int unsigned), si (smallint unsigned), ss (smallint),
d12 / d20 (decimal(12,4) / decimal(20,4)), vN (varchar(N)), t (text), ts (timestamp), dt (datetime).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.dialects import mysql

QUOTE = """
entity_id i id; store_id si =0; created_at ts =now; updated_at ts =now upd; converted_at ts null;
is_active si null =1; is_virtual si null =0; is_multi_shipping si null =0; items_count i null =0;
items_qty d12 null =0; orig_order_id i null =0; store_to_base_rate d12 null =0; store_to_quote_rate d12 null =0;
base_currency_code v255 null; store_currency_code v255 null; quote_currency_code v255 null;
grand_total d20 null =0; base_grand_total d20 null =0; checkout_method v255 null; customer_id i null;
customer_tax_class_id i null; customer_group_id i null =0; customer_email v255 null; customer_prefix v40 null;
customer_firstname v255 null; customer_middlename v40 null; customer_lastname v255 null; customer_suffix v40 null;
customer_dob dt null; customer_note v255 null; customer_note_notify si null =1; customer_is_guest si null =0;
remote_ip v45 null; applied_rule_ids v255 null; reserved_order_id v64 null; password_hash v255 null;
coupon_code v255 null; global_currency_code v255 null; base_to_global_rate d20 null; base_to_quote_rate d20 null;
customer_taxvat v255 null; customer_gender v255 null; subtotal d20 null; base_subtotal d20 null;
subtotal_with_discount d20 null; base_subtotal_with_discount d20 null; is_changed i null;
trigger_recollect ss =0; ext_shipping_info t null
"""
QUOTE_ADDRESS = """
address_id i id; quote_id i =0; created_at ts =now; updated_at ts =now upd; customer_id i null;
save_in_address_book ss null =0; customer_address_id i null; address_type v10 null; email v255 null;
prefix v40 null; firstname v255 null; middlename v40 null; lastname v255 null; suffix v40 null; company v255 null;
street v255 null; city v255 null; region v255 null; region_id i null; postcode v20 null; country_id v30 null;
telephone v255 null; fax v255 null; same_as_billing si =0; collect_shipping_rates si =0; shipping_method v120 null;
shipping_description v255 null; weight d12 =0; subtotal d20 =0; base_subtotal d20 =0; subtotal_with_discount d20 =0;
base_subtotal_with_discount d20 =0; tax_amount d20 =0; base_tax_amount d20 =0; shipping_amount d20 =0;
base_shipping_amount d20 =0; shipping_tax_amount d20 null; base_shipping_tax_amount d20 null; discount_amount d20 =0;
base_discount_amount d20 =0; grand_total d20 =0; base_grand_total d20 =0; customer_notes t null; applied_taxes t null;
discount_description v255 null; shipping_discount_amount d20 null; base_shipping_discount_amount d20 null;
subtotal_incl_tax d20 null; base_subtotal_total_incl_tax d20 null; discount_tax_compensation_amount d20 null;
base_discount_tax_compensation_amount d20 null; shipping_discount_tax_compensation_amount d20 null;
base_shipping_discount_tax_compensation_amnt d20 null; shipping_incl_tax d20 null; base_shipping_incl_tax d20 null;
vat_id t null; vat_is_valid ss null; vat_request_id t null; vat_request_date t null; vat_request_success ss null;
validated_country_code t null; validated_vat_number t null
"""
QUOTE_ITEM = """
item_id i id; quote_id i =0; created_at ts =now; updated_at ts =now upd; product_id i null; store_id si null;
parent_item_id i null; is_virtual si null; sku v255 null; name v255 null; description t null; applied_rule_ids t null;
additional_data t null; is_qty_decimal si null; no_discount si null =0; weight d12 null =0; qty d12 =0; price d12 =0;
base_price d12 =0; custom_price d12 null; discount_percent d12 null =0; discount_amount d20 null =0;
base_discount_amount d20 null =0; tax_percent d12 null =0; tax_amount d20 null =0; base_tax_amount d20 null =0;
row_total d20 =0; base_row_total d20 =0; row_total_with_discount d20 null =0; row_weight d12 null =0;
product_type v255 null; base_tax_before_discount d20 null; tax_before_discount d20 null;
original_custom_price d12 null; redirect_url v255 null; base_cost d12 null; price_incl_tax d20 null;
base_price_incl_tax d20 null; row_total_incl_tax d20 null; base_row_total_incl_tax d20 null;
discount_tax_compensation_amount d20 null; base_discount_tax_compensation_amount d20 null
"""
QUOTE_ADDRESS_ITEM = """
address_item_id i id; parent_item_id i null; quote_address_id i =0; quote_item_id i =0; created_at ts =now;
updated_at ts =now upd; applied_rule_ids t null; additional_data t null; weight d12 null =0; qty d12 =0;
discount_amount d20 null =0; tax_amount d20 null =0; row_total d20 =0; base_row_total d20 =0;
row_total_with_discount d20 null =0; base_discount_amount d20 null =0; base_tax_amount d20 null =0;
row_weight d12 null =0; product_id i null; super_product_id i null; parent_product_id i null; store_id si null;
sku v255 null; image v255 null; name v255 null; description t null; is_qty_decimal i null; price d12 null;
discount_percent d12 null; no_discount i null; tax_percent d12 null; base_price d12 null; base_cost d12 null;
price_incl_tax d20 null; base_price_incl_tax d20 null; row_total_incl_tax d20 null; base_row_total_incl_tax d20 null;
discount_tax_compensation_amount d20 null; base_discount_tax_compensation_amount d20 null
"""
QUOTE_ITEM_OPTION = "option_id i id; item_id i; product_id i; code v255; value t null"
QUOTE_PAYMENT = """
payment_id i id; quote_id i =0; created_at ts =now; updated_at ts =now upd; method v255 null; cc_type v255 null;
cc_number_enc v255 null; cc_last_4 v255 null; cc_cid_enc v255 null; cc_owner v255 null; cc_exp_month v255 null;
cc_exp_year si null =0; cc_ss_owner v255 null; cc_ss_start_month si null =0; cc_ss_start_year si null =0;
po_number v255 null; additional_data t null; cc_ss_issue v255 null; additional_information t null
"""
QUOTE_SHIPPING_RATE = """
rate_id i id; address_id i =0; created_at ts =now; updated_at ts =now upd; carrier v255 null; carrier_title v255 null;
code v255 null; method v255 null; method_description t null; price d20 =0; error_message t null; method_title t null
"""
QUOTE_ID_MASK = "entity_id i id; quote_id i; masked_id v32 null"
STORE = "store_id si id; code v32 null; website_id si =0; group_id si =0; name v255; sort_order si =0; is_active si =0"


def _column(spec: str) -> Column[Any]:
    name, kind, *flags = spec.split()
    types: dict[str, Any] = {
        "i": mysql.INTEGER(unsigned=True), "si": mysql.SMALLINT(unsigned=True), "ss": mysql.SMALLINT(),
        "d12": Numeric(12, 4), "d20": Numeric(20, 4), "t": Text(), "ts": mysql.TIMESTAMP(), "dt": mysql.DATETIME(),
    }  # fmt: skip
    column_type = String(int(kind[1:])) if kind.startswith("v") else types[kind]
    nullable = "null" in flags
    default = next((flag[1:] for flag in flags if flag.startswith("=")), None)
    server_default: Any = None
    if default == "now":
        server_default = text(
            "CURRENT_TIMESTAMP" + (" ON UPDATE CURRENT_TIMESTAMP" if "upd" in flags else "")
        )
    elif default is not None:
        server_default = text(f"'{default}'")
    return Column(
        name,
        column_type,
        nullable=nullable,
        server_default=server_default,
        autoincrement="id" in flags,
        primary_key=False,
    )


def _table(metadata: MetaData, name: str, specs: str, *extra: Any) -> Table:
    columns = [_column(spec.strip()) for spec in specs.replace("\n", " ").split(";") if spec.strip()]
    return Table(name, metadata, *columns, *extra, mysql_engine="InnoDB", mysql_charset="utf8mb4")


def magento_metadata(*, without_index: str | None = None) -> MetaData:
    """The quote tables (and `store`); `without_index` leaves that index out (for schema check)."""
    m = MetaData()

    def index(name: str, *columns: str) -> list[Index]:
        return [] if name == without_index else [Index(name, *columns)]

    def fk(name: str, column: str, target: str, ondelete: str = "CASCADE") -> ForeignKeyConstraint:
        return ForeignKeyConstraint([column], [target], name=name, ondelete=ondelete)

    _table(m, "store", STORE, PrimaryKeyConstraint("store_id"))
    _table(m, "quote", QUOTE, PrimaryKeyConstraint("entity_id"),
           fk("QUOTE_STORE_ID_STORE_STORE_ID", "store_id", "store.store_id"),
           *index("QUOTE_CUSTOMER_ID_STORE_ID_IS_ACTIVE", "customer_id", "store_id", "is_active"),
           *index("QUOTE_STORE_ID", "store_id"))  # fmt: skip
    _table(m, "quote_address", QUOTE_ADDRESS, PrimaryKeyConstraint("address_id"),
           fk("QUOTE_ADDRESS_QUOTE_ID_QUOTE_ENTITY_ID", "quote_id", "quote.entity_id"),
           *index("QUOTE_ADDRESS_QUOTE_ID", "quote_id"))  # fmt: skip
    _table(m, "quote_item", QUOTE_ITEM, PrimaryKeyConstraint("item_id"),
           fk("QUOTE_ITEM_PARENT_ITEM_ID_QUOTE_ITEM_ITEM_ID", "parent_item_id", "quote_item.item_id"),
           fk("QUOTE_ITEM_QUOTE_ID_QUOTE_ENTITY_ID", "quote_id", "quote.entity_id"),
           fk("QUOTE_ITEM_STORE_ID_STORE_STORE_ID", "store_id", "store.store_id", "SET NULL"),
           *index("QUOTE_ITEM_PARENT_ITEM_ID", "parent_item_id"), *index("QUOTE_ITEM_PRODUCT_ID", "product_id"),
           *index("QUOTE_ITEM_QUOTE_ID", "quote_id"), *index("QUOTE_ITEM_STORE_ID", "store_id"))  # fmt: skip
    _table(m, "quote_address_item", QUOTE_ADDRESS_ITEM, PrimaryKeyConstraint("address_item_id"),
           fk("QUOTE_ADDRESS_ITEM_QUOTE_ADDRESS_ID_QUOTE_ADDRESS_ADDRESS_ID", "quote_address_id",
              "quote_address.address_id"),
           fk("QUOTE_ADDR_ITEM_PARENT_ITEM_ID_QUOTE_ADDR_ITEM_ADDR_ITEM_ID", "parent_item_id",
              "quote_address_item.address_item_id"),
           fk("QUOTE_ADDRESS_ITEM_QUOTE_ITEM_ID_QUOTE_ITEM_ITEM_ID", "quote_item_id", "quote_item.item_id"),
           *index("QUOTE_ADDRESS_ITEM_QUOTE_ADDRESS_ID", "quote_address_id"),
           *index("QUOTE_ADDRESS_ITEM_PARENT_ITEM_ID", "parent_item_id"),
           *index("QUOTE_ADDRESS_ITEM_QUOTE_ITEM_ID", "quote_item_id"),
           *index("QUOTE_ADDRESS_ITEM_STORE_ID", "store_id"))  # fmt: skip
    _table(m, "quote_item_option", QUOTE_ITEM_OPTION, PrimaryKeyConstraint("option_id"),
           fk("QUOTE_ITEM_OPTION_ITEM_ID_QUOTE_ITEM_ITEM_ID", "item_id", "quote_item.item_id"),
           *index("QUOTE_ITEM_OPTION_ITEM_ID", "item_id"))  # fmt: skip
    _table(m, "quote_payment", QUOTE_PAYMENT, PrimaryKeyConstraint("payment_id"),
           fk("QUOTE_PAYMENT_QUOTE_ID_QUOTE_ENTITY_ID", "quote_id", "quote.entity_id"),
           *index("QUOTE_PAYMENT_QUOTE_ID", "quote_id"))  # fmt: skip
    _table(m, "quote_shipping_rate", QUOTE_SHIPPING_RATE, PrimaryKeyConstraint("rate_id"),
           fk("QUOTE_SHIPPING_RATE_ADDRESS_ID_QUOTE_ADDRESS_ADDRESS_ID", "address_id", "quote_address.address_id"),
           *index("QUOTE_SHIPPING_RATE_ADDRESS_ID", "address_id"))  # fmt: skip
    _table(m, "quote_id_mask", QUOTE_ID_MASK, PrimaryKeyConstraint("entity_id", "quote_id"),
           fk("QUOTE_ID_MASK_QUOTE_ID_QUOTE_ENTITY_ID", "quote_id", "quote.entity_id"),
           *index("QUOTE_ID_MASK_QUOTE_ID", "quote_id"), *index("QUOTE_ID_MASK_MASKED_ID", "masked_id"))  # fmt: skip
    return m


def _put(connection: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that name different columns (one statement each: the others keep their defaults)."""
    for row in rows:
        connection.execute(insert(table).values(**row))


NOW = dt.datetime(2026, 11, 1, 12, 0)
OLD = NOW - dt.timedelta(days=400)


def fill_magento(engine: Engine, metadata: MetaData) -> None:
    """Quotes as a Magento store has them: a customer's quote with a configurable item (parent
    and child), options, two addresses with shipping rates, a payment; a guest quote with a
    masked id; a quote whose order is being placed (protected); a fresh one; an empty old one."""
    t = metadata.tables
    with engine.begin() as connection:
        _put(
            connection,
            t["store"],
            [
                {
                    "store_id": 1,
                    "code": "default",
                    "name": "Default Store View",
                    "website_id": 1,
                    "group_id": 1,
                    "is_active": 1,
                }
            ],
        )
        quotes = [
            {"entity_id": 101, "store_id": 1, "created_at": OLD, "updated_at": OLD, "is_active": 1, "customer_id": 7,
             "customer_email": "veronica@example.com", "customer_firstname": "Veronica", "customer_lastname": "Costello",
             "customer_is_guest": 0, "items_count": 2, "items_qty": Decimal("3.0000"), "base_currency_code": "USD",
             "grand_total": Decimal("119.0000"), "remote_ip": "203.0.113.9", "customer_dob": dt.datetime(1973, 12, 15)},
            {"entity_id": 102, "store_id": 1, "created_at": OLD, "updated_at": OLD, "is_active": 1, "customer_id": None,
             "customer_email": "guest@example.net", "customer_is_guest": 1, "checkout_method": "guest"},
            {"entity_id": 103, "store_id": 1, "created_at": OLD, "updated_at": OLD, "is_active": 1, "customer_id": 8,
             "customer_email": "placing@example.com", "customer_firstname": "Pat", "customer_lastname": "Placing",
             "customer_is_guest": 0, "reserved_order_id": "000000042"},
            {"entity_id": 104, "store_id": 1, "created_at": NOW, "updated_at": NOW, "is_active": 1, "customer_id": None,
             "customer_is_guest": 1},
            {"entity_id": 105, "store_id": 1, "created_at": OLD, "updated_at": OLD, "is_active": 1, "customer_id": 9,
             "customer_email": "empty@example.com", "customer_firstname": "Emma", "customer_lastname": "Empty"},
        ]  # fmt: skip
        _put(connection, t["quote"], quotes)
        _put(connection, t["quote_item"], [
            {"item_id": 1001, "quote_id": 101, "created_at": OLD, "updated_at": OLD, "product_id": 67, "store_id": 1,
             "sku": "MH01-XS-Black", "name": "Chaz Kangeroo Hoodie", "qty": Decimal("2"), "price": Decimal("52"),
             "product_type": "configurable", "row_total": Decimal("104")},
            {"item_id": 1002, "quote_id": 101, "created_at": OLD, "updated_at": OLD, "product_id": 52, "store_id": 1,
             "parent_item_id": 1001, "sku": "MH01-XS-Black", "name": "Chaz Kangeroo Hoodie-XS-Black",
             "qty": Decimal("1"), "product_type": "simple"},
            {"item_id": 1003, "quote_id": 102, "created_at": OLD, "updated_at": OLD, "product_id": 14, "store_id": 1,
             "sku": "24-MB04", "name": "Strive Shoulder Pack", "qty": Decimal("1.5"), "price": Decimal("32")},
            {"item_id": 1004, "quote_id": 103, "created_at": OLD, "updated_at": OLD, "product_id": 14, "store_id": 1,
             "sku": "24-MB04", "qty": Decimal("1")},
            {"item_id": 1005, "quote_id": 104, "created_at": NOW, "updated_at": NOW, "product_id": 15, "store_id": 1,
             "sku": "24-MB05", "qty": Decimal("1")},
        ])  # fmt: skip
        _put(connection, t["quote_item_option"], [
            {"option_id": 1, "item_id": 1001, "product_id": 67, "code": "info_buyRequest",
             "value": '{"qty":2,"super_attribute":{"93":"49","142":"167"}}'},
            {"option_id": 2, "item_id": 1001, "product_id": 67, "code": "attributes", "value": '{"93":"49"}'},
            {"option_id": 3, "item_id": 1003, "product_id": 14, "code": "info_buyRequest", "value": '{"qty":1.5}'},
        ])  # fmt: skip
        _put(connection, t["quote_address"], [
            {"address_id": 501, "quote_id": 101, "created_at": OLD, "updated_at": OLD, "address_type": "billing",
             "email": "veronica@example.com", "firstname": "Veronica", "lastname": "Costello",
             "street": "6146 Honey Bluff Parkway", "city": "Calder", "postcode": "49628-7978", "country_id": "US",
             "telephone": "(555) 229-3326"},
            {"address_id": 502, "quote_id": 101, "created_at": OLD, "updated_at": OLD, "address_type": "shipping",
             "same_as_billing": 1, "shipping_method": "flatrate_flatrate", "weight": Decimal("1.5"),
             "vat_request_date": "2025-09-27 10:00:00"},
            {"address_id": 503, "quote_id": 102, "created_at": OLD, "updated_at": OLD, "address_type": "shipping"},
        ])  # fmt: skip
        _put(connection, t["quote_shipping_rate"], [
            {"rate_id": 9001, "address_id": 502, "created_at": OLD, "updated_at": OLD, "carrier": "flatrate",
             "carrier_title": "Flat Rate", "code": "flatrate_flatrate", "method": "flatrate", "price": Decimal("10")},
            {"rate_id": 9002, "address_id": 502, "created_at": OLD, "updated_at": OLD, "carrier": "tablerate",
             "code": "tablerate_bestway", "price": Decimal("15")},
        ])  # fmt: skip
        _put(connection, t["quote_address_item"], [
            {"address_item_id": 7001, "quote_address_id": 502, "quote_item_id": 1001, "created_at": OLD,
             "updated_at": OLD, "qty": Decimal("2"), "sku": "MH01-XS-Black"},
        ])  # fmt: skip
        _put(connection, t["quote_payment"], [
            {"payment_id": 301, "quote_id": 101, "created_at": OLD, "updated_at": OLD, "method": "checkmo",
             "additional_information": '{"method_title":"Check \\/ Money order"}'},
            {"payment_id": 302, "quote_id": 103, "created_at": OLD, "updated_at": OLD, "method": "braintree"},
        ])  # fmt: skip
        _put(connection, t["quote_id_mask"], [
            {"entity_id": 1, "quote_id": 102, "masked_id": "q7RbOeDuCUjdVPrsGvV1xKiG2kiDIlFd"},
        ])  # fmt: skip
