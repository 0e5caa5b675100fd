"""Secrets kept secret, over real HTTP on SQLite and PostgreSQL: Standard Webhooks signatures verified by the
`standardwebhooks` package, events in order per order, HMAC key ids, no key in a URL (stream tickets), locker
keys bound to their locker, rate limits, a cap on streams per key, and pickup codes never at rest in plain text."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import (
    API_KEYS_ENV,
    KEYS,
    LOCKER_ID,
    SECRET,
    SERVER_SECRET,
    auth,
    database_url_for,
    serve_handler,
    serve_in_thread,
    wait_until,
)
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fleet_manager.api import create_app
from fleet_manager.api.keyring import KeyRing, Principal
from fleet_manager.config import Role, Settings
from fleet_manager.store.models import NotificationRow, OutboxRow, PickupCodeRow

HUB = "hub-secrets"


@dataclass
class StandardReceiver:
    """A backend endpoint verifying each POST with the `standardwebhooks` library; refuses every first attempt."""

    verified: list[dict[str, Any]] = field(default_factory=list)
    refused_signatures: int = 0
    fail_first_attempts: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def standard_receiver(receiver: StandardReceiver) -> Iterator[str]:
    """Serve `receiver` on a free loopback port; yields its URL."""
    webhook = Webhook(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                with receiver.lock:
                    receiver.refused_signatures += 1
                self.send_response(401)
            else:
                first = self.headers.get("X-FinalMile-Attempt") == "1"
                if first and receiver.fail_first_attempts:
                    self.send_response(503)  # every event needs a retry: order must hold across retries
                else:
                    with receiver.lock:
                        receiver.verified.append(event)
                    self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serve_handler(Handler) as url:
        yield url


@dataclass
class Served:
    url: str
    app: Any
    receiver: StandardReceiver


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app with webhooks to a Standard Webhooks receiver, on SQLite and on PostgreSQL."""
    database_url = database_url_for(request, tmp_path_factory, "secrets")
    receiver = StandardReceiver()
    with standard_receiver(receiver) as hook_url:
        settings = Settings(
            database_url=database_url,
            api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
            hub_id=HUB,
            server_secret=SERVER_SECRET,  # type: ignore[arg-type]
            webhook_url=hook_url,
            webhook_secret=SECRET,  # type: ignore[arg-type]
            webhook_poll_interval_s=0.05,
            webhook_backoff_base_s=0.05,
            webhook_backoff_max_s=0.2,
            max_streams_per_key=3,
        )
        app = create_app(settings)
        with serve_in_thread(app) as url:
            yield Served(url, app, receiver)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    """An HTTP client against the running server."""
    with httpx.Client(base_url=served.url, timeout=30.0) as http:
        yield http


def _create(client: httpx.Client, reference: str, **extra: Any) -> str:
    body = {
        "reference": reference,
        "recipient": {"name": "Aino"},
        "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94},
        "weight_kg": 1.0,
        "customs_cleared": True,
        **extra,
    }
    response = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": reference})
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


def _move(client: httpx.Client, order_id: str, status: str, **extra: Any) -> httpx.Response:
    body = {"to_status": status, "reason": "test", **extra}
    return client.post(f"/v1/orders/{order_id}/status", json=body, headers=auth("operator"))


@pytest.mark.timeout(90)
def test_a_standard_webhooks_receiver_verifies_every_delivery_in_order(served: Served, client: httpx.Client) -> None:
    """The `standardwebhooks` package verifies each POST; every event needed a retry, yet each order's
    events arrived in the order they happened (finalmileseq increasing per subject)."""
    orders = [_create(client, f"swh-{uuid.uuid4().hex[:8]}") for _ in range(4)]
    for order_id in orders:
        for status in ("planned", "ready", "planned", "assigned"):
            assert _move(client, order_id, status).status_code == 200
    subjects = {f"orders/{order_id}" for order_id in orders}

    def all_in() -> bool:
        with served.receiver.lock:
            return sum(1 for e in served.receiver.verified if e["subject"] in subjects) >= 4 * 6

    wait_until(all_in, timeout_s=60, what="every status change verified by the receiver")
    with served.receiver.lock:
        events = [e for e in served.receiver.verified if e["subject"] in subjects]
    assert served.receiver.refused_signatures == 0
    for subject in subjects:
        seqs = [e["finalmileseq"] for e in events if e["subject"] == subject]
        statuses = [e["data"]["to_status"] for e in events if e["subject"] == subject]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (subject, seqs)
        assert statuses == ["received", "ready", "planned", "ready", "planned", "assigned"]


