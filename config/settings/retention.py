"""The [retention], [privacy] and [cleanup] settings: what the nightly cleanup deletes and redacts,
and the limits of its batches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from config.settings.common import ACCOUNT_TYPES, check_days, check_seconds


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
                normalised[kind] = check_days(days, 30)
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
        return check_days(value, 1)

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
        return check_days(value, 365)

    @field_validator("export_keep_days")
    @classmethod
    def _export_days_in_range(cls, value: int) -> int:
        return check_days(value, 30)


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
        return check_seconds(value, 5)

    @field_validator("statement_timeout_seconds")
    @classmethod
    def _statement_timeout_bounded(cls, value: float) -> float:
        return check_seconds(value, 60)
