"""Settings: defaults, the layering of sources, and one-line refusals of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_come_from_the_default_settings_file() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/baskets.db"
    assert settings.retention.days == {"anonymous": 30, "contact": 90, "customer": 180}
    assert settings.retention.empty_basket_days == 1
    assert settings.retention.max_share == 0.25
    assert settings.schedule.cleanup_cron == "30 2 * * *"
    assert settings.schedule.timezone == "UTC"
    assert settings.alerts.stale_after_hours == 26


def test_config_file_then_environment_then_flags_override_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        'database_url = "sqlite:///from-file.db"\n'
        "[retention]\nbatch_size = 250\ndays = { anonymous = 7 }\n"
        '[schedule]\ntimezone = "Europe/Amsterdam"\n'
    )
    monkeypatch.setenv("BASKETS_CONFIG", str(config))
    from_file = load_settings()
    assert from_file.database_url == "sqlite:///from-file.db"
    assert from_file.retention.batch_size == 250
    # A partial table in the site file keeps the other defaults.
    assert from_file.retention.days == {"anonymous": 7, "contact": 90, "customer": 180}
    assert from_file.schedule.timezone == "Europe/Amsterdam"

    monkeypatch.setenv("BASKETS_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_SIZE", "500")
    from_env = load_settings()
    assert from_env.database_url == "sqlite:///from-env.db"
    assert from_env.retention.batch_size == 500

    from_flag = load_settings(database_url="postgresql://root@127.0.0.1/test")
    assert from_flag.database_url == "postgresql://root@127.0.0.1/test"
    assert from_flag.retention.batch_size == 500


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BASKETS_RETENTION__DAYS", '{"anonymous": 0}', "setting retention.days: anonymous: 0 is below 1"),
        ("BASKETS_RETENTION__DAYS", '{"guest": 3}', "setting retention.days: unknown account type 'guest'"),
        ("BASKETS_DATABASE_URL", "not a url", "setting database_url: 'not a url' is not a database URL"),
        ("BASKETS_DATABASE_URL", "oracle://x/y", "setting database_url: 'oracle' is not a supported"),
        ("BASKETS_RETENTION__EMPTY_BASKET_DAYS", "0", "setting retention.empty_basket_days: 0 is below 1"),
        (
            "BASKETS_RETENTION__DAYS",
            '{"anonymous": 36501}',
            "setting retention.days: anonymous: 36501 is above 36500 (a century at most",
        ),
        (
            "BASKETS_RETENTION__EMPTY_BASKET_DAYS",
            "99999999999999999999",
            "setting retention.empty_basket_days: 99999999999999999999 is above 36500",
        ),
        ("BASKETS_RETENTION__MAX_SHARE", "1.5", "setting retention.max_share: 1.5 is not a share"),
        (
            "BASKETS_RETENTION__BATCH_SIZE",
            "many",
            "setting retention.batch_size: 'many' is not a whole number",
        ),
        (
            "BASKETS_SCHEDULE__TIMEZONE",
            "Mars/Base",
            "setting schedule.timezone: 'Mars/Base' is not a time zone",
        ),
    ],
)
def test_bad_setting_is_refused_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith(expected)
    assert "\n" not in str(refused.value)


def test_missing_config_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BASKETS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="BASKETS_CONFIG: .* is not a file"):
        load_settings()


def test_bad_setting_exits_2_through_the_command_line(cli, tmp_path: Path) -> None:
    result = cli("init", env={"BASKETS_RETENTION__DAYS": '{"customer": -5}'})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: setting retention.days: customer: -5 is below 1 (expected whole days >= 1, e.g. 30)"
    )
    assert not (tmp_path / "var").exists()
