"""Erasure on request (`baskets forget`): one person's baskets, audit rows and file rows.

1. Find the person: by e-mail (their shop accounts and ERP accounts with that address, any
   case), by ERP account ID, or by shop account ID.
2. Rewrite the suite's own files under export_dir that hold their rows (exports, cleanup
   snapshots) without those rows, each atomically (`baskets.files.atomic_file`).
3. In one transaction: delete their current baskets, audited with reason `erasure` and written
   already redacted; redact every earlier audit row about them; and chain one `erased` row
   recording the erasure itself (who, when, the reference, how many baskets, rows and files)
   without any personal data.

Files come before the database: if the transaction fails, running the command again finds the
same rows and does the rest; the files it already rewrote have nothing left to remove.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, false, func, or_, select

from baskets.audit import append_documents, canonical_json, canonical_time, lock_chain_head
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.errors import BadInput
from baskets.files import DEFAULT_FILE_MODE, SUITE_KEY, FileRules, atomic_file, parquet_of_kind
from baskets.filters import check_typable
from baskets.guid import EXAMPLE_GUID, parse_guid
from baskets.models import Account, Basket, BasketAudit, ShopAccount
from baskets.privacy.file_retention import EXPORT, SNAPSHOT, walk_suite_files
from baskets.privacy.redaction import ERASURE, redact_audit_rows
from baskets.roles import Actor

ERASED_EVENT = "erased"
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


# --- the suite's files ------------------------------------------------------------------------


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


@dataclass(frozen=True)
class FileChange:
    path: Path
    kind: str
    rows: int  # rows about the person: removed, or (dry run) to be removed


def _csv_records(path: Path) -> Iterator[str]:
    """The records of an RFC 4180 file as their raw text, line ends included (a quoted cell may
    hold a line break: a record ends where its quotes are balanced)."""
    with open(path, encoding="utf-8", newline="") as stream:
        pending = ""
        for line in stream:
            pending += line
            if pending.count('"') % 2 == 0:
                yield pending
                pending = ""
        if pending:
            yield pending


def _parse_record(record: str) -> list[str]:
    return next(csv.reader(io.StringIO(record, newline="")), [])


def _count_csv(path: Path, matcher: RowMatcher) -> int:
    records = _csv_records(path)
    next(records, None)  # the header
    return sum(1 for record in records if matcher.csv_row(_parse_record(record)))


def _parquet_mask(batch: Any, matcher: RowMatcher) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([False] * batch.num_rows, type=pa.bool_())
    tests = (
        ("basket_id", matcher.basket_ids, False),
        ("shop_account_email", matcher.emails, True),
        ("account_email", matcher.emails, True),
        ("account_id", matcher.account_ids, False),
        ("shop_account_id", matcher.shop_account_ids, False),
    )
    for name, values, lower in tests:
        if not values or name not in batch.schema.names:
            continue
        column = batch.column(name)
        if lower:
            column = pc.utf8_lower(column)
        found = pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(values), type=pa.string())), False)
        mask = pc.or_(mask, found)
    return mask


def _count_parquet(path: Path, matcher: RowMatcher) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for batch in pq.ParquetFile(path).iter_batches():
        total += int(pc.sum(_parquet_mask(batch, matcher)).as_py() or 0)
    return total


def files_about(export_dir: Path, matcher: RowMatcher) -> list[FileChange]:
    """The suite's exports and snapshots under `export_dir` with rows about the person."""
    changes = []
    for file in walk_suite_files(export_dir):
        if file.kind not in (EXPORT, SNAPSHOT):
            continue  # an audit report holds counts per actor and day, no personal data
        is_csv = file.path.suffix.lower() != ".parquet"
        rows = _count_csv(file.path, matcher) if is_csv else _count_parquet(file.path, matcher)
        if rows:
            changes.append(FileChange(file.path, file.kind, rows))
    return changes


def rewrite_without(change: FileChange, matcher: RowMatcher, rules: FileRules) -> None:
    """Replace the file of `change` by a copy without the person's rows, atomically: a private
    temporary file beside it, renamed over it (`atomic_file`). Its modification time stays, so
    it still ends when it would have (`privacy.export_keep_days`)."""
    path = change.path
    before = path.stat()
    if path.suffix.lower() != ".parquet":
        from baskets.export import EXPORT_FILE_KINDS

        with (
            atomic_file(path, rules, EXPORT_FILE_KINDS["csv"]) as file,
            open(file.temp, "w", encoding="utf-8", newline="") as out,
        ):
            records = _csv_records(path)
            out.write(next(records, ""))
            for record in records:
                if not matcher.csv_row(_parse_record(record)):
                    out.write(record)
    else:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        schema = source.schema_arrow
        kind = (schema.metadata or {}).get(SUITE_KEY, b"").decode()
        with (
            atomic_file(path, rules, parquet_of_kind(kind)) as file,
            pq.ParquetWriter(file.temp, schema) as writer,
        ):
            for batch in source.iter_batches():
                kept = batch.filter(pc.invert(_parquet_mask(batch, matcher)))
                writer.write_table(pa.Table.from_batches([kept], schema=schema))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


