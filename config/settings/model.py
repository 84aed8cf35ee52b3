"""The one settings model and how it is read: default file, then BASKETS_CONFIG file, then
BASKETS_* env, then flags; and the [alerts] part read on its own."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from pydantic import Field, StrictFloat, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.settings.alerts import AlertSettings
from config.settings.common import (
    DEFAULT_SETTINGS_FILE,
    ENV_PREFIX,
    FileMode,
    SettingsError,
    check_bookkeeping_prefix,
    shown,
)
from config.settings.retention import CleanupSettings, PrivacySettings, RetentionSettings
from config.settings.schedule import ScheduleSettings
from config.settings.sources import (
    LenientFileSource,
    SettingsFileSource,
    StrictEnvSource,
    TextEnvSource,
    describe,
)
from config.urls import display_url

# The field is named `schema` as the setting is (BASKETS_SCHEMA); pydantic warns that it shadows
# BaseModel's deprecated `schema()` classmethod, which nothing here uses.
warnings.filterwarnings("ignore", message='Field name "schema" in "Settings" shadows', category=UserWarning)


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
    # Where the shop keeps its baskets: `builtin` (the suite's own tables), a preset (magento2,
    # saleor) or the path of a mapping file; checked by baskets.schema.
    schema: str = "builtin"  # type: ignore[assignment]
    # On a mapped schema the suite's own tables are named with this prefix (bm_operators, ...) so
    # they never meet the shop's; the builtin schema keeps their plain names (baskets.schema.prefix).
    bookkeeping_prefix: str = "bm_"

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

    @field_validator("bookkeeping_prefix")
    @classmethod
    def _prefix_fits(cls, value: str) -> str:
        return check_bookkeeping_prefix(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, StrictEnvSource(settings_cls)]
        extra_file = os.environ.get("BASKETS_CONFIG")
        if extra_file:
            sources.append(SettingsFileSource(settings_cls, toml_file=Path(extra_file)))
        sources.append(SettingsFileSource(settings_cls, toml_file=DEFAULT_SETTINGS_FILE))
        return tuple(sources)


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
        raise SettingsError(describe(error, Settings)) from None
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, TextEnvSource(settings_cls)]
        extra_file = os.environ.get("BASKETS_CONFIG")
        if extra_file and Path(extra_file).is_file():
            sources.append(LenientFileSource(settings_cls, toml_file=Path(extra_file)))
        sources.append(LenientFileSource(settings_cls, toml_file=DEFAULT_SETTINGS_FILE))
        return tuple(sources)


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
        where = shown(".".join(str(part) for part in first["loc"]))
        raise SettingsError(f"setting {where}: {first['msg'].removeprefix('Value error, ')}") from None
    except ValueError as error:
        raise SettingsError(f"settings file: {error}") from None
