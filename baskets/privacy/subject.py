"""Whom an erasure is about (`baskets forget`, docs/privacy.md): the person named by e-mail, ERP
account ID or shop account ID, checked as typed; then the baskets, audit rows and file rows that
are about them (`plan_erasure`, `RowMatcher`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, false, func, or_, select

from baskets.errors import BadInput
from baskets.filters import check_typable
from baskets.guid import EXAMPLE_GUID, parse_guid
from baskets.models import Account, Basket, BasketAudit, ShopAccount

REFERENCE_MAX_CHARS = 200
EMAIL_MAX_CHARS = 254
ACCOUNT_ID_MAX_CHARS = 50
# (parameter, flag, what it names) of the three ways to name a person.
SUBJECTS = (
    ("email", "--email", "e-mail"),
    ("account_id", "--account-id", "ERP account ID"),
    ("shop_account_id", "--shop-account-id", "shop account ID"),
)
_WHAT = {name: what for name, _, what in SUBJECTS}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
EXAMPLE = "e.g. `email` jane@example.com"


@dataclass(frozen=True)
class ErasureSubject:
    """Whom an erasure is about: `kind` one of email, account_id, shop_account_id."""

    kind: str
    value: str

    @property
    def what(self) -> str:
        return _WHAT[self.kind]


def parse_subject(email: str | None, account_id: str | None, shop_account_id: str | None) -> ErasureSubject:
    """The one person named by the flags; BadInput (exit 2) naming the flag for none, more than
    one, or a malformed value (control characters, too long, not an e-mail or a GUID)."""
    given = {
        name: value
        for name, value in (
            ("email", email),
            ("account_id", account_id),
            ("shop_account_id", shop_account_id),
        )
        if value is not None and value.strip()
    }
    if len(given) != 1:
        raise BadInput(
            f"email: give exactly one of `email`, `account_id` or `shop_account_id` ({EXAMPLE})",
            field="email",
        )
    ((kind, raw),) = given.items()
    try:
        check_typable(raw)
    except ValueError as error:
        raise BadInput(f"{kind}: {error}", field=kind) from None
    value = raw.strip()
    if kind == "email":
        if len(value) > EMAIL_MAX_CHARS or not _EMAIL.fullmatch(value):
            raise BadInput(
                f"{kind}: {_shown(value)} is not an e-mail address (expected e.g. jane@example.com)",
                field=kind,
            )
        return ErasureSubject(kind, value.lower())
    if kind == "account_id":
        if len(value) > ACCOUNT_ID_MAX_CHARS:
            raise BadInput(
                f"{kind}: {len(value)} characters is too long for an ERP account ID "
                f"(at most {ACCOUNT_ID_MAX_CHARS}, e.g. C0000050)",
                field=kind,
            )
        return ErasureSubject(kind, value)
    try:
        return ErasureSubject(kind, parse_guid(value))
    except ValueError:
        raise BadInput(
            f"{kind}: {_shown(value)} is not a GUID (expected e.g. {EXAMPLE_GUID})", field=kind
        ) from None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


def check_reference(reference: str | None, subject: ErasureSubject) -> str | None:
    """The request's reference as recorded (stripped; None when blank); BadInput for control
    characters, more than REFERENCE_MAX_CHARS, or one that holds the personal data being erased
    (the reference stays in the audit chain)."""
    if reference is None or not reference.strip():
        return None
    try:
        check_typable(reference)
    except ValueError as error:
        raise BadInput(f"reference: {error}", field="reference") from None
    if len(reference) > REFERENCE_MAX_CHARS:
        raise BadInput(
            f"reference: {len(reference)} characters is too long (at most {REFERENCE_MAX_CHARS}, "
            "e.g. GDPR-2026-0042)",
            field="reference",
        )
    if subject.value.lower() in reference.lower():
        raise BadInput(
            f"reference: it contains the {subject.what} being erased, and the reference is kept in the "
            "audit log (expected a ticket number, e.g. GDPR-2026-0042)",
            field="reference",
        )
    return reference.strip()


@dataclass
class ErasurePlan:
    """What an erasure of `subject` finds: the person's accounts, current baskets and
    unredacted audit rows, and every basket ID any of their audit rows names."""

    subject: ErasureSubject
    shop_account_ids: list[str]
    account_ids: list[str]
    basket_ids: list[str]
    audit_seqs: list[int]
    audited_basket_ids: set[str] = field(default_factory=set)

    def baskets_condition(self) -> ColumnElement[bool]:
        """The person's baskets: those of their shop accounts or ERP accounts."""
        return _any_of(
            Basket.shop_account_id.in_(self.shop_account_ids) if self.shop_account_ids else None,
            Basket.account_id.in_(self.account_ids) if self.account_ids else None,
        )

    def audit_condition(self) -> ColumnElement[bool]:
        """Their audit rows: of their accounts, with their e-mail, or a note naming it."""
        email = self.subject.value if self.subject.kind == "email" else None
        return _any_of(
            BasketAudit.shop_account_id.in_(self.shop_account_ids) if self.shop_account_ids else None,
            BasketAudit.account_id.in_(self.account_ids) if self.account_ids else None,
            func.lower(BasketAudit.shop_account_email) == email if email else None,
            func.lower(BasketAudit.account_email) == email if email else None,
            func.lower(BasketAudit.note).contains(email, autoescape=True) if email else None,
        )

    def file_rows(self) -> RowMatcher:
        return RowMatcher(
            basket_ids=frozenset(self.basket_ids) | frozenset(self.audited_basket_ids),
            emails=frozenset({self.subject.value}) if self.subject.kind == "email" else frozenset(),
            account_ids=frozenset(self.account_ids),
            shop_account_ids=frozenset(self.shop_account_ids),
        )


