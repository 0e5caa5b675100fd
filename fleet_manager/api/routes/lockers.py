"""Parcel lockers: list, register, pickup with the one-time code (wrong codes counted, 5 lock), unlock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from fleet_manager.config import Role
from fleet_manager.domain.errors import CompartmentLocked, PickupRefused
from fleet_manager.store import lockers as locker_store
from fleet_manager.store import orders as order_store

from ..deps import LockerTerminal, Operator, Reader, ServiceDep
from ..hub_scope import hub_for, hubs_to_read
from ..limits import PathId
from ..schemas import LockerIn, LockerOut, PickupIn, PickupOut, UnlockIn

router = APIRouter(prefix="/lockers", tags=["lockers"])


@router.get("")
def list_lockers(service: ServiceDep, _caller: Reader,
                 hub_id: Annotated[str | None, Query(max_length=64)] = None) -> list[LockerOut]:
    """The lockers of `hub_id`, else of every hub served here."""
    with service.database.read() as session:
        return [LockerOut.of(lk) for hub in hubs_to_read(service, hub_id)
                for lk in locker_store.list_lockers(session, hub_id=hub)]


@router.put("/{locker_id}")
def register_locker(locker_id: PathId, body: LockerIn, service: ServiceDep, _caller: Operator) -> LockerOut:
    """Register or update a locker of `hub_id`, else of the hub whose service area holds it."""
    hub_id = hub_for(service, body.hub_id, latitude_deg=body.latitude_deg, longitude_deg=body.longitude_deg,
                     where="body")
    with service.write() as session:
        locker = locker_store.upsert_locker(
            session,
            locker_id=locker_id,
            hub_id=hub_id,
            name=body.name,
            address=body.address,
            latitude_deg=body.latitude_deg,
            longitude_deg=body.longitude_deg,
            compartments=body.compartments,
            at_s=service.clock.now(),
            conditioned=body.conditioned,
        )
    return LockerOut.of(locker)


@router.post(
    "/{locker_id}/pickup",
    responses={
        403: {"description": "wrong code (counted; body has attempts_left), or another locker's key"},
        429: {"description": "too many attempts at this locker; see Retry-After"},
        423: {"description": "compartment locked after too many wrong codes"},
    },
)
def pickup(locker_id: PathId, body: PickupIn, service: ServiceDep, caller: LockerTerminal) -> PickupOut:
    """The recipient enters the code at the locker: the compartment opens and the order is picked up.

    A locker key opens only its own locker (403 at another one); each locker takes at most
    FINALMILE_PICKUPS_PER_MINUTE attempts a minute (429 with Retry-After beyond).
    """
    if Role.OPERATOR not in caller.roles and caller.locker_id != locker_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key does not open locker {locker_id!r}")
    service.pickup_limiter.check(locker_id)
    max_wrong = service.settings.locker_max_wrong_codes
    # Wrong codes must be counted even though the request fails, so the transaction commits first.
    with service.write() as session:
        check, order = order_store.pickup_at_locker(
            session,
            locker_id=locker_id,
            order_id=body.order_id,
            code=body.code,
            at_s=service.now(),
            max_wrong=max_wrong,
        )
    if check.accepted and order is not None:
        return PickupOut(order_id=order.order_id, compartment=check.compartment, status=order.status)
    service.metrics.pickup_refused.labels(locker_id=locker_id).inc()
    if check.locked:
        raise CompartmentLocked(
            f"compartment {check.compartment} of locker {locker_id!r} is locked after {max_wrong} wrong codes; "
            "an operator must unlock it"
        )
    raise PickupRefused(f"wrong code for order {body.order_id!r}", attempts_left=check.attempts_left)


@router.post("/{locker_id}/unlock", status_code=status.HTTP_204_NO_CONTENT)
def unlock(locker_id: PathId, body: UnlockIn, service: ServiceDep, _caller: Operator) -> None:
    """Operator reset of a locked compartment."""
    with service.write() as session:
        locker_store.unlock_compartment(session, locker_id=locker_id, order_id=body.order_id)