def test_a_signature_is_bound_to_id_timestamp_and_secret() -> None:
    """A body replayed under another id, an old timestamp or another secret does not verify."""
    from fleet_manager.config import webhook_secret_bytes
    from fleet_manager.webhooks.cloudevents import sign

    body, now_s = b'{"id":"e1"}', int(time.time())
    good = {"webhook-id": "e1", "webhook-timestamp": str(now_s)}
    good["webhook-signature"] = sign("e1", now_s, body, webhook_secret_bytes(SECRET))
    Webhook(SECRET).verify(body, good)
    for bad in (
        {**good, "webhook-id": "e2"},
        {**good, "webhook-timestamp": str(now_s - 1)},
        {**good, "webhook-signature": sign("e1", now_s - 600, body, webhook_secret_bytes(SECRET))},
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(body, bad)


def test_key_ids_are_hmacs_under_the_server_secret(served: Served, client: httpx.Client) -> None:
    """The audit trail's actor is not sha256(key)[:12] (crackable by any viewer) but an HMAC, stable per secret."""
    order_id = _create(client, f"kid-{uuid.uuid4().hex[:8]}")
    actor = client.get(f"/v1/orders/{order_id}/events", headers=auth("viewer")).json()[0]["actor"]
    role, key_id = actor.split(":")
    assert role == "backend" and len(key_id) == 16
    assert key_id != hashlib.sha256(KEYS["backend"].encode()).hexdigest()[:12]
    same_secret = KeyRing({KEYS["backend"]: frozenset({Role.BACKEND})}, server_secret=SERVER_SECRET.encode())
    other_secret = KeyRing({KEYS["backend"]: frozenset({Role.BACKEND})}, server_secret=b"x" * 32)
    assert same_secret.authenticate(KEYS["backend"]).key_id == key_id  # type: ignore[union-attr]
    assert other_secret.authenticate(KEYS["backend"]).key_id != key_id  # type: ignore[union-attr]
    assert same_secret.authenticate(KEYS["backend"] + "x") is None


def _open_stream(url: str, path: str, headers: dict[str, str]) -> tuple[int, socket.socket]:
    """A raw HTTP/1.1 GET of an event stream: (status, the open socket); close the socket to leave."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: text/event-stream"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1]), sock


def test_no_key_in_a_query_string_but_short_lived_tickets(served: Served, client: httpx.Client) -> None:
    """?access_token=<key> is refused; a ticket from POST /v1/events/stream-tickets opens the stream; a forged,
    expired or unknown ticket does not."""
    status, sock = _open_stream(served.url, f"/v1/events/stream?access_token={KEYS['viewer']}", {})
    sock.close()
    assert status == 401
    issued = client.post("/v1/events/stream-tickets", headers=auth("viewer"))
    assert issued.status_code == 201 and KEYS["viewer"] not in issued.text
    ticket = issued.json()["ticket"]
    status, sock = _open_stream(served.url, f"/v1/events/stream?ticket={ticket}", {})
    sock.close()
    assert status == 200
    payload, _, mac = ticket.partition(".")
    status, sock = _open_stream(served.url, f"/v1/events/stream?ticket={payload}.{mac[::-1]}", {})
    sock.close()
    assert status == 401
    ring = KeyRing({KEYS["viewer"]: frozenset({Role.VIEWER})}, server_secret=SERVER_SECRET.encode(), ticket_ttl_s=60)
    viewer = ring.authenticate(KEYS["viewer"])
    assert viewer is not None
    expired, _ = ring.issue_ticket(viewer, now_s=time.time() - 61)
    assert ring.redeem_ticket(expired) is None and ring.redeem_ticket(ring.issue_ticket(viewer)[0]) == viewer
    stranger, _ = ring.issue_ticket(Principal("0123456789abcdef", frozenset({Role.VIEWER})))
    assert ring.redeem_ticket(stranger) is None


def test_streams_per_key_are_capped_and_listeners_leave_with_their_clients(served: Served) -> None:
    """With 3 streams open a key's 4th is a 429; closing the connections removes their listeners at once."""
    broker = served.app.state.service.broker
    before = broker.listener_count
    opened = [_open_stream(served.url, "/v1/events/stream", auth("viewer")) for _ in range(3)]
    assert [status for status, _ in opened] == [200, 200, 200]
    wait_until(lambda: broker.listener_count == before + 3, timeout_s=5, what="3 listeners")
    status, extra = _open_stream(served.url, "/v1/events/stream", auth("viewer"))
    extra.close()
    assert status == 429
    status, other_key = _open_stream(served.url, "/v1/events/stream", auth("operator"))
    assert status == 200
    for _, sock in [*opened, (200, other_key)]:
        sock.close()
    wait_until(lambda: broker.listener_count == before, timeout_s=5, what="listeners dropped after the clients left")
    status, again = _open_stream(served.url, "/v1/events/stream", auth("viewer"))
    again.close()
    assert status == 200


def _register_lockers(client: httpx.Client) -> None:
    for locker_id in (LOCKER_ID, "kamppi-2"):
        locker = {"name": locker_id, "latitude_deg": 60.169, "longitude_deg": 24.932, "compartments": 4}
        assert client.put(f"/v1/lockers/{locker_id}", json=locker, headers=auth("operator")).status_code == 200


def test_locker_keys_open_only_their_locker_and_are_rate_limited(client: httpx.Client) -> None:
    """The key bound to 'kamppi' gets 403 at another locker; more than 10 codes a minute at one locker is a 429."""
    _register_lockers(client)
    body = {"order_id": "no-such-order", "code": "123456"}
    other = client.post("/v1/lockers/kamppi-2/pickup", json=body, headers=auth("locker"))
    assert other.status_code == 403 and "kamppi-2" in other.json()["detail"]
    answers = [client.post(f"/v1/lockers/{LOCKER_ID}/pickup", json=body, headers=auth("locker")) for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [404] * 10
    assert answers[10].status_code == 429 and int(answers[10].headers["retry-after"]) >= 1
    assert answers[10].headers["content-type"] == "application/problem+json"


def test_recipient_actions_are_rate_limited_per_order(client: httpx.Client) -> None:
    """The 11th recipient answer for one order within a minute is a 429; another order is not affected."""
    first = _create(client, f"rl-{uuid.uuid4().hex[:8]}", allow_leave_at_door=True)
    second = _create(client, f"rl-{uuid.uuid4().hex[:8]}", allow_leave_at_door=True)
    codes = [client.post(f"/v1/orders/{first}/leave-at-door", headers=auth("backend")).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert client.post(f"/v1/orders/{second}/leave-at-door", headers=auth("backend")).status_code == 200


def test_pickup_codes_are_never_at_rest_in_plain_text(served: Served, client: httpx.Client) -> None:
    """The diversion's code reaches the backend's webhook; the outbox holds it sealed, the notification and the
    pickup-code table not at all, the event API shows <redacted>, and once delivered the sealed copy is erased."""
    _register_lockers(client)
    order_id = _create(client, f"pc-{uuid.uuid4().hex[:8]}")
    for status, extra in (
        ("planned", {}),
        ("assigned", {}),
        ("loaded", {}),
        ("out_for_delivery", {"mode": "robot"}),
        ("attempt_failed", {}),
        ("diverted_to_locker", {"locker_id": LOCKER_ID}),
    ):
        assert _move(client, order_id, status, **extra).status_code == 200, status
    database = served.app.state.service.database
    with database.read() as session:
        row = session.scalars(
            select(OutboxRow).where(
                OutboxRow.subject == f"orders/{order_id}", OutboxRow.type.endswith("diverted_to_locker")
            )
        ).one()
        sealed, event_id = row.data["pickup_code"], row.event_id
        payloads = list(session.scalars(select(NotificationRow.payload).where(NotificationRow.order_id == order_id)))
        code_row = session.get(PickupCodeRow, order_id)
        assert code_row is not None
        code_hash = code_row.code_hash
    code = database.sealer.unseal(sealed, bound_to=event_id)
    assert code is not None and len(code) == 6 and code not in sealed and code not in code_hash
    assert payloads and all("pickup_code" not in payload for payload in payloads)
    listed = client.get("/v1/events", params={"after": 0, "limit": 1000}, headers=auth("viewer")).json()
    assert [e["data"]["pickup_code"] for e in listed if e["id"] == event_id] in (["<redacted>"], [None])

    def delivered() -> bool:
        with served.receiver.lock:
            return any(e["id"] == event_id for e in served.receiver.verified)

    wait_until(delivered, timeout_s=30, what="the diversion webhook")
    with served.receiver.lock:
        sent = next(e for e in served.receiver.verified if e["id"] == event_id)
    assert sent["data"]["pickup_code"] == code  # the backend gets the plain code, over the signed webhook only

    def erased() -> bool:
        with database.read() as session:
            stored = session.scalars(select(OutboxRow.data).where(OutboxRow.event_id == event_id)).one()
            return stored["pickup_code"] is None

    wait_until(erased, timeout_s=10, what="the sealed copy erased after delivery")


def test_the_example_env_placeholders_are_refused_without_being_echoed() -> None:
    """docker/example.env's keys and server secret are refused (too short and placeholders); no value is repeated."""
    from fleet_manager.config import load_settings
    from fleet_manager.errors import ConfigError

    example = Path(__file__).resolve().parents[2] / "docker" / "example.env"
    values = dict(
        line.split("=", 1) for line in example.read_text().splitlines() if line.startswith("FINALMILE_")
    )
    padded = values["FINALMILE_API_KEYS"].replace("-key", "-key-padded-to-thirty-two-chars")
    for overrides in ({"api_keys": values["FINALMILE_API_KEYS"]}, {"api_keys": padded},
                      {"server_secret": values["FINALMILE_SERVER_SECRET"]}):
        with pytest.raises(ConfigError) as refused:
            load_settings(**overrides)
        assert "change-me" not in str(refused.value)
