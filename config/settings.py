"""The one settings model: default file, then BASKETS_CONFIG file, then BASKETS_* env, then flags.

Strict: a key or variable that names no setting is refused, and so is a value of the wrong type
(`anonymous = true` is not 1 day). Environment variables are text, so there "30" is read as 30.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
import warnings
import zoneinfo
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.urls import display_url, display_web_url, is_web_url

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("defaults.toml")
ACCOUNT_TYPES = ("anonymous", "contact", "customer")
ENV_PREFIX = "BASKETS_"
# BASKETS_* variables the product reads that are not settings.
NON_SETTING_VARIABLES = frozenset({"BASKETS_CONFIG", "BASKETS_DEBUG"})
# A hundred years: any cut-off `now - days` stays a date every database can compare with.
MAX_RETENTION_DAYS = 36_500
# The longest lock wait or statement a cleanup batch may be allowed (one hour).
MAX_LIMIT_SECONDS = 3600


class SettingsError(ValueError):
    """A setting has a bad value; the message is one line naming it and a good value."""


def _shown(name: str) -> str:
    """A key or variable name as a message shows it: quoted when it holds control characters."""
    return name if name.isprintable() else repr(name)


def _check_days(value: int, example: int) -> int:
    if value < 1:
        raise ValueError(f"{value} is below 1 (expected whole days >= 1, e.g. {example})")
    if value > MAX_RETENTION_DAYS:
        raise ValueError(
            f"{value} is above {MAX_RETENTION_DAYS} "
            f"(expected whole days 1..{MAX_RETENTION_DAYS}, e.g. {example})"
        )
    return value


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: dict[str, StrictInt] = Field(
        default_factory=lambda: {"anonymous": 30, "contact": 90, "customer": 180}
    )
    empty_basket_days: StrictInt = 1
    batch_size: StrictInt = 1000
    max_share: StrictFloat = 0.25
    # Waits before each retry of a batch that failed (a lock timeout, a lost connection): it
    # rolled back whole, so running it again cannot delete or audit twice.
    batch_retry_delays_seconds: tuple[StrictFloat, ...] = (2.0, 8.0, 30.0)

    @field_validator("days")
    @classmethod
    def _days_per_known_type(cls, value: dict[str, int]) -> dict[str, int]:
        normalised: dict[str, int] = {}
        given_as: dict[str, str] = {}
        for key, days in value.items():
            kind = key.strip().lower()
            if kind not in ACCOUNT_TYPES:
                raise ValueError(f"unknown account type {key!r} (expected one of {', '.join(ACCOUNT_TYPES)})")
            if kind in given_as:
                raise ValueError(f"{given_as[kind]!r} and {key!r} are the same account type (keep one)")
            try:
                normalised[kind] = _check_days(days, 30)
            except ValueError as error:
                raise ValueError(f"{kind}: {error}") from None
            given_as[kind] = key
        missing = [kind for kind in ACCOUNT_TYPES if kind not in normalised]
        if missing:
            raise ValueError(f"missing days for {', '.join(missing)} (e.g. {missing[0]} = 30)")
        return normalised

    @field_validator("empty_basket_days")
    @classmethod
    def _empty_days_positive(cls, value: int) -> int:
        return _check_days(value, 1)

    @field_validator("batch_size")
    @classmethod
    def _batch_size_positive(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError(f"{value} is out of range (expected 1..100000, e.g. 1000)")
        return value

    @field_validator("batch_retry_delays_seconds")
    @classmethod
    def _retry_delays_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) > 10 or not all(0 <= delay <= 3600 for delay in value):
            raise ValueError(
                f"{list(value)} is not a list of retry waits "
                "(expected at most 10 of 0..3600 s, e.g. [2, 8, 30])"
            )
        return value

    @field_validator("max_share")
    @classmethod
    def _share_is_fraction(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"{value} is not a share (expected 0 < share <= 1, e.g. 0.25)")
        return value


class PrivacySettings(BaseModel):
    """How long personal data is kept besides the baskets themselves (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid")

    # Days after which the nightly cleanup removes the personal part of audit rows (redaction).
    audit_personal_data_days: StrictInt = 365
    # Days after which the nightly cleanup removes the suite's files (exports, snapshots, reports).
    export_keep_days: StrictInt = 30

    @field_validator("audit_personal_data_days")
    @classmethod
    def _audit_days_in_range(cls, value: int) -> int:
        return _check_days(value, 365)

    @field_validator("export_keep_days")
    @classmethod
    def _export_days_in_range(cls, value: int) -> int:
        return _check_days(value, 30)


def _check_seconds(value: float, example: int) -> float:
    if not 0 < value <= MAX_LIMIT_SECONDS:
        raise ValueError(
            f"{value:g} is out of range (expected seconds 0 < seconds <= {MAX_LIMIT_SECONDS}, e.g. {example})"
        )
    return value


class CleanupSettings(BaseModel):
    """Limits of each batch transaction of a retention cleanup, so that no run waits forever on
    a lock another session holds: a batch that hits one is retried, then split, and the baskets
    that keep hitting it are skipped for the next run (PostgreSQL and MariaDB; SQLite has one
    writer at a time and waits up to 30 s for it)."""

    model_config = ConfigDict(extra="forbid")

    # Seconds a batch waits for a row or table lock another session holds.
    lock_timeout_seconds: StrictFloat = 5
    # Seconds one statement of a batch may run.
    statement_timeout_seconds: StrictFloat = 60

    @field_validator("lock_timeout_seconds")
    @classmethod
    def _lock_timeout_bounded(cls, value: float) -> float:
        return _check_seconds(value, 5)

    @field_validator("statement_timeout_seconds")
    @classmethod
    def _statement_timeout_bounded(cls, value: float) -> float:
        return _check_seconds(value, 60)


class ScheduleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cleanup_cron: str = "30 2 * * *"
    audit_report_cron: str = "0 6 * * 1"
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (expected e.g. Europe/Amsterdam)") from None
        return value

    @field_validator("cleanup_cron", "audit_report_cron")
    @classmethod
    def _five_field_cron(cls, value: str) -> str:
        expected = "(expected e.g. 30 2 * * *)"
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f"{value!r} is not a 5-field cron expression {expected}")
        try:
            # Impossible fields (minute 61, day 32, 30 February) never fire: refuse them here.
            CronSim(value, dt.datetime(2000, 1, 1))
        except CronSimError as error:
            raise ValueError(f"{value!r}: {str(error).lower()} {expected}") from None
        # Prefect's scheduler (croniter) takes neither LW in the day of the month nor nL in the
        # day of the week, both of which cronsim accepts.
        if "W" in fields[2].upper() or "L" in fields[4].upper():
            raise ValueError(f"{value!r}: W and day-of-week L are not supported {expected}")
        return value


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stale_after_hours: StrictFloat = 26
    smtp_host: str = ""
    smtp_port: StrictInt = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: StrictBool = False
    mail_from: str = "basket-maintenance@localhost"
    mail_to: list[str] = Field(default_factory=list)
    webhook_url: str = ""
    webhook_token: SecretStr = SecretStr("")
    # A dead-man's switch (healthchecks.io, Cronitor): pinged (GET) after each successful cleanup.
    heartbeat_url: str = ""

    @field_validator("heartbeat_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if value and not is_web_url(value):
            raise ValueError(
                f"{display_web_url(value)!r} is not an http(s) URL "
                "(expected e.g. https://hc-ping.com/your-check-uuid, or empty for none)"
            )
        return value

    @field_validator("stale_after_hours")
    @classmethod
    def _hours_positive(cls, value: float) -> float:
        if not 0 < value <= 8760:
            raise ValueError(f"{value:g} is out of range (expected hours 0 < hours <= 8760, e.g. 26)")
        return value

    @field_validator("smtp_port")
    @classmethod
    def _port_number(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"{value} is not a port (expected 1..65535, e.g. 25 or 587)")
        return value


def _parse_file_mode(value: object) -> int:
    """An octal mode written as text ("0600", "640", "0o660"): the owner reads and writes, nothing is
    executable. A number is refused: `file_mode = 600` in TOML is decimal 600, not 0600."""
    expected = "expected an octal mode the owner reads and writes, nothing executable, e.g. 0600 or 0640"
    text = str(value).strip().lower().removeprefix("0o")
    if not isinstance(value, str) or not (3 <= len(text) <= 4 and set(text) <= set("01234567")):
        raise ValueError(f"{value!r} is not a file mode ({expected})")
    mode = int(text, 8)
    if mode & 0o600 != 0o600 or mode & 0o111 or mode > 0o666:
        raise ValueError(f"{value!r} is not allowed ({expected})")
    return mode


# A setting that reads its own text (so the environment's text is not read as a number first).
FileMode = Annotated[int, BeforeValidator(_parse_file_mode)]


# --- schema mapping (issue 23): the field is named `schema` as the setting is (BASKETS_SCHEMA);
# pydantic warns that it shadows BaseModel's deprecated `schema()` classmethod, which nothing uses.
warnings.filterwarnings("ignore", message='Field name "schema" in "Settings" shadows', category=UserWarning)
# --- end schema mapping


class Settings(BaseSettings):
    """Everything the suite reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=DEFAULT_SETTINGS_FILE,
    )

    database_url: str = "sqlite:///var/baskets.db"
    # Seconds to wait for a database server to accept a connection and answer its handshake.
    connect_timeout_seconds: StrictFloat = 10
    export_dir: Path = Path("var/exports")
    # Permission bits of the files the suite writes (exports, snapshots, reports): personal data.
    file_mode: FileMode = 0o600
    operator: str | None = None
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    cleanup: CleanupSettings = Field(default_factory=CleanupSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    # --- schema mapping (issue 23): where the shop keeps its baskets: `builtin` (the suite's own
    # tables), a preset (magento2, saleor) or the path of a mapping file; checked by baskets.schema.
    schema: str = "builtin"  # type: ignore[assignment]
    # --- end schema mapping

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(
                # Masked: a malformed URL may still hold a password (user:secret@host).
                f"{display_url(value)!r} is not a database URL (expected e.g. sqlite:///var/baskets.db "
                "or postgresql+psycopg://user@host/db)"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb"):
            raise ValueError(
                f"{url.get_backend_name()!r} is not a supported database "
                "(expected sqlite, postgresql or mariadb)"
            )
        return value

    @field_validator("connect_timeout_seconds")
    @classmethod
    def _timeout_bounded(cls, value: float) -> float:
        if not 0 < value <= 600:
            raise ValueError(f"{value:g} is out of range (expected seconds 0 < seconds <= 600, e.g. 10)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _StrictEnvSource(settings_cls)]
        extra_file = os.environ.get("BASKETS_CONFIG")
        if extra_file:
            sources.append(_SettingsFileSource(settings_cls, toml_file=Path(extra_file)))
        sources.append(_SettingsFileSource(settings_cls, toml_file=DEFAULT_SETTINGS_FILE))
        return tuple(sources)


class _SettingsFileSource(TomlConfigSettingsSource):
    """A TOML settings file whose keys match settings whatever their case, as variables do;
    two keys of one table differing only in case are refused."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            with file_path.open(mode="rb") as stream:
                data = tomllib.load(stream)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"settings file {file_path}: {error} (expected TOML)") from None
        return _fold_key_case(data, str(file_path), ())


