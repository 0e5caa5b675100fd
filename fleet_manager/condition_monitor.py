"""Parcel sensors over MQTT: subscribe to each hub's parcel topics, store the readings, act on excursions.

Each cold-chain (or fragile) parcel's sensor publishes JSON on
`<FINALMILE_MQTT_TOPIC_PREFIX>/<hub_id>/parcels/<order_id>/condition`:

    {"temperature_c": 5.2, "humidity_pct": 61, "shock_g": 0.4, "at_s": 1749704400.0}

(`at_s` epoch seconds, or `at` as RFC 3339; the fleet clock's time when neither is given; any of
the three measurements may be missing). `store.conditions` keeps the reading and raises the
excursion (event, webhook, hold at the hub). A payload that cannot be read is logged with its
topic and the field, and counted in `rejected`; the broker connection is retried with backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mission_planner.clock import Clock

from .config import is_loopback
from .domain.errors import NotFound
from .errors import ConfigError
from .store import conditions
from .store.db import Database

logger = logging.getLogger(__name__)

_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 30.0


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    temperature_c: float | None = Field(default=None, ge=-80, le=100)
    humidity_pct: float | None = Field(default=None, ge=0, le=100)
    shock_g: float | None = Field(default=None, ge=0, le=1000)
    at_s: float | None = None
    at: dt.datetime | None = None

    @field_validator("temperature_c", "humidity_pct", "shock_g", "at_s")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value


@dataclass(frozen=True)
class Broker:
    """Where the broker is and how to log in (from `mqtt://HOST:PORT` or `mqtts://HOST:PORT`)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None  # our client certificate, for a broker that wants one (mutual TLS)
    key_file: Path | None = None

    @classmethod
    def from_url(cls, url: str, *, username: str | None = None, password: str | None = None,
                 ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None) -> Broker:
        """Parse `mqtt://host:port` (1883) or `mqtts://host:port` (8883); ConfigError naming the setting otherwise."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ConfigError(f"FINALMILE_MQTT_URL must look like mqtt://HOST:PORT or mqtts://HOST:PORT (got {url!r})")
        tls = parsed.scheme == "mqtts"
        if cert_file is not None and not tls:
            raise ConfigError("FINALMILE_MQTT_CERT_FILE needs an mqtts:// FINALMILE_MQTT_URL")
        return cls(parsed.hostname, parsed.port or (8883 if tls else 1883), tls, username, password, ca_file,
                   cert_file, key_file)

    def client(self, identifier: str) -> aiomqtt.Client:
        """An aiomqtt client for this broker (TLS with the configured CA, or the system's, for mqtts; with our
        client certificate where one is configured)."""
        tls = aiomqtt.TLSParameters(
            ca_certs=str(self.ca_file) if self.ca_file else None,
            certfile=str(self.cert_file) if self.cert_file else None,
            keyfile=str(self.key_file) if self.key_file else None,
        ) if self.tls else None
        return aiomqtt.Client(self.host, self.port, timeout=10.0, identifier=identifier, username=self.username,
                              password=self.password, tls_params=tls)


def topic_filter(prefix: str, hub_id: str) -> str:
    """The subscription of one hub: every parcel's condition topic."""
    return f"{prefix}/{hub_id}/parcels/+/condition"


def parcel_topic(prefix: str, hub_id: str, order_id: str) -> str:
    """The topic one parcel's sensor publishes on."""
    return f"{prefix}/{hub_id}/parcels/{order_id}/condition"


class ConditionMonitor:
    """Subscribes to the parcel sensors of some hubs and stores what they say."""

    def __init__(self, *, database: Database, clock: Clock, hub_ids: Sequence[str], url: str, topic_prefix: str,
                 committed: Callable[[], None] = lambda: None, username: str | None = None,
                 password: str | None = None, ca_file: Path | None = None, cert_file: Path | None = None,
                 key_file: Path | None = None, warm_allowance_s: float = 0.0) -> None:
        self.database = database
        self.clock = clock
        self.hub_ids = tuple(hub_ids)
        self.broker = Broker.from_url(url, username=username, password=password, ca_file=ca_file,
                                      cert_file=cert_file, key_file=key_file)
        if not self.broker.tls and self.broker.username is not None and not is_loopback(self.broker.host):
            logger.warning("parcel sensors: logging in to %s without TLS; use mqtts:// outside a private network",
                           self.broker.host)
        self.prefix = topic_prefix
        self.warm_allowance_s = warm_allowance_s
        self.committed = committed
        self.received = 0
        self.rejected = 0
        self.excursions = 0
        self.subscribed = asyncio.Event()
        self.last_error: str | None = None  # why the broker last refused or dropped us (health, tests)

    async def run(self, _service: object = None) -> None:
        """Run until cancelled, reconnecting (with backoff) when the broker goes away."""
        retry_s = _RETRY_FIRST_S
        while True:
            try:
                async with self.broker.client(f"finalmile-conditions-{uuid.uuid4().hex[:8]}") as client:
                    for hub_id in self.hub_ids:
                        await client.subscribe(topic_filter(self.prefix, hub_id), qos=1)
                    self.subscribed.set()
                    self.last_error = None
                    retry_s = _RETRY_FIRST_S
                    logger.info("parcel sensors: subscribed on %s:%d", self.broker.host, self.broker.port)
                    async for message in client.messages:
                        await self.handle(str(message.topic), bytes(message.payload or b""))  # type: ignore[arg-type]
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                self.last_error = str(exc)
                logger.warning("parcel sensors: broker %s:%d: %s; retrying in %.0f s", self.broker.host,
                               self.broker.port, exc, retry_s)
                await asyncio.sleep(retry_s)
                retry_s = min(_RETRY_MAX_S, retry_s * 2)

    async def handle(self, topic: str, payload: bytes) -> conditions.ReadingOutcome | None:
        """One message: parse, store, act; None when it was refused (logged with the reason)."""
        parts = topic.split("/")
        if len(parts) < 5 or parts[-3] != "parcels" or parts[-1] != "condition":
            self._refuse(topic, "topic is not <prefix>/<hub_id>/parcels/<order_id>/condition")
            return None
        hub_id, order_id = parts[-4], parts[-2]
        try:
            raw: Any = json.loads(payload)
            reading = _Payload.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            self._refuse(topic, _why(exc))
            return None
        at_s = reading.at_s if reading.at_s is not None else (
            reading.at.timestamp() if reading.at is not None else self.clock.now())
        value = conditions.Reading(at_s, reading.temperature_c, reading.humidity_pct, reading.shock_g)
        now_s = self.clock.now()
        try:
            outcome = await self.database.write_async(
                lambda s: conditions.record_reading(s, hub_id=hub_id, order_id=order_id, reading=value, now_s=now_s,
                                                    warm_allowance_s=self.warm_allowance_s))
        except NotFound as exc:
            self._refuse(topic, str(exc))
            return None
        self.received += 1
        if outcome.new_excursion:
            self.excursions += 1
            logger.warning("parcel %s: condition excursion (%s)%s", order_id, "; ".join(outcome.broken),
                           ", held at the hub" if outcome.held else "")
        self.committed()
        return outcome

    def _refuse(self, topic: str, why: str) -> None:
        self.rejected += 1
        logger.warning("parcel sensors: refused a message on %s: %s", topic, why)


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"]) or "payload"
        return f"{field}: {error['msg']} (got {error.get('input')!r})"
    return f"payload is not JSON: {exc}"
