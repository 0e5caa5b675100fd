"""Webhook deliverer: POSTs due outbox events to the backend, at least once, with backoff and dead-lettering.

Replicas: on PostgreSQL any number of processes may run a deliverer on the same hubs. Each attempt runs in
one transaction that claims the event (`FOR UPDATE SKIP LOCKED`, only when it is the oldest pending event
of its order), POSTs it and records the outcome before committing, so two replicas never send the same
event and an order's events leave in order. A replica that dies mid-POST rolls back; the event is sent
again later with the same id (receivers de-duplicate on it). On SQLite (one writer: a transaction held
open across a POST would stall every other write) a process reads, POSTs, then records: run one deliverer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session

from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from mission_planner.clock import Clock

from . import cloudevents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to deliver; delays are clock seconds."""

    url: str
    secret: bytes
    max_attempts: int = 10
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0
    poll_interval_s: float = 0.5
    batch_size: int = 100
    concurrency: int = 8

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):  # https outside development: config.Settings
            raise ValueError(f"webhook url must be http(s), got {self.url!r}")
        if not self.secret:
            raise ValueError("webhook secret must not be empty")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


def backoff_s(attempt: int, config: WebhookConfig, rng: random.Random) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped, with 'equal jitter' in [d/2, d]."""
    delay_s = min(config.backoff_max_s, config.backoff_base_s * 2 ** (attempt - 1))
    return delay_s / 2 + rng.random() * delay_s / 2


class WebhookDeliverer:
    """Runs as an asyncio task next to the API; several processes may run one per hub set."""

    def __init__(
        self,
        database: Database,
        config: WebhookConfig,
        *,
        hub_ids: Collection[str],
        clock: Clock,
        rng: random.Random | None = None,
        on_attempt: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._database = database
        self._config = config
        self._hub_ids = tuple(hub_ids)
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_attempt = on_attempt
        self._transport = transport
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Something was committed to the outbox: look now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver forever (until cancelled)."""
        async with httpx.AsyncClient(timeout=self._config.timeout_s, transport=self._transport) as client:
            while True:
                self._wake.clear()  # before the round, so a poke during it is not lost
                try:
                    delivered = await self.deliver_due(client)
                except Exception:
                    logger.exception("webhook delivery round failed; retrying after the poll interval")
                    delivered = 0
                if delivered >= self._config.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._config.poll_interval_s)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """One round: due events get one attempt each, in seq order per subject (an order's events in order).

        Different subjects go out concurrently; within one subject the next event waits for the one
        before it, and a failure stops that subject for this round (the rest wait behind its retry).
        """
        now_s = self._clock.now()

        def load() -> list[outbox.OutboxEvent]:
            with self._database.read() as session:
                return outbox.due_webhook_events(
                    session, hub_ids=self._hub_ids, now_s=now_s, limit=self._config.batch_size
                )

        due = await asyncio.to_thread(load)
        by_subject: dict[str, list[outbox.OutboxEvent]] = {}
        for event in due:
            by_subject.setdefault(event.subject, []).append(event)
        semaphore = asyncio.Semaphore(self._config.concurrency)

        attempt = self._attempt if self._database.is_sqlite else self._attempt_claimed

        async def in_order(events: list[outbox.OutboxEvent]) -> int:
            async with semaphore:
                for taken, event in enumerate(events):
                    if not await attempt(client, event):
                        return taken
                return len(events)

        # Counted as delivered (not as seen): a replica whose batch another one holds waits for the poll.
        return sum(await asyncio.gather(*(in_order(events) for events in by_subject.values())))

    async def _attempt(self, client: httpx.AsyncClient, event: outbox.OutboxEvent) -> bool:
        """One POST of one event, then its outcome in a transaction of its own (SQLite); True when taken."""
        status_code, error, at_s = await self._post(client, event)

        def save() -> str:
            with self._database.transaction() as session:
                return self._record(session, event, status_code, error, at_s)

        return self._counted(await asyncio.to_thread(save))

    async def _attempt_claimed(self, client: httpx.AsyncClient, event: outbox.OutboxEvent) -> bool:
        """Claim, POST and record one event in one transaction (PostgreSQL, replica-safe); True when taken.

        False also when another replica holds or has already delivered the event: this subject stops for
        this round either way, so its later events never overtake it.
        """
        now_s = self._clock.now()
        transaction = self._database.transaction()
        session = await asyncio.to_thread(transaction.__enter__)
        try:
            claimed = await asyncio.to_thread(
                outbox.claim_due_event, session, event_id=event.event_id, now_s=now_s
            )
            outcome = None
            if claimed is not None:
                status_code, error, at_s = await self._post(client, claimed)
                outcome = await asyncio.to_thread(self._record, session, claimed, status_code, error, at_s)
        except BaseException as exc:
            # Rolled back: the claim is released and the event goes out again later, with the same id.
            transaction.__exit__(type(exc), exc, exc.__traceback__)
            raise
        await asyncio.to_thread(transaction.__exit__, None, None, None)
        return outcome is not None and self._counted(outcome)

    def _counted(self, outcome: str) -> bool:
        """Report one attempt's outcome to the metrics hook; True when delivered."""
        if self._on_attempt is not None:
            self._on_attempt(outcome)
        return outcome == "delivered"

    async def _post(self, client: httpx.AsyncClient, event: outbox.OutboxEvent) -> tuple[int | None, str, float]:
        """POST one event: (status code or None, error text or "" when the receiver took it, clock time)."""
        attempt = event.attempts + 1
        data = outbox.unsealed(event, self._database.sealer)
        body = cloudevents.encode(cloudevents.to_cloudevent(event, data=data))
        # Wall-clock time, also in an accelerated simulation: receivers check it against their own clock.
        timestamp_s = int(time.time())
        headers = {
            "Content-Type": cloudevents.CONTENT_TYPE,
            cloudevents.EVENT_ID_HEADER: event.event_id,
            cloudevents.TIMESTAMP_HEADER: str(timestamp_s),
            cloudevents.SIGNATURE_HEADER: cloudevents.sign(event.event_id, timestamp_s, body, self._config.secret),
            cloudevents.ATTEMPT_HEADER: str(attempt),
            "User-Agent": "finalmile-webhooks/1",
        }
        status_code: int | None = None
        error = ""
        try:
            response = await client.post(self._config.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        return status_code, error, self._clock.now()

    def _record(
        self, session: Session, event: outbox.OutboxEvent, status_code: int | None, error: str, at_s: float
    ) -> str:
        """Store one attempt's outcome: "delivered", "failed" (retried later) or "dead_lettered"."""
        attempt = event.attempts + 1
        delivered = not error
        if delivered:
            next_attempt_s: float | None = None
            outcome = "delivered"
        elif attempt >= self._config.max_attempts:
            next_attempt_s = None
            outcome = "dead_lettered"
            logger.warning("webhook event %s dead-lettered after %d attempts: %s", event.event_id, attempt, error)
        else:
            next_attempt_s = at_s + backoff_s(attempt, self._config, self._rng)
            outcome = "failed"
        outbox.record_attempt(
            session,
            event_id=event.event_id,
            at_s=at_s,
            status_code=status_code,
            error=error,
            delivered=delivered,
            next_attempt_s=next_attempt_s,
        )
        return outcome
