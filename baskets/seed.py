"""Demo data: a synthetic webstore with shop accounts, ERP accounts, baskets and lines.

Generated column-wise with numpy from one seed, so the same seed gives the same rows on
every database, then bulk-loaded with each backend's fast path (COPY on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, delete, func, select

from baskets.audit import lock_chain_head
from baskets.backends import backend_for
from baskets.db import write_transaction
from baskets.deletion import IN_LIST_SIZE, delete_baskets_with_audit
from baskets.errors import BadInput
from baskets.models import Account, Basket, BasketAudit, BasketLine, Operator, ShopAccount
from baskets.roles import Action, Actor, authorize

FIRST_NAMES = [
    "Anna", "Zoë", "Jürgen", "Łukasz", "Søren", "José", "Chloé", "Björn", "Ana", "Mia",
    "Noah", "Émile", "Ines", "Joaquín", "Sergei", "Dvořák", "Ólafur", "Ayşe", "Hana", "Lars",
    "Peter", "Maria", "Tomás", "Zuzana", "Kateřina", "Nuño", "Renée", "Yusuf", "Ali", "Eva",
]  # fmt: skip
LAST_NAMES = [
    "de Vries", "Müller", "Ångström", "Nowak", "Jensen", "García", "Dubois", "Þórsson",
    "Smith", "Öztürk", "Novák", "Kowalski", "Janssen", "O'Neill", "Rossi", "Gonçalves",
    "Bäcker", "Łęcki", "Straße", "Petersen", "van den Berg", "Lindqvist", "Horváth", "Brown",
]  # fmt: skip
COMPANY_WORDS = [
    "Acme", "Nordic", "Bäckerei", "Groß", "Ferretería", "Café", "Zürich", "Ålesund", "Łódź",
    "Köln", "Sanità", "Électro", "Tools", "Supply", "Trading", "Handel", "Logistics",
]  # fmt: skip
COMPANY_FORMS = ["B.V.", "GmbH", "S.L.", "Ltd", "A/S", "AB", "S.p.A.", "sp. z o.o.", "Inc."]
# Names real stores have seen that spreadsheets would run as formulas.
FORMULA_NAMES = [
    "=HYPERLINK(\"http://x.example\",\"click\")", "+31 Trading", "-Minus Retail", "@home Supplies",
    "=1+2", "+Plus Bikes", "-10% Outlet", "@Service Desk",
]  # fmt: skip
EMAIL_DOMAINS = ["example.com", "example.nl", "example.de", "shop.example", "b2b.example"]
UOMS = np.array(["PCS", "BOX", "KG", "M", "PAL", None], dtype=object)
# 0..20 lines; most carts are small, as on real stores.
LINE_COUNT_WEIGHTS = np.array([8, 22, 18, 13, 10, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5])
_NULL = np.array(None, dtype=object)  # SQL NULL inside numpy object arrays
TWO_YEARS_US = 730 * 24 * 3600 * 1_000_000
# The audit row of a basket `seed --replace` deletes says so.
REPLACE_REASON = "manual"
REPLACE_NOTE = "seed --replace"
# The operator `baskets demo` creates and acts as.
DEMO_OPERATOR = "demo-admin"


@dataclass(frozen=True)
class SeedSummary:
    shop_accounts: int
    accounts: int
    baskets: int
    basket_lines: int
    orphaned_baskets: int
    replaced_baskets: int = 0  # baskets deleted first (each with an audit row on a database in use)


def _guids(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random version-4 GUIDs as lowercase hyphenated strings."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = [row.tobytes().hex() for row in raw]
    return np.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes], dtype=object)


def _ascii_local(name: str) -> str:
    table = str.maketrans("äöüåøæéèëçñłęóšříáúýðþßőşğıžč", "aouaoaeeecnleosriauydtsosgizc")
    return "".join(ch for ch in name.lower().translate(table) if ch.isalnum() or ch == " ")


def _emails(rng: np.random.Generator, names: list[str], prefix: str) -> list[str]:
    """E-mails from names; some with `_`, a few with `%`, to test literal wildcards."""
    style = rng.random(len(names))
    domains = rng.choice(EMAIL_DOMAINS, size=len(names))
    out = []
    for i, (name, domain) in enumerate(zip(names, domains, strict=True)):
        local = ".".join(_ascii_local(name).split()) or "user"
        if style[i] < 0.08:
            local = local.replace(".", "_")
        elif style[i] < 0.10:
            local = f"100%{local}"
        out.append(f"{local}.{prefix}{i}@{domain}")
    return out


def _person_names(rng: np.random.Generator, count: int) -> list[str]:
    first = rng.choice(FIRST_NAMES, size=count)
    last = rng.choice(LAST_NAMES, size=count)
    names = [f"{f} {last_}" for f, last_ in zip(first, last, strict=True)]
    for i in np.flatnonzero(rng.random(count) < 0.01):
        names[i] = FORMULA_NAMES[i % len(FORMULA_NAMES)]
    return names


def _company_names(rng: np.random.Generator, count: int) -> list[str]:
    a = rng.choice(COMPANY_WORDS, size=count)
    b = rng.choice(COMPANY_WORDS, size=count)
    form = rng.choice(COMPANY_FORMS, size=count)
    names = [f"{x} {y} {z}" for x, y, z in zip(a, b, form, strict=True)]
    for i in np.flatnonzero(rng.random(count) < 0.01):
        names[i] = FORMULA_NAMES[(i + 3) % len(FORMULA_NAMES)]
    return names


def generate(baskets: int, seed: int, now: dt.datetime) -> dict[str, pa.Table]:
    """The synthetic webstore as one Arrow table per database table (times naive UTC).

    Longer than most functions, on purpose: one vectorised draw after another from one random
    generator, whose order is what makes a seed give the same data every time; split up, the
    dozen arrays the tables share would travel between functions."""
    if baskets < 0:
        raise BadInput(f"baskets: {baskets} is negative (expected e.g. 10000)", field="baskets")
    rng = np.random.default_rng(seed)
    now_us = (now.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)

    # ERP accounts: customers and prospects (contacts created by sales agents).
    n_customers = max(5, baskets // 25)
    n_prospects = max(3, baskets // 100)
    customer_ids = np.array([f"C{i:07d}" for i in range(1, n_customers + 1)], dtype=object)
    prospect_ids = np.array([f"P{i:07d}" for i in range(1, n_prospects + 1)], dtype=object)
    account_names = _company_names(rng, n_customers) + _person_names(rng, n_prospects)
    account_ids = np.concatenate([customer_ids, prospect_ids])
    account_emails = _emails(rng, account_names, "a")
    no_email = rng.random(len(account_ids)) < 0.05
    accounts = pa.table(
        {
            "id": account_ids.tolist(),
            "name": account_names,
            "email": [None if gone else e for e, gone in zip(account_emails, no_email, strict=True)],
            "kind": ["customer"] * n_customers + ["contact"] * n_prospects,
        }
    )

    # Shop accounts: customers' logins, their contact persons, and sales agents.
    n_shop = max(6, baskets // 8)
    shop_ids = _guids(rng, n_shop)
    shop_type = rng.choice(["customer", "contact", "sales_agent"], size=n_shop, p=[0.6, 0.3, 0.1])
    shop_type[:3] = ["customer", "contact", "sales_agent"]
    shop_account = np.where(shop_type == "sales_agent", _NULL, rng.choice(customer_ids, size=n_shop))
    shop_names = _person_names(rng, n_shop)
    shop_created = now_us - TWO_YEARS_US - rng.integers(0, TWO_YEARS_US, size=n_shop)
    shop_accounts = pa.table(
        {
            "id": shop_ids.tolist(),
            "name": shop_names,
            "email": _emails(rng, shop_names, "s"),
            "shop_account_type": shop_type.tolist(),
            "account_id": shop_account.tolist(),
            "activated": (rng.random(n_shop) < 0.95).tolist(),
            "created_at": pa.array(shop_created, pa.timestamp("us")),
        }
    )

    # Baskets: mostly anonymous; customer baskets by any kind of login; contact baskets by
    # sales agents on behalf of prospects. 3% point at a shop account deleted since.
    kind = rng.choice(3, size=baskets, p=[0.62, 0.30, 0.08])  # anonymous, customer, contact
    account_type = np.array(["Anonymous", "Customer", "Contact"], dtype=object)[kind]
    agents = np.flatnonzero(shop_type == "sales_agent")
    logins = rng.integers(0, n_shop, size=baskets)
    logins = np.where(kind == 2, agents[rng.integers(0, len(agents), size=baskets)], logins)
    basket_shop = shop_ids[logins].copy()
    own_account = shop_account[logins]
    basket_account = np.where(
        kind == 2,
        rng.choice(prospect_ids, size=baskets),
        np.where(own_account == None, rng.choice(customer_ids, size=baskets), own_account),  # noqa: E711
    ).astype(object)
    orphaned = (kind != 0) & (rng.random(baskets) < 0.03)
    basket_shop[orphaned] = _guids(rng, int(orphaned.sum()))
    basket_shop[kind == 0] = None
    basket_account[kind == 0] = None
    basket_ids = _guids(rng, baskets)
    created = now_us - rng.integers(0, TWO_YEARS_US, size=baskets)
    idle = rng.exponential(3 * 24 * 3600 * 1_000_000, size=baskets).astype(np.int64)
    modified = np.minimum(created + idle, now_us)
    basket_table = pa.table(
        {
            "id": basket_ids.tolist(),
            "shop_account_id": basket_shop.tolist(),
            "account_id": basket_account.tolist(),
            "account_type": account_type.tolist(),
            "created_at": pa.array(created, pa.timestamp("us")),
            "modified_at": pa.array(modified, pa.timestamp("us")),
        }
    )

    lines = _basket_lines(rng, basket_ids)
    return {
        "accounts": accounts,
        "shop_accounts": shop_accounts,
        "baskets": basket_table,
        "basket_lines": lines,
        "_orphaned": pa.table({"n": [int(orphaned.sum())]}),
    }


def _basket_lines(rng: np.random.Generator, basket_ids: np.ndarray) -> pa.Table:
    """0 to 20 synthetic lines per basket of `basket_ids`, drawn from `rng` after the baskets."""
    baskets = len(basket_ids)
    counts = rng.choice(21, size=baskets, p=LINE_COUNT_WEIGHTS / LINE_COUNT_WEIGHTS.sum())
    total = int(counts.sum())
    products = np.array([f"ITEM-{i:05d}" for i in range(1, 5001)], dtype=object)
    product_index = rng.integers(0, len(products), size=total)
    has_variant = rng.random(total) < 0.3
    variant = np.where(has_variant, np.char.add("V", (product_index % 7 + 1).astype(str)), _NULL)
    whole = rng.integers(1, 11, size=total).astype(np.float64)
    fraction = np.round(rng.uniform(0.1, 25, size=total), 3)
    quantity = np.where(rng.random(total) < 0.85, whole, fraction)
    lines = pa.table(
        {
            "id": np.arange(1, total + 1, dtype=np.int64),
            "basket_id": np.repeat(basket_ids, counts).tolist(),
            "product_id": products[product_index].tolist(),
            "variant_id": variant.astype(object).tolist(),
            "quantity": pa.array(quantity, pa.float64()),
            "uom_id": UOMS[rng.integers(0, len(UOMS), size=total)].tolist(),
        }
    )
    return lines


def seed_database(
    engine: Engine,
    baskets: int,
    seed: int,
    now: dt.datetime,
    replace: bool = False,
    operator: str | None = None,
) -> SeedSummary:
    """Fill the webstore tables with `baskets` synthetic baskets generated from `seed`.

    Refuses (BadInput) a database that already has baskets unless `replace`, which first removes
    them and empties the account tables (never the audit log or operators). No basket disappears
    without an audit row: on a database in use (it has operators or audit rows) the baskets go
    through the audited delete, one row each (reason manual, note 'seed --replace'), as
    `operator`, who must be a system administrator (NotPermitted, exit 3, otherwise). Only on a
    database nobody uses yet are they simply emptied. One transaction: a failure changes nothing.
    """
    tables = generate(baskets, seed, now)
    backend = backend_for(engine)
    with write_transaction(engine) as connection:
        if replace:
            # First, before the transaction's snapshot (PostgreSQL): the audited delete appends
            # to the chain after the head it reads, which must be the last one committed.
            lock_chain_head(connection)
        existing = connection.scalar(select(func.count()).select_from(Basket)) or 0
        if existing and not replace:
            raise BadInput(
                f"replace: the database has {existing:,} baskets already "
                "(use `replace` to empty the webstore tables first)",
                field="replace",
            )
        if existing and database_in_use(connection):
            actor = authorize(connection, operator, Action.REPLACE_DATA)
            replaced = _delete_all_baskets_with_audit(connection, actor)
        else:
            for model in (BasketLine, Basket):
                connection.execute(delete(model))
            replaced = existing
        for accounts in (ShopAccount, Account):
            connection.execute(delete(accounts))
        for name in ("accounts", "shop_accounts", "baskets", "basket_lines"):
            backend.bulk_load(connection, name, tables[name])
        backend.reset_id_sequence(connection, "basket_lines")  # lines were loaded with their ids
    return SeedSummary(
        shop_accounts=tables["shop_accounts"].num_rows,
        accounts=tables["accounts"].num_rows,
        baskets=tables["baskets"].num_rows,
        basket_lines=tables["basket_lines"].num_rows,
        orphaned_baskets=int(tables["_orphaned"]["n"][0].as_py()),
        replaced_baskets=int(replaced),
    )


def database_in_use(connection: Connection) -> bool:
    """Whether the database has operators or audit rows: then its baskets are deleted only with audit rows."""
    has_operators = connection.scalar(select(Operator.name).limit(1)) is not None
    return has_operators or connection.scalar(select(BasketAudit.seq).limit(1)) is not None


def _delete_all_baskets_with_audit(connection: Connection, actor: Actor) -> int:
    """Delete every basket through the audited delete, in key-ordered chunks of the caller's
    transaction; return how many."""
    deleted, after = 0, None
    while True:
        query = select(Basket.id).order_by(Basket.id).limit(IN_LIST_SIZE)
        ids = [
            str(basket_id)
            for basket_id in connection.scalars(query if after is None else query.where(Basket.id > after))
        ]
        if not ids:
            return deleted
        result = delete_baskets_with_audit(
            connection, ids, actor=actor, reason=REPLACE_REASON, note=REPLACE_NOTE
        )
        deleted += len(result.deleted)
        after = ids[-1]


def check_demo_database(connection: Connection) -> None:
    """Refuse (BadInput) a database `baskets demo` may not replace: one with operators besides
    DEMO_OPERATOR, audit rows of other actors, or baskets without the demo having run there."""
    others = list(connection.scalars(select(Operator.name).where(Operator.name != DEMO_OPERATOR).limit(3)))
    foreign = connection.scalar(
        select(func.count()).select_from(BasketAudit).where(BasketAudit.actor != DEMO_OPERATOR)
    )
    ours = connection.scalar(select(Operator.name).where(Operator.name == DEMO_OPERATOR)) is not None
    has_baskets = connection.scalar(select(Basket.id).limit(1)) is not None
    if others or foreign or (has_baskets and not ours):
        why = (
            f"it has other operators ({', '.join(others)})"
            if others
            else f"it has {foreign} audit rows of other operators"
            if foreign
            else "it has baskets the demo did not make"
        )
        raise BadInput(
            f"database_url: not a demo database ({why}); the demo replaces only its own data: "
            "point it at a new database, e.g. `database_url` sqlite:///var/demo.db",
            field="database_url",
        )
