"""The audit report's figures: the window, deletions per day, reason, account type and actor, read
in one snapshot from `basket_audit`, and the chain's state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from baskets.audit import verify_audit_chain
from baskets.db import snapshot_read
from baskets.errors import BadInput, NotPermitted
from baskets.filters import TimeOutOfRange, parse_utc_time
from baskets.models import BasketAudit
from baskets.roles import RETENTION_ACTOR, RETENTION_ROLE, Action, Actor, authorize

ReportFormat = Literal["csv", "parquet", "html"]
REPORT_FORMATS: tuple[str, ...] = ("csv", "parquet", "html")
DEFAULT_WINDOW_DAYS = 7
# The columns of the CSV and Parquet report: one row per day × reason × account type × actor.
REPORT_COLUMNS = ("day", "reason", "account_type", "actor", "actor_role", "baskets", "lines")
_KEYS = ["day", "reason", "account_type", "actor", "actor_role"]
_CHUNK_ROWS = 50_000
# A per-day chart wider than this many days starts at the first day with a deletion.
_MAX_CHART_DAYS = 400
EXAMPLE_DATE = "2026-10-01 or 2026-10-01T00:00:00+02:00"


@dataclass(frozen=True)
class ReportWindow:
    """The half-open time range [since, until) a report covers, in UTC."""

    since: dt.datetime
    until: dt.datetime

    def describe(self) -> str:
        return f"{self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC"


def resolve_window(
    since: str | dt.date | None,
    until: str | dt.date | None,
    now: dt.datetime,
    default_days: int = DEFAULT_WINDOW_DAYS,
) -> ReportWindow:
    """The report window from `--since`/`--until` values (ISO date or datetime, UTC unless an offset).

    `since` is inclusive. A date-only `until` includes that whole day (so `--since 2026-10-01
    --until 2026-10-31` is all of October); a datetime `until` is exclusive. Without `until`
    the window ends at `now`; without `since` it starts `default_days` before its end.
    Raises BadInput naming the field when a value is malformed or the window is empty.
    """
    end = _parse_bound(until, "until", whole_day=True) if until is not None else now
    start = (
        _parse_bound(since, "since", whole_day=False)
        if since is not None
        else end - dt.timedelta(days=default_days)
    )
    if start >= end:
        raise BadInput(
            f"since: {start:%Y-%m-%d %H:%M} is not before `until` {end:%Y-%m-%d %H:%M} "
            "(expected e.g. `since` 2026-10-01 `until` 2026-10-31)",
            field="since",
        )
    return ReportWindow(since=start, until=end)


def _parse_bound(value: str | dt.date, field: str, *, whole_day: bool) -> dt.datetime:
    is_date_only = (isinstance(value, dt.date) and not isinstance(value, dt.datetime)) or (
        isinstance(value, str) and len(value.strip()) == 10
    )
    try:
        parsed = parse_utc_time(value)
    except TimeOutOfRange as error:
        raise BadInput(f"{field}: {error}", field=field) from None
    except ValueError:
        raise BadInput(
            f"{field}: {str(value)!r} is not an ISO date or datetime (expected e.g. {EXAMPLE_DATE})",
            field=field,
        ) from None
    return parsed + dt.timedelta(days=1) if whole_day and is_date_only else parsed


def parse_report_format(value: str) -> ReportFormat:
    """`report_format` as one of csv, parquet, html; BadInput otherwise."""
    text = value.strip().lower()
    if text not in REPORT_FORMATS:
        raise BadInput(
            f"report_format: {value!r} is not a report format (expected csv, parquet or html)",
            field="report_format",
        )
    return text  # type: ignore[return-value]


def authorize_report_reader(connection: Connection, name: str | None) -> Actor:
    """Who may read the audit (§7): administrators and order processors, and the schedule.

    The built-in `retention-policy` actor stands for the weekly scheduled report; it is not
    an operator and cannot be passed as `--as` on the command line (the command refuses it).
    Raises NotPermitted (exit 3) otherwise.
    """
    if name == RETENTION_ACTOR:
        return Actor(name=RETENTION_ACTOR, role=RETENTION_ROLE)
    return authorize(connection, name, Action.AUDIT)


def refuse_builtin_actor(name: str | None) -> None:
    """A person at the command line may not act as the schedule's built-in actor."""
    if name == RETENTION_ACTOR:
        raise NotPermitted(
            f"operator: {RETENTION_ACTOR!r} is the schedule's built-in actor, not an operator",
            field="operator",
        )