def _fold_key_case(table: dict[str, Any], file: str, where: tuple[str, ...]) -> dict[str, Any]:
    folded: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in table.items():
        lower = key.lower()
        if lower in given_as:
            first, second = (_shown(".".join((*where, name))) for name in (given_as[lower], key))
            raise SettingsError(
                f"settings file {file}: {first} and {second} are the same setting "
                "differing in case (keep one)"
            )
        given_as[lower] = key
        folded[lower] = _fold_key_case(value, file, (*where, key)) if isinstance(value, dict) else value
    return folded


class _StrictEnvSource(EnvSettingsSource):
    """BASKETS_* variables: each must name a setting, and text is read as the number or true/false
    its setting takes (a JSON value must have the right type already, as in a file)."""

    def __call__(self) -> dict[str, Any]:
        refuse_unknown_variables(os.environ)
        return _read_text(self.settings_cls, super().__call__())


def refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """Raise SettingsError naming the first BASKETS_* variable that is no setting (nested keys
    joined by `__`), or two variables that differ only in case."""
    given_as: dict[str, str] = {}
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name in NON_SETTING_VARIABLES:
            continue
        if name.lower() in given_as:
            raise SettingsError(
                f"{_shown(given_as[name.lower()])} and {_shown(name)}: the same setting differing in case "
                "(keep one)"
            )
        given_as[name.lower()] = name
        expected = _unknown_setting(Settings, name[len(ENV_PREFIX) :].lower().split("__"), ENV_PREFIX)
        if expected is not None:
            raise SettingsError(f"{_shown(name)}: unknown setting (expected one of {expected})")


