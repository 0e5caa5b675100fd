"""Service configuration from `FINALMILE_*` environment variables (pydantic-settings).

Nothing is read at import time: build `Settings()` in the entry point (`finalmile serve`) or pass
one explicitly (tests, `finalmile sim`).
"""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fleet_manager.errors import ConfigError


class Role(enum.StrEnum):
    """What an API key may do."""

    BACKEND = "backend"  # the logistics backend: create/cancel orders, customs, recipient answers
    OPERATOR = "operator"  # fleet operators: vehicle commands, zones, overrides; may read everything
    VIEWER = "viewer"  # read only
    LOCKER = "locker"  # a parcel locker terminal: checks pickup codes


def parse_api_keys(raw: str) -> dict[str, frozenset[Role]]:
    """Parse `role:key,role:key` into key -> roles (one key may be listed with several roles)."""
    keys: dict[str, set[Role]] = {}
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        role_text, sep, key = item.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"FINALMILE_API_KEYS entry {index + 1} is not 'role:key' (got {role_text!r}:...)")
        try:
            role = Role(role_text.strip())
        except ValueError as exc:
            known = ", ".join(r.value for r in Role)
            raise ConfigError(
                f"FINALMILE_API_KEYS entry {index + 1}: unknown role {role_text.strip()!r} (known: {known})"
            ) from exc
        if len(key.strip()) < 8:
            raise ConfigError(f"FINALMILE_API_KEYS entry {index + 1}: key for {role.value} is shorter than 8 chars")
        keys.setdefault(key.strip(), set()).add(role)
    return {key: frozenset(roles) for key, roles in keys.items()}


class Settings(BaseSettings):
    """Everything `finalmile serve` needs; each field is the env var `FINALMILE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="FINALMILE_", extra="ignore", frozen=True, hide_input_in_errors=True)

    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path('var') / 'finalmile.db'}")
    api_keys: Annotated[dict[str, frozenset[Role]], NoDecode] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    hub_id: str = Field(default="helsinki-west-harbour", min_length=1, max_length=64)
    world: str = "helsinki"
    # Origin of the local metric frame used to validate airspace zones (the Postitalo hub by default).
    hub_latitude_deg: float = Field(default=60.1715, ge=-90, le=90)
    hub_longitude_deg: float = Field(default=24.9381, ge=-180, le=180)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_backoff_base_s: float = Field(default=2.0, gt=0)
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_interval_s: float = Field(default=0.5, gt=0)
    locker_max_wrong_codes: int = Field(default=5, ge=1)
    locker_code_ttl_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # The vehicles `finalmile serve` drives: a fleet file (fleet_manager.fleet_file), or the shorthand
    # 'id=URL,...' for one hub with FINALMILE_RECIPIENT_PRESENCE ('always' or the backend's URL). Neither: API only.
    fleet_file: Path | None = None
    vehicles: str = ""
    recipient_presence: str = ""
    ros_domain_id: int | None = Field(default=None, ge=0, le=232)
    vehicle_connect_timeout_s: float = Field(default=60.0, gt=0)
    stream_poll_interval_s: float = Field(default=0.25, gt=0)
    # Typed addresses on orders: the address index cache, and the confidence below which an order waits for review.
    address_cache_dir: Path = Field(default_factory=lambda: Path("var") / "cache")
    address_review_below: float = Field(default=0.75, gt=0, le=1)
    # Parcel sensors: the MQTT broker to subscribe to (mqtt://HOST:PORT; unset: no sensor readings) and topic root.
    mqtt_url: str | None = None
    mqtt_topic_prefix: str = Field(default="finalmile", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_api_keys(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """The hubs this process serves (one today; the store is keyed so that several work)."""
        return (self.hub_id,)

    def check_safe_to_serve(self) -> None:
        """Raise ConfigError for a set-up that must not serve: public address without keys, webhook without secret."""
        if not self.api_keys and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve on non-loopback host {self.host!r} without API keys; "
                "set FINALMILE_API_KEYS='backend:KEY,operator:KEY,viewer:KEY'"
            )
        if self.webhook_url and (self.webhook_secret is None or not self.webhook_secret.get_secret_value()):
            raise ConfigError("FINALMILE_WEBHOOK_URL is set but FINALMILE_WEBHOOK_SECRET is empty; webhooks are signed")


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SECRET_FIELDS = frozenset({"api_keys", "webhook_secret"})


def load_settings(**overrides: Any) -> Settings:
    """`Settings()` from the environment (plus overrides); a bad value is one ConfigError line naming the variable.

    Secret values (API keys, the webhook secret) are never repeated in the message.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=True)[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = "" if field in _SECRET_FIELDS or "input" not in error else f" (got {error['input']!r})"
        raise ConfigError(f"FINALMILE_{field.upper()}: {message}{shown}") from None
