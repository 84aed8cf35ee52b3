"""The [alerts] settings: where failure and stale-cleanup alerts go, and the heartbeat."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
)

from config.urls import display_web_url, is_web_url


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
