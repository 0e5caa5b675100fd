"""The simulated logistics backend: sends the day's orders to the Fleet API and listens to its webhooks.

It is an outside party and speaks only HTTP: orders are created with the backend key and an
`Idempotency-Key` (the order's reference), customs clearance is posted after each parcel's
delay, the scenario's pop-up no-fly zones are published and withdrawn with the operator key,
and recipients answer failed attempts (redirect to a locker or reschedule). Its own HTTP port
receives the CloudEvents webhooks, refuses any whose Standard Webhooks signature does not verify
(checked with the `standardwebhooks` package, as a real backend would), counts events of an order
that arrive out of order (`finalmileseq` lower than one already seen for that order), and answers
the fleet manager's recipient-presence questions from the seeded presence draw.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fleet_manager.learning.customs_facts import customs_metadata
from mission_planner.clock import Clock
from mission_planner.errors import FinalMileError

from .demand import DemandOrder, PresenceDraw
from .parcel_sensors import ParcelSensors
from .scenario import Scenario

logger = logging.getLogger(__name__)

_ANSWER_DELAY_S = 180.0  # recipients answer a failed attempt a few minutes later
_RESCHEDULE_AFTER_S = 3600.0
_RESCHEDULE_WINDOW_S = 7200.0
# An order create carries its reference as Idempotency-Key, so the backend may send it again: a loaded API that
# times out or answers 5xx must not change the day's demand (the three fleets of a comparison get the same orders).
ORDER_POST_ATTEMPTS = 5


def _special_fields(order: DemandOrder, scenario: Scenario) -> dict[str, Any]:
    """A typed address instead of coordinates, and the handling class of a cold-chain parcel."""
    fields: dict[str, Any] = {}
    if order.address_text is not None:
        fields["address"] = {"text": order.address_text}
    handling: dict[str, Any] = {}
    if order.cold_chain:
        spec = scenario.demand.cold_chain
        handling["cold_chain"] = {"min_temp_c": spec.min_temp_c, "max_temp_c": spec.max_temp_c,
                                  "max_minutes_out_of_conditioning": spec.max_minutes_out_of_conditioning}
    if order.max_shock_g is not None:
        handling["fragile"] = {"max_shock_g": order.max_shock_g}
    if handling:
        fields["handling"] = handling
    return fields


def _address_outcome(order: DemandOrder, response: dict[str, Any]) -> dict[str, Any]:
    """What the Fleet API made of a typed address, beside what it meant."""
    resolution = response.get("address_resolution") or {}
    target = resolution.get("building_id") or resolution.get("address_id")
    return {"kind": order.address_kind, "status": resolution.get("status"), "confidence": resolution.get("confidence"),
            "target": target, "expected": order.expected_target, "order_status": response.get("status")}


class BackendSimError(FinalMileError):
    """The Fleet API refused what the backend sent (the message carries its status and body)."""


def verify_signature(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """The receiver's check, by the Standard Webhooks library: webhook-id, -timestamp (within 5 min), -signature."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):
        return False
    return True


