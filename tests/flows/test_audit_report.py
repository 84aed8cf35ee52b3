"""The `audit-report` flow and `baskets audit report`: the file, the artifact, the exit codes."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from sqlalchemy import update

from baskets.errors import AuditChainBroken, NotPermitted
from baskets.models import BasketAudit
from tests.baskets.audit_report.test_audit_report import WINDOW, sample_events, write_events
from tests.conftest import DatabaseUnderTest, add_operators

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def audited(db: DatabaseUnderTest) -> DatabaseUnderTest:
    add_operators(db)
    write_events(db, sample_events())
    return db


def test_flow_writes_the_report_and_records_a_markdown_artifact(
    audited: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.audit_report import audit_report

    monkeypatch.setenv("BASKETS_DATABASE_URL", audited.url)
    result = audit_report(
        operator="bob",
        since=WINDOW.since.isoformat(),
        until=WINDOW.until.isoformat(),
        report_format="html",
        output=str(tmp_path / "week.html"),
    )
    assert result.deleted == 11
    assert result.chain == "intact"
    assert result.path == str(tmp_path / "week.html")
    assert 'id="chart-per-day"' in (tmp_path / "week.html").read_text(encoding="utf-8")

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["audit-report"]))
        )
    ours = [a for a in artifacts if str(a.flow_run_id) == result.flow_run_id]
    assert len(ours) == 1
    assert ours[0].type == "markdown"
    assert "**Deleted:** 11 baskets with 23 lines" in str(ours[0].data)


@pytest.mark.backend_independent
def test_flow_refuses_an_operator_without_the_right(
    audited: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.audit_report import audit_report

    monkeypatch.setenv("BASKETS_DATABASE_URL", audited.url)
    with pytest.raises(NotPermitted, match="'carol' is a content_manager"):
        audit_report(operator="carol", output=str(tmp_path / "r.csv"))
    assert not (tmp_path / "r.csv").exists()


def test_flow_writes_the_report_then_fails_when_the_chain_is_broken(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.audit_report import audit_report

    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    add_operators(sqlite_db)
    write_events(sqlite_db, sample_events())
    with sqlite_db.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 2).values(line_count=99))
    with pytest.raises(AuditChainBroken, match=r"first bad row seq 2: .* \(report written to "):
        audit_report(operator="alice", report_format="csv", output=str(tmp_path / "r.csv"))
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").startswith("day,reason,")


def test_scheduled_run_as_the_built_in_actor_reports_the_last_days(
    sqlite_db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baskets.roles import RETENTION_ACTOR
    from flows.audit_report import audit_report
    from tests.baskets.audit_report.test_audit_report import audit_event

    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    write_events(sqlite_db, [audit_event(recent), audit_event(recent - dt.timedelta(days=10))])
    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    result = audit_report(
        operator=RETENTION_ACTOR, report_format="parquet", output=str(tmp_path / "w.parquet")
    )
    assert result.deleted == 1
    assert result.until - result.since == dt.timedelta(days=7)


# --- baskets audit report -----------------------------------------------------------------------------


def test_command_writes_the_report_and_prints_json(audited: DatabaseUnderTest, cli, tmp_path: Path) -> None:
    out = tmp_path / "october.csv"
    result = cli(
        "audit", "report", "--since", "2026-10-01", "--until", "2026-10-07", "--format", "csv",
        "--output", str(out), "--json", "--as", "bob", env=audited.env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["deleted"] == 11  # --until 2026-10-07 includes that whole day
    assert summary["until"] == "2026-10-08T00:00:00+00:00"
    assert summary["path"] == str(out)
    assert summary["chain"] == "intact"
    assert summary["flow_run_id"]
    assert (
        out.read_text(encoding="utf-8").splitlines()[0]
        == "day,reason,account_type,actor,actor_role,baskets,lines"
    )


def test_command_defaults_to_html_under_the_export_folder(sqlite_db: DatabaseUnderTest, cli) -> None:
    add_operators(sqlite_db)
    result = cli("audit", "report", "--as", "alice", env=sqlite_db.env)
    assert result.exit_code == 0, result.stderr
    assert "0 baskets deleted from " in result.stdout
    assert "audit chain intact" in result.stdout
    written = Path(result.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    assert written.parent.name == "exports" and written.suffix == ".html"
    assert "<svg" in written.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--format", "pdf"], "error: --format: 'pdf' is not a report format"),
        (["--since", "last week"], "error: --since: 'last week' is not an ISO date or datetime"),
        (
            ["--until", "9999-12-31"],
            "error: --until: '9999-12-31' is out of range (expected a time from 1900",
        ),
        (["--since", "0001-01-01T00:00+01:00"], "error: --since: '0001-01-01T00:00+01:00' is out of range"),
        (
            ["--since", "2026-10-09", "--until", "2026-10-01"],
            "error: --since: 2026-10-09 00:00 is not before",
        ),
    ],
)
def test_command_refuses_bad_input_in_one_line(
    sqlite_db: DatabaseUnderTest, cli, args: list[str], start: str
) -> None:
    add_operators(sqlite_db)
    result = cli("audit", "report", *args, "--as", "alice", env=sqlite_db.env)
    assert result.exit_code == 2
    assert result.stderr.startswith(start)
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["carol", "nobody", "retention-policy"])
@pytest.mark.backend_independent
def test_command_refuses_who_may_not_read_the_audit(
    sqlite_db: DatabaseUnderTest, cli, tmp_path: Path, name: str
) -> None:
    add_operators(sqlite_db)
    result = cli("audit", "report", "--output", str(tmp_path / "r.html"), "--as", name, env=sqlite_db.env)
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_command_exits_6_after_writing_when_the_chain_is_broken(
    audited: DatabaseUnderTest, cli, tmp_path: Path
) -> None:
    with audited.engine.begin() as connection:
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 3).values(reason="manual"))
    out = tmp_path / "r.html"
    result = cli("audit", "report", "--output", str(out), "--as", "alice", env=audited.env)
    assert result.exit_code == 6
    assert result.stderr.startswith("error: audit chain broken: first bad row seq 3: ")
    assert 'class="chain-banner chain-BROKEN" role="alert"' in out.read_text(encoding="utf-8")


# --- where a report may write -----------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_command_never_writes_over_the_database_or_a_file_it_did_not_write(
    sqlite_db: DatabaseUnderTest, cli, tmp_path: Path, overwrite: list[str]
) -> None:
    add_operators(sqlite_db)
    database = Path(sqlite_db.engine.url.database or "")
    mine = tmp_path / "notes.html"
    mine.write_bytes(b"<!DOCTYPE html><p>my notes</p>")
    (tmp_path / "link.html").symlink_to(database)
    for target, says in [
        (database, "is a file of the database itself; not written, even with --overwrite"),
        (Path(f"{database}-wal"), "is a file of the database itself"),
        (tmp_path / "link.html", "is a file of the database itself"),
        (mine, "exists and was not written by basket-maintenance"),
        (tmp_path / "missing" / "r.html", "does not exist (create it first"),
    ]:
        result = cli(
            "audit", "report", "--output", str(target), *overwrite, "--as", "alice", env=sqlite_db.env
        )
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("error: --output: ") and says in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert mine.read_bytes() == b"<!DOCTYPE html><p>my notes</p>"
    assert database.read_bytes().startswith(b"SQLite format 3\x00")
    assert sqlite_db.scalar("SELECT count(*) FROM operators") == 3


@pytest.mark.parametrize("report_format", ["html", "csv", "parquet"])
@pytest.mark.backend_independent
def test_command_replaces_its_own_report_only_with_overwrite_and_keeps_it_private(
    audited: DatabaseUnderTest, cli, tmp_path: Path, report_format: str
) -> None:
    out = tmp_path / f"weekly.{report_format}"
    args = ("audit", "report", "--format", report_format, "--output", str(out), "--as", "alice")
    first = cli(*args, "--since", "2026-10-04", "--until", "2026-10-04", env=audited.env)
    assert first.exit_code == 0, first.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    earlier = out.read_bytes()
    refused = cli(*args, env=audited.env)
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"error: --output: '{out}' exists (use --overwrite")
    assert out.read_bytes() == earlier
    again = cli(*args, "--since", "2026-10-01", "--until", "2026-10-07", "--overwrite", "--json",
                env={**audited.env, "BASKETS_FILE_MODE": "0640"})  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert again.json()["deleted"] == 11 and out.read_bytes() != earlier
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
