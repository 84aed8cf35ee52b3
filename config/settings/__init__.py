"""The suite's settings (docs/configuration.md): one model, read from the default file, then the
BASKETS_CONFIG file, then BASKETS_* variables, then command-line flags.

Strict: a key or variable that names no setting is refused, and so is a value of the wrong type
(`anonymous = true` is not 1 day). Environment variables are text, so there "30" is read as 30.

One module per group of sections: `retention` ([retention], [privacy], [cleanup]), `schedule`,
`alerts`; `sources` reads files and variables and words a bad setting; `model` assembles them.
"""

from config.settings.alerts import AlertSettings
from config.settings.common import (
    ACCOUNT_TYPES,
    DEFAULT_SETTINGS_FILE,
    ENV_PREFIX,
    MAX_LIMIT_SECONDS,
    MAX_RETENTION_DAYS,
    NON_SETTING_VARIABLES,
    FileMode,
    SettingsError,
)
from config.settings.model import Settings, load_alert_settings, load_settings
from config.settings.retention import CleanupSettings, PrivacySettings, RetentionSettings
from config.settings.schedule import ScheduleSettings

__all__ = [
    "ACCOUNT_TYPES", "DEFAULT_SETTINGS_FILE", "ENV_PREFIX", "MAX_LIMIT_SECONDS", "MAX_RETENTION_DAYS",
    "NON_SETTING_VARIABLES", "AlertSettings", "CleanupSettings", "FileMode", "PrivacySettings",
    "RetentionSettings", "ScheduleSettings", "Settings", "SettingsError", "load_alert_settings",
    "load_settings",
]  # fmt: skip
