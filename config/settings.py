"""The one settings model: default file, then BASKETS_CONFIG file, then BASKETS_* env, then flags."""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("defaults.toml")
ACCOUNT_TYPES = ("anonymous", "contact", "customer")
# A century: any more and a cut-off before the earliest time the suite handles (1900) is no date.
MAX_RETENTION_DAYS = 36_500


class SettingsError(ValueError):
    """A setting has a bad value; the message is one line naming it and a good value."""


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: dict[str, int] = Field(default_factory=lambda: {"anonymous": 30, "contact": 90, "customer": 180})
    empty_basket_days: int = 1
    batch_size: int = 1000
    max_share: float = 0.25

    @field_validator("days")
    @classmethod
    def _days_per_known_type(cls, value: dict[str, int]) -> dict[str, int]:
        normalised = {}
        for key, days in value.items():
            kind = key.strip().lower()
            if kind not in ACCOUNT_TYPES:
                raise ValueError(f"unknown account type {key!r} (expected one of {', '.join(ACCOUNT_TYPES)})")
            if days < 1:
                raise ValueError(f"{kind}: {days} is below 1 (expected whole days >= 1, e.g. 30)")
            if days > MAX_RETENTION_DAYS:
                raise ValueError(f"{kind}: {days} is above {MAX_RETENTION_DAYS} (a century at most, e.g. 30)")
            normalised[kind] = days
        missing = [kind for kind in ACCOUNT_TYPES if kind not in normalised]
        if missing:
            raise ValueError(f"missing days for {', '.join(missing)} (e.g. {missing[0]} = 30)")
        return normalised

    @field_validator("empty_basket_days")
    @classmethod
    def _empty_days_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} is below 1 (expected whole days >= 1, e.g. 1)")
        if value > MAX_RETENTION_DAYS:
            raise ValueError(f"{value} is above {MAX_RETENTION_DAYS} (a century at most, e.g. 1)")
        return value

    @field_validator("batch_size")
    @classmethod
    def _batch_size_positive(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError(f"{value} is out of range (expected 1..100000, e.g. 1000)")
        return value

    @field_validator("max_share")
    @classmethod
    def _share_is_fraction(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"{value} is not a share (expected 0 < share <= 1, e.g. 0.25)")
        return value


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
        if len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a 5-field cron expression (expected e.g. 30 2 * * *)")
        return value


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stale_after_hours: float = 26
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    mail_from: str = "basket-maintenance@localhost"
    mail_to: list[str] = Field(default_factory=list)
    webhook_url: str = ""
    webhook_token: SecretStr = SecretStr("")


class Settings(BaseSettings):
    """Everything the suite reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="BASKETS_",
        env_nested_delimiter="__",
        extra="ignore",
        toml_file=DEFAULT_SETTINGS_FILE,
    )

    database_url: str = "sqlite:///var/baskets.db"
    export_dir: Path = Path("var/exports")
    operator: str | None = None
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"{value!r} is not a database URL (expected e.g. sqlite:///var/baskets.db "
                "or postgresql+psycopg://user@host/db)"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb"):
            raise ValueError(
                f"{url.get_backend_name()!r} is not a supported database "
                "(expected sqlite, postgresql or mariadb)"
            )
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        extra_file = os.environ.get("BASKETS_CONFIG")
        if extra_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(extra_file)))
        sources.append(TomlConfigSettingsSource(settings_cls, toml_file=DEFAULT_SETTINGS_FILE))
        return tuple(sources)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] in ("int_parsing", "float_parsing", "bool_parsing"):
        kind = {"int": "whole number", "float": "number", "bool": "true/false"}
        message = f"{first.get('input')!r} is not a {kind[first['type'].split('_')[0]]}"
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
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except ValueError as error:  # a malformed TOML file
        raise SettingsError(f"settings file: {error}") from None
