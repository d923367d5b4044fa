"""Settings: the only module that reads the environment (and `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

__all__ = ["Settings", "load_settings"]


def _default_store() -> str:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:///{Path(state) / 'kneebot' / 'kneebot.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KNEEBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    store: str = Field(default_factory=_default_store)
    retention_hours: float = Field(default=24, gt=0, le=24 * 365)
    sweep_minutes: float = Field(default=5, gt=0, le=24 * 60)
    check_in_days: float = Field(default=3, gt=0, le=60)
    """Days after a see-a-professional or self-care outcome that the offered check-in is due."""
    content: Path | None = None
    emergency_number: str | None = Field(default=None, min_length=1, max_length=120)
    """How outcomes name the emergency number; unset, each language's own default text."""
    distance_unit: Literal["miles", "km"] = "miles"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = "text"
    health_port: int | None = Field(default=None, ge=1, le=65535)
    """Where Socket Mode and Discord serve /healthz and /readyz (HTTP mode serves them anyway)."""
    locale: str = Field(default="en", pattern=r"^[a-z]{2}$")

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    """With the secret and no bot token: the hosted app any club installs ("Add to Slack")."""
    slack_client_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    slack_redirect_uri: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias="SLACK_REDIRECT_URI"
    )

    @property
    def slack_hosted(self) -> bool:
        """Whether `kneebot slack` is the hosted app (OAuth installs) rather than one club's token."""
        return bool(self.slack_client_id and self.slack_client_secret and not self.slack_bot_token)

    discord_token: SecretStr | None = Field(default=None, validation_alias="DISCORD_TOKEN")
    discord_guild_id: int | None = Field(default=None, validation_alias="DISCORD_GUILD_ID")
    discord_sharded: bool = Field(default=False, validation_alias="DISCORD_SHARDED")
    discord_api_url: str = Field(
        default="https://discord.com/api/v10", pattern=r"^https?://", validation_alias="DISCORD_API_URL"
    )

    def require(self, *names: str) -> None:
        """Raise ConfigError naming each unset variable that a command needs."""
        missing = [self.env_name(n) for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError(f"set {', '.join(missing)} in the environment or .env (see .env.example)")

    @classmethod
    def env_name(cls, field: str) -> str:
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else f"KNEEBOT_{field.upper()}"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def template_constants(self) -> dict[str, object]:
        """The settings content templates may use."""
        return {
            **({"emergency_number": self.emergency_number} if self.emergency_number else {}),
            "retention_hours": int(self.retention_hours)
            if self.retention_hours == int(self.retention_hours)
            else self.retention_hours,
            "unit": self.distance_unit,
            "check_in_days": int(self.check_in_days)
            if self.check_in_days == int(self.check_in_days)
            else self.check_in_days,
        }


def load_settings() -> Settings:
    """Read the settings; a bad value raises ConfigError naming the variable and the fix."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = Settings.env_name(field) if field in Settings.model_fields else field
            lines.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise ConfigError("bad setting: " + "; ".join(lines)) from None
