"""The audit report: deleted baskets per day, reason, account type and actor, as CSV, Parquet or HTML.

Plain code over the `basket_audit` table; the `audit-report` flow and `baskets audit report`
call into it. The HTML report is one self-contained file: inline SVG charts, inline CSS, no
script and no external reference, so it opens on a machine without network access.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, func, select

from baskets.audit import verify_audit_chain
from baskets.errors import BadInput, NotPermitted
from baskets.files import (
    HTML_MARK,
    FileRules,
    Recognise,
    atomic_file,
    parquet_of_kind,
    starts_with,
    suite_metadata,
)
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


def build_audit_report(
    connection: Connection,
    window: ReportWindow,
    now: dt.datetime,
    generated_by: str,
    check_chain: Callable[[Connection], ChainStatus] = check_audit_chain,
) -> AuditReport:
    """Read and aggregate the audit in `window` and check the chain (the whole chain, not just
    the window: a tampered row anywhere makes every figure suspect)."""
    return AuditReport(
        window=window,
        generated_at=now,
        table=read_audit_aggregates(connection, window),
        restored=count_restored(connection, window),
        chain=check_chain(connection),
        generated_by=generated_by,
    )


def read_audit_report(
    engine: Engine, window: ReportWindow, now: dt.datetime, generated_by: str
) -> AuditReport:
    """`build_audit_report` in one read-only snapshot, so deletions running meanwhile neither
    skew the figures against each other nor look like tampering to the chain check."""
    options: dict[str, Any] = {}
    if engine.dialect.name != "sqlite":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        return build_audit_report(connection, window, now, generated_by)


def default_report_path(export_dir: Path, report_format: ReportFormat, now: dt.datetime) -> Path:
    """`<export dir>/audit-report-<UTC timestamp>.<ext>`."""
    return export_dir / f"audit-report-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{report_format}"


# How an existing report is recognised as one the suite wrote (see baskets.files).
CSV_HEADER_LINE = (",".join(REPORT_COLUMNS) + "\r\n").encode()
HTML_START = f"<!DOCTYPE html>\n{HTML_MARK}\n"
PARQUET_KIND = "audit-report"
REPORT_FILE_KINDS: dict[str, Recognise] = {
    "csv": starts_with(CSV_HEADER_LINE),
    "parquet": parquet_of_kind(PARQUET_KIND),
    "html": starts_with(HTML_START.encode()),
}


def write_audit_report(
    report: AuditReport, report_format: ReportFormat, path: Path, rules: FileRules | None = None
) -> Path:
    """Write the report atomically under `rules` (baskets.files: a private temporary file in the
    target folder, then a rename; never over a file the suite did not write or the database's).

    Returns the absolute path. Raises BadInput naming `rules.field` when the target may not be written.
    """
    with atomic_file(path, rules or FileRules(), REPORT_FILE_KINDS[report_format]) as file:
        if report_format == "csv":
            report.table.to_csv(file.temp, index=False, encoding="utf-8", lineterminator="\r\n")
        elif report_format == "parquet":
            table = _arrow_table(report.table)
            marked = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), **suite_metadata(PARQUET_KIND)}
            )
            pq.write_table(marked, file.temp)
        else:
            file.temp.write_text(render_html(report), encoding="utf-8")
    return file.final


def _arrow_table(table: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("day", pa.date32()),
            ("reason", pa.string()),
            ("account_type", pa.string()),
            ("actor", pa.string()),
            ("actor_role", pa.string()),
            ("baskets", pa.int64()),
            ("lines", pa.int64()),
        ]
    )
    return pa.Table.from_pandas(table[list(REPORT_COLUMNS)], schema=schema, preserve_index=False)


# --- HTML -----------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933; margin: 2rem auto;
       max-width: 960px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.meta { color: #52606d; } .figures { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.figure { border: 1px solid #d9e2ec; border-radius: 6px; padding: .6rem 1rem; min-width: 8rem; }
.figure b { display: block; font-size: 1.4rem; }
.chain-note { font-size: .85rem; margin: .3rem 0; overflow-wrap: anywhere; }
.chain-intact { color: #1e7b34; } .chain-not-checked { color: #8a6d00; }
.chain-banner { background: #b3261e; color: #fff; border-radius: 6px; padding: .9rem 1.2rem;
                margin: 0 0 1.2rem; font-size: 1rem; }
.chain-banner strong { display: block; font-size: 1.25rem; margin-bottom: .3rem; }
.chain-banner p { margin: .3rem 0 0; } .chain-banner code { background: rgba(255,255,255,.18);
  padding: 0 .3rem; border-radius: 3px; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { padding: .25rem .7rem; text-align: left; }
th { border-bottom: 2px solid #9fb3c8; } td { border-bottom: 1px solid #e4e7eb; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 11px system-ui, sans-serif; fill: #334e68; } svg .bar { fill: #2f6fb3; }
svg text.value { fill: #1f2933; font-weight: 600; } svg text.zero { fill: #9aa5b1; font-weight: normal; }
svg .axis { stroke: #9fb3c8; }
"""

# The per-day chart: a bar never grows wider than _MAX_BAR_W however few days the window has,
# and a date label needs about _DAY_LABEL_W pixels, so longer windows label every n-th day.
_MAX_BAR_W = 40
_DAY_LABEL_W = 76
# Rough width of one digit or comma of the value labels, per pixel of font size.
_CHAR_W = 0.62


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _value_label(count: int, centre: float, top: float, slot: float) -> str:
    """The count written above its bar, in a slot `slot` pixels wide: horizontal when it fits at
    9–11 px, else written upwards; empty when not even that fits (a window of many months)."""
    text = f"{count:,}"
    css = "value zero" if count == 0 else "value"
    for size in (11, 10, 9):
        if len(text) * size * _CHAR_W <= slot - 2:
            return (
                f'<text class="{css}" x="{centre:.1f}" y="{top - 4:.1f}" text-anchor="middle" '
                f'style="font-size:{size}px">{text}</text>'
            )
    if slot < 12 or count == 0:
        return ""
    x, y = centre + 3.5, top - 4
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" transform="rotate(-90 {x:.1f} {y:.1f})" '
        f'style="font-size:10px">{text}</text>'
    )


