"""Missions the dispatcher sent to vehicles (read only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleet_manager.store import fleet as fleet_store

from ..deps import Reader, ServiceDep
from ..hub_scope import hubs_to_read
from ..limits import PathId
from ..schemas import MissionOut

router = APIRouter(prefix="/missions", tags=["missions"])


@router.get("")
def list_missions(
    service: ServiceDep,
    _caller: Reader,
    status: Annotated[list[fleet_store.MissionStatus] | None, Query()] = None,
    vehicle_id: Annotated[str | None, Query(max_length=64)] = None,
    hub_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MissionOut]:
    """Missions newest first, by status, vehicle and hub (default: every hub served here)."""
    with service.database.read() as session:
        missions = fleet_store.list_missions(
            session, hub_ids=hubs_to_read(service, hub_id), statuses=status, vehicle_id=vehicle_id, limit=limit
        )
    return [MissionOut.of(m) for m in missions]


@router.get("/{mission_id}")
def get_mission(mission_id: PathId, service: ServiceDep, _caller: Reader) -> MissionOut:
    """One mission with its steps."""
    with service.database.read() as session:
        return MissionOut.of(fleet_store.get_mission(session, mission_id=mission_id, hub_ids=service.hub_ids))
