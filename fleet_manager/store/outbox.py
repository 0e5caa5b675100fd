"""The transactional outbox: events written with their cause, then streamed (SSE) and delivered (webhooks).

Events are inserted when their transaction commits, not when they are appended (`_insert_at_commit`):
on PostgreSQL under a transaction-scoped advisory lock, so that outbox rows take their `seq` in commit
order. A reader that has seen seq N has then seen every event below N that will ever commit, and the
live stream tails by seq alone, from any replica, with no look-back for late commits. The lock is
held from the insert to the end of the commit only (no other lock is taken meanwhile: no deadlock),
which serialises the commits of transactions that write events (their fsyncs included).
SQLite has one writer at a time (BEGIN IMMEDIATE), so its seqs are in commit order anyway.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, event, func, select, text
from sqlalchemy.orm import Session, aliased

from fleet_manager.domain.errors import Conflict, NotFound

from .models import OutboxRow, WebhookAttemptRow
from .sealing import Sealer

logger = logging.getLogger(__name__)

EVENT_TYPE_PREFIX = "com.finalmile."
# Never shown outside the webhook to the backend: sealed at rest, scrubbed once delivered (the locker pickup
# code; the tracking link, whose token opens the recipient's page: the store keeps only its hash).
SECRET_FIELDS = ("pickup_code", "tracking_url")
#: Where `Database` puts its `Sealer` on every session it opens.
SEALER_KEY = "finalmile_sealer"
#: session.info key of the events waiting for their transaction's commit (rows, or bulk inserters).
_PENDING_KEY = "finalmile_outbox_pending"
#: pg_advisory_xact_lock key that puts outbox seqs in commit order.
_COMMIT_ORDER_LOCK_KEY = 0x46_4D_4F_55_54  # "FMOUT"


@dataclass(frozen=True)
class OutboxEvent:
    """One stored event (a CloudEvent's attributes and data plus its delivery bookkeeping)."""

    seq: int
    event_id: str
    hub_id: str
    type: str
    subject: str
    time_s: float
    data: dict[str, Any]
    webhook: bool
    attempts: int
    next_attempt_s: float
    delivered_at_s: float | None
    dead_lettered_at_s: float | None
    last_error: str


def _to_event(row: OutboxRow) -> OutboxEvent:
    return OutboxEvent(
        seq=row.seq,
        event_id=row.event_id,
        hub_id=row.hub_id,
        type=row.type,
        subject=row.subject,
        time_s=row.time_s,
        data=dict(row.data),
        webhook=row.webhook,
        attempts=row.attempts,
        next_attempt_s=row.next_attempt_s,
        delivered_at_s=row.delivered_at_s,
        dead_lettered_at_s=row.dead_lettered_at_s,
        last_error=row.last_error,
    )


def redacted(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of event data with secrets (the locker pickup code) replaced, for streams and listings."""
    return {k: ("<redacted>" if k in SECRET_FIELDS and v is not None else v) for k, v in data.items()}


def append_event(
    session: Session,
    *,
    hub_id: str,
    event_type: str,
    subject: str,
    data: Mapping[str, Any],
    at_s: float,
    webhook: bool = True,
    event_id: str | None = None,
) -> str:
    """Add an event to the outbox in the caller's transaction; returns its stable id.

    Secret fields (the pickup code) are sealed with the session's sealer (`Database` sets one), never stored plain.
    """
    event_id = event_id or str(uuid.uuid4())
    full_type = event_type if event_type.startswith(EVENT_TYPE_PREFIX) else EVENT_TYPE_PREFIX + event_type
    data = _sealed(session, data, event_id)
    _pending(session).append(
        OutboxRow(
            event_id=event_id,
            hub_id=hub_id,
            type=full_type,
            subject=subject,
            time_s=at_s,
            data=dict(data),
            webhook=webhook,
            attempts=0,
            next_attempt_s=at_s,
            last_error="",
        )
    )
    return event_id


def insert_at_commit(session: Session, inserter: Callable[[], None]) -> None:
    """Run `inserter` (a bulk insert of outbox rows) when the transaction commits, in turn with appended events."""
    _pending(session).append(inserter)


def _pending(session: Session) -> list[OutboxRow | Callable[[], None]]:
    pending: list[OutboxRow | Callable[[], None]] = session.info.setdefault(_PENDING_KEY, [])
    return pending


@event.listens_for(Session, "before_commit")
def _insert_at_commit(session: Session) -> None:
    """Insert the transaction's events, in the order they were appended, with seqs in commit order."""
    pending: list[OutboxRow | Callable[[], None]] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _COMMIT_ORDER_LOCK_KEY})
    rows: list[OutboxRow] = []
    for item in pending:
        if isinstance(item, OutboxRow):
            rows.append(item)
            continue
        session.add_all(rows)
        session.flush()
        rows = []
        item()
    session.add_all(rows)
    session.flush()


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """A rolled-back transaction's events never happened."""
    session.info.pop(_PENDING_KEY, None)


