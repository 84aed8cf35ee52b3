"""The audit report as HTML and markdown: one self-contained file, inline SVG charts and inline CSS,
no script and no external reference, so it opens on a machine without network access."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from baskets.audit_report.data import AuditReport, ChainStatus
from baskets.files import HTML_MARK
from baskets.roles import RETENTION_ACTOR

# How an HTML report begins: what recognises it as one the suite wrote (see baskets.files).
HTML_START = f"<!DOCTYPE html>\n{HTML_MARK}\n"

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
            ("erasures on request", f"{report.erasures:,}"),
            ("audit rows redacted", f"{report.redacted:,}"),
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
        f"**Erasures on request:** {report.erasures:,}; **audit rows redacted:** {report.redacted:,}  ",
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
