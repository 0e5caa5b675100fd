"""Which hub a zone, locker or traffic request is for, on a process serving several hubs.

The hub named in the request (`hub_id`) wins; a write without it goes to the hub whose service area
holds the resource's location (`hub_routing`); a list without it covers every hub the process serves
(`hubs_to_read`: an operator of several hubs sees all of them, each item naming its hub). An unknown
hub, or a location in no hub's area, is a 422 naming the field.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from fleet_manager.hub_routing import HubUnresolved
from mission_planner.geodesy import LocalFrame

from .service import FleetService


def hub_for(service: FleetService, hub_id: str | None, *, latitude_deg: float | None = None,
            longitude_deg: float | None = None, where: str = "query") -> str:
    """The request's hub (module docstring); `where` is where `hub_id` came from ('query' or 'body')."""
    if hub_id is None and latitude_deg is None:
        return service.settings.hub_id
    try:
        return service.route_order(hub_id=hub_id, latitude_deg=latitude_deg, longitude_deg=longitude_deg)
    except HubUnresolved as exc:
        loc = (where, "hub_id") if exc.field == "hub_id" else ("body",)
        raise RequestValidationError([{"loc": loc, "msg": exc.message, "type": "hub_unresolved"}]) from exc


def hubs_to_read(service: FleetService, hub_id: str | None) -> tuple[str, ...]:
    """The hubs a list covers: `hub_id` alone when given (422 if this process does not serve it), else every
    hub it serves."""
    if hub_id is None:
        return service.hub_ids
    if hub_id not in service.hub_ids:
        raise RequestValidationError([{"loc": ("query", "hub_id"), "type": "hub_unresolved",
                                       "msg": f"hub {hub_id!r} is not served here (serving: "
                                              f"{', '.join(service.hub_ids)})"}])
    return (hub_id,)


def hub_frame(service: FleetService, hub_id: str) -> LocalFrame:
    """A local frame at the hub (the process's own frame for its first hub), for validating zone geometry."""
    if hub_id == service.settings.hub_id or service.hub_router is None:
        return service.frame
    area = next(area for area in service.hub_router.areas if area.hub_id == hub_id)
    return LocalFrame.at(area.latitude_deg, area.longitude_deg)