@dataclass(frozen=True)
class ChainStatus:
    """What the audit chain check found; `intact` is None when it could not be checked."""

    intact: bool | None
    detail: str

    @property
    def label(self) -> str:
        return {True: "intact", False: "BROKEN", None: "not checked"}[self.intact]


def check_audit_chain(connection: Connection) -> ChainStatus:
    """Recompute the whole audit chain (as `baskets audit verify` does) and describe the outcome."""
    found = verify_audit_chain(connection)
    if found.ok:
        return ChainStatus(
            intact=True,
            detail=f"{found.count:,} rows verified; head seq {found.head_seq}, hash {found.head_hash}",
        )
    where = "" if found.first_bad_seq is None else f"first bad row seq {found.first_bad_seq}: "
    return ChainStatus(intact=False, detail=f"{where}{found.problem}")


@dataclass(frozen=True)
class AuditReport:
    """Deleted baskets in a window, aggregated; `table` has REPORT_COLUMNS."""

    window: ReportWindow
    generated_at: dt.datetime
    table: pd.DataFrame
    restored: int
    chain: ChainStatus
    generated_by: str
    # Erasures on request in the window (`erased` rows), and rows of the window whose personal
    # part has been removed since (redacted): counts only, the report never holds personal data.
    erasures: int = 0
    redacted: int = 0

    @property
    def deleted(self) -> int:
        return int(self.table["baskets"].sum())

    @property
    def lines(self) -> int:
        return int(self.table["lines"].sum())

    def baskets_per(self, column: str) -> pd.Series:
        """Deleted baskets per value of `column` (reason, account_type, actor), most first."""
        totals = self.table.groupby(column, sort=True)["baskets"].sum()
        return totals.sort_values(ascending=False, kind="stable").astype("int64")

    def baskets_per_day(self) -> pd.Series:
        """Deleted baskets per UTC day over the window, days without deletions as 0."""
        totals = self.table.groupby("day")["baskets"].sum()
        first = self.window.since.date()
        last = (self.window.until - dt.timedelta(microseconds=1)).date()
        if (last - first).days > _MAX_CHART_DAYS:
            first = min(totals.index) if len(totals) else last
            first = max(first, last - dt.timedelta(days=_MAX_CHART_DAYS))
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        return pd.Series([int(totals.get(day, 0)) for day in days], index=days, dtype="int64")

    def summary(self) -> dict[str, Any]:
        """The figures a run reports (JSON output, flow result)."""
        return {
            "since": self.window.since,
            "until": self.window.until,
            "deleted": self.deleted,
            "lines": self.lines,
            "restored": self.restored,
            "erasures": self.erasures,
            "redacted": self.redacted,
            "per_account_type": _as_dict(self.baskets_per("account_type")),
            "per_reason": _as_dict(self.baskets_per("reason")),
            "per_actor": _as_dict(self.baskets_per("actor")),
            "chain": self.chain.label,
            "chain_detail": self.chain.detail,
        }


def _as_dict(series: pd.Series) -> dict[str, int]:
    return {str(key): int(value) for key, value in series.items()}


def _audit_chunks(connection: Connection, window: ReportWindow) -> Iterator[pd.DataFrame]:
    query = (
        select(
            BasketAudit.occurred_at,
            BasketAudit.reason,
            BasketAudit.account_type,
            BasketAudit.actor,
            BasketAudit.actor_role,
            BasketAudit.line_count,
        )
        .where(BasketAudit.event == "deleted")
        .where(BasketAudit.occurred_at >= window.since, BasketAudit.occurred_at < window.until)
        .order_by(BasketAudit.seq)
    )
    result = connection.execution_options(stream_results=True, yield_per=_CHUNK_ROWS).execute(query)
    for rows in result.partitions(_CHUNK_ROWS):
        yield pd.DataFrame(rows, columns=["occurred_at", *_KEYS[1:], "line_count"])