def _sealed(session: Session, data: Mapping[str, Any], event_id: str) -> Mapping[str, Any]:
    secret = [key for key in SECRET_FIELDS if isinstance(data.get(key), str)]
    if not secret:
        return data
    sealer: Sealer | None = session.info.get(SEALER_KEY)
    if sealer is None:
        logger.error("no sealer on this session: %s of event %s dropped", ", ".join(secret), event_id)
    return {
        k: ((sealer.seal(v, bound_to=event_id) if sealer else None) if k in secret else v) for k, v in data.items()
    }


def unsealed(event: OutboxEvent, sealer: Sealer) -> dict[str, Any]:
    """The event's data with its sealed fields opened (for the webhook body only)."""
    return {
        k: (sealer.unseal(v, bound_to=event.event_id) if k in SECRET_FIELDS and isinstance(v, str) else v)
        for k, v in event.data.items()
    }


def events_after(
    session: Session, *, after_seq: int, hub_ids: Collection[str] | None = None, limit: int = 500
) -> list[OutboxEvent]:
    """Events with seq > after_seq in seq order (the live stream's tail)."""
    query = select(OutboxRow).where(OutboxRow.seq > after_seq)
    if hub_ids is not None:
        query = query.where(OutboxRow.hub_id.in_(list(hub_ids)))
    return [_to_event(row) for row in session.scalars(query.order_by(OutboxRow.seq).limit(limit))]


def last_seq(session: Session) -> int:
    """The newest event's seq (0 when empty)."""
    return int(session.scalar(select(func.coalesce(func.max(OutboxRow.seq), 0))) or 0)


def get_event(session: Session, *, event_id: str) -> OutboxEvent:
    """One event by id; NotFound otherwise."""
    row = session.scalar(select(OutboxRow).where(OutboxRow.event_id == event_id))
    if row is None:
        raise NotFound(f"event {event_id!r} not found")
    return _to_event(row)


def _earlier_pending_of_subject(*, not_due_at_s: float | None = None) -> Exists:
    """EXISTS an earlier undelivered, not dead-lettered webhook event of the same subject (its order);
    with `not_due_at_s`, only one that is not due at that time (backing off after a failure)."""
    earlier = aliased(OutboxRow)
    conditions = [
        earlier.subject == OutboxRow.subject,
        earlier.seq < OutboxRow.seq,
        earlier.webhook.is_(True),
        earlier.delivered_at_s.is_(None),
        earlier.dead_lettered_at_s.is_(None),
    ]
    if not_due_at_s is not None:
        conditions.append(earlier.next_attempt_s > not_due_at_s)
    return select(earlier.seq).where(*conditions).exists()


def due_webhook_events(
    session: Session, *, hub_ids: Collection[str], now_s: float, limit: int = 100
) -> list[OutboxEvent]:
    """Undelivered, not dead-lettered webhook events whose next attempt is due, oldest first.

    An event waits while an earlier event of its subject (its order) is pending and not yet due
    (backing off after a failure), so one order's events reach the backend in order.
    """
    blocked = _earlier_pending_of_subject(not_due_at_s=now_s)
    query = (
        select(OutboxRow)
        .where(
            OutboxRow.hub_id.in_(list(hub_ids)),
            OutboxRow.webhook.is_(True),
            OutboxRow.delivered_at_s.is_(None),
            OutboxRow.dead_lettered_at_s.is_(None),
            OutboxRow.next_attempt_s <= now_s,
            ~blocked,
        )
        .order_by(OutboxRow.seq)
        .limit(limit)
    )
    return [_to_event(row) for row in session.scalars(query)]