def svg_bar_chart_per_day(per_day: pd.Series, title: str) -> str:
    """Vertical bars, one per day, as an inline <svg> element (no external references).

    Every day of the window has its place on the axis (a tick, and a grey 0 when nothing was
    deleted); each bar has its count written above it; bars are at most _MAX_BAR_W wide, so one
    busy day in a quiet week is a bar, not a block; the date labels are thinned to every n-th
    day, counted back from the last day, when the window is too long to label each.
    """
    days = len(per_day)
    counts = [int(count) for count in per_day.tolist()]
    peak = max(counts, default=0)
    # The side margins leave room for half a date label under the first and the last day.
    width, side, bottom, plot_h = 900, 40, 40, 200
    slot = (width - 2 * side) / max(days, 1)
    bar_w = max(min(slot * 0.7, _MAX_BAR_W), 1.0)
    # Room above the tallest bar for its count: a line of text, or the text's length upright.
    peak_label = _value_label(peak, 0, 0, slot)
    headroom = int(len(f"{peak:,}") * 10 * _CHAR_W) + 10 if "rotate(" in peak_label else 18
    base_y = headroom + plot_h
    height = base_y + bottom
    label_every = max(1, math.ceil(_DAY_LABEL_W / slot))
    parts = [
        f'<svg class="chart" id="chart-per-day" role="img" aria-label="{_e(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{_e(title)}</title>",
    ]
    for index, (day, count) in enumerate(zip(per_day.index, counts, strict=True)):
        centre = side + (index + 0.5) * slot
        labelled = (days - 1 - index) % label_every == 0
        if labelled or slot >= 4:  # a tick per day, unless they would run into a grey band
            parts.append(
                f'<line class="axis" x1="{centre:.1f}" y1="{base_y}" x2="{centre:.1f}" y2="{base_y + 4}"/>'
            )
        top = float(base_y)
        if count:
            bar_h = max(plot_h * count / peak, 1.0)
            top = base_y - bar_h
            parts.append(
                f'<rect class="bar" x="{centre - bar_w / 2:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                f'height="{bar_h:.1f}"><title>{day:%Y-%m-%d}: {count:,} deleted</title></rect>'
            )
        label = _value_label(count, centre, top, slot)
        if not label and count == peak:  # too many days to write each count: the busiest day's still is
            label = _value_label(count, centre, top, _DAY_LABEL_W)
        parts.append(label)
        if labelled:
            parts.append(
                f'<text class="day" x="{centre:.1f}" y="{base_y + 18}" text-anchor="middle">'
                f"{day:%Y-%m-%d}</text>"
            )
    # The zero baseline, drawn last so it runs over the bars' feet.
    parts.append(f'<line class="axis" x1="{side}" y1="{base_y}" x2="{width - side}" y2="{base_y}"/>')
    if not peak:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{base_y - plot_h / 2:.0f}" text-anchor="middle">'
            "no deletions in this period</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_bar_chart_per_category(per_category: pd.Series, title: str, chart_id: str) -> str:
    """Horizontal bars, one per category, with the count written at the end of each bar."""
    row_h, left = 28, 140
    width = 900
    height = max(len(per_category), 1) * row_h + 10
    peak = max(int(per_category.max()) if len(per_category) else 0, 1)
    right = int(len(f"{peak:,}") * 12 * _CHAR_W) + 16
    plot_w = width - left - right
    parts = [
        f'<svg class="chart" id="{_e(chart_id)}" role="img" aria-label="{_e(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{_e(title)}</title>",
    ]
    for index, (name, count) in enumerate(per_category.items()):
        y = 5 + index * row_h
        bar_w = max(plot_w * int(count) / peak, 1.0)
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{_e(name)}</text>')
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}">'
            f"<title>{_e(name)}: {int(count):,} deleted</title></rect>"
        )
        parts.append(f'<text class="value" x="{left + bar_w + 6:.1f}" y="{y + 17}">{int(count):,}</text>')
    if not len(per_category):
        parts.append(f'<text x="{left}" y="20">no deletions in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(series: pd.Series, heading: str, total: int) -> str:
    rows = "".join(
        f'<tr><td>{_e(name)}</td><td class="n">{int(count):,}</td>'
        f'<td class="n">{(100 * int(count) / total if total else 0):.1f}%</td></tr>'
        for name, count in series.items()
    )
    return (
        f"<table><thead><tr><th>{_e(heading)}</th><th>baskets</th><th>share</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=3>none</td></tr>'}</tbody></table>"
    )


def chain_status_html(chain: ChainStatus, reader: str) -> str:
    """A broken chain as a red banner (role=alert) naming the first bad row and what to run;
    an intact or unchecked chain as a one-line note."""
    if chain.intact is False:
        # The schedule's built-in actor cannot run verify; a person uses their own name.
        name = "NAME" if reader == RETENTION_ACTOR else reader
        return (
            '<div id="chain-status" class="chain-banner chain-BROKEN" role="alert">'
            f"<strong>Audit chain BROKEN</strong>{_e(chain.detail[:1].upper() + chain.detail[1:])}. "
            "The figures below may include changed rows or miss removed ones."
            f"<p>Run <code>baskets audit verify --as {_e(name)}</code> to confirm; treat it as a "
            "security incident and keep the database as it is (see docs/audit.md).</p></div>"
        )
    mark = "&#10003; " if chain.intact else ""
    css = "chain-" + chain.label.replace(" ", "-")
    return (
        f'<p id="chain-status" class="chain-note {css}">{mark}Audit chain {_e(chain.label)}: '
        f"{_e(chain.detail)}</p>"
    )


def render_html(report: AuditReport) -> str:
    """The report as one self-contained HTML page: chain status, figures, two charts, tables."""
    per_day = report.baskets_per_day()
    per_type = report.baskets_per("account_type")
    figures = "".join(
        f'<div class="figure"><b>{value}</b>{_e(label)}</div>'
        for label, value in (
            ("baskets deleted", f"{report.deleted:,}"),
            ("basket lines deleted", f"{report.lines:,}"),
            ("baskets restored", f"{report.restored:,}"),
            ("days", f"{len(per_day):,}"),
        )
    )
    detail_rows = "".join(
        f"<tr><td>{row.day:%Y-%m-%d}</td><td>{_e(row.reason)}</td><td>{_e(row.account_type)}</td>"
        f'<td>{_e(row.actor)}</td><td>{_e(row.actor_role)}</td><td class="n">{int(row.baskets):,}</td>'
        f'<td class="n">{int(row.lines):,}</td></tr>'
        for row in report.table.itertuples(index=False)
    )
    chain = chain_status_html(report.chain, report.generated_by)
    banner, note = (chain, "") if report.chain.intact is False else ("", chain)
    return f"""{HTML_START}<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Basket audit report {report.window.since:%Y-%m-%d} to {report.window.until:%Y-%m-%d}</title>
<style>{_CSS}</style>
</head>
<body>
{banner}<h1>Deleted baskets: audit report</h1>
<p class="meta">{_e(report.window.describe())} &middot; generated {report.generated_at:%Y-%m-%d %H:%M} UTC
by {_e(report.generated_by)}</p>
{note}<div class="figures">{figures}</div>
<h2>Deletions per day (UTC)</h2>
{svg_bar_chart_per_day(per_day, "Deleted baskets per day (UTC)")}
<h2>Deletions per account type</h2>
{svg_bar_chart_per_category(per_type, "Deleted baskets per account type", "chart-per-account-type")}
{_html_table(per_type, "account type", report.deleted)}
<h2>Per reason</h2>
{_html_table(report.baskets_per("reason"), "reason", report.deleted)}
<h2>Per actor</h2>
{_html_table(report.baskets_per("actor"), "actor", report.deleted)}
<h2>Detail</h2>
<table><thead><tr><th>day (UTC)</th><th>reason</th><th>account type</th><th>actor</th><th>role</th>
<th>baskets</th><th>lines</th></tr></thead>
<tbody>{detail_rows or "<tr><td colspan=7>no deletions in this period</td></tr>"}</tbody></table>
</body>
</html>
"""


def render_markdown(report: AuditReport, path: Path | None = None) -> str:
    """A short markdown summary (the flow's artifact): window, totals, chain, breakdowns."""

    def table(series: pd.Series, heading: str) -> str:
        rows = "\n".join(f"| {name} | {int(count):,} |" for name, count in series.items())
        return f"| {heading} | baskets |\n| --- | ---: |\n{rows or '| (none) | 0 |'}"

    lines = [
        "# Basket audit report",
        "",
        f"**Window:** {report.window.describe()}  ",
        f"**Deleted:** {report.deleted:,} baskets with {report.lines:,} lines  ",
        f"**Restored:** {report.restored:,}  ",
        f"**Audit chain:** {report.chain.label} — {report.chain.detail}",
    ]
    if path is not None:
        lines.append(f"**Report file:** `{path}`")
    lines += [
        "",
        table(report.baskets_per("account_type"), "account type"),
        "",
        table(report.baskets_per("reason"), "reason"),
        "",
        table(report.baskets_per("actor"), "actor"),
    ]
    return "\n".join(lines) + "\n"
