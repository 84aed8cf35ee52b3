"""The deployments load with their names, schedules, time zones, limits and run forms; prefect.yaml agrees."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.serve import free_port
from config.settings import ScheduleSettings, Settings, load_settings
from tests.conftest import DatabaseUnderTest, add_operators, seed

DEPLOYMENTS_DIR = Path(__file__).resolve().parents[2] / "deployments"
FILTER_FIELDS = {
    "shop_account_name", "shop_account_email", "basket_id", "shop_account_id", "account_id",
    "account_type", "created_before", "created_after", "modified_before", "modified_after",
}  # fmt: skip


def deployments(settings: Settings | None = None) -> dict[str, Any]:
    from deployments.serve import build_deployments

    built = build_deployments(settings or load_settings())
    return {f"{d.flow_name}/{d.name}": d for d in built}


def schedules_of(deployment: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(s.schedule.cron, s.schedule.timezone, s.parameters) for s in deployment.schedules]


def test_the_deployments_load_with_their_names_and_module_entrypoints() -> None:
    found = deployments()
    assert {name: d.entrypoint for name, d in found.items()} == {
        "retention-cleanup/nightly": "flows.retention.retention_cleanup",
        "report-export/on-demand": "flows.export.report_export",
        "basket-delete/on-demand": "flows.delete.basket_delete",
        "basket-forget/on-demand": "flows.forget.basket_forget",
        "audit-report/weekly": "flows.audit_report.audit_report",
        "cleanup-watchdog/hourly": "flows.alerting.cleanup_watchdog",
    }


def test_retention_cleanup_runs_nightly_at_02_30_utc_one_run_at_a_time() -> None:
    nightly = deployments()["retention-cleanup/nightly"]
    assert schedules_of(nightly) == [("30 2 * * *", "UTC", {})]
    assert nightly.concurrency_limit == 1
    assert nightly.concurrency_options.collision_strategy.value == "CANCEL_NEW"


def test_schedules_follow_the_settings_time_and_timezone() -> None:
    settings = Settings(
        schedule=ScheduleSettings(
            cleanup_cron="15 3 * * *", audit_report_cron="0 7 * * 5", timezone="Europe/Amsterdam"
        )
    )
    found = deployments(settings)
    assert schedules_of(found["retention-cleanup/nightly"]) == [("15 3 * * *", "Europe/Amsterdam", {})]
    assert schedules_of(found["audit-report/weekly"]) == [
        ("0 7 * * 5", "Europe/Amsterdam", {"operator": "retention-policy"})
    ]


def test_schedules_follow_baskets_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASKETS_SCHEDULE__CLEANUP_CRON", "0 1 * * *")
    monkeypatch.setenv("BASKETS_SCHEDULE__TIMEZONE", "America/New_York")
    nightly = deployments(load_settings())["retention-cleanup/nightly"]
    assert schedules_of(nightly) == [("0 1 * * *", "America/New_York", {})]


def test_audit_report_runs_weekly_as_the_built_in_actor() -> None:
    weekly = deployments()["audit-report/weekly"]
    assert schedules_of(weekly) == [("0 6 * * 1", "UTC", {"operator": "retention-policy"})]
    assert weekly.concurrency_limit is None


def test_cleanup_watchdog_runs_hourly_in_the_configured_timezone() -> None:
    settings = Settings(schedule=ScheduleSettings(timezone="Europe/Amsterdam"))
    assert schedules_of(deployments(settings)["cleanup-watchdog/hourly"]) == [
        ("0 * * * *", "Europe/Amsterdam", {})
    ]


def test_export_and_delete_run_only_on_demand() -> None:
    found = deployments()
    assert found["report-export/on-demand"].schedules == []
    assert found["basket-delete/on-demand"].schedules == []


def test_export_run_form_starts_with_every_basket_as_csv_to_the_export_folder() -> None:
    export = deployments()["report-export/on-demand"]
    assert export.parameters == {"format": "csv"}


def form_schema(name: str) -> dict[str, Any]:
    return deployments()[name]._parameter_openapi_schema.model_dump()


def choices(field: dict[str, Any]) -> list[str] | None:
    """The drop-down values of a run-form field (a nullable one keeps them in its anyOf)."""
    for shape in [field, *field.get("anyOf", [])]:
        if "enum" in shape:
            return shape["enum"]
    return None


# The deployments whose runs act for a person: their form asks who, and the field is required.
NEEDS_OPERATOR = [
    "report-export/on-demand", "basket-delete/on-demand", "basket-forget/on-demand", "audit-report/weekly"
]  # fmt: skip


@pytest.mark.parametrize("name", ["report-export/on-demand", "basket-delete/on-demand"])
def test_run_forms_show_each_filter_as_its_own_field_not_a_nested_basket_filter(name: str) -> None:
    schema = form_schema(name)
    assert set(schema["properties"]) >= FILTER_FIELDS
    assert "basket_filter" not in schema["properties"] and schema["definitions"] == {}
    assert choices(schema["properties"]["account_type"]) == ["any", "customer", "anonymous", "contact"]
    assert not FILTER_FIELDS & set(schema["required"])


def test_delete_and_export_forms_describe_each_filter_field_alike_from_one_place() -> None:
    from flows import forms

    shown = {
        name: {field: form_schema(name)["properties"][field] for field in FILTER_FIELDS}
        for name in ("report-export/on-demand", "basket-delete/on-demand")
    }
    export, delete = (
        {field: (s["description"], s["default"]) for field, s in f.items()} for f in shown.values()
    )
    assert export == delete
    assert export["account_type"] == (forms.ACCOUNT_TYPE.description, "any")
    assert export["created_before"][0].startswith("Filter - created before this ISO date or time")
    assert {default for _, default in export.values()} == {"", "any"}


@pytest.mark.parametrize("name", sorted(deployments()))
def test_no_field_of_any_run_form_hides_behind_a_none_toggle(name: str) -> None:
    # The UI shows a nullable field (anyOf with null) as a type switch set to None.
    properties = form_schema(name)["properties"]
    assert [field for field, spec in properties.items() if "anyOf" in spec] == []


@pytest.mark.parametrize("name", NEEDS_OPERATOR)
def test_run_forms_require_the_operator_and_ask_for_it_first(name: str) -> None:
    schema = form_schema(name)
    operator = schema["properties"]["operator"]
    assert schema["required"] == ["operator"]
    assert operator["position"] == 0 and operator["type"] == "string"
    assert operator["description"].startswith("Your operator name")


def test_run_forms_offer_reason_and_format_as_drop_downs() -> None:
    reason = form_schema("basket-delete/on-demand")["properties"]["reason"]
    assert (choices(reason), reason["default"]) == (["default", "broken", "manual"], "default")
    assert choices(form_schema("report-export/on-demand")["properties"]["format"]) == [
        "csv",
        "parquet",
        "both",
    ]
    assert choices(form_schema("audit-report/weekly")["properties"]["report_format"]) == [
        "html",
        "csv",
        "parquet",
    ]


@pytest.mark.parametrize("name", sorted(deployments()))
def test_every_run_form_field_has_a_description_the_ui_shows_whole(name: str) -> None:
    # The UI renders descriptions as markdown and HTML: a <placeholder> in one vanishes.
    properties = form_schema(name)["properties"]
    described = {field: spec.get("description") or "" for field, spec in properties.items()}
    assert [field for field, text in described.items() if len(text) < 10] == []
    assert {field: text for field, text in described.items() if "<" in text or ">" in text} == {}


def test_the_cleanup_form_leaves_the_operator_empty_for_the_schedule_to_act_as_retention_policy() -> None:
    schema = form_schema("retention-cleanup/nightly")
    assert schema.get("required", []) == []
    assert "retention-policy" in schema["properties"]["operator"]["description"]


def test_no_run_form_has_a_database_field() -> None:
    # Prefect stores a run's parameters in clear: the database (and its password) comes from the
    # settings of the process that runs the flow, never from the form.
    fields = {
        name: set(d._parameter_openapi_schema.model_dump()["properties"]) for name, d in deployments().items()
    }
    assert fields == {
        "retention-cleanup/nightly": {"now", "dry_run", "force", "operator"},
        "report-export/on-demand": {"operator", *FILTER_FIELDS, "format", "output", "overwrite"},
        "basket-delete/on-demand": {
            "operator",
            "basket_ids",
            *FILTER_FIELDS,
            "delete_all",
            "reason",
            "note",
        },
        "basket-forget/on-demand": {
            "operator",
            "email",
            "account_id",
            "shop_account_id",
            "reference",
            "dry_run",
        },
        "audit-report/weekly": {"operator", "since", "until", "days", "report_format", "output", "overwrite"},
        "cleanup-watchdog/hourly": {"now", "remind_after_hours", "crashed_after_minutes"},
    }


def test_audit_report_run_form_asks_for_operator_window_and_format() -> None:
    schema = form_schema("audit-report/weekly")
    assert schema["required"] == ["operator"]
    assert schema["properties"]["report_format"]["enum"] == ["html", "csv", "parquet"]
    for field in ("since", "until"):
        assert (schema["properties"][field]["type"], schema["properties"][field]["default"]) == ("string", "")
    assert schema["properties"]["days"]["default"] == 7
    assert schema["properties"]["operator"]["description"].startswith("Your operator name")


def test_prefect_yaml_declares_the_same_deployments_as_the_serve_script() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((DEPLOYMENTS_DIR / "prefect.yaml").read_text(encoding="utf-8"))
    model = PrefectYamlModel.model_validate(raw)
    served = deployments()
    by_entrypoint = {d.entrypoint: d for d in served.values()}
    assert sorted(d.entrypoint for d in model.deployments) == sorted(by_entrypoint)
    for declared in model.deployments:
        expected = by_entrypoint[declared.entrypoint]
        assert declared.name == expected.name
        assert declared.work_pool is not None and declared.work_pool.name == "baskets"
        declared_schedules = [
            (s.cron, s.timezone, s.parameters)
            for s in declared.schedules or []  # type: ignore[union-attr]
        ]
        assert declared_schedules == schedules_of(expected)
        assert declared.parameters == expected.parameters
    # No folder of one machine: the pull step makes and enters the worker's own (deployments/steps.py).
    assert raw["pull"] == [{"deployments.steps.enter_working_folder": {}}]
    assert "/srv" not in (DEPLOYMENTS_DIR / "prefect.yaml").read_text(encoding="utf-8").split("\nname:")[1]
    nightly = next(d for d in model.deployments if d.name == "nightly")
    assert nightly.concurrency_limit.limit == 1  # type: ignore[union-attr]
    assert nightly.concurrency_limit.collision_strategy == "CANCEL_NEW"  # type: ignore[union-attr]


# --- end to end: a real Prefect server, served deployments, a run through the API ------------------


class ServeProcess:
    """`baskets serve` as its own process group, its output collected line by line."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(free_port())],
            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen))

    def stop(self) -> int:
        """Ctrl-C as from a terminal; the whole group is killed if it does not stop in time."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_served_report_export_runs_through_the_prefect_api(
    sqlite_db: DatabaseUnderTest, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    add_operators(sqlite_db)
    seed(sqlite_db, 40)
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")},
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # the server's own database, not the harness's
        "BASKETS_DATABASE_URL": sqlite_db.url,
        "BASKETS_EXPORT_DIR": str(tmp_path / "exports"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # pick the run up at once, not within 10 s
    }
    served = ServeProcess(env, tmp_path)
    try:
        ui = served.wait_for_line(r"Prefect UI: (http://127\.0\.0\.1:\d+)", timeout=120).group(1)
        api_url = f"{ui}/api"
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            with get_client(sync_client=True) as client:
                deadline = time.monotonic() + 60
                while True:  # serve registers the deployments a moment after the server is up
                    try:
                        client.read_deployment_by_name("report-export/on-demand")
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
            wanted = tmp_path / "exports" / "customers.csv"
            flow_run = run_deployment(
                "report-export/on-demand",
                parameters={
                    "operator": "bob",
                    "account_type": "customer",
                    "format": "csv",
                    "output": str(wanted),
                },
                timeout=180,
                poll_interval=1,
            )
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        exported = list(csv.DictReader(io.StringIO(wanted.read_text(encoding="utf-8"))))
        assert exported and {row["Account type"] for row in exported} == {"Customer"}
    finally:
        served.stop()
    assert served.process.returncode is not None
