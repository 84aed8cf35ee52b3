"""`baskets cleanup`, `status` and `audit show` print their text and their `--json` from one
result model (flows/results.py): each test renders one model both ways and checks both."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from cli import audit as audit_cli
from cli import cleanup as cleanup_cli
from cli import status as status_cli
from flows.results import AuditShowResult, CleanupDryRunResult, CleanupResult, StatusResult

AS_OF = "2026-10-08T02:30:00+00:00"
CUTOFFS = {
    "anonymous": "2026-09-08T02:30:00+00:00",
    "contact": "2026-07-10T02:30:00+00:00",
    "customer": "2026-04-11T02:30:00+00:00",
    "empty": "2026-10-01T02:30:00+00:00",
}
PRIVACY = {
    "audit_cutoff": "2025-10-08T02:30:00+00:00",
    "audit_rows_redacted": 7,
    "files_cutoff": "2026-09-08T02:30:00+00:00",
    "files_removed": 1,
}
ABOUT_RUN: dict[str, Any] = {
    "run_id": 12, "flow_run_id": None, "actor": "alice", "as_of": AS_OF, "all_baskets": 4_000,
    "share": 0.3085, "max_share": 0.5, "over_limit": False, "cutoffs": CUTOFFS, "privacy": PRIVACY,
}  # fmt: skip


def both_outputs(render: Any, model: Any, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    """What `render(model, json_output)` prints as text, and as JSON."""
    render(model, False)
    text = capsys.readouterr().out
    render(model, True)
    return text, json.loads(capsys.readouterr().out)


def test_cleanup_dry_run_text_and_json_come_from_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    model = CleanupDryRunResult(
        **ABOUT_RUN,
        seconds={"planning": 0.25},
        would_delete={"anonymous": 1_000, "contact": 34, "customer": 200, "empty": 0},
        would_delete_total=1_234,
    )
    text, payload = both_outputs(cleanup_cli._report, model, capsys)

    assert payload == model.model_dump(mode="json")
    assert (payload["dry_run"], payload["would_delete_total"], payload["privacy"]["audit_rows_redacted"]) == (
        True, 1_234, 7,
    )  # fmt: skip
    assert "selected" not in payload and "deleted" not in payload  # a dry run deletes nothing
    assert "dry run as of 2026-10-08 02:30:00 UTC" in text
    assert "1,000  anonymous" in text and "(last modified before 2026-09-08 02:30)" in text
    assert "1,234  in all, of 4,000 baskets (30.9%; the limit is 50%)" in text
    assert "would redact 7 audit rows written before 2025-10-08 02:30, would remove 1 file" in text


def test_cleanup_run_text_and_json_come_from_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    counts = {"selected": 10, "deleted": 8, "survived": 1, "gone": 0, "skipped": 1}
    model = CleanupResult(
        **ABOUT_RUN,
        seconds={"planning": 0.1, "deleting": 2.0},
        **{name: 0 for name in counts},
        per_category={name: counts if name == "anonymous" else {} for name in CUTOFFS},
        batches=3, failed_batches=1, skipped_basket_ids=["b1"], skip_reasons={"lock wait timeout": 1},
        longest_batch_seconds=0.412, snapshot="/exports/s.parquet", snapshot_rows=8,
    )  # fmt: skip
    model = model.model_copy(update=counts)
    text, payload = both_outputs(cleanup_cli._report, model, capsys)

    assert payload == model.model_dump(mode="json")
    assert payload["per_category"]["anonymous"] == counts and payload["per_category"]["empty"]["deleted"] == 0
    assert (payload["deleted"], payload["skip_reasons"], payload["heartbeat"]) == (
        8, {"lock wait timeout": 1}, None
    )  # fmt: skip
    assert "retention cleanup as of 2026-10-08 02:30:00 UTC by alice (run 12):" in text
    assert "selected        10  deleted         8  survived      1  skipped      1" in text
    assert "deleted 8 in 3 batches (longest 0.412 s); snapshot /exports/s.parquet" in text
    assert "redacted 7 audit rows" in text
    assert model.incomplete_message() == (
        "retention cleanup incomplete: skipped 1 basket: lock wait timeout (left for the next run: b1); "
        "deleted 8, survived 1; 1 of 3 batches failed after retries"
    )


def test_status_text_and_json_come_from_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    finished = dt.datetime(2026, 10, 8, 1, 0, tzinfo=dt.UTC)
    run = {
        "status": "succeeded", "completed_at": finished, "started_at": finished, "finished_at": finished,
        "as_of": finished, "actor": "retention-policy", "dry_run": False, "selected": 20, "deleted": 18,
        "survived": 1, "skipped": 1, "flow_run_id": "run-1", "reason": None,
        "privacy": {"audit_rows_redacted": 3, "files_removed": 0},
    }  # fmt: skip
    model = StatusResult(
        healthy=True, problems=[], checked_at=finished + dt.timedelta(hours=3), stale_after_hours=26,
        hours_since_success=3.0, last_success=run, last_run=run,
        baskets={"anonymous": 1, "contact": 0, "customer": 1, "total": 2},
        expired_waiting={"anonymous": 1, "contact": 0, "customer": 0, "total": 1},
        audit_head={"seq": 42, "hash": "ab" * 32}, redacted_audit_rows={"retention": 3},
        database="sqlite:///var/baskets.db",
        alert_channels={"email": {"configured": False}, "webhook": {"configured": True, "url": "https://h/…"}},
        alerts_sent=[{"channel": "webhook", "target": "https://h/…", "delivered": False, "error": "refused"}],
    )  # fmt: skip

    def render(report: StatusResult, json_output: bool) -> None:
        status_cli.emit_json(report) if json_output else status_cli._print_report(report)

    text, payload = both_outputs(render, model, capsys)

    assert payload["checked_at"] == "2026-10-08T04:00:00+00:00"
    assert payload["last_success"]["completed_at"] == "2026-10-08T01:00:00+00:00"
    assert (payload["last_success"]["deleted"], payload["audit_head"]) == (18, {"seq": 42, "hash": "ab" * 32})
    assert payload["alerts_sent"] == [
        {"channel": "webhook", "target": "https://h/…", "delivered": False, "error": "refused"}
    ]
    assert "healthy: retention-cleanup succeeded 3 hours ago" in text
    assert "2026-10-08 01:00 UTC by retention-policy: selected 20, deleted 18, survived 1, skipped 1" in text
    assert "last success redacted 3 audit rows, removed 0 files; redacted in all: 3 by retention" in text
    assert "last run" not in text  # the same run as the last success
    assert f"#42 {'ab' * 32}" in text and "2 (anonymous 1, contact 0, customer 1)" in text
    assert "alert by webhook to https://h/…: FAILED: refused" in text


def test_audit_show_text_and_json_come_from_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    at = dt.datetime(2026, 10, 8, 2, 30, tzinfo=dt.UTC)
    row = {
        "seq": 1, "event": "deleted", "basket_id": "b1", "occurred_at": at, "actor": "bob",
        "actor_role": "support", "reason": "manual", "note": None, "flow_run_id": None,
        "shop_account_id": None, "shop_account_name": None, "shop_account_email": None,
        "account_id": None, "account_name": None, "account_email": None, "account_type": "Customer",
        "basket_created_at": at, "basket_modified_at": at, "line_count": 1,
        "total_quantity": Decimal("2.500"), "detail": None, "redacted_at": at, "redaction": "retention",
        "prev_hash": "0" * 64, "hash": "f" * 64, "personal_digest": "d" * 64, "personal_salt": "s",
        "legacy_hash": None,
    }  # fmt: skip
    lines = [{"id": 7, "product_id": "P-1", "variant_id": None, "quantity": Decimal("2.500"), "uom_id": "EA"}]
    kept = audit_cli._audit_event({**row, "lines": '[{"id":7,"product_id":"P-1","variant_id":null,'
                                   '"quantity":"2.5","uom_id":"EA"}]'})  # fmt: skip
    redacted = audit_cli._audit_event({**row, "seq": 2, "lines": None})
    model = AuditShowResult(basket_id="b1", events=[kept, redacted])

    def render(shown: AuditShowResult, json_output: bool) -> None:
        if json_output:
            audit_cli.emit_json(shown)
            return
        for event in shown.events:
            audit_cli.stdout.print(audit_cli._event_table(event))
            if event.lines is not None:
                audit_cli.stdout.print(audit_cli._lines_table(event.lines))

    text, payload = both_outputs(render, model, capsys)

    first, second = payload["events"]
    assert first["lines"] == [{**lines[0], "quantity": "2.5"}] and first["total_quantity"] == "2.5"
    assert second["lines"] is None and "personal_salt" not in second and "legacy_hash" not in second
    assert (
        first["redacted"]
        == "its audit row (seq 1) was redacted on 2026-10-08 02:30 UTC: "
        + (first["redacted"].split(": ", 1)[1])
    )
    assert first["occurred_at"] == "2026-10-08T02:30:00+00:00"
    assert "seq 1: deleted" in text and "seq 2: deleted" in text and "P-1" in text
    assert "audit row (seq 2) was redacted on 2026-10-08 02:30 UTC" in text
