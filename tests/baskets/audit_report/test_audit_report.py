"""The audit report: window, aggregation, chain status and the three output formats."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update

from baskets.audit import append_to_chain, lock_chain_head
from baskets.audit_report import (
    REPORT_COLUMNS,
    AuditReport,
    ChainStatus,
    ReportWindow,
    aggregate_deletions,
    authorize_report_reader,
    default_report_path,
    parse_report_format,
    read_audit_report,
    refuse_builtin_actor,
    render_html,
    render_markdown,
    resolve_window,
    svg_bar_chart_per_category,
    svg_bar_chart_per_day,
    write_audit_report,
)
from baskets.db import write_transaction
from baskets.errors import BadInput, NotPermitted
from baskets.files import FileRules
from baskets.models import BasketAudit
from baskets.roles import RETENTION_ACTOR, RETENTION_ROLE
from tests.conftest import NOW, DatabaseUnderTest, add_operators

UTC = dt.UTC


def audit_event(
    occurred_at: dt.datetime,
    *,
    reason: str = "retention",
    account_type: str = "Anonymous",
    actor: str = RETENTION_ACTOR,
    actor_role: str = RETENTION_ROLE,
    line_count: int = 2,
    event: str = "deleted",
) -> dict[str, object]:
    """One audit row as the deleters write it (without seq and hashes)."""
    return {
        "event": event,
        "basket_id": str(uuid.uuid4()),
        "occurred_at": occurred_at,
        "actor": actor,
        "actor_role": actor_role,
        "reason": reason,
        "note": None,
        "flow_run_id": None,
        "shop_account_id": None,
        "shop_account_name": None,
        "shop_account_email": None,
        "account_id": None,
        "account_name": None,
        "account_email": None,
        "account_type": account_type,
        "basket_created_at": occurred_at - dt.timedelta(days=40),
        "basket_modified_at": occurred_at - dt.timedelta(days=35),
        "line_count": line_count,
        "total_quantity": Decimal(line_count),
        "lines": "[]",
    }


def write_events(database: DatabaseUnderTest, events: list[dict[str, object]]) -> None:
    with write_transaction(database.engine) as connection:
        append_to_chain(connection, lock_chain_head(connection), events)


# A week of deletions by three actors for three reasons, plus rows just outside the window.
WINDOW = ReportWindow(since=dt.datetime(2026, 10, 1, tzinfo=UTC), until=dt.datetime(2026, 10, 8, tzinfo=UTC))


def sample_events() -> list[dict[str, object]]:
    day = WINDOW.since
    events = [
        audit_event(day - dt.timedelta(microseconds=1)),  # just before the window
        audit_event(day, account_type="Customer", line_count=5),
        audit_event(day + dt.timedelta(hours=2), account_type="Contact", line_count=0),
        audit_event(day + dt.timedelta(days=2, hours=3), reason="broken", actor="bob",
                    actor_role="order_processor", account_type="Customer", line_count=1),
        audit_event(day + dt.timedelta(days=2, hours=4), reason="manual", actor="alice",
                    actor_role="system_administrator", line_count=3),
        audit_event(day + dt.timedelta(days=2, hours=5), event="restored", reason="restore",
                    actor="alice", actor_role="system_administrator"),
        audit_event(WINDOW.until - dt.timedelta(microseconds=1), account_type="Contact"),
        audit_event(WINDOW.until),  # the end is exclusive
    ]  # fmt: skip
    events += [audit_event(day + dt.timedelta(days=4, minutes=n)) for n in range(6)]
    return events


@pytest.fixture
def audited(db: DatabaseUnderTest) -> DatabaseUnderTest:
    add_operators(db)
    write_events(db, sample_events())
    return db


# --- window and flags -------------------------------------------------------------------------------


def test_date_only_until_includes_that_whole_day() -> None:
    window = resolve_window("2026-10-01", "2026-10-31", NOW)
    assert window.since == dt.datetime(2026, 10, 1, tzinfo=UTC)
    assert window.until == dt.datetime(2026, 11, 1, tzinfo=UTC)


def test_datetime_until_is_exclusive_and_offsets_are_honoured() -> None:
    window = resolve_window("2026-10-01T00:00:00+02:00", "2026-10-02T12:00", NOW)
    assert window.since == dt.datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert window.until == dt.datetime(2026, 10, 2, 12, tzinfo=UTC)


def test_window_defaults_to_the_last_seven_days() -> None:
    window = resolve_window(None, None, NOW)
    assert (window.since, window.until) == (NOW - dt.timedelta(days=7), NOW)


@pytest.mark.parametrize(
    ("since", "until", "flag"),
    [
        ("yesterday", None, "since"),
        (None, "31/10/2026", "until"),
        ("2026-10-05", "2026-10-01", "since"),
    ],
)
def test_bad_window_is_refused_naming_the_field(since: str | None, until: str | None, flag: str) -> None:
    with pytest.raises(BadInput) as refused:
        resolve_window(since, until, NOW)
    assert refused.value.message.startswith(f"{flag}: ")
    assert "2026-10-01" in refused.value.message
    assert "\n" not in refused.value.message


def test_report_format_accepts_the_three_formats_and_refuses_others() -> None:
    assert [parse_report_format(v) for v in ("csv", "Parquet", " HTML ")] == ["csv", "parquet", "html"]
    with pytest.raises(BadInput, match=r"^report_format: 'pdf' is not a report format \(expected csv"):
        parse_report_format("pdf")


def test_default_report_path_is_timestamped_under_the_export_folder() -> None:
    path = default_report_path(Path("var/exports"), "html", NOW)
    assert path == Path("var/exports/audit-report-20261101T120000Z.html")


# --- aggregation ------------------------------------------------------------------------------------


EVENT = st.fixed_dictionaries(
    {
        "occurred_at": st.datetimes(
            min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 1, 10), timezones=st.just(UTC)
        ),
        "reason": st.sampled_from(["retention", "broken", "manual"]),
        "account_type": st.sampled_from(["Customer", "Anonymous", "Contact"]),
        "actor": st.sampled_from(["alice", "bob", RETENTION_ACTOR]),
        "actor_role": st.just("system_administrator"),
        "line_count": st.integers(min_value=0, max_value=20),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(EVENT, max_size=40))
def test_aggregates_equal_an_independent_count(events: list[dict[str, object]]) -> None:
    columns = ["occurred_at", "reason", "account_type", "actor", "actor_role", "line_count"]
    table = aggregate_deletions(pd.DataFrame(events, columns=columns))
    baskets: Counter[tuple[object, ...]] = Counter()
    lines: Counter[tuple[object, ...]] = Counter()
    for event in events:
        key = (event["occurred_at"].date(), event["reason"], event["account_type"], event["actor"])  # type: ignore[attr-defined]
        baskets[key] += 1
        lines[key] += event["line_count"]  # type: ignore[operator]
    got = {
        (row.day, row.reason, row.account_type, row.actor): (row.baskets, row.lines)
        for row in table.itertuples(index=False)
    }
    assert got == {key: (baskets[key], lines[key]) for key in baskets}
    assert list(table.columns) == list(REPORT_COLUMNS)


def test_report_counts_only_deletions_inside_the_window(audited: DatabaseUnderTest) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    # An independent count, straight from the table.
    expected = audited.scalar(
        "SELECT COUNT(*) FROM basket_audit WHERE event = 'deleted' AND occurred_at >= :since "
        "AND occurred_at < :until",
        since=WINDOW.since.replace(tzinfo=None),
        until=WINDOW.until.replace(tzinfo=None),
    )
    assert report.deleted == expected == 11
    assert report.lines == 5 + 0 + 1 + 3 + 2 + 6 * 2
    assert report.restored == 1
    assert report.summary()["per_account_type"] == {"Anonymous": 7, "Customer": 2, "Contact": 2}
    assert report.summary()["per_reason"] == {"retention": 9, "broken": 1, "manual": 1}
    assert report.summary()["per_actor"] == {RETENTION_ACTOR: 9, "alice": 1, "bob": 1}


def test_report_per_day_covers_every_day_of_the_window(audited: DatabaseUnderTest) -> None:
    per_day = read_audit_report(audited.engine, WINDOW, NOW, "alice").baskets_per_day()
    assert [f"{day:%m-%d}" for day in per_day.index] == [f"10-0{n}" for n in range(1, 8)]
    assert per_day.tolist() == [2, 0, 2, 0, 6, 0, 1]


def test_report_of_an_empty_window_has_zero_everywhere(audited: DatabaseUnderTest) -> None:
    quiet = ReportWindow(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 3, tzinfo=UTC))
    report = read_audit_report(audited.engine, quiet, NOW, "alice")
    assert (report.deleted, report.lines, report.restored) == (0, 0, 0)
    assert report.baskets_per_day().tolist() == [0, 0]
    assert "no deletions in this period" in render_html(report)


# --- chain status -----------------------------------------------------------------------------------


def test_report_says_the_chain_is_intact(audited: DatabaseUnderTest) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    assert report.chain.intact is True
    assert report.chain.detail.startswith("14 rows verified; head seq 14")
    assert report.summary()["chain"] == "intact"


def test_report_names_the_first_tampered_row(audited: DatabaseUnderTest) -> None:
    with audited.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 4).values(actor="mallory"))
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    assert report.chain.intact is False
    assert (
        report.chain.detail == "first bad row seq 4: row 4 was changed after it was written (hash mismatch)"
    )
    page = render_html(report)
    assert 'class="chain-banner chain-BROKEN" role="alert"' in page
    assert "BROKEN" in render_markdown(report)


# --- who may read it --------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_administrators_and_order_processors_may_read_the_audit(audited: DatabaseUnderTest) -> None:
    with audited.engine.connect() as connection:
        assert authorize_report_reader(connection, "alice").role == "system_administrator"
        assert authorize_report_reader(connection, "bob").role == "order_processor"
        assert authorize_report_reader(connection, RETENTION_ACTOR).role == RETENTION_ROLE
        with pytest.raises(NotPermitted, match="'carol' is a content_manager"):
            authorize_report_reader(connection, "carol")


def test_a_person_may_not_pass_the_built_in_actor() -> None:
    with pytest.raises(NotPermitted, match="built-in actor"):
        refuse_builtin_actor(RETENTION_ACTOR)
    refuse_builtin_actor("alice")


# --- the files --------------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_html_report_is_self_contained_with_both_charts(audited: DatabaseUnderTest, tmp_path: Path) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    path = write_audit_report(report, "html", tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    day_chart = re.search(r'<svg class="chart" id="chart-per-day".*?</svg>', page, re.S)
    type_chart = re.search(r'<svg class="chart" id="chart-per-account-type".*?</svg>', page, re.S)
    assert day_chart and type_chart
    assert day_chart.group(0).count('<rect class="bar"') == 4  # the days with deletions
    assert day_chart.group(0).count('<text class="day"') == 7  # every day of the window
    assert type_chart.group(0).count('<rect class="bar"') == 3
    assert "2026-10-05: 6 deleted" in day_chart.group(0)
    assert "Anonymous: 7 deleted" in type_chart.group(0)
    # Nothing to fetch: no URL of any scheme, no linked resource, no script.
    assert not re.search(r"https?://", page, re.I)
    assert not re.search(r"\b(src|href)\s*=|<script|<link|@import|url\(", page, re.I)
    assert 'id="chain-status" class="chain-note chain-intact"' in page


@pytest.mark.backend_independent
def test_html_report_escapes_names_from_the_database(db: DatabaseUnderTest, tmp_path: Path) -> None:
    write_events(db, [audit_event(WINDOW.since, actor='<script>alert("x")</script>', reason="manual")])
    page = render_html(read_audit_report(db.engine, WINDOW, NOW, "alice"))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.backend_independent
def test_csv_report_has_one_row_per_day_reason_type_and_actor(
    audited: DatabaseUnderTest, tmp_path: Path
) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    path = write_audit_report(report, "csv", tmp_path / "out" / "report.csv", FileRules(own_folder=tmp_path))
    rows = path.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "day,reason,account_type,actor,actor_role,baskets,lines"
    assert "2026-10-05,retention,Anonymous,retention-policy,system,6,12" in rows
    assert "2026-10-03,broken,Customer,bob,order_processor,1,1" in rows
    assert sum(int(row.split(",")[5]) for row in rows[1:]) == 11
    assert [p.name for p in path.parent.iterdir()] == ["report.csv"]  # no temporary file left


@pytest.mark.backend_independent
def test_parquet_report_is_typed(audited: DatabaseUnderTest, tmp_path: Path) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    table = pq.read_table(write_audit_report(report, "parquet", tmp_path / "report.parquet"))
    assert table.column_names == list(REPORT_COLUMNS)
    assert str(table.schema.field("day").type) == "date32[day]"
    assert str(table.schema.field("baskets").type) == "int64"
    assert sum(table.column("baskets").to_pylist()) == 11
    assert dt.date(2026, 10, 1) in table.column("day").to_pylist()


@pytest.mark.backend_independent
def test_unwritable_output_folder_is_refused(audited: DatabaseUnderTest, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    with pytest.raises(BadInput, match=r"^output: cannot create folder "):
        write_audit_report(report, "csv", blocker / "report.csv", FileRules(own_folder=tmp_path))
    with pytest.raises(BadInput, match=r"^output: folder .* does not exist \(create it first"):
        write_audit_report(report, "csv", blocker / "report.csv")


@pytest.mark.backend_independent
def test_markdown_summary_names_window_totals_and_file(audited: DatabaseUnderTest) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    summary = render_markdown(report, Path("/srv/report.html"))
    assert "**Window:** 2026-10-01 00:00 to 2026-10-08 00:00 UTC" in summary
    assert "**Deleted:** 11 baskets with 23 lines" in summary
    assert "| Anonymous | 7 |" in summary
    assert "`/srv/report.html`" in summary


def test_independent_sql_count_per_account_type_matches(audited: DatabaseUnderTest) -> None:
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    with audited.engine.connect() as connection:
        counted = dict(
            connection.execute(
                text(
                    "SELECT account_type, COUNT(*) FROM basket_audit WHERE event = 'deleted' "
                    "AND occurred_at >= :since AND occurred_at < :until GROUP BY account_type"
                ),
                {"since": WINDOW.since.replace(tzinfo=None), "until": WINDOW.until.replace(tzinfo=None)},
            ).all()
        )
    assert report.summary()["per_account_type"] == counted


# --- reading it at a glance -------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def per_day(first: dt.date, counts: list[int]) -> pd.Series:
    return pd.Series(counts, index=[first + dt.timedelta(days=n) for n in range(len(counts))], dtype="int64")


def parse_svg(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def texts(chart: ET.Element, css: str) -> list[ET.Element]:
    return [node for node in chart.iter(f"{SVG}text") if css in (node.get("class") or "").split()]


def bars(chart: ET.Element) -> list[ET.Element]:
    return [node for node in chart.iter(f"{SVG}rect") if node.get("class") == "bar"]


def test_per_day_chart_writes_each_count_above_its_bar_with_separators() -> None:
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 10, 1), [1234, 0, 56, 1_000_000]), "t"))
    assert [node.text for node in texts(chart, "value")] == ["1,234", "0", "56", "1,000,000"]
    # Each non-zero count sits just above the top of its own bar, centred on it.
    written = [node for node in texts(chart, "value") if node.text != "0"]
    for bar, label in zip(bars(chart), written, strict=True):
        centre = float(bar.get("x")) + float(bar.get("width")) / 2  # type: ignore[arg-type]
        assert abs(float(label.get("x")) - centre) < 0.1  # type: ignore[arg-type]
        assert float(bar.get("y")) - 8 < float(label.get("y")) < float(bar.get("y"))  # type: ignore[arg-type]
    assert texts(chart, "zero")[0].text == "0"  # a quiet day says so, greyed


def test_one_busy_day_in_a_one_day_window_is_a_bar_not_a_block() -> None:
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 10, 1), [17_938]), "t"))
    (bar,) = bars(chart)
    assert float(bar.get("width")) <= 40  # type: ignore[arg-type]
    assert [node.text for node in texts(chart, "value")] == ["17,938"]
    assert [node.text for node in texts(chart, "day")] == ["2026-10-01"]


def test_all_deletions_on_one_day_of_a_week_keep_every_day_on_the_axis() -> None:
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 10, 1), [0] * 6 + [1800]), "t"))
    assert len(bars(chart)) == 1 and float(bars(chart)[0].get("width")) <= 40  # type: ignore[arg-type]
    assert [node.text for node in texts(chart, "day")] == [f"2026-10-0{n}" for n in range(1, 8)]
    assert [node.text for node in texts(chart, "value")] == ["0"] * 6 + ["1,800"]
    # A zero baseline across the whole plot, below every bar.
    baseline = [line for line in chart.iter(f"{SVG}line") if line.get("y1") == line.get("y2")]
    (axis,) = [line for line in baseline if float(line.get("x2")) - float(line.get("x1")) > 800]  # type: ignore[arg-type]
    bar = bars(chart)[0]
    assert float(bar.get("y")) + float(bar.get("height")) == pytest.approx(float(axis.get("y1")))  # type: ignore[arg-type]


def test_thirty_day_window_labels_every_third_day_ending_on_the_last() -> None:
    counts = [(n * 37) % 90 for n in range(30)]
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 10, 1), counts), "t"))
    labels = texts(chart, "day")
    assert [node.text for node in labels] == [f"2026-10-{day:02d}" for day in range(3, 31, 3)]
    gaps = [float(b.get("x")) - float(a.get("x")) for a, b in zip(labels, labels[1:], strict=False)]  # type: ignore[arg-type]
    assert min(gaps) >= 76  # no two dates overlap
    assert all(node.get("transform") is None for node in labels)  # dates read horizontally
    # Every day still has its tick and its count.
    ticks = [line for line in chart.iter(f"{SVG}line") if line.get("x1") == line.get("x2")]
    assert len(ticks) == 30
    assert [node.text for node in texts(chart, "value")] == [f"{count:,}" for count in counts]


def test_counts_too_wide_for_their_slot_are_written_upwards() -> None:
    counts = [14, 0, 17_938] + [20] * 27
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 10, 1), counts), "t"))
    written = {node.text: node for node in texts(chart, "value")}
    assert written["17,938"].get("transform", "").startswith("rotate(-90")
    assert written["14"].get("transform") is None


def test_a_year_long_window_still_writes_the_busiest_days_count() -> None:
    counts = [3] * 365
    counts[200] = 4_321
    chart = parse_svg(svg_bar_chart_per_day(per_day(dt.date(2026, 1, 1), counts), "t"))
    assert [node.text for node in texts(chart, "value")] == ["4,321"]
    assert len(bars(chart)) == 365
    assert 8 <= len(texts(chart, "day")) <= 12


def test_per_category_chart_writes_each_count_with_separators() -> None:
    series = pd.Series({"Anonymous": 12_217, "Customer": 5_512, "Contact": 9}, dtype="int64")
    chart = parse_svg(svg_bar_chart_per_category(series, "t", "chart-per-account-type"))
    assert [node.text for node in texts(chart, "value")] == ["12,217", "5,512", "9"]
    # The longest count still fits inside the chart after the longest bar.
    widest = max(float(bar.get("x")) + float(bar.get("width")) for bar in bars(chart))  # type: ignore[arg-type]
    assert widest + 6 + len("12,217") * 8 <= 900


def report_with_chain(chain: ChainStatus, generated_by: str = "alice") -> AuditReport:
    return AuditReport(
        window=WINDOW,
        generated_at=NOW,
        table=aggregate_deletions(
            pd.DataFrame([], columns=["occurred_at", *REPORT_COLUMNS[1:5], "line_count"])
        ),
        restored=0,
        chain=chain,
        generated_by=generated_by,
    )


BROKEN = ChainStatus(
    False, "first bad row seq 1200: row 1200 was changed after it was written (hash mismatch)"
)


def test_broken_chain_is_a_red_banner_above_everything_naming_the_row_and_the_command() -> None:
    page = render_html(report_with_chain(BROKEN))
    banner = re.search(
        r'<div id="chain-status" class="chain-banner chain-BROKEN" role="alert">(.*?)</div>', page
    )
    assert banner is not None
    assert page.index('role="alert"') < page.index("<h1>")
    assert "First bad row seq 1200: row 1200 was changed after it was written" in banner.group(1)
    assert "<code>baskets audit verify --as alice</code>" in banner.group(1)
    assert re.search(r"\.chain-banner \{[^}]*background: #b3261e", page)  # red


def test_broken_chain_banner_of_the_schedule_asks_for_a_person_and_escapes_names() -> None:
    assert "verify --as NAME</code>" in render_html(report_with_chain(BROKEN, RETENTION_ACTOR))
    page = render_html(report_with_chain(BROKEN, "<b>eve</b>"))
    assert "<b>eve</b>" not in page
    assert "verify --as &lt;b&gt;eve&lt;/b&gt;</code>" in page


def test_intact_chain_is_a_small_green_note_and_no_banner() -> None:
    page = render_html(report_with_chain(ChainStatus(True, "14 rows verified; head seq 14, hash ab12")))
    assert 'role="alert"' not in page and "chain-banner" not in page.split("</style>")[1]
    assert '<p id="chain-status" class="chain-note chain-intact">&#10003; Audit chain intact: 14 rows' in page
    assert page.index('id="chain-status"') > page.index("<h1>")


def test_report_counts_erasures_and_redacted_rows_and_never_shows_their_data(
    audited: DatabaseUnderTest,
) -> None:
    from baskets.privacy.forget import ErasureSubject, erase_personal_data
    from baskets.privacy.redaction import redact_audit_rows
    from baskets.roles import Actor

    with write_transaction(audited.engine) as connection:  # rows 2 and 3 are in the window, 1 is not
        assert redact_audit_rows(connection, [1, 2, 3], reason="retention", when=NOW) == 3
    inside = WINDOW.since + dt.timedelta(days=1)
    erase_personal_data(
        audited.engine, ErasureSubject("account_id", "C-404"), actor=Actor("alice", "system_administrator"),
        reference="GDPR-7", export_dir=Path("/nonexistent"), when=inside,
    )  # fmt: skip
    report = read_audit_report(audited.engine, WINDOW, NOW, "alice")
    assert (report.erasures, report.redacted, report.deleted) == (1, 2, 11)
    assert (report.summary()["erasures"], report.summary()["redacted"]) == (1, 2)
    page = render_html(report)
    assert '<div class="figure"><b>1</b>erasures on request</div>' in page
    assert '<div class="figure"><b>2</b>audit rows redacted</div>' in page
    assert report.chain.intact is True
