"""Hub leases: which process leads a hub, with a fencing token that only ever grows.

A process leads a hub while it holds the hub's lease row and keeps renewing it within `ttl_s`.
When the holder stops renewing (killed, paused, cut off), another process takes the row over and
the token goes up by one. Every store write made for the hub by its leader checks its token
against the row (`check_token`), so a deposed leader that wakes up late is refused, whatever it
believes. Times come from the database server's clock (PostgreSQL) so that processes on several
machines agree on expiry; on SQLite (one machine) from this process's wall clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet_manager.errors import StaleLeader

from .models import HubLeaseRow


@dataclass(frozen=True)
class Lease:
    """A hub's lease as stored."""

    hub_id: str
    holder: str
    token: int
    acquired_at_s: float
    renewed_at_s: float
    expires_at_s: float


def _to_lease(row: HubLeaseRow) -> Lease:
    return Lease(row.hub_id, row.holder, row.token, row.acquired_at_s, row.renewed_at_s, row.expires_at_s)


def db_now_s(session: Session) -> float:
    """Seconds since the epoch on the database server's clock (this process's clock on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return time.time()


def current(session: Session, *, hub_id: str) -> Lease | None:
    """The hub's lease row (expired or not), None when nobody ever led the hub."""
    row = session.get(HubLeaseRow, hub_id)
    return None if row is None else _to_lease(row)


def try_acquire(session: Session, *, hub_id: str, holder: str, ttl_s: float) -> Lease | None:
    """Take the hub's lease when it is free or expired (token + 1); None while another holder's is in force.

    Call in a write transaction of its own. The row is locked (FOR UPDATE) so two candidates never both
    win; a first-ever lease that two insert at once leaves one with an IntegrityError, which is a loss.
    """
    now_s = db_now_s(session)
    row = session.scalar(select(HubLeaseRow).where(HubLeaseRow.hub_id == hub_id).with_for_update())
    if row is None:
        row = HubLeaseRow(hub_id=hub_id, holder=holder, token=1, acquired_at_s=now_s, renewed_at_s=now_s,
                          expires_at_s=now_s + ttl_s)
        try:
            with session.begin_nested():  # a savepoint: losing the insert race leaves the transaction usable
                session.add(row)
        except IntegrityError:
            return None
        return _to_lease(row)
    if row.expires_at_s > now_s:
        return None  # in force (ours too: a holder renews with its token, it never re-acquires)
    row.holder = holder
    row.token += 1
    row.acquired_at_s = row.renewed_at_s = now_s
    row.expires_at_s = now_s + ttl_s
    return _to_lease(row)


def renew(session: Session, *, hub_id: str, holder: str, token: int, ttl_s: float) -> Lease | None:
    """Extend our lease by `ttl_s` from now; None when the token moved on (we are deposed).

    A lease that expired but that nobody took over is still ours to renew: the token did not change, so
    nothing we write can have been overtaken.
    """
    now_s = db_now_s(session)
    row = session.scalar(select(HubLeaseRow).where(HubLeaseRow.hub_id == hub_id).with_for_update())
    if row is None or row.token != token or row.holder != holder:
        return None
    row.renewed_at_s = now_s
    row.expires_at_s = now_s + ttl_s
    return _to_lease(row)


def release(session: Session, *, hub_id: str, holder: str, token: int) -> bool:
    """Give the lease up at once (an orderly shutdown), so a standby need not wait for it to expire."""
    row = session.scalar(select(HubLeaseRow).where(HubLeaseRow.hub_id == hub_id).with_for_update())
    if row is None or row.token != token or row.holder != holder:
        return False
    row.expires_at_s = db_now_s(session)
    return True


def check_token(session: Session, *, hub_id: str, token: int | None) -> None:
    """Refuse (StaleLeader) unless `token` is the hub's newest; call first in a fenced write transaction.

    PostgreSQL: the row is read FOR SHARE, so a takeover (which updates it) waits until this transaction
    ends: a write that passed the check commits before the new token exists, never after.
    """
    row = session.scalar(select(HubLeaseRow).where(HubLeaseRow.hub_id == hub_id).with_for_update(read=True))
    newest = None if row is None else row.token
    if token is None or newest != token:
        raise StaleLeader(hub_id, token, newest)