def aggregate_deletions(chunk: pd.DataFrame) -> pd.DataFrame:
    """One row per day × reason × account type × actor with basket and line counts.

    `chunk` has the audit columns occurred_at (aware UTC), reason, account_type, actor,
    actor_role and line_count; the result has REPORT_COLUMNS, sorted by its keys.
    """
    if chunk.empty:
        return _empty_table()
    keyed = chunk.assign(day=[moment.astimezone(dt.UTC).date() for moment in chunk["occurred_at"]])
    grouped = keyed.groupby(_KEYS, sort=True, dropna=False).agg(
        baskets=("line_count", "size"), lines=("line_count", "sum")
    )
    return grouped.reset_index().astype({"baskets": "int64", "lines": "int64"})[list(REPORT_COLUMNS)]


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.Series([], dtype="object"),
            **{key: pd.Series([], dtype="object") for key in _KEYS[1:]},
            "baskets": pd.Series([], dtype="int64"),
            "lines": pd.Series([], dtype="int64"),
        }
    )


def read_audit_aggregates(connection: Connection, window: ReportWindow) -> pd.DataFrame:
    """Deleted baskets in `window`, aggregated as `aggregate_deletions` does.

    Streams the audit in chunks and adds the partial sums up, so memory follows the number
    of distinct day × reason × type × actor combinations, not the number of deletions.
    """
    partials = [aggregate_deletions(chunk) for chunk in _audit_chunks(connection, window)]
    partials = [part for part in partials if not part.empty]
    if not partials:
        return _empty_table()
    combined = pd.concat(partials, ignore_index=True)
    totals = combined.groupby(_KEYS, sort=True, dropna=False)[["baskets", "lines"]].sum().reset_index()
    return totals.astype({"baskets": "int64", "lines": "int64"})[list(REPORT_COLUMNS)]


def count_restored(connection: Connection, window: ReportWindow) -> int:
    query = (
        select(func.count())
        .select_from(BasketAudit)
        .where(BasketAudit.event == "restored")
        .where(BasketAudit.occurred_at >= window.since, BasketAudit.occurred_at < window.until)
    )
    return int(connection.scalar(query) or 0)


def count_erasures_and_redacted(connection: Connection, window: ReportWindow) -> tuple[int, int]:
    """(erasures recorded, rows redacted) among the audit rows of `window`."""
    in_window = (BasketAudit.occurred_at >= window.since, BasketAudit.occurred_at < window.until)
    erasures = connection.scalar(
        select(func.count()).select_from(BasketAudit).where(BasketAudit.event == "erased", *in_window)
    )
    redacted = connection.scalar(
        select(func.count()).select_from(BasketAudit).where(BasketAudit.redacted_at.is_not(None), *in_window)
    )
    return int(erasures or 0), int(redacted or 0)


def build_audit_report(
    connection: Connection,
    window: ReportWindow,
    now: dt.datetime,
    generated_by: str,
    check_chain: Callable[[Connection], ChainStatus] = check_audit_chain,
) -> AuditReport:
    """Read and aggregate the audit in `window` and check the chain (the whole chain, not just
    the window: a tampered row anywhere makes every figure suspect)."""
    erasures, redacted = count_erasures_and_redacted(connection, window)
    return AuditReport(
        window=window,
        generated_at=now,
        table=read_audit_aggregates(connection, window),
        restored=count_restored(connection, window),
        chain=check_chain(connection),
        generated_by=generated_by,
        erasures=erasures,
        redacted=redacted,
    )


def read_audit_report(
    engine: Engine, window: ReportWindow, now: dt.datetime, generated_by: str
) -> AuditReport:
    """`build_audit_report` in one read-only snapshot, so deletions running meanwhile neither
    skew the figures against each other nor look like tampering to the chain check."""
    with snapshot_read(engine) as connection:
        return build_audit_report(connection, window, now, generated_by)


def default_report_path(export_dir: Path, report_format: ReportFormat, now: dt.datetime) -> Path:
    """`<export dir>/audit-report-<UTC timestamp>.<ext>`."""
    return export_dir / f"audit-report-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{report_format}"
