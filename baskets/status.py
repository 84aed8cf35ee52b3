"""The health of unattended cleanup: what `baskets status`, the watchdog and the failure alerts read."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, or_, select

from baskets.alerts import Alert
from baskets.audit import chain_head_query
from baskets.models import Basket, CleanupRun
from baskets.privacy.redaction import count_redacted_rows
from baskets.retention.policy import RetentionPolicy, count_expired_baskets
from config.settings import Settings

CLEANUP_FLOW = "retention-cleanup"
WATCHDOG_FLOW = "cleanup-watchdog"
COUNT_NAMES = ("selected", "deleted", "survived", "skipped")


@dataclass(frozen=True)
class CleanupRunSummary:
    """One row of `cleanup_runs`, as the status and alerts show it."""

    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.datetime
    actor: str
    dry_run: bool
    counts: dict[str, int]
    flow_run_id: str | None
    detail: dict[str, Any]

    @property
    def completed_at(self) -> dt.datetime:
        """When the run finished on the clock it ran by: its `as_of` (`--now`) plus its duration.

        For a scheduled run `as_of` is its start, so this is its finish; a run given `--now`
        counts as having run then, so `baskets status --now` agrees with `baskets cleanup --now`.
        """
        if self.finished_at is None:
            return self.as_of
        return self.as_of + max(self.finished_at - self.started_at, dt.timedelta(0))

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "completed_at": self.completed_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "as_of": self.as_of,
            "actor": self.actor,
            "dry_run": self.dry_run,
            **self.counts,
            "flow_run_id": self.flow_run_id,
            "reason": self.reason,
            # What the run redacted and removed (baskets.privacy); None for runs before it did.
            "privacy": self.detail.get("privacy"),
        }

    @property
    def reason(self) -> str | None:
        """Why the run failed, as recorded (None for a run that did not fail)."""
        error = self.detail.get("error")
        return str(error) if error and self.status != "succeeded" else None


@dataclass(frozen=True)
class HealthReport:
    """Everything `baskets status` prints; `healthy` is False when the last success is too old."""

    checked_at: dt.datetime
    stale_after_hours: float
    last_success: CleanupRunSummary | None
    last_run: CleanupRunSummary | None
    baskets: dict[str, int]
    expired_waiting: dict[str, int]
    audit_head_seq: int
    audit_head_hash: str
    problems: list[str] = field(default_factory=list)
    # Audit rows whose personal part is gone, per reason (retention, erasure).
    redacted_audit_rows: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def hours_since_success(self) -> float | None:
        return _hours_between(self.last_success, self.checked_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "problems": list(self.problems),
            "checked_at": self.checked_at,
            "stale_after_hours": self.stale_after_hours,
            "hours_since_success": self.hours_since_success,
            "last_success": self.last_success.as_json() if self.last_success else None,
            "last_run": self.last_run.as_json() if self.last_run else None,
            "baskets": dict(self.baskets),
            "expired_waiting": dict(self.expired_waiting),
            "audit_head": {"seq": self.audit_head_seq, "hash": self.audit_head_hash},
            "redacted_audit_rows": dict(self.redacted_audit_rows),
        }


def _summary(connection: Connection, row: Any) -> CleanupRunSummary:
    """A run's record (a running run's counts are its last committed batch's)."""
    row = SimpleNamespace(**row._mapping)
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {"raw": row.detail}
    return CleanupRunSummary(
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        as_of=row.as_of,
        actor=row.actor,
        dry_run=bool(row.dry_run),
        counts={name: int(getattr(row, name) or 0) for name in COUNT_NAMES},
        flow_run_id=row.flow_run_id,
        detail=detail if isinstance(detail, dict) else {"detail": detail},
    )


# How `record_refused_run` marks a run refused because another held the lock (exit 7): json.dumps's
# spelling of the exit code in its detail. Such a run never started: it is not "the last run".
_REFUSED_OVERLAP = '%"exit_code": 7}%'


