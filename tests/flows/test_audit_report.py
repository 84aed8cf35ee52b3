"""The `audit-report` flow and `baskets audit report`: the file, the artifact, the exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import update

from baskets.errors import AuditChainBroken, NotPermitted
from baskets.models import BasketAudit
from tests.baskets.test_audit_report import WINDOW, sample_events, write_events
from tests.conftest import DatabaseUnderTest, add_operators

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def audited(db: DatabaseUnderTest) -> DatabaseUnderTest:
    add_operators(db)
    write_events(db, sample_events())
    return db


def test_flow_writes_the_report_and_records_a_markdown_artifact(
    audited: DatabaseUnderTest, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.audit_report import audit_report

    result = audit_report(
        operator="bob",
        since=WINDOW.since,
        until=WINDOW.until,
        report_format="html",
        output=str(tmp_path / "week.html"),
        database_url=audited.url,
    )
    assert result["deleted"] == 11
    assert result["chain"] == "intact"
    assert result["path"] == str(tmp_path / "week.html")
    assert 'id="chart-per-day"' in (tmp_path / "week.html").read_text(encoding="utf-8")

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["audit-report"]))
        )
    ours = [a for a in artifacts if str(a.flow_run_id) == result["flow_run_id"]]
    assert len(ours) == 1
    assert ours[0].type == "markdown"
    assert "**Deleted:** 11 baskets with 23 lines" in str(ours[0].data)


def test_flow_refuses_an_operator_without_the_right(audited: DatabaseUnderTest, tmp_path: Path) -> None:
    from flows.audit_report import audit_report

    with pytest.raises(NotPermitted, match="'carol' is a content_manager"):
        audit_report(operator="carol", output=str(tmp_path / "r.csv"), database_url=audited.url)
    assert not (tmp_path / "r.csv").exists()


def test_flow_writes_the_report_then_fails_when_the_chain_is_broken(
    sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    from flows.audit_report import audit_report

    add_operators(sqlite_db)
    write_events(sqlite_db, sample_events())
    with sqlite_db.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 2).values(line_count=99))
    with pytest.raises(AuditChainBroken, match=r"first bad row seq 2: .* \(report written to "):
        audit_report(
            operator="alice", report_format="csv", output=str(tmp_path / "r.csv"), database_url=sqlite_db.url
        )
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").startswith("day,reason,")


def test_scheduled_run_as_the_built_in_actor_reports_the_last_days(
    sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    from baskets.roles import RETENTION_ACTOR
    from flows.audit_report import audit_report
    from tests.baskets.test_audit_report import audit_event

    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    write_events(sqlite_db, [audit_event(recent), audit_event(recent - dt.timedelta(days=10))])
    result = audit_report(
        operator=RETENTION_ACTOR, report_format="parquet", output=str(tmp_path / "w.parquet"),
        database_url=sqlite_db.url,
    )  # fmt: skip
    assert result["deleted"] == 1
    assert result["until"] - result["since"] == dt.timedelta(days=7)
