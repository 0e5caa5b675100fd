"""Parcel lockers and one-time pickup codes (stored as salted PBKDF2 hashes, wrong tries counted)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import Conflict, NotFound
from fleet_manager.domain.notifications import LockerInfo

from .models import LockerRow, PickupCodeRow
from .outbox import append_event

CODE_DIGITS = 6
LOCKER_REGISTERED = "locker.registered"
_PBKDF2_ITERATIONS = 60_000


@dataclass(frozen=True)
class Locker:
    """A parcel locker."""

    locker_id: str
    hub_id: str
    name: str
    address: str
    latitude_deg: float
    longitude_deg: float
    compartments: int
    conditioned: bool = False  # temperature-controlled compartments: may take cold-chain parcels

    def info(self) -> LockerInfo:
        """What the recipient is told."""
        return LockerInfo(self.locker_id, self.name, self.address, self.latitude_deg, self.longitude_deg)


@dataclass(frozen=True)
class PickupCheck:
    """Outcome of a code entered at a locker (wrong tries must be committed, so this is returned, not raised)."""

    accepted: bool
    order_id: str
    compartment: str
    attempts_left: int
    locked: bool


def _to_locker(row: LockerRow) -> Locker:
    return Locker(
        row.locker_id, row.hub_id, row.name, row.address, row.latitude_deg, row.longitude_deg, row.compartments,
        bool(row.conditioned),
    )


def hash_code(code: str, salt_hex: str) -> str:
    """PBKDF2-HMAC-SHA256 of a pickup code."""
    return hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt_hex), _PBKDF2_ITERATIONS).hex()


def upsert_locker(
    session: Session,
    *,
    locker_id: str,
    hub_id: str,
    name: str,
    address: str,
    latitude_deg: float,
    longitude_deg: float,
    compartments: int = 24,
    at_s: float = 0.0,
    conditioned: bool = False,
) -> Locker:
    """Create or update a locker (`conditioned`: temperature-controlled); emits `locker.registered` for the planner."""
    row = session.get(LockerRow, locker_id)
    if row is None:
        row = LockerRow(locker_id=locker_id, hub_id=hub_id)
        session.add(row)
    elif row.hub_id != hub_id:
        raise Conflict(f"locker {locker_id!r} belongs to hub {row.hub_id!r}, not {hub_id!r}")
    row.name, row.address, row.compartments = name, address, compartments
    row.conditioned = conditioned
    row.latitude_deg, row.longitude_deg = latitude_deg, longitude_deg
    session.flush()
    locker = _to_locker(row)
    # The planner of the locker's hub picks it up from here (not a webhook: the backend registered it).
    append_event(session, hub_id=hub_id, event_type=LOCKER_REGISTERED, subject=f"lockers/{locker_id}",
                 data={"locker_id": locker_id, "name": name, "latitude_deg": latitude_deg,
                       "longitude_deg": longitude_deg, "compartments": compartments, "conditioned": conditioned},
                 at_s=at_s, webhook=False)
    return locker


def get_locker(session: Session, *, locker_id: str) -> Locker:
    """One locker; NotFound otherwise."""
    row = session.get(LockerRow, locker_id)
    if row is None:
        raise NotFound(f"locker {locker_id!r} not found")
    return _to_locker(row)


def list_lockers(session: Session, *, hub_id: str) -> list[Locker]:
    """The lockers of a hub."""
    return [_to_locker(r) for r in session.scalars(select(LockerRow).where(LockerRow.hub_id == hub_id))]


def _occupied(session: Session, locker_id: str, at_s: float) -> set[str]:
    query = select(PickupCodeRow.compartment).where(
        PickupCodeRow.locker_id == locker_id, PickupCodeRow.used_at_s.is_(None), PickupCodeRow.expires_at_s > at_s
    )
    return set(session.scalars(query))


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def choose_locker(
    session: Session, *, hub_id: str, latitude_deg: float, longitude_deg: float, at_s: float, locker_id: str | None,
    conditioned_only: bool = False,
) -> Locker:
    """The requested locker, or the nearest one of the hub with a free compartment (`conditioned_only`: of the
    temperature-controlled ones: a cold-chain parcel never goes to a plain locker; Conflict when none has room)."""
    if locker_id is not None:
        locker = get_locker(session, locker_id=locker_id)
        if locker.hub_id != hub_id:
            raise Conflict(f"locker {locker_id!r} belongs to hub {locker.hub_id!r}, not {hub_id!r}")
        if conditioned_only and not locker.conditioned:
            raise Conflict(f"locker {locker_id!r} is not conditioned: a cold-chain parcel goes only to a conditioned "
                           "locker or back to the hub")
        if len(_occupied(session, locker_id, at_s)) >= locker.compartments:
            raise Conflict(f"locker {locker_id!r} has no free compartment")
        return locker
    candidates = sorted(
        [lk for lk in list_lockers(session, hub_id=hub_id) if lk.conditioned or not conditioned_only],
        key=lambda lk: _distance_m(latitude_deg, longitude_deg, lk.latitude_deg, lk.longitude_deg),
    )
    for locker in candidates:
        if len(_occupied(session, locker.locker_id, at_s)) < locker.compartments:
            return locker
    kind = "conditioned locker" if conditioned_only else "locker"
    raise Conflict(f"hub {hub_id!r} has no {kind} with a free compartment")


def issue_pickup_code(
    session: Session, *, order_id: str, hub_id: str, locker: Locker, at_s: float, ttl_s: float
) -> tuple[str, str]:
    """Reserve a compartment and make a one-time code; returns (plain code, compartment). Only the hash is kept."""
    occupied = _occupied(session, locker.locker_id, at_s)
    compartment = next(f"C{n:02d}" for n in range(1, locker.compartments + 1) if f"C{n:02d}" not in occupied)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt_hex = secrets.token_hex(16)
    row = session.get(PickupCodeRow, order_id)
    if row is None:
        row = PickupCodeRow(order_id=order_id)
        session.add(row)
    row.hub_id, row.locker_id, row.compartment = hub_id, locker.locker_id, compartment
    row.code_salt, row.code_hash = salt_hex, hash_code(code, salt_hex)
    row.wrong_attempts, row.locked_at_s, row.used_at_s = 0, None, None
    row.expires_at_s, row.created_at_s = at_s + ttl_s, at_s
    session.flush()
    return code, compartment


def check_pickup_code(
    session: Session, *, locker_id: str, order_id: str, code: str, at_s: float, max_wrong: int
) -> PickupCheck:
    """Verify a code; counts a wrong one and locks the compartment at `max_wrong`. Marks a right one used."""
    row = session.scalar(
        select(PickupCodeRow)
        .where(PickupCodeRow.order_id == order_id, PickupCodeRow.locker_id == locker_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no parcel of order {order_id!r} at locker {locker_id!r}")
    if row.used_at_s is not None:
        raise Conflict(f"order {order_id!r} was already collected from locker {locker_id!r}")
    if row.locked_at_s is not None:
        return PickupCheck(False, order_id, row.compartment, 0, True)
    if row.expires_at_s <= at_s:
        raise Conflict(f"the pickup code of order {order_id!r} has expired")
    if hmac.compare_digest(hash_code(code, row.code_salt), row.code_hash):
        row.used_at_s = at_s
        return PickupCheck(True, order_id, row.compartment, max_wrong - row.wrong_attempts, False)
    row.wrong_attempts += 1
    if row.wrong_attempts >= max_wrong:
        row.locked_at_s = at_s
    return PickupCheck(
        False, order_id, row.compartment, max(0, max_wrong - row.wrong_attempts), row.locked_at_s is not None
    )


def unlock_compartment(session: Session, *, locker_id: str, order_id: str) -> None:
    """Operator reset of a locked compartment (wrong-try counter back to zero)."""
    row = session.scalar(
        select(PickupCodeRow).where(PickupCodeRow.order_id == order_id, PickupCodeRow.locker_id == locker_id)
    )
    if row is None:
        raise NotFound(f"no parcel of order {order_id!r} at locker {locker_id!r}")
    row.locked_at_s, row.wrong_attempts = None, 0