def _latest_run(connection: Connection, now: dt.datetime, *conditions: Any) -> CleanupRunSummary | None:
    """The newest non-dry run that had begun by `now` on its own clock (its as_of), leaving out
    runs refused because another was running (they did nothing; the other run is the one to see)."""
    query = (
        select(CleanupRun)
        .where(
            CleanupRun.dry_run.is_(False),
            CleanupRun.as_of <= now,
            or_(CleanupRun.detail.is_(None), CleanupRun.detail.not_like(_REFUSED_OVERLAP)),
            *conditions,
        )
        .order_by(CleanupRun.as_of.desc(), CleanupRun.id.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    return _summary(connection, row) if row else None


def cleanup_run_for_flow_run(connection: Connection, flow_run_id: str) -> CleanupRunSummary | None:
    """The cleanup run recorded by Prefect flow run `flow_run_id`, or None if it recorded none."""
    row = connection.execute(
        select(CleanupRun)
        .where(CleanupRun.flow_run_id == flow_run_id)
        .order_by(CleanupRun.id.desc())
        .limit(1)
    ).first()
    return _summary(connection, row) if row else None


def baskets_per_account_type(connection: Connection) -> dict[str, int]:
    """Baskets per account type (lowercase keys, every type present) plus `total`."""
    from baskets.schema import mapped_schema

    counts = {kind.lower(): 0 for kind in ("Anonymous", "Contact", "Customer")}
    schema = mapped_schema(connection)  # the shop's own tables: the mapped account type
    kind: Any = Basket.account_type if schema is None else schema.account_type().label("account_type")
    source: Any = Basket.__table__ if schema is None else schema.basket
    rows = connection.execute(select(kind, func.count()).select_from(source).group_by(kind))
    for account_type, count in rows:
        counts[str(account_type).lower()] = int(count)
    return {**counts, "total": sum(counts.values())}


def check_health(connection: Connection, settings: Settings, now: dt.datetime) -> HealthReport:
    """Read the cleanup history, the basket counts and the audit head as of `now` (aware UTC).

    Unhealthy when no non-dry cleanup has succeeded within `alerts.stale_after_hours` of `now`.
    Raises nothing of its own; database errors propagate.
    """
    stale_after = settings.alerts.stale_after_hours
    last_success = _latest_run(connection, now, CleanupRun.status == "succeeded")
    last_run = _latest_run(connection, now)
    head = connection.execute(chain_head_query()).first()
    expired = count_expired_baskets(connection, RetentionPolicy.from_settings(settings.retention), now)
    problems = []
    hours = _hours_between(last_success, now)
    if hours is None:
        problems.append(f"no {CLEANUP_FLOW} run has succeeded yet")
    elif hours > stale_after:
        problems.append(
            f"the last successful {CLEANUP_FLOW} finished {hours:g} hours ago "
            f"(alert after {stale_after:g} hours)"
        )
    return HealthReport(
        checked_at=now,
        stale_after_hours=stale_after,
        last_success=last_success,
        last_run=last_run,
        baskets=baskets_per_account_type(connection),
        expired_waiting={**expired, "total": sum(expired.values())},
        audit_head_seq=int(head.seq) if head else 0,
        audit_head_hash=str(head.hash) if head else "",
        problems=problems,
        redacted_audit_rows=count_redacted_rows(connection),
    )


def _hours_between(run: CleanupRunSummary | None, now: dt.datetime) -> float | None:
    if run is None:
        return None
    return round(max((now - run.completed_at).total_seconds(), 0.0) / 3600, 2)


def stale_success_alert(report: HealthReport, database: str | None = None) -> Alert:
    """The alert for an unhealthy report: names the last success, its counts and what waits."""
    last = report.last_success
    counts = dict(last.counts) if last else {}
    counts["expired_waiting"] = report.expired_waiting.get("total", 0)
    return Alert(
        kind="stale-success",
        flow=CLEANUP_FLOW,
        state="Stale",
        reason="; ".join(report.problems) or "cleanup is healthy",
        flow_run_id=last.flow_run_id if last else None,
        counts=counts,
        occurred_at=report.checked_at,
        database=database,
        details={
            "last_success_completed_at": last.completed_at.isoformat() if last else "never",
            "last_run_status": report.last_run.status if report.last_run else "none",
        },
    )


def stale_alert_record(report: HealthReport) -> dict[str, str | None]:
    """What the watchdog remembers after alerting: which success went stale, and when it told."""
    last = report.last_success
    finished = last.completed_at.isoformat() if last else None
    return {"last_success": finished, "alerted_at": report.checked_at.isoformat()}


def stale_alert_due(report: HealthReport, previous: Any, remind_after_hours: float) -> bool:
    """Whether an unhealthy `report` should alert, given the record of the previous alert.

    Once per stale spell: due when nothing was sent for this last success yet, or the last
    alert is `remind_after_hours` old (or lies in the future of `report`, e.g. a test's --now).
    A malformed record counts as none.
    """
    if report.healthy:
        return False
    if not isinstance(previous, dict):
        return True
    if previous.get("last_success") != stale_alert_record(report)["last_success"]:
        return True
    try:
        alerted_at = dt.datetime.fromisoformat(str(previous.get("alerted_at")))
    except ValueError:
        return True
    since = report.checked_at - alerted_at
    return since < dt.timedelta(0) or since >= dt.timedelta(hours=remind_after_hours)