def _unknown_setting(model: type[BaseModel], parts: list[str], prefix: str) -> str | None:
    """None when `parts` names a setting of `model`, else the variable names it could have been."""
    fields = model.model_fields
    head, rest = parts[0], parts[1:]
    if head not in fields:
        return ", ".join(f"{prefix}{name}".upper() for name in fields)
    annotation = fields[head].annotation
    if not rest:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _unknown_setting(annotation, rest, f"{prefix}{head}__")
    if get_origin(annotation) is dict and len(rest) == 1:
        return None  # one entry of a table, e.g. BASKETS_RETENTION__DAYS__ANONYMOUS
    return f"{prefix}{head}".upper()


_TEXT_READERS = {kind: TypeAdapter(kind) for kind in (int, float, bool)}


def _text_type(field: FieldInfo | None) -> Any:
    """The type a field's text is read as; None for a field that reads its own text (FileMode)."""
    if field is None or any(isinstance(item, BeforeValidator) for item in field.metadata):
        return None
    return field.annotation


def _read_text(annotation: Any, value: Any) -> Any:
    """`value` from the environment with text turned into the number or true/false that its
    setting (of type `annotation`) takes; text that is neither stays, for the setting to refuse."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(value, dict):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            return {key: _read_text(_text_type(fields.get(key)), item) for key, item in value.items()}
        if get_origin(annotation) is dict:
            item_type = get_args(annotation)[1]
            return {key: _read_text(item_type, item) for key, item in value.items()}
        return value
    if isinstance(value, str) and annotation in _TEXT_READERS:
        try:
            return _TEXT_READERS[annotation].validate_python(value)
        except ValidationError:
            return value
    return value


# What a value of the wrong type should have been, by pydantic's error type.
_TYPE_EXPECTED = {
    "int_type": "a whole number (expected e.g. 30)",
    "float_type": "a number (expected e.g. 0.25)",
    "bool_type": "true or false (expected e.g. false)",
}


def _as_written(value: Any) -> str:
    """A value as the settings file spells it (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _field_names(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Settings
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = _shown(".".join(str(part) for part in first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"unknown setting (expected one of {', '.join(_field_names(first['loc'][:-1]))})"
    elif kind in _TYPE_EXPECTED:
        message = f"{_as_written(first.get('input'))} is not {_TYPE_EXPECTED[kind]}"
    elif kind in ("model_type", "dict_type"):
        message = f"{_as_written(first.get('input'))} is not a table (expected e.g. [{where}])"
    return f"setting {where}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings with command-line `overrides` on top (None values are ignored).

    Raises SettingsError with one line naming the bad setting.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    extra_file = os.environ.get("BASKETS_CONFIG")
    if extra_file and not Path(extra_file).is_file():
        raise SettingsError(f"BASKETS_CONFIG: {extra_file!r} is not a file (expected a .toml path)")
    try:
        return Settings(**given)
    except SettingsError:
        raise
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except ValueError as error:  # a file that cannot be read as text
        raise SettingsError(f"settings file: {error}") from None


class _AlertsOnly(BaseSettings):
    """The [alerts] part of the settings alone: files and BASKETS_ALERTS__* variables, every
    other setting ignored, and a settings file that cannot be read skipped."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _TextEnvSource(settings_cls)]
        extra_file = os.environ.get("BASKETS_CONFIG")
        if extra_file and Path(extra_file).is_file():
            sources.append(_LenientFileSource(settings_cls, toml_file=Path(extra_file)))
        sources.append(_LenientFileSource(settings_cls, toml_file=DEFAULT_SETTINGS_FILE))
        return tuple(sources)


class _TextEnvSource(EnvSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return _read_text(self.settings_cls, super().__call__())


class _LenientFileSource(_SettingsFileSource):
    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except (SettingsError, OSError, UnicodeDecodeError):
            return {}


def load_alert_settings() -> AlertSettings:
    """The alert settings, read even when another setting is bad (a worker with a typo in
    BASKETS_DATABASE_URL must still be able to say so): the [alerts] part of the settings
    files and the BASKETS_ALERTS__* variables, alone.

    Raises SettingsError naming the first bad alert setting.
    """
    try:
        return load_settings().alerts
    except SettingsError:
        pass
    try:
        return _AlertsOnly().alerts
    except ValidationError as error:
        first = error.errors()[0]
        where = _shown(".".join(str(part) for part in first["loc"]))
        raise SettingsError(f"setting {where}: {first['msg'].removeprefix('Value error, ')}") from None
    except ValueError as error:
        raise SettingsError(f"settings file: {error}") from None