# --- the erasure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    dry_run: bool
    subject: str  # what named the person (e-mail, ERP account ID, shop account ID), never the value
    reference: str | None
    baskets: int
    audit_rows: int
    files: list[FileChange]
    seq: int | None  # the `erased` row recording it (None for a dry run)
    first_seq: int | None  # the deletion rows of the current baskets
    last_seq: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "subject": self.subject,
            "reference": self.reference,
            "baskets": self.baskets,
            "audit_rows": self.audit_rows,
            "files": len(self.files),
            "file_rows": sum(change.rows for change in self.files),
            "file_paths": [str(change.path) for change in self.files],
            "seq": self.seq,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


def erasure_file_rules(export_dir: Path, mode: int = DEFAULT_FILE_MODE) -> FileRules:
    """How files are rewritten: in place under the export dir, only over the suite's own files."""
    return FileRules(field="setting export_dir", overwrite=True, own_folder=export_dir, mode=mode)


def erase_personal_data(
    engine: Engine,
    subject: ErasureSubject,
    *,
    actor: Actor,
    reference: str | None,
    export_dir: Path,
    file_mode: int = DEFAULT_FILE_MODE,
    flow_run_id: str | None = None,
    dry_run: bool = False,
    when: dt.datetime | None = None,
) -> ErasureResult:
    """Erase `subject` (module docstring); with `dry_run`, only say what would change.

    Raises BadInput when a file cannot be rewritten (nothing in the database changed then).
    """
    with engine.connect() as connection:
        plan = plan_erasure(connection, subject)
    matcher = plan.file_rows()
    changes = files_about(export_dir, matcher)
    if dry_run:
        return ErasureResult(
            True,
            subject.what,
            reference,
            len(plan.basket_ids),
            len(plan.audit_seqs),
            changes,
            None,
            None,
            None,
        )
    rules = erasure_file_rules(export_dir, file_mode).protecting(engine.url)
    for change in changes:
        rewrite_without(change, matcher, rules)
    moment = when or dt.datetime.now(dt.UTC)
    with write_transaction(engine) as connection:
        lock_chain_head(connection)  # first: the plan below sees every writer that came before
        plan = plan_erasure(connection, subject)
        deleted = delete_baskets_with_audit(
            connection, plan.basket_ids, actor=actor, reason=ERASURE, flow_run_id=flow_run_id,
            still_matches=plan.baskets_condition(), occurred_at=moment, redaction=ERASURE,
        )  # fmt: skip
        redacted = redact_audit_rows(connection, plan.audit_seqs, reason=ERASURE, when=moment)
        record = _erasure_record(
            actor, moment, flow_run_id,
            {"reference": reference, "subject": subject.what, "baskets": len(deleted.deleted),
             "audit_rows": redacted, "files": len(changes), "file_rows": sum(c.rows for c in changes)},
        )  # fmt: skip
        head = append_documents(connection, lock_chain_head(connection), [record])
    return ErasureResult(
        False, subject.what, reference, len(deleted.deleted), redacted, changes, head.seq,
        deleted.first_seq, deleted.last_seq,
    )  # fmt: skip


def _erasure_record(
    actor: Actor, when: dt.datetime, flow_run_id: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    """The chain's record of an erasure: who, when and what it counted; no personal data."""
    empty = dict.fromkeys(
        ("basket_id", "note", "shop_account_id", "shop_account_name", "shop_account_email", "account_id",
         "account_name", "account_email", "account_type", "basket_created_at", "basket_modified_at",
         "line_count", "total_quantity", "lines")
    )  # fmt: skip
    return {
        **empty,
        "event": ERASED_EVENT,
        "occurred_at": canonical_time(when),
        "actor": actor.name,
        "actor_role": actor.role,
        "reason": ERASURE,
        "flow_run_id": flow_run_id,
        "detail": canonical_json(detail).decode(),
    }
