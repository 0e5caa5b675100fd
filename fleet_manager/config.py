"""Service configuration from `FINALMILE_*` environment variables (pydantic-settings).

Nothing is read at import time: build `Settings()` in the entry point (`finalmile serve`) or pass
one explicitly (tests, `finalmile sim`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import os
import re
import socket
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fleet_manager.errors import ConfigError
from fleet_manager.supervisor import VehiclePolicy


class Role(enum.StrEnum):
    """What an API key may do."""

    BACKEND = "backend"  # the logistics backend: create/cancel orders, customs, recipient answers
    OPERATOR = "operator"  # fleet operators: vehicle commands, zones, overrides; may read everything
    VIEWER = "viewer"  # read only
    LOCKER = "locker"  # a parcel locker terminal: checks pickup codes


MIN_SECRET_CHARS = 32
#: Words that mark a value as a placeholder to replace (docker/example.env, documentation), not a secret.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace", "placeholder", "example", "your-", "your_",
                     "secret", "password", "xxxx", "todo", "dummy", "sample", "insert")
_MIN_DISTINCT_CHARS = 8


def secret_problem(value: str) -> str:
    """Why `value` cannot be a key or secret ('' when it can): too short, a placeholder, or not random."""
    if len(value) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "is a placeholder; generate one with `finalmile keys`"
    if len(set(value)) < _MIN_DISTINCT_CHARS:
        return "is not random (too few distinct characters); generate one with `finalmile keys`"
    return ""


def parse_api_keys(raw: str) -> dict[str, frozenset[Role]]:
    """Parse `role:key,role:key` into key -> roles (one key may be listed with several roles).

    A locker key names its locker: `locker@<locker_id>:key` (see `parse_locker_bindings`). Keys have
    at least 32 random characters; placeholders are refused. No message ever repeats a key.
    """
    keys: dict[str, set[Role]] = {}
    for index, (role, _locker, key) in enumerate(_entries(raw)):
        problem = secret_problem(key)
        if problem:
            raise ConfigError(f"FINALMILE_API_KEYS entry {index + 1}: the key for {role.value} {problem}")
        keys.setdefault(key, set()).add(role)
    return {key: frozenset(roles) for key, roles in keys.items()}


def parse_locker_bindings(raw: str) -> dict[str, str]:
    """key -> locker id of the `locker@<locker_id>:key` entries."""
    return {key: locker for _role, locker, key in _entries(raw) if locker}


def _entries(raw: str) -> list[tuple[Role, str, str]]:
    entries = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        role_text, sep, key = item.partition(":")
        role_text, _at, locker_id = role_text.strip().partition("@")
        if not sep or not key.strip():
            raise ConfigError(f"FINALMILE_API_KEYS entry {index + 1} is not 'role:key'")
        try:
            role = Role(role_text)
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ConfigError(
                f"FINALMILE_API_KEYS entry {index + 1}: unknown role before the first ':' (known: {known})"
            ) from None
        if role is Role.LOCKER and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", locker_id):
            raise ConfigError(
                f"FINALMILE_API_KEYS entry {index + 1}: a locker key is bound to its locker: 'locker@<locker_id>:key'"
            )
        if role is not Role.LOCKER and locker_id:
            raise ConfigError(f"FINALMILE_API_KEYS entry {index + 1}: only locker keys name a locker ('@')")
        entries.append((role, locker_id, key.strip()))
    return entries


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
    # /readyz and vehicles down: every_hub_has_one (503 when a hub has none up) | all_up | ignore
    readyz_vehicles: VehiclePolicy = VehiclePolicy.EVERY_HUB_HAS_ONE
    # Scale-out: the hubs of the fleet file this process competes to lead ('A,B'), each through a lease in
    # the store with a fencing token (fleet_manager.leadership). Empty: the fleet file's only hub, no lease.
    hubs: Annotated[tuple[str, ...], NoDecode] = ()
    standby: bool = False  # start as a standby: let a primary started alongside take the hubs first
    # A stateless API replica: every hub of the fleet file, no vehicles, no dispatcher; orders routed by hub id or
    # location (fleet_manager.hub_routing), the live stream read from JetStream (needs FINALMILE_NATS_URL).
    api_only: bool = False
    # Operator commands go over NATS to the hub's leader (replicas and shards with FINALMILE_NATS_URL); no answer
    # within this time is a 503 naming the hub.
    command_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # A hub's leader publishes each vehicle's telemetry on NATS at most once per this period (any replica streams it).
    telemetry_publish_period_s: float = Field(default=0.5, gt=0, le=60)
    # NATS JetStream: with a URL, one process at a time (by lease) relays the outbox to the stream (fleet_manager.bus).
    nats_url: str | None = None
    nats_stream: str = "FINALMILE_EVENTS"
    lease_ttl_s: float = Field(default=6.0, gt=0, le=300)  # a dead leader's hubs are taken over after this
    node_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", min_length=1,
                         max_length=128)  # this process in the lease table
    stream_poll_interval_s: float = Field(default=0.25, gt=0)
    # Hardening (issue 19). `environment=development` allows a plain-http webhook URL to another host.
    environment: Literal["development", "production"] = "production"
    # HMACs key ids (audit trail, idempotency scope) and stream tickets, seals pickup codes at rest.
    # Required by `finalmile serve` with API keys; without one an app makes a random one per process.
    server_secret: SecretStr | None = None
    # `locker@<locker_id>:key` entries of FINALMILE_API_KEYS: key -> the only locker it may open.
    locker_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    max_streams_per_key: int = Field(default=8, ge=1, le=1000)
    stream_ticket_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    pickups_per_minute: int = Field(default=10, ge=1)  # per locker: codes tried at one locker terminal
    recipient_actions_per_minute: int = Field(default=10, ge=1)  # per order: reschedule, redirect, leave at door
    # The recipient tracking page (/t/<token>): the public origin its links name (what recipients' phones can
    # reach), how long a link lives, requests per minute per client address, and how near the destination a
    # vehicle must be before the page shows it on the map (never farther, never another vehicle).
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    tracking_link_max_age_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    tracking_after_done_s: float = Field(default=48 * 3600.0, gt=0)  # links die this long after delivery/cancel
    tracking_requests_per_minute: int = Field(default=30, ge=1)
    tracking_vehicle_radius_m: float = Field(default=500.0, gt=0, le=5000)
    tracking_refresh_s: float = Field(default=15.0, gt=0, le=300)  # how often the open page asks again
    idempotency_ttl_s: float = Field(default=24 * 3600.0, gt=0)  # keys older than this are pruned
    outbox_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)  # delivered events older than this are pruned
    prune_interval_s: float = Field(default=600.0, gt=0)
    # Typed addresses on orders: the address index cache, and the confidence below which an order waits for review.
    address_cache_dir: Path = Field(default_factory=lambda: Path("var") / "cache")
    address_review_below: float = Field(default=0.75, gt=0, le=1)
    # Parcel sensors: the MQTT broker to subscribe to (mqtt://HOST:PORT, or mqtts:// for TLS; unset: no sensor
    # readings) and topic root. Credentials live in their own variables so they never appear in a logged URL.
    mqtt_url: str | None = None
    mqtt_username: str | None = Field(default=None, min_length=1, max_length=256)
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None  # mqtts://: the CA that signed the broker's certificate (system CAs if unset)
    # mqtts:// to a broker that wants client certificates (mutual TLS): our certificate and its private key (PEM).
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    mqtt_topic_prefix: str = Field(default="finalmile", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    # Minutes a cold-chain parcel may spend above its range in total before that is an excursion (a "time out
    # of refrigeration" allowance from the product's stability data); 0: every reading above it is one.
    cold_chain_warm_allowance_min: float = Field(default=0.0, ge=0, le=7 * 24 * 60)
    # Learning: trained models (`finalmile learn`), the newest version is loaded at start; none: fixed windows.
    models_dir: Path = Field(default_factory=lambda: Path("var") / "models")
    arriving_soon_s: float = Field(default=600.0, gt=0, le=3600)  # 'arriving soon' when the predicted p50 is this near
    customs_held_long_s: float = Field(default=3600.0, gt=0)  # flag orders predicted to wait longer at customs
    # Van handoff planning: the sortie search's time per van trip after the greedy plan (0: greedy only), and the
    # charged drone packs a van carries (one swapped in at each drone recovery; 0: each drone flies its van trip on
    # the pack it left with, the safe side when the vans' spares are unknown).
    handoff_search_s: float = Field(default=0.25, ge=0, le=10)
    # Drone and robot trips are planned to land with this % of the battery above the reserve (the energy model's
    # error, hovering at doors, the live check's margin; see PlanningConfig.energy_margin_fraction).
    planning_energy_margin_pct: float = Field(default=5.0, ge=0, le=50)
    van_spare_packs: int = Field(default=0, ge=0, le=100)
    # Carried drones/robots whose van is at the hub fly from the hub when the plan has a trip for them there now,
    # and ride the van's trip otherwise (false, the default: a free van always takes them, to be launched from its
    # stops; see PlanningConfig.hub_first for why).
    handoff_hub_first: bool = False
    # A van-launched drone flies home to the hub after its last sortie of the van trip, when it lands there well
    # before the van and its battery allows (mission_planner.hub_return), instead of riding the van back.
    handoff_return_to_hub: bool = True
    # Van consolidation (fleet_manager.van_departure): a van at the hub whose trip is due waits up to
    # `van_hold_max_s` for more parcels while every parcel on it would still be handed over `van_keep_slack_s`
    # before its window closes (0 s hold: it leaves as soon as a trip is due).
    van_hold_max_s: float = Field(default=1800.0, ge=0, le=4 * 3600)
    van_keep_slack_s: float = Field(default=1800.0, ge=0, le=24 * 3600)
    # A van holds at a launch stop for its drone's or robot's planned launch time plus this margin at most; past it
    # the launch is given up (vehicle back aboard, parcels planned again) and the van drives on. At a recovery stop
    # it waits the plan's wait plus this margin (or the vehicle's way back, if longer), then leaves it there.
    van_launch_hold_margin_s: float = Field(default=300.0, ge=0, le=3600)
    # Live traffic: a van on the road takes a new route when reported traffic makes its remaining route this much
    # slower than the fastest one through it (both the seconds and the share must be reached).
    traffic_reroute_enabled: bool = True
    traffic_reroute_min_saving_s: float = Field(default=120.0, ge=0)
    traffic_reroute_min_saving_ratio: float = Field(default=0.1, ge=0, lt=1)
    # Pre-positioning (with a demand forecast from `finalmile learn`): from `staging_lead_s` before a forecast peak
    # hour (`staging_peak_ratio` x the mean busy hour), idle charged vans drive to staging points near the demand.
    staging_enabled: bool = True
    staging_lead_s: float = Field(default=1800.0, gt=0, le=4 * 3600)
    staging_peak_ratio: float = Field(default=1.5, gt=0)
    staging_min_van_charge_pct: float = Field(default=80.0, ge=0, le=100)
    staging_min_carried_charge_pct: float = Field(default=90.0, ge=0, le=100)  # a carrier's drones/robots ride along

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_api_keys(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("api_keys", mode="after")
    @classmethod
    def _keys_are_secrets(cls, value: dict[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
        for index, key in enumerate(value):
            problem = secret_problem(key)
            if problem:
                raise ValueError(f"API key {index + 1} {problem}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _locker_bindings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("api_keys"), str) and "locker_keys" not in data:
            try:
                return {**data, "locker_keys": parse_locker_bindings(data["api_keys"])}
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return data

    @field_validator("server_secret", mode="after")
    @classmethod
    def _server_secret(cls, value: SecretStr | None) -> SecretStr | None:
        problem = secret_problem(value.get_secret_value()) if value is not None else ""
        if problem:
            raise ValueError(f"the server secret {problem}")
        return value

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            webhook_secret_bytes(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _webhook_url_is_https(self) -> Settings:
        if self.webhook_url:
            parsed = urllib.parse.urlsplit(self.webhook_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError("FINALMILE_WEBHOOK_URL must be an http(s) URL with a host")
            local = is_loopback(parsed.hostname)
            if parsed.scheme != "https" and not local and self.environment != "development":
                raise ValueError(
                    "FINALMILE_WEBHOOK_URL must be https outside development (plain http only to a loopback "
                    "address, or with FINALMILE_ENVIRONMENT=development)"
                )
        return self

    @field_validator("hubs", mode="before")
    @classmethod
    def _hub_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            hubs = tuple(hub.strip() for hub in value.split(",") if hub.strip())
            if len(set(hubs)) != len(hubs):
                raise ValueError(f"FINALMILE_HUBS names a hub twice: {value!r}")
            return hubs
        return value
    @model_validator(mode="after")
    def _mqtt_is_authenticated(self) -> Settings:
        if self.mqtt_url:
            parsed = urllib.parse.urlsplit(self.mqtt_url)
            if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
                raise ValueError("FINALMILE_MQTT_URL must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
            if parsed.username or parsed.password:
                raise ValueError("FINALMILE_MQTT_URL must not hold credentials: use FINALMILE_MQTT_USERNAME "
                                 "and FINALMILE_MQTT_PASSWORD")
            anonymous = self.mqtt_username is None or self.mqtt_password is None
            if anonymous and not is_loopback(parsed.hostname) and self.environment != "development":
                # Anyone who can publish on a parcel's topic can put it on hold: no anonymous remote broker.
                raise ValueError(
                    "FINALMILE_MQTT_URL to another host needs FINALMILE_MQTT_USERNAME and FINALMILE_MQTT_PASSWORD "
                    "outside development (use mqtts:// where the network is not private)"
                )
        if (self.mqtt_username is None) != (self.mqtt_password is None):
            raise ValueError("FINALMILE_MQTT_USERNAME and FINALMILE_MQTT_PASSWORD are set together or not at all")
        if self.mqtt_ca_file is not None and not self.mqtt_ca_file.is_file():
            raise ValueError(f"FINALMILE_MQTT_CA_FILE {self.mqtt_ca_file} is not a file")
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            raise ValueError("FINALMILE_MQTT_CERT_FILE and FINALMILE_MQTT_KEY_FILE are set together or not at all")
        for name, path in (("FINALMILE_MQTT_CERT_FILE", self.mqtt_cert_file), ("FINALMILE_MQTT_KEY_FILE",
                                                                              self.mqtt_key_file)):
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a file")
        if self.mqtt_cert_file is not None and not (self.mqtt_url or "").startswith("mqtts://"):
            raise ValueError("FINALMILE_MQTT_CERT_FILE needs an mqtts:// FINALMILE_MQTT_URL (a client certificate "
                             "is only sent over TLS)")
        return self

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """The hubs this process serves: FINALMILE_HUBS, else the one FINALMILE_HUB_ID."""
        return self.hubs or (self.hub_id,)

    def check_safe_to_serve(self) -> None:
        """Raise ConfigError for a set-up that must not serve: public address without keys, webhook without secret."""
        if not self.api_keys and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve on non-loopback host {self.host!r} without API keys; "
                "set FINALMILE_API_KEYS='backend:KEY,operator:KEY,viewer:KEY'"
            )
        if self.webhook_url and (self.webhook_secret is None or not self.webhook_secret.get_secret_value()):
            raise ConfigError("FINALMILE_WEBHOOK_URL is set but FINALMILE_WEBHOOK_SECRET is empty; webhooks are signed")
        if self.api_only and (self.hubs or self.standby):
            raise ConfigError("--api-only leads no hub: drop --hubs / --standby (FINALMILE_HUBS, FINALMILE_STANDBY)")
        if self.api_only and not self.nats_url:
            raise ConfigError("--api-only streams events from NATS JetStream: set FINALMILE_NATS_URL")
        if self.api_keys and self.server_secret is None:
            raise ConfigError(
                "FINALMILE_API_KEYS is set but FINALMILE_SERVER_SECRET is not: key ids, stream tickets and sealed "
                "pickup codes need a stable secret of at least 32 random characters (`finalmile keys` makes one)"
            )


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SECRET_FIELDS = frozenset(
    {"api_keys", "locker_keys", "webhook_secret", "server_secret", "database_url", "webhook_url"}
)
WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret `whsec_<base64 of 24..64 random bytes>`; ValueError otherwise."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("the webhook secret must be 'whsec_' + base64 of 24..64 random bytes (`finalmile keys`)")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret after 'whsec_' is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("the webhook secret must hold 24..64 bytes after 'whsec_'")
    return key


def load_settings(**overrides: Any) -> Settings:
    """`Settings()` from the environment (plus overrides); a bad value is one ConfigError line naming the variable.

    Secret values (API keys, the webhook secret) are never repeated in the message.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=True)[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across several settings: its message names them, no value is shown
            raise ConfigError(message) from None
        field = str(error["loc"][0])
        shown = "" if field in _SECRET_FIELDS or "input" not in error else f" (got {error['input']!r})"
        raise ConfigError(f"FINALMILE_{field.upper()}: {message}{shown}") from None
