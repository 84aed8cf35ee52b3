"""The [schedule] settings: when the nightly cleanup and the weekly audit report run."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, field_validator


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