def claim_due_event(session: Session, *, event_id: str, now_s: float) -> OutboxEvent | None:
    """Lock one due webhook event for this transaction, or None when another deliverer holds it or it is not due.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other and never both take an event;
    the conditions are re-checked on the newest committed row, so an event another replica delivered (or
    backed off) in the meantime is not taken again. The event must also be the oldest pending one of its
    subject, so an order's events go out in order whichever replica sends them. SQLite ignores the lock
    clause: there the store has one writer and runs one deliverer.
    """
    pending_before = _earlier_pending_of_subject()
    query = (
        select(OutboxRow)
        .where(
            OutboxRow.event_id == event_id,
            OutboxRow.webhook.is_(True),
            OutboxRow.delivered_at_s.is_(None),
            OutboxRow.dead_lettered_at_s.is_(None),
            OutboxRow.next_attempt_s <= now_s,
            ~pending_before,
        )
        .with_for_update(skip_locked=True)
    )
    row = session.scalar(query)
    return None if row is None else _to_event(row)


def next_due_s(session: Session, *, hub_ids: Collection[str]) -> float | None:
    """When the earliest pending webhook event is due, or None when nothing is pending."""
    query = select(func.min(OutboxRow.next_attempt_s)).where(
        OutboxRow.hub_id.in_(list(hub_ids)),
        OutboxRow.webhook.is_(True),
        OutboxRow.delivered_at_s.is_(None),
        OutboxRow.dead_lettered_at_s.is_(None),
    )
    value = session.scalar(query)
    return None if value is None else float(value)


def record_attempt(
    session: Session,
    *,
    event_id: str,
    at_s: float,
    status_code: int | None,
    error: str,
    delivered: bool,
    next_attempt_s: float | None,
) -> OutboxEvent:
    """Log one delivery attempt; mark delivered, schedule the next try, or dead-letter (next_attempt_s None)."""
    row = session.scalar(select(OutboxRow).where(OutboxRow.event_id == event_id).with_for_update())
    if row is None:
        raise NotFound(f"event {event_id!r} not found")
    row.attempts += 1
    session.add(
        WebhookAttemptRow(
            event_id=event_id, hub_id=row.hub_id, attempt=row.attempts, at_s=at_s, status_code=status_code, error=error
        )
    )
    if delivered:
        row.delivered_at_s = at_s
        row.last_error = ""
        if any(key in row.data for key in SECRET_FIELDS):
            # The backend has the plain pickup code (tracking link) now; keep no copy of it at rest.
            row.data = {k: (None if k in SECRET_FIELDS else v) for k, v in row.data.items()}
    elif next_attempt_s is None:
        row.dead_lettered_at_s = at_s
        row.last_error = error
    else:
        row.next_attempt_s = next_attempt_s
        row.last_error = error
    return _to_event(row)


def list_dead_letters(session: Session, *, hub_ids: Collection[str], limit: int = 100) -> list[OutboxEvent]:
    """Events that exhausted their webhook attempts, newest first."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.hub_id.in_(list(hub_ids)), OutboxRow.dead_lettered_at_s.is_not(None))
        .order_by(OutboxRow.seq.desc())
        .limit(limit)
    )
    return [_to_event(row) for row in session.scalars(query)]


def retry_dead_letter(session: Session, *, event_id: str, hub_ids: Collection[str], at_s: float) -> OutboxEvent:
    """Put a dead-lettered event back in the queue with a fresh attempt budget."""
    row = session.scalar(
        select(OutboxRow).where(OutboxRow.event_id == event_id, OutboxRow.hub_id.in_(list(hub_ids))).with_for_update()
    )
    if row is None:
        raise NotFound(f"event {event_id!r} not found")
    if row.dead_lettered_at_s is None:
        raise Conflict(f"event {event_id!r} is not dead-lettered")
    row.dead_lettered_at_s = None
    row.attempts = 0
    row.next_attempt_s = at_s
    return _to_event(row)


def webhook_backlog(session: Session, *, hub_ids: Collection[str]) -> tuple[int, int]:
    """(pending, dead-lettered) webhook event counts."""
    pending = session.scalar(
        select(func.count()).where(
            OutboxRow.hub_id.in_(list(hub_ids)),
            OutboxRow.webhook.is_(True),
            OutboxRow.delivered_at_s.is_(None),
            OutboxRow.dead_lettered_at_s.is_(None),
        )
    )
    dead = session.scalar(
        select(func.count()).where(OutboxRow.hub_id.in_(list(hub_ids)), OutboxRow.dead_lettered_at_s.is_not(None))
    )
    return int(pending or 0), int(dead or 0)


def list_attempts(session: Session, *, event_id: str) -> list[tuple[int, float, int | None, str]]:
    """(attempt, at_s, status_code, error) of every delivery attempt of one event."""
    query = select(WebhookAttemptRow).where(WebhookAttemptRow.event_id == event_id).order_by(WebhookAttemptRow.attempt)
    return [(r.attempt, r.at_s, r.status_code, r.error) for r in session.scalars(query)]
