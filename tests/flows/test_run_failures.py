"""A run started from a Prefect run form that fails as expected ends Failed with one line for the
person at the form: it names the form field (not a command-line flag) and its log has no traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from baskets.errors import BasketsError, NotFound, NotPermitted
from flows.failures import form_message
from tests.conftest import DatabaseUnderTest, add_operators, seed

UNKNOWN_BASKET = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.fixture
def store(db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DatabaseUnderTest:
    add_operators(db)
    seed(db, 20)
    monkeypatch.setenv("BASKETS_DATABASE_URL", db.url)
    monkeypatch.setenv("BASKETS_EXPORT_DIR", str(tmp_path / "exports"))
    return db


@pytest.fixture
def logs_to_api(prefect_harness: None) -> Iterator[None]:
    """Send run logs (from INFO up) to the Prefect API for this test, as a served run does."""
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    _warm_up_run_logging()
    run_logger = logging.getLogger("prefect.flow_runs")
    level = run_logger.level
    run_logger.setLevel(logging.INFO)
    try:
        with temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: True}):
            yield
    finally:
        run_logger.setLevel(level)


def _warm_up_run_logging() -> None:
    """Run one empty flow first: Prefect sets its loggers' levels up during the first flow run of
    a process, which would undo the INFO level set here for the first run under test."""
    from prefect import flow

    flow(name="warm-up")(lambda: None)()


def run_log(flow_run_id: Any) -> str:
    """Every line the run logged, as the Prefect UI shows them (the log worker is told to send
    what it holds now, instead of at its next batch interval, 2 s by default)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    wanted = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + 30
    while True:
        APILogWorker.drain_all(timeout=5)
        with get_client(sync_client=True) as client:
            text = "\n".join(log.message for log in client.read_logs(log_filter=wanted))
        if "Finished in state Failed" in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "Finished in state Failed" in text  # the log reached the API, so it can be searched
    return text


def _export(**given: Any) -> Any:
    from flows.export import report_export

    return report_export(**given, return_state=True)


def _delete(**given: Any) -> Any:
    from flows.delete import basket_delete

    return basket_delete(**given, return_state=True)


def _restore(**given: Any) -> Any:
    from flows.delete import basket_restore

    return basket_restore(**{"basket_id": UNKNOWN_BASKET, **given}, return_state=True)


def _audit_report(**given: Any) -> Any:
    from flows.audit_report import audit_report

    return audit_report(**given, return_state=True)


def _cleanup(**given: Any) -> Any:
    from flows.retention import retention_cleanup

    return retention_cleanup(**given, return_state=True)


RUNS: dict[str, Callable[..., Any]] = {
    "report-export": _export,
    "basket-delete": lambda **given: _delete(account_type="anonymous", **given),
    "basket-restore": _restore,
    "audit-report": _audit_report,
}


@pytest.mark.parametrize("flow", sorted(RUNS))
@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("", "operator: {action} needs an operator (type your operator name)"),
        ("carol", "operator: 'carol' is a content_manager: only "),
        ("mallory", "operator: no operator named 'mallory' (an administrator adds one with "),
        ("al\x00ice", "operator: character 3 is U+0000, a control or invisible character"),
    ],
)
@pytest.mark.backend_independent
def test_a_refused_operator_fails_the_run_naming_the_operator_field_without_a_traceback(
    store: DatabaseUnderTest, logs_to_api: None, flow: str, operator: str, expected: str
) -> None:
    state = RUNS[flow](operator=operator)
    actions = {
        "report-export": "export baskets",
        "basket-delete": "delete baskets",
        "basket-restore": "restore baskets",
        "audit-report": "read the audit log",
    }
    assert state.is_failed()
    assert state.message.startswith(expected.format(action=actions[flow])), state.message
    assert "--as" not in state.message and "pass " not in state.message
    log = run_log(state.state_details.flow_run_id)
    assert "Traceback" not in log and "--as" not in log
    # One failure line, the run's own: no task-level "Finished in state Failed(... NotPermitted ...)".
    failed = [line for line in log.splitlines() if "Failed" in line and not line.startswith("Running hook")]
    assert len(failed) == 1 and state.message in failed[0] and "encountered an exception" not in log, failed


@pytest.mark.backend_independent
def test_a_forced_cleanup_by_an_order_processor_fails_naming_the_force_field(
    store: DatabaseUnderTest, logs_to_api: None
) -> None:
    state = _cleanup(operator="bob", force=True)
    assert state.is_failed()
    assert state.message.startswith("operator: 'bob' is an order_processor: only system_administrator")
    blank = _cleanup(operator="", force=True)
    assert blank.message == "force: only a system administrator may force a cleanup (type one as `operator`)"
    for run in (state, blank):
        assert "--" not in run.message
        assert "Traceback" not in run_log(run.state_details.flow_run_id)