def _any_of(*conditions: ColumnElement[bool] | None) -> ColumnElement[bool]:
    present = [condition for condition in conditions if condition is not None]
    return or_(*present) if present else false()


def plan_erasure(connection: Connection, subject: ErasureSubject) -> ErasurePlan:
    """Find what an erasure of `subject` changes (reads only)."""
    from baskets.schema import mapped_schema

    if mapped_schema(connection) is not None:
        raise BadInput(
            "schema: baskets forget erases from the builtin tables only; on the shop's own tables the "
            "shop erases its customer (expected BASKETS_SCHEMA=builtin)"
        )
    if subject.kind == "email":
        shop_ids = list(
            connection.scalars(select(ShopAccount.id).where(func.lower(ShopAccount.email) == subject.value))
        )
        account_ids = list(
            connection.scalars(select(Account.id).where(func.lower(Account.email) == subject.value))
        )
    elif subject.kind == "account_id":
        shop_ids, account_ids = [], [subject.value]
    else:
        shop_ids, account_ids = [subject.value], []
    plan = ErasurePlan(subject, sorted(map(str, shop_ids)), sorted(account_ids), [], [])
    plan.basket_ids = [str(basket_id) for basket_id in connection.scalars(
        select(Basket.id).where(plan.baskets_condition()).order_by(Basket.id)
    )]  # fmt: skip
    rows = connection.execute(
        select(BasketAudit.seq, BasketAudit.basket_id, BasketAudit.redacted_at)
        .where(plan.audit_condition())
        .order_by(BasketAudit.seq)
    ).all()
    plan.audit_seqs = [int(seq) for seq, _, redacted_at in rows if redacted_at is None]
    plan.audited_basket_ids = {str(basket_id) for _, basket_id, _ in rows if basket_id is not None}
    return plan


@dataclass(frozen=True)
class RowMatcher:
    """Which rows of an export or snapshot are about the person."""

    basket_ids: frozenset[str]
    emails: frozenset[str]
    account_ids: frozenset[str]
    shop_account_ids: frozenset[str]

    def csv_row(self, row: list[str]) -> bool:
        # The export's CSV columns: shop account name, e-mail, account name, e-mail, ID, type, basket ID, ...
        cells = [_as_stored(cell) for cell in row[:7]]
        if len(cells) < 7:
            return False
        return (
            cells[6] in self.basket_ids
            or cells[1].lower() in self.emails
            or cells[3].lower() in self.emails
            or cells[4] in self.account_ids
        )


def _as_stored(cell: str) -> str:
    """A CSV cell as stored: without the `'` the export put before a would-be formula."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell
