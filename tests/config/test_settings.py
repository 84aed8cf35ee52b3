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
        (
            "BASKETS_DATABASE_URL",
            "postgresql://u:S3cret@h:x/db",
            "setting database_url: 'postgresql://u:***@h:x/db' is not",
        ),
        ("BASKETS_RETENTION__EMPTY_BASKET_DAYS", "0", "setting retention.empty_basket_days: 0 is below 1"),
        (
            "BASKETS_RETENTION__DAYS",
            '{"anonymous": 36501}',
            "setting retention.days: anonymous: 36501 is above 36500 (expected whole days 1..36500",
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


def _with_site_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    config = tmp_path / "site.toml"
    config.write_text(text)
    monkeypatch.setenv("BASKETS_CONFIG", str(config))


def _refusal(**overrides: object) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[retension]\ndays = { customer = 365 }\n",
            "setting retension: unknown setting (expected one of database_url, connect_timeout_seconds, "
            "export_dir, file_mode, operator, retention, privacy, cleanup, schedule, alerts, schema, "
            "bookkeeping_prefix)",
        ),
        (
            "[retention]\nday = { customer = 365 }\n",
            "setting retention.day: unknown setting (expected one of days, empty_basket_days, batch_size, "
            "max_share, batch_retry_delays_seconds)",
        ),
        ("[alerts]\nsmtp_pass = 'x'\n", "setting alerts.smtp_pass: unknown setting (expected one of"),
        ("databse_url = 'sqlite:///other.db'\n", "setting databse_url: unknown setting"),
    ],
)
def test_unknown_key_or_table_in_a_settings_file_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    _with_site_file(monkeypatch, tmp_path, text)
    assert _refusal().startswith(expected)


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "BASKETS_RETENSION__DAYS",
            "BASKETS_RETENSION__DAYS: unknown setting (expected one of BASKETS_DATABASE_URL, "
            "BASKETS_CONNECT_TIMEOUT_SECONDS, BASKETS_EXPORT_DIR, BASKETS_FILE_MODE, BASKETS_OPERATOR, BASKETS_RETENTION, "
            "BASKETS_PRIVACY, "
            "BASKETS_CLEANUP, BASKETS_SCHEDULE, BASKETS_ALERTS, BASKETS_SCHEMA, BASKETS_BOOKKEEPING_PREFIX)",
        ),
        (
            "BASKETS_RETENTION__DAY",
            "BASKETS_RETENTION__DAY: unknown setting (expected one of BASKETS_RETENTION__DAYS, "
            "BASKETS_RETENTION__EMPTY_BASKET_DAYS, BASKETS_RETENTION__BATCH_SIZE, BASKETS_RETENTION__MAX_SHARE, "
            "BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS)",
        ),
        ("BASKETS_DATABASE_URL__HOST", "BASKETS_DATABASE_URL__HOST: unknown setting"),
        ("BASKETS_RETENTION__DAYS__ANONYMOUS__X", "BASKETS_RETENTION__DAYS__ANONYMOUS__X: unknown setting"),
        # The test suite's own variables are BM_*: the old names are unknown to the product.
        ("BASKETS_TEST_BACKENDS", "BASKETS_TEST_BACKENDS: unknown setting"),
        ("BASKETS_EXPORT_TEST_PAUSE_SECONDS", "BASKETS_EXPORT_TEST_PAUSE_SECONDS: unknown setting"),
        ("baskets_retension", "baskets_retension: unknown setting"),
    ],
)
def test_unknown_baskets_variable_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.setenv(variable, "365")
    assert _refusal().startswith(expected)