@pytest.mark.parametrize(
    ("flow", "given", "expected"),
    [
        (
            _delete,
            {"operator": "bob", "basket_ids": [UNKNOWN_BASKET]},
            f"basket_ids: no basket with ID {UNKNOWN_BASKET}: nothing was deleted",
        ),
        (_restore, {"operator": "alice"}, f"basket_id: no deleted basket {UNKNOWN_BASKET} in the audit log"),
        (_delete, {"operator": "bob", "basket_ids": ["abc"]}, "basket_ids: 'abc' is not a GUID"),
        (_delete, {"operator": "bob", "basket_id": "abc"}, "basket_id: 'abc' is not a GUID"),
        (_export, {"operator": "bob", "account_id": "C" * 51}, "account_id: 51 characters is longer"),
        (
            _delete,
            {"operator": "bob"},
            "no basket IDs and no filter: fill in one (e.g. `account_type` anonymous), "
            "or use `delete_all` to delete every basket",
        ),
        (
            _delete,
            {"operator": "bob", "basket_ids": [UNKNOWN_BASKET], "account_type": "customer"},
            "basket_ids: give basket IDs or filters, not both (empty one of them)",
        ),
        (
            _delete,
            {"operator": "bob", "account_type": "contact", "note": "n" * 2001},
            "note: 2001 characters",
        ),
    ],
)
@pytest.mark.backend_independent
def test_nothing_found_or_a_bad_field_fails_the_run_naming_the_field_without_a_traceback(
    store: DatabaseUnderTest,
    logs_to_api: None,
    flow: Callable[..., Any],
    given: dict[str, Any],
    expected: str,
) -> None:
    state = flow(**given)
    assert state.is_failed()
    assert state.message.startswith(expected), state.message
    assert "--" not in state.message and "BASKET_ID" not in state.message
    log = run_log(state.state_details.flow_run_id)
    assert "Traceback" not in log and "encountered an exception" not in log and "--" not in log


@pytest.mark.backend_independent
def test_a_refused_run_still_raises_its_error_to_a_python_caller(
    store: DatabaseUnderTest, prefect_harness: None
) -> None:
    from flows.delete import basket_delete

    with pytest.raises(
        NotFound, match=f"^basket_ids: no basket with ID {UNKNOWN_BASKET}: nothing was deleted$"
    ):
        basket_delete(operator="bob", basket_ids=[UNKNOWN_BASKET])
    with pytest.raises(NotPermitted, match="^operator: no operator named 'mallory'"):
        basket_delete(operator="mallory", basket_ids=[UNKNOWN_BASKET])


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (BasketsError("database is locked"), "database is locked"),
        (BasketsError("note: too long", field="note"), "note: too long"),
        (BasketsError("basket_id: 'x' is not a GUID", field="basket_id"), "basket_id: 'x' is not a GUID"),
        (
            BasketsError("output: 'a.csv' exists (use `overwrite` to replace it)", field="output"),
            "output: 'a.csv' exists (use `overwrite` to replace it)",
        ),
        (
            BasketsError("operator: 'bob' is a marketer\nsecond line", field="operator"),
            "operator: 'bob' is a marketer",
        ),
    ],
)
def test_a_form_message_is_the_errors_field_named_line(error: BasketsError, expected: str) -> None:
    assert form_message(error) == expected


@pytest.mark.parametrize(
    ("flow", "given", "expected"),
    [
        (_cleanup, {"now": "yesterday"}, "now: 'yesterday' is not an ISO date or datetime"),
        (_audit_report, {"operator": "bob", "since": "last week"}, "since: 'last week' is not an ISO date"),
        (
            _audit_report,
            {"operator": "bob", "since": "2026-10-05", "until": "2026-10-01"},
            "since: 2026-10-05 00:00 is not before `until` 2026-10-02 00:00",
        ),
    ],
)
@pytest.mark.backend_independent
def test_a_malformed_time_typed_into_a_run_form_fails_naming_its_field(
    store: DatabaseUnderTest,
    logs_to_api: None,
    flow: Callable[..., Any],
    given: dict[str, Any],
    expected: str,
) -> None:
    state = flow(**given)
    assert state.is_failed()
    assert state.message.startswith(expected), state.message
    assert "Traceback" not in run_log(state.state_details.flow_run_id)