def _retry_after_s(response: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (the delta form; an HTTP date is ignored), capped at a minute."""
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 60.0)
    except ValueError:
        return None


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat()


@dataclass
class BackendStats:
    """What the backend saw: orders sent, webhooks received, signatures refused, final statuses."""

    orders_sent: int = 0
    customs_cleared: int = 0
    webhooks_received: int = 0
    webhooks_duplicate: int = 0
    bad_signatures: int = 0
    out_of_order: int = 0  # events of an order that arrived after a later event of the same order
    answers_sent: int = 0
    zones_published: int = 0
    api_errors: list[str] = field(default_factory=list)
    api_retries: int = 0  # requests sent again after a transport error, 429 or 5xx (the order create only)
    event_types: Counter[str] = field(default_factory=Counter)
    status_by_order: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # order_id -> [(at_s, status)]
    # typed addresses: reference -> what the Fleet API made of it (status, target, truth, kind, confidence)
    address_outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    reviews_decided: int = 0


class BackendSim:
    """Feeds the Fleet API one simulated day and receives its webhooks."""

    def __init__(
        self,
        *,
        api_url: str,
        backend_key: str,
        operator_key: str,
        webhook_secret: str,
        scenario: Scenario,
        orders: Sequence[DemandOrder],
        clock: Clock,
        host: str = "127.0.0.1",
        sensors: ParcelSensors | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.scenario = scenario
        self.orders = list(orders)
        self.clock = clock
        self.host = host
        self.port = 0
        self.stats = BackendStats()
        self._secret = webhook_secret
        self._presence = PresenceDraw(scenario.seed)
        self._by_reference = {o.reference: o for o in self.orders}
        self._order_ids: dict[str, str] = {}  # reference -> order id
        self._seen_events: set[str] = set()
        self._last_seq: dict[str, int] = {}  # subject -> highest finalmileseq received
        self._backend = httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {backend_key}"}, timeout=30.0
        )
        self._operator = httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {operator_key}"}, timeout=30.0
        )
        self._server: uvicorn.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sensors = sensors  # the cold-chain boxes' sensors (they follow the parcels through the webhooks)
        self._references: dict[str, str] = {}  # order id -> reference

    @property
    def url(self) -> str:
        """Base URL of the backend's own HTTP endpoint (webhooks at /webhooks)."""
        return f"http://{self.host}:{self.port}"

    def use_api(self, api_url: str) -> None:
        """Send orders and operator requests to the Fleet API at `api_url` (known once it has started)."""
        self.api_url = api_url.rstrip("/")
        self._backend.base_url = self.api_url
        self._operator.base_url = self.api_url

    def order_id(self, reference: str) -> str | None:
        """The Fleet API's id for one of our references (None until created)."""
        return self._order_ids.get(reference)

    # ----- the receiving side ----------------------------------------------------------------------
    async def start_receiver(self, timeout_s: float = 10.0) -> str:
        """Serve webhooks and presence answers on a free port; returns the webhook URL."""
        app = Starlette(
            routes=[
                Route("/webhooks", self._webhook, methods=["POST"]),
                Route("/recipients/{reference}/presence", self._presence_answer, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host=self.host, port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._spawn(self._server.serve(), "backend-receiver")
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._server.started:
            if asyncio.get_running_loop().time() > deadline:
                raise BackendSimError(f"backend receiver did not start within {timeout_s} s")
            await asyncio.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return f"{self.url}/webhooks"

    async def _webhook(self, request: Request) -> Response:
        body = await request.body()
        if not verify_signature(body, dict(request.headers), self._secret):
            self.stats.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        event = json.loads(body)
        event_id = str(event.get("id"))
        if event_id in self._seen_events:
            self.stats.webhooks_duplicate += 1
            return Response(status_code=204)
        self._seen_events.add(event_id)
        subject, seq = str(event.get("subject", "")), int(event.get("finalmileseq") or 0)
        if seq < self._last_seq.get(subject, 0):
            self.stats.out_of_order += 1
        self._last_seq[subject] = max(seq, self._last_seq.get(subject, 0))
        self.stats.webhooks_received += 1
        self.stats.event_types[str(event.get("type"))] += 1
        data = event.get("data") or {}
        if str(event.get("type", "")).endswith("order.address_review_required"):
            self._spawn(self._operator_review(str(data.get("order_id"))), "operator-review")
        if str(event.get("type", "")).endswith("order.status_changed"):
            order_id, status = str(data.get("order_id")), str(data.get("to_status"))
            if self.sensors is not None:
                self.sensors.on_status(order_id, status, data.get("mode"))
            self.stats.status_by_order[order_id] = status
            self.stats.history.setdefault(order_id, []).append((float(data.get("at_s") or 0.0), status))
            if status == "attempt_failed":
                self._spawn(self._answer_failed_attempt(order_id, str(data.get("reference") or "")), "answer")
        return Response(status_code=204)

    async def _presence_answer(self, request: Request) -> Response:
        reference = request.path_params["reference"]
        order = self._by_reference.get(reference)
        if order is None:
            return JSONResponse({"error": f"unknown reference {reference!r}"}, status_code=404)
        return JSONResponse({"present": self._presence.is_home(order)})

    async def _answer_failed_attempt(self, order_id: str, reference: str) -> None:
        await self.clock.sleep(_ANSWER_DELAY_S)
        order = self._by_reference.get(reference)
        if order is None:
            return
        if order.prefers_locker:
            response = await self._backend.post(f"/v1/orders/{order_id}/redirect-to-locker", json={})
        else:
            start_s = self.clock.now() + _RESCHEDULE_AFTER_S
            response = await self._backend.post(
                f"/v1/orders/{order_id}/reschedule",
                json={"window_start": _iso(start_s), "window_end": _iso(start_s + _RESCHEDULE_WINDOW_S)},
            )
        if response.status_code >= 400:
            # The dispatcher may already have decided (answer came too late): that is the recipient's loss.
            logger.info("recipient answer for %s refused: %s %s", order_id, response.status_code, response.text[:200])
            return
        self.stats.answers_sent += 1

    # ----- the sending side ------------------------------------------------------------------------
    async def run(self, until_epoch_s: float | None = None) -> None:
        """Send every order at its release time (those released by `until_epoch_s`), customs clearances after their
        delays, and the zones; returns when the last order is sent."""
        start_s = self.scenario.start_epoch_s
        for event in self.scenario.zone_events:
            self._spawn(self._zone(event, self.scenario.epoch_at(event.appears_at)), f"zone-{event.zone_id}")
        for order in self.orders:
            if until_epoch_s is not None and start_s + order.release_s > until_epoch_s:
                break  # sorted by release time: the rest is after the day
            await self._sleep_until(start_s + order.release_s)
            await self._create(order)

    async def _sleep_until(self, epoch_s: float) -> None:
        delay_s = epoch_s - self.clock.now()
        if delay_s > 0:
            await self.clock.sleep(delay_s)

    async def _create(self, order: DemandOrder) -> None:
        start_s = self.scenario.start_epoch_s
        body = {
            "reference": order.reference,
            "recipient": {"name": order.recipient_name, "phone": order.recipient_phone},
            "destination": {
                "latitude_deg": order.latitude_deg,
                "longitude_deg": order.longitude_deg,
                "street": order.address,
                "city": "Helsinki",
            },
            "weight_kg": order.weight_kg,
            "customs_cleared": order.customs_delay_s is None,
            "window_start": _iso(start_s + order.window_start_s),
            "window_end": _iso(start_s + order.window_end_s),
            "allow_leave_at_door": order.allow_leave_at_door,
            "metadata": {"size_class": order.size_class, "building_id": order.building_id,
                         **customs_metadata(order.origin, order.goods_category, order.declared_value_eur)},
        }
        body.update(_special_fields(order, self.scenario))
        if order.address_text is not None:
            del body["destination"]  # the backend only has what the recipient typed
        response = await self._post(self._backend, "/v1/orders", body, {"Idempotency-Key": order.reference},
                                    attempts=ORDER_POST_ATTEMPTS)
        if response is None:
            return
        order_id = str(response["order_id"])
        self._order_ids[order.reference] = order_id
        self._references[order_id] = order.reference
        self.stats.orders_sent += 1
        if order.address_text is not None:
            self.stats.address_outcomes[order.reference] = _address_outcome(order, response)
        if order.cold_chain and self.sensors is not None:
            self.sensors.track(order, order_id)
        if order.customs_delay_s is not None:
            self._spawn(self._clear_customs(order_id, start_s + order.release_s + order.customs_delay_s), "customs")

    async def _operator_review(self, order_id: str) -> None:
        """The operator at the dashboard picks the building the recipient meant (the sim knows it), after a while."""
        delay_s = self.scenario.demand.typed_addresses.operator_review_delay_s
        if delay_s is None:
            return  # nobody looks at the queue in this scenario
        await self.clock.sleep(delay_s)
        # (looked up only now: the webhook can arrive before the answer to our POST that names the order)
        order = self._by_reference.get(self._references.get(order_id, ""))
        if order is None or order.expected_target is None:
            return
        decision = {"building_id": order.expected_target, "reason": "simulated operator checked the map"}
        if await self._post(self._operator, f"/v1/orders/{order_id}/address", decision) is not None:
            self.stats.reviews_decided += 1

    async def _clear_customs(self, order_id: str, at_s: float) -> None:
        await self._sleep_until(at_s)
        if await self._post(self._backend, f"/v1/orders/{order_id}/customs-cleared", {}) is not None:
            self.stats.customs_cleared += 1

    async def _zone(self, event: Any, at_s: float) -> None:
        await self._sleep_until(at_s)
        end_s = at_s + event.duration_s
        feature = {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [event.polygon_lonlat()]},
            "properties": {
                "id": event.zone_id,
                "kind": "no_fly",
                "lower_m": 0,
                "upper_m": event.upper_m,
                "name": event.name,
                "reason": event.reason,
                "time_windows": [{"start": _iso(at_s), "end": _iso(end_s)}],
            },
        }
        if await self._post(self._operator, "/v1/zones", feature) is None:
            return
        self.stats.zones_published += 1
        logger.info("operator published no-fly zone %s until %s", event.zone_id, _iso(end_s))
        await self._sleep_until(end_s)
        response = await self._operator.delete(f"/v1/zones/{event.zone_id}")
        if response.status_code >= 400:
            self.stats.api_errors.append(f"DELETE zone {event.zone_id}: {response.status_code} {response.text[:200]}")

    async def _post(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
        *, attempts: int = 1,
    ) -> dict[str, Any] | None:
        """POST and return the JSON answer, or None (logged, counted in `api_errors`) when it fails.

        With `attempts` > 1 (only for requests the API de-duplicates: an `Idempotency-Key`), a transport error, a
        429 or a 5xx is tried again after a back-off, as a real backend's client does; a 4xx other than 429 is final.
        """
        for attempt in range(1, attempts + 1):
            status, retry_after_s = None, None
            try:
                response = await client.post(path, json=body, headers=headers or {})
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    result: dict[str, Any] = response.json() if response.content else {}
                    return result
                status, retry_after_s = response.status_code, _retry_after_s(response)
                failure = f"{status} {response.text[:300]}"
            refused = status is not None and status < 500 and status != 429  # sending this body again cannot help
            if attempt >= attempts or refused:
                self.stats.api_errors.append(f"POST {path}: {failure}")
                logger.error("backend: POST %s failed (attempt %d of %d): %s", path, attempt, attempts, failure)
                return None
            self.stats.api_retries += 1
            logger.warning("backend: POST %s failed (attempt %d of %d), trying again: %s", path, attempt, attempts,
                           failure)
            # wall time: what is slow here is the API process, not the simulated day
            await asyncio.sleep(retry_after_s if retry_after_s is not None else min(2.0**attempt, 15.0))
        return None

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every task, the receiver and the HTTP clients."""
        if self._server is not None:
            self._server.should_exit = True
        for task in list(self._tasks):
            if task.get_name() != "backend-receiver":
                task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)
        await self._backend.aclose()
        await self._operator.aclose()