def test_variables_the_product_reads_besides_settings_are_not_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_site_file(monkeypatch, tmp_path, "[retention]\nbatch_size = 20\n")
    monkeypatch.setenv("BASKETS_DEBUG", "1")
    monkeypatch.setenv("BASKETS_OPERATOR", "alice")
    monkeypatch.setenv("BASKETS_RETENTION__DAYS__CUSTOMER", "365")
    settings = load_settings()
    assert (settings.operator, settings.retention.batch_size) == ("alice", 20)
    assert settings.retention.days == {"anonymous": 30, "contact": 90, "customer": 365}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[retention.days]\nanonymous = true\n",
            "setting retention.days.anonymous: true is not a whole number (expected e.g. 30)",
        ),
        (
            "[retention.days]\nanonymous = 30.0\n",
            "setting retention.days.anonymous: 30.0 is not a whole number",
        ),
        ("[retention]\nmax_share = true\n", "setting retention.max_share: true is not a number"),
        ("[retention]\nbatch_size = '500'\n", "setting retention.batch_size: '500' is not a whole number"),
        ("[retention]\nempty_basket_days = false\n", "setting retention.empty_basket_days: false is not"),
        ("[alerts]\nsmtp_port = true\n", "setting alerts.smtp_port: true is not a whole number"),
        ("[alerts]\nstale_after_hours = '26'\n", "setting alerts.stale_after_hours: '26' is not a number"),
        ("[alerts]\nsmtp_starttls = 'yes'\n", "setting alerts.smtp_starttls: 'yes' is not true or false"),
        ("[alerts]\nsmtp_starttls = 1\n", "setting alerts.smtp_starttls: 1 is not true or false"),
        ("connect_timeout_seconds = true\n", "setting connect_timeout_seconds: true is not a number"),
        ("retention = 5\n", "setting retention: 5 is not a table"),
    ],
)
def test_value_of_the_wrong_type_in_a_settings_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    _with_site_file(monkeypatch, tmp_path, text)
    assert _refusal().startswith(expected)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "BASKETS_RETENTION__DAYS__ANONYMOUS",
            "true",
            "setting retention.days.anonymous: 'true' is not a whole",
        ),
        ("BASKETS_RETENTION__DAYS", '{"anonymous": true}', "setting retention.days.anonymous: true is not a"),
        (
            "BASKETS_RETENTION__BATCH_SIZE",
            "true",
            "setting retention.batch_size: 'true' is not a whole number",
        ),
        ("BASKETS_RETENTION__BATCH_SIZE", "1e3", "setting retention.batch_size: '1e3' is not a whole number"),
        ("BASKETS_RETENTION__MAX_SHARE", "true", "setting retention.max_share: 'true' is not a number"),
        (
            "BASKETS_ALERTS__SMTP_STARTTLS",
            "maybe",
            "setting alerts.smtp_starttls: 'maybe' is not true or false",
        ),
        (
            "BASKETS_RETENTION__BATCH_SIZE",
            "5\n0",
            "setting retention.batch_size: '5\\n0' is not a whole number",
        ),
    ],
)
def test_environment_text_that_is_not_of_the_setting_type_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert _refusal().startswith(expected)


def test_environment_text_is_read_as_the_number_or_switch_its_setting_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BASKETS_RETENTION__DAYS__ANONYMOUS", "7")
    monkeypatch.setenv("BASKETS_RETENTION__MAX_SHARE", "0.5")
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_STARTTLS", "true")
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_PORT", "587")
    monkeypatch.setenv("BASKETS_CONNECT_TIMEOUT_SECONDS", "2.5")
    settings = load_settings()
    assert settings.retention.days["anonymous"] == 7
    assert settings.retention.max_share == 0.5
    assert (settings.alerts.smtp_starttls, settings.alerts.smtp_port) == (True, 587)
    assert settings.connect_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[retention.days]\nAnonymous = 30\nanonymous = 90\n",
            "retention.days.Anonymous and retention.days.anonymous are the same setting differing in case",
        ),
        (
            "[Retention]\nbatch_size = 5\n[retention]\nmax_share = 0.5\n",
            "Retention and retention are the same setting differing in case",
        ),
        ("[alerts]\nSMTP_PORT = 25\nsmtp_port = 587\n", "alerts.SMTP_PORT and alerts.smtp_port are the same"),
    ],
)
def test_keys_differing_only_in_case_in_a_settings_file_are_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    _with_site_file(monkeypatch, tmp_path, text)
    message = _refusal()
    assert message.startswith(f"settings file {tmp_path / 'site.toml'}: ")
    assert expected in message


def test_a_key_in_another_case_means_its_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _with_site_file(monkeypatch, tmp_path, "[Retention]\nBatch_Size = 5\n[Retention.DAYS]\nCustomer = 365\n")
    settings = load_settings()
    assert settings.retention.batch_size == 5
    assert settings.retention.days["customer"] == 365


