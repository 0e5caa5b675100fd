"""Parcel sensors on a broker that wants a login, and over TLS: what an operator sets up outside a laptop.

A private Mosquitto with `allow_anonymous false` and a password file (and, for mqtts, a throw-away CA):
the Fleet API logs in with FINALMILE_MQTT_USERNAME / FINALMILE_MQTT_PASSWORD and gets the readings; without
them the broker refuses it and the reason is kept. Settings refuse an anonymous broker on another host
outside development, and credentials inside the URL.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, serve_in_thread, wait_until
from mqtt_helpers import BrokerSecurity, make_tls_files, private_broker, publish

from fleet_manager.api import create_app
from fleet_manager.condition_monitor import parcel_topic
from fleet_manager.config import Settings
from fleet_manager.errors import ConfigError
from fleet_manager.store.db import Database

COLD = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 60}}
USER, PASSWORD = "fleet-manager", "s3nsor-Br0ker-pass"


def _settings(hub_id: str, url: str, **extra: object) -> Settings:
    return Settings(database_url="sqlite://", api_keys=API_KEYS_ENV, hub_id=hub_id,  # type: ignore[arg-type]
                    mqtt_url=url, mqtt_topic_prefix=f"test-{uuid.uuid4().hex[:6]}", **extra)  # type: ignore[arg-type]


def _reading_arrives(app: object, client: httpx.Client, hub_id: str, port: int, security: BrokerSecurity) -> None:
    body = {"recipient": {"name": "Helmi"}, "weight_kg": 1.0, "customs_cleared": True, "handling": COLD,
            "destination": {"latitude_deg": 60.1690, "longitude_deg": 24.9410}}
    created = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    service = app.state.service  # type: ignore[attr-defined]
    topic = parcel_topic(service.settings.mqtt_topic_prefix, hub_id, order_id)
    publish(port, topic, {"temperature_c": 4.5, "at_s": 1_749_704_400.0}, security=security)
    wait_until(lambda: service.conditions.received >= 1, timeout_s=10, what="the reading")
    condition = client.get(f"/v1/orders/{order_id}/condition", headers=auth("viewer")).json()
    assert condition["latest"]["temperature_c"] == 4.5


def test_the_api_logs_in_to_a_broker_that_refuses_anonymous_clients(
    database: Database, hub_id: str, tmp_path: Path
) -> None:
    """With the credentials the reading is stored; without them the broker's refusal is the monitor's last error."""
    security = BrokerSecurity(USER, PASSWORD)
    with private_broker(tmp_path / "mosquitto.log", security=security) as port:
        url = f"mqtt://127.0.0.1:{port}"
        anonymous = create_app(_settings(hub_id, url), database=database)
        with serve_in_thread(anonymous):
            monitor = anonymous.state.service.conditions
            wait_until(lambda: monitor.last_error is not None, timeout_s=10, what="the broker to refuse us")
            assert "not authori" in monitor.last_error.lower(), monitor.last_error
            assert not monitor.subscribed.is_set()
        app = create_app(_settings(hub_id, url, mqtt_username=USER, mqtt_password=PASSWORD), database=database)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10.0) as client:
            wait_until(lambda: app.state.service.conditions.subscribed.is_set(), timeout_s=10,
                       what="the monitor to log in and subscribe")
            _reading_arrives(app, client, hub_id, port, security)


def test_readings_arrive_over_tls_from_a_broker_signed_by_the_configured_ca(
    database: Database, hub_id: str, tmp_path: Path
) -> None:
    """mqtts:// with FINALMILE_MQTT_CA_FILE: the broker's certificate is checked and the reading arrives."""
    security = BrokerSecurity(USER, PASSWORD, make_tls_files(tmp_path))
    assert security.tls is not None
    with private_broker(tmp_path / "mosquitto.log", security=security) as port:
        app = create_app(_settings(hub_id, f"mqtts://127.0.0.1:{port}", mqtt_username=USER, mqtt_password=PASSWORD,
                                   mqtt_ca_file=security.tls.ca), database=database)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10.0) as client:
            wait_until(lambda: app.state.service.conditions.subscribed.is_set(), timeout_s=10,
                       what="the monitor to connect over TLS")
            _reading_arrives(app, client, hub_id, port, security)
        untrusting = create_app(_settings(hub_id, f"mqtts://127.0.0.1:{port}", mqtt_username=USER,
                                          mqtt_password=PASSWORD), database=database)
        with serve_in_thread(untrusting):
            monitor = untrusting.state.service.conditions
            wait_until(lambda: monitor.last_error is not None, timeout_s=10, what="the TLS handshake to fail")
            assert "certificate" in monitor.last_error.lower(), monitor.last_error


