"""The deployments load with their names, schedules, time zones, limits and run forms; prefect.yaml agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import ScheduleSettings, Settings, load_settings

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


def test_the_four_deployments_load_with_their_names_and_module_entrypoints() -> None:
    found = deployments()
    assert {name: d.entrypoint for name, d in found.items()} == {
        "retention-cleanup/nightly": "flows.retention.retention_cleanup",
        "report-export/on-demand": "flows.export.report_export",
        "basket-delete/on-demand": "flows.delete.basket_delete",
        "audit-report/weekly": "flows.audit_report.audit_report",
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


def test_export_and_delete_run_only_on_demand() -> None:
    found = deployments()
    assert found["report-export/on-demand"].schedules == []
    assert found["basket-delete/on-demand"].schedules == []


def test_export_run_form_starts_with_every_basket_as_csv_to_the_export_folder() -> None:
    export = deployments()["report-export/on-demand"]
    assert export.parameters == {"basket_filter": {}, "format": "csv", "output": None}


@pytest.mark.parametrize("name", ["report-export/on-demand", "basket-delete/on-demand"])
def test_run_forms_show_the_basket_filter_and_operator_fields(name: str) -> None:
    schema = deployments()[name]._parameter_openapi_schema.model_dump()
    assert "operator" in schema["properties"]
    filter_field = schema["properties"]["basket_filter"]
    assert "#/definitions/BasketFilter" in [f.get("$ref") for f in filter_field.get("anyOf", [filter_field])]
    basket_filter = schema["definitions"]["BasketFilter"]
    assert set(basket_filter["properties"]) == FILTER_FIELDS
    account_type = basket_filter["properties"]["account_type"]["anyOf"][0]
    assert account_type["enum"] == ["customer", "anonymous", "contact"]
    assert basket_filter["properties"]["modified_before"]["anyOf"][0]["format"] == "date-time"


def test_audit_report_run_form_asks_for_operator_window_and_format() -> None:
    schema = deployments()["audit-report/weekly"]._parameter_openapi_schema.model_dump()
    assert schema["required"] == ["operator"]
    assert schema["properties"]["report_format"]["enum"] == ["html", "csv", "parquet"]
    assert schema["properties"]["since"]["anyOf"][0]["format"] == "date-time"
    assert schema["properties"]["days"]["default"] == 7


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
    nightly = next(d for d in model.deployments if d.name == "nightly")
    assert nightly.concurrency_limit.limit == 1  # type: ignore[union-attr]
    assert nightly.concurrency_limit.collision_strategy == "CANCEL_NEW"  # type: ignore[union-attr]