def test_account_types_differing_only_in_case_in_a_variable_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BASKETS_RETENTION__DAYS", '{"anonymous": 30, "Anonymous": 90}')
    message = _refusal()
    assert message.startswith("setting retention.days: ")
    assert "'anonymous' and 'Anonymous' are the same account type" in message


def test_variables_differing_only_in_case_are_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_SIZE", "500")
    monkeypatch.setenv("baskets_retention__batch_size", "50")
    assert _refusal() == (
        "BASKETS_RETENTION__BATCH_SIZE and baskets_retention__batch_size: "
        "the same setting differing in case (keep one)"
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BASKETS_ALERTS__STALE_AFTER_HOURS", "-1", "setting alerts.stale_after_hours: -1 is out of range"),
        ("BASKETS_ALERTS__STALE_AFTER_HOURS", "0", "setting alerts.stale_after_hours: 0 is out of range"),
        ("BASKETS_ALERTS__STALE_AFTER_HOURS", "inf", "setting alerts.stale_after_hours: inf is out of range"),
        ("BASKETS_ALERTS__SMTP_PORT", "0", "setting alerts.smtp_port: 0 is not a port (expected 1..65535"),
        ("BASKETS_ALERTS__SMTP_PORT", "65536", "setting alerts.smtp_port: 65536 is not a port"),
        ("BASKETS_ALERTS__SMTP_PORT", "-25", "setting alerts.smtp_port: -25 is not a port"),
        (
            "BASKETS_SCHEDULE__CLEANUP_CRON",
            "61 2 * * *",
            "setting schedule.cleanup_cron: '61 2 * * *': bad minute",
        ),
        (
            "BASKETS_SCHEDULE__CLEANUP_CRON",
            "* * 32 * *",
            "setting schedule.cleanup_cron: '* * 32 * *': bad day",
        ),
        (
            "BASKETS_SCHEDULE__CLEANUP_CRON",
            "0 0 30 2 *",
            "setting schedule.cleanup_cron: '0 0 30 2 *': bad day",
        ),
        ("BASKETS_SCHEDULE__AUDIT_REPORT_CRON", "0 24 * * 1", "setting schedule.audit_report_cron: '0 24"),
        (
            "BASKETS_SCHEDULE__AUDIT_REPORT_CRON",
            "0 6 * * 8",
            "setting schedule.audit_report_cron: '0 6 * * 8'",
        ),
        (
            "BASKETS_SCHEDULE__CLEANUP_CRON",
            "0 0 LW * *",
            "setting schedule.cleanup_cron: '0 0 LW * *': W and",
        ),
        (
            "BASKETS_SCHEDULE__CLEANUP_CRON",
            "30 2 * *",
            "setting schedule.cleanup_cron: '30 2 * *' is not a 5-",
        ),
        (
            "BASKETS_RETENTION__DAYS__CUSTOMER",
            "36501",
            "setting retention.days: customer: 36501 is above 36500 (expected whole days 1..36500",
        ),
        (
            "BASKETS_RETENTION__DAYS__CUSTOMER",
            str(10**30),
            f"setting retention.days: customer: {10**30} is above 36500",
        ),
        (
            "BASKETS_RETENTION__EMPTY_BASKET_DAYS",
            "99999",
            "setting retention.empty_basket_days: 99999 is above",
        ),
        ("BASKETS_CONNECT_TIMEOUT_SECONDS", "0", "setting connect_timeout_seconds: 0 is out of range"),
        ("BASKETS_CONNECT_TIMEOUT_SECONDS", "-3", "setting connect_timeout_seconds: -3 is out of range"),
        ("BASKETS_CONNECT_TIMEOUT_SECONDS", "601", "setting connect_timeout_seconds: 601 is out of range"),
        ("BASKETS_CONNECT_TIMEOUT_SECONDS", "nan", "setting connect_timeout_seconds: nan is out of range"),
        (
            "BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS",
            "0",
            "setting cleanup.lock_timeout_seconds: 0 is out of range (expected seconds 0 < seconds <= 3600, e.g. 5)",
        ),
        (
            "BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS",
            "-1",
            "setting cleanup.lock_timeout_seconds: -1 is out of range",
        ),
        (
            "BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS",
            "inf",
            "setting cleanup.lock_timeout_seconds: inf is out of range",
        ),
        (
            "BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS",
            "nan",
            "setting cleanup.lock_timeout_seconds: nan is out of range",
        ),
        (
            "BASKETS_CLEANUP__STATEMENT_TIMEOUT_SECONDS",
            "3601",
            "setting cleanup.statement_timeout_seconds: 3601 is out of range (expected seconds 0 < seconds <= 3600, "
            "e.g. 60)",
        ),
    ],
)
def test_value_out_of_its_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert _refusal().startswith(expected)