def test_a_broker_that_wants_client_certificates_gets_ours(database: Database, hub_id: str, tmp_path: Path) -> None:
    """Mutual TLS: with FINALMILE_MQTT_CERT_FILE / _KEY_FILE the reading arrives; without them the broker ends the
    handshake and the monitor keeps the reason."""
    security = BrokerSecurity(USER, PASSWORD, make_tls_files(tmp_path), client_certificates=True)
    assert security.tls is not None
    with private_broker(tmp_path / "mosquitto.log", security=security) as port:
        url = f"mqtts://127.0.0.1:{port}"
        app = create_app(_settings(hub_id, url, mqtt_username=USER, mqtt_password=PASSWORD,
                                   mqtt_ca_file=security.tls.ca, mqtt_cert_file=security.tls.client_cert,
                                   mqtt_key_file=security.tls.client_key), database=database)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10.0) as client:
            wait_until(lambda: app.state.service.conditions.subscribed.is_set(), timeout_s=10,
                       what="the monitor to connect with its client certificate")
            _reading_arrives(app, client, hub_id, port, security)
        anonymous = create_app(_settings(hub_id, url, mqtt_username=USER, mqtt_password=PASSWORD,
                                         mqtt_ca_file=security.tls.ca), database=database)
        with serve_in_thread(anonymous):
            monitor = anonymous.state.service.conditions
            # TLS 1.3: the broker's "certificate required" alert comes after the client's handshake, so the
            # refusal surfaces when the MQTT connect gives up (its 10 s timeout)
            wait_until(lambda: monitor.last_error is not None, timeout_s=30, what="the broker to refuse us")
            assert not monitor.subscribed.is_set(), monitor.last_error


@pytest.mark.parametrize(("overrides", "says"), [
    ({"mqtt_url": "mqtt://broker.example.com:1883"}, "FINALMILE_MQTT_USERNAME"),
    ({"mqtt_url": "mqtts://broker.example.com:8883"}, "FINALMILE_MQTT_USERNAME"),
    ({"mqtt_url": "mqtt://user:secret@127.0.0.1:1883"}, "must not hold credentials"),
    ({"mqtt_url": "mqtt://127.0.0.1:1883", "mqtt_username": "only-user"}, "set together"),
    ({"mqtt_url": "amqp://127.0.0.1"}, "mqtt://HOST:PORT"),
    ({"mqtt_url": "mqtts://127.0.0.1:8883", "mqtt_cert_file": __file__}, "set together"),
    ({"mqtt_url": "mqtt://127.0.0.1:1883", "mqtt_cert_file": __file__, "mqtt_key_file": __file__}, "needs an mqtts://"),
    ({"mqtt_url": "mqtts://127.0.0.1:8883", "mqtt_cert_file": "/nonexistent.pem", "mqtt_key_file": __file__},
     "FINALMILE_MQTT_CERT_FILE /nonexistent.pem is not a file"),
])
def test_unsafe_broker_settings_are_refused_naming_the_variable(overrides: dict[str, str], says: str) -> None:
    from fleet_manager.config import load_settings

    with pytest.raises(ConfigError) as refused:
        load_settings(**overrides)  # type: ignore[arg-type]
    assert says in str(refused.value)
    assert "secret" not in str(refused.value)


def test_a_remote_broker_with_tls_and_a_login_is_accepted() -> None:
    from fleet_manager.config import load_settings

    settings = load_settings(mqtt_url="mqtts://broker.example.com:8883", mqtt_username=USER,  # type: ignore[arg-type]
                             mqtt_password=PASSWORD)
    assert settings.mqtt_password is not None and PASSWORD not in repr(settings)