_PREFIX_EXPECTED = (
    "(expected 1 to 24 lower-case letters, digits or underscores starting with a letter, e.g. bm_ or "
    "shop_audit_)"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "'' is not a table name prefix"),
        ("BM_", "'BM_' is not a table name prefix"),
        ("bm\x00", "'bm\\x00' is not a table name prefix"),
        ("bm\n_", "'bm\\n_' is not a table name prefix"),
        ('bm"_', "'bm\"_' is not a table name prefix"),
        ("bm'_", '"bm\'_" is not a table name prefix'),
        ("bm;drop table operators;", "'bm;drop table operators;' is not a table name prefix"),
        ("bm_;", "'bm_;' is not a table name prefix"),
        ("_bm", "'_bm' is not a table name prefix"),
        ("9bm_", "'9bm_' is not a table name prefix"),
        ("bm-", "'bm-' is not a table name prefix"),
        ("bm\u00e9_", "'bm\u00e9_' is not a table name prefix"),
        ("x" * 25, "a prefix of 25 characters"),
        ("x" * 1_000_000, "a prefix of 1,000,000 characters"),
    ],
)
def test_a_bookkeeping_prefix_that_is_no_table_name_prefix_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, expected: str
) -> None:
    if "\x00" in value:  # an environment variable cannot hold NUL; a settings file can
        import json

        (tmp_path / "settings.toml").write_text(
            f"bookkeeping_prefix = {json.dumps(value)}\n", encoding="utf-8"
        )
        monkeypatch.setenv("BASKETS_CONFIG", str(tmp_path / "settings.toml"))
    else:
        monkeypatch.setenv("BASKETS_BOOKKEEPING_PREFIX", value)
    message = _refusal()
    assert message.startswith(f"setting bookkeeping_prefix: {expected}"), message
    assert message.endswith(_PREFIX_EXPECTED) and "\n" not in message and len(message) < 300


@pytest.mark.parametrize("value", ["bm_", "shop_audit_", "a", "x" * 24, "b2b_9_"])
def test_a_bookkeeping_prefix_of_letters_digits_and_underscores_is_taken(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BASKETS_BOOKKEEPING_PREFIX", value)
    assert load_settings().bookkeeping_prefix == value


def test_the_bookkeeping_prefix_is_bm_by_default() -> None:
    assert load_settings().bookkeeping_prefix == "bm_"


@pytest.mark.parametrize(
    ("cron", "accepted"),
    [
        ("30 2 * * *", True),
        ("*/15 0-23/2 1,15 * 1-5", True),
        ("0 0 * * sun", True),
        ("0 0 L * *", True),
        ("0 3 29 2 *", True),
        ("0 0 LW * *", False),  # cronsim takes it, Prefect's scheduler does not
        ("0 0 * * 5L", False),
        ("0 0 31 4 *", False),  # 31 April never comes
    ],
)
def test_settings_accept_exactly_the_crons_prefect_can_schedule(
    monkeypatch: pytest.MonkeyPatch, cron: str, accepted: bool
) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    monkeypatch.setenv("BASKETS_SCHEDULE__CLEANUP_CRON", cron)
    if accepted:
        assert load_settings().schedule.cleanup_cron == cron
        assert CronSchedule(cron=cron).cron == cron
    else:
        assert _refusal().startswith(f"setting schedule.cleanup_cron: {cron!r}: ")


def test_settings_file_that_is_not_toml_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_site_file(monkeypatch, tmp_path, "[retention\nbatch_size = 5\n")
    assert _refusal().startswith(f"settings file {tmp_path / 'site.toml'}: ")


def test_connect_timeout_defaults_to_ten_seconds() -> None:
    assert load_settings().connect_timeout_seconds == 10


def test_cleanup_batch_limits_default_to_five_and_sixty_seconds_and_are_read_from_env_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cleanup = load_settings().cleanup
    assert (cleanup.lock_timeout_seconds, cleanup.statement_timeout_seconds) == (5, 60)
    _with_site_file(monkeypatch, tmp_path, "[cleanup]\nlock_timeout_seconds = 2.5\n")
    monkeypatch.setenv("BASKETS_CLEANUP__STATEMENT_TIMEOUT_SECONDS", "30")
    cleanup = load_settings().cleanup
    assert (cleanup.lock_timeout_seconds, cleanup.statement_timeout_seconds) == (2.5, 30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "setting cleanup.lock_timeout_seconds: 'abc' is not a number"),
        ("", "setting cleanup.lock_timeout_seconds: '' is not a number"),
    ],
)
def test_a_cleanup_limit_that_is_not_a_number_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS", value)
    assert _refusal().startswith(expected)


def test_control_characters_in_a_key_or_value_stay_on_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_site_file(monkeypatch, tmp_path, '[retention]\n"batch\\nsize" = 5\n')
    assert _refusal().startswith("setting 'retention.batch\\nsize': unknown setting")
    monkeypatch.delenv("BASKETS_CONFIG")
    monkeypatch.setenv("BASKETS_RETENTION__DAYS__ANONYMOUS", "3\r\n0")
    assert _refusal().startswith("setting retention.days.anonymous: '3\\r\\n0' is not a whole number")


@pytest.mark.parametrize(
    ("value", "mode"), [("0600", 0o600), ("640", 0o640), ("0o660", 0o660), (" 0644 ", 0o644)]
)
def test_file_mode_is_an_octal_string_that_may_widen_the_private_default(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: int
) -> None:
    assert load_settings().file_mode == 0o600
    monkeypatch.setenv("BASKETS_FILE_MODE", value)
    assert load_settings().file_mode == mode


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0700", "is not allowed"),  # executable
        ("0400", "is not allowed"),  # the owner could not replace it
        ("0066", "is not allowed"),
        ("4666", "is not allowed"),  # set-user-id
        ("0608", "is not a file mode"),
        ("rw-------", "is not a file mode"),
        ("9" * 40, "is not a file mode"),
        ("", "is not a file mode"),
    ],
)
def test_a_file_mode_that_is_not_private_enough_or_not_octal_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("BASKETS_FILE_MODE", value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"setting file_mode: {value!r} {says}")
    assert str(refused.value).endswith("nothing executable, e.g. 0600 or 0640)")


def test_a_file_mode_written_as_a_toml_number_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    config.write_text("file_mode = 600\n")  # decimal 600 is not 0600
    monkeypatch.setenv("BASKETS_CONFIG", str(config))
    with pytest.raises(
        SettingsError, match=r"^setting file_mode: 600 is not a file mode \(expected an octal"
    ):
        load_settings()


def test_privacy_defaults_keep_audit_personal_data_a_year_and_files_a_month() -> None:
    privacy = load_settings().privacy
    assert (privacy.audit_personal_data_days, privacy.export_keep_days) == (365, 30)


@pytest.mark.parametrize("name", ["AUDIT_PERSONAL_DATA_DAYS", "EXPORT_KEEP_DAYS"])
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "0 is below 1 (expected whole days >= 1"),
        ("-5", "-5 is below 1"),
        ("36501", "36501 is above 36500"),
        ("99999999999999999999", "is above 36500"),
        ("1.5", "'1.5' is not a whole number"),
        ("a\x1bb", "is not a whole number"),
        ("", "'' is not a whole number"),
    ],
)
def test_privacy_days_out_of_range_or_not_whole_numbers_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"BASKETS_PRIVACY__{name}", value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith(f"setting privacy.{name.lower()}: "), message
    assert says in message and "\n" not in message


def test_batch_retry_waits_are_a_setting_with_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().retention.batch_retry_delays_seconds == (2.0, 8.0, 30.0)
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS", "[0, 0.5]")
    assert load_settings().retention.batch_retry_delays_seconds == (0.0, 0.5)
    for bad in ("[-1]", "[7200]", "[1,1,1,1,1,1,1,1,1,1,1]", '"soon"'):
        monkeypatch.setenv("BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS", bad)
        with pytest.raises(SettingsError, match="batch_retry_delays_seconds"):
            load_settings()
