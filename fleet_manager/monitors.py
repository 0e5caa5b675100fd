"""Safety monitors: battery, geofence conformance, link loss, and new no-fly zones for drones in flight.

They read only what the vehicles themselves report (telemetry positions, battery), never the
plan. Actions go through the adapters (RTL / land / hold) or the dispatcher (re-route: a new
mission that avoids the zone). Every alert is logged and kept in `alerts` with its clock time;
`GeofenceLedger` counts violations (a vehicle inside a blocking zone active at that moment, or
outside the operating area, while airborne) for the run's KPIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shapely.geometry import LineString, Point

from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.clock import Clock
from mission_planner.energy import MultirotorModel
from mission_planner.errors import FinalMileError, PlanningError
from mission_planner.geodesy import LocalFrame

from .adapters.base import LinkStatus, Mission, MissionStep, StepKind, VehicleKind, VehicleState
from .errors import AdapterError
from .fleet import Fleet, FleetVehicle
from .missions import Stop, drone_reroute
from .store import outbox

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

logger = logging.getLogger(__name__)

AIRBORNE_M = 1.0


@dataclass(frozen=True)
class Alert:
    """Something an operator must see."""

    at_s: float
    vehicle_id: str
    kind: str  # low_battery | geofence | geofence_near | link_lost | zone_reroute | zone_recall
    message: str


@dataclass(frozen=True)
class MonitorConfig:
    """Thresholds; durations in clock seconds."""

    period_wall_s: float = 0.2
    near_zone_m: float = 10.0
    reassign_after_link_lost_s: float = 300.0  # a vehicle silent this long gives up its parcels
    battery_margin_wh: float = 10.0


def zone_blocks_at(zone: Zone, when_s: float, altitude_m: float) -> bool:
    """True when `zone` keeps a drone at `altitude_m` out at clock time `when_s`."""
    if zone.kind is ZoneKind.OPERATING_AREA or not zone.blocks(None):
        return False
    if not (zone.lower_m <= altitude_m <= zone.upper_m):
        return False
    return zone.active_at(dt.datetime.fromtimestamp(when_s, dt.UTC))


def position_violation(airspace: Airspace, x_m: float, y_m: float, altitude_m: float, when_s: float) -> str | None:
    """The id of the zone a reported position violates, 'operating-area' when outside it, else None."""
    point = Point(x_m, y_m)
    areas = airspace.of_kind(ZoneKind.OPERATING_AREA)
    if areas and not any(area.polygon.covers(point) for area in areas):
        return "operating-area"
    for zone in airspace.zones:
        if zone_blocks_at(zone, when_s, altitude_m) and zone.polygon.contains(point):
            return zone.zone_id
    return None


@dataclass
class GeofenceLedger:
    """Counts violation episodes per vehicle and zone from reported positions (for the KPIs)."""

    violations: int = 0
    episodes: list[tuple[float, str, str]] = field(default_factory=list)  # (at_s, vehicle, zone)
    _inside: set[tuple[str, str]] = field(default_factory=set)

    def observe(self, vehicle_id: str, zone_id: str | None, at_s: float) -> bool:
        """Record one sample; True when it starts a new violation episode."""
        current = {key for key in self._inside if key[0] == vehicle_id}
        if zone_id is None:
            self._inside -= current
            return False
        key = (vehicle_id, zone_id)
        if key in self._inside:
            return False
        self._inside.add(key)
        self.violations += 1
        self.episodes.append((at_s, vehicle_id, zone_id))
        return True


class SafetyMonitor:
    """Watches every vehicle of a fleet and acts on battery, geofence, link and zone changes."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        dispatcher: Dispatcher,
        clock: Clock,
        frame: LocalFrame,
        config: MonitorConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.dispatcher = dispatcher
        self.clock = clock
        self.frame = frame
        self.config = config or MonitorConfig()
        self.alerts: list[Alert] = []
        self.ledger = GeofenceLedger()
        self.min_battery_pct: dict[str, float] = {}
        self._on_alert = on_alert
        self._recalled: set[str] = set()
        self._actions: set[asyncio.Task[None]] = set()
        self._pending_zone_ids: set[str] = set()
        dispatcher.airspace_listeners.append(self._on_airspace)

    # ----- alerts and actions ----------------------------------------------------------------------
    def alert(self, vehicle_id: str, kind: str, message: str) -> None:
        """Record and log an alert."""
        entry = Alert(self.clock.now(), vehicle_id, kind, message)
        self.alerts.append(entry)
        logger.warning("ALERT %s %s: %s", vehicle_id, kind, message)
        if self._on_alert is not None:
            self._on_alert(entry)
        with contextlib.suppress(RuntimeError):  # no running loop: unit use without a store
            asyncio.get_running_loop()
            self._act(self._store_alert(entry), f"{vehicle_id}-alert")

    async def _store_alert(self, entry: Alert) -> None:
        """Put the alert on the event stream (the dashboard shows it); not a webhook to the backend."""
        hub_id = self.fleet.get(entry.vehicle_id).hub_id if entry.vehicle_id in self.fleet else ""
        data = {"vehicle_id": entry.vehicle_id, "kind": entry.kind, "message": entry.message}

        def store(session: Any) -> None:
            outbox.append_event(session, hub_id=hub_id, event_type="vehicle.alert",
                                subject=f"vehicles/{entry.vehicle_id}", data=data, at_s=entry.at_s, webhook=False)

        try:
            await self.dispatcher.write(store)
        except Exception:
            logger.exception("could not store alert %s", entry)

    def _act(self, action: Awaitable[None], what: str) -> None:
        async def guarded() -> None:
            try:
                await action
            except FinalMileError as exc:
                logger.error("%s failed: %s", what, exc)

        task = asyncio.create_task(guarded(), name=what)
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    # ----- main loop -------------------------------------------------------------------------------
    async def run(self, _service: object = None) -> None:
        """Check every vehicle each period until cancelled."""
        try:
            while True:
                await asyncio.sleep(self.config.period_wall_s)
                self.check_all()
        finally:
            for task in list(self._actions):
                task.cancel()

    def check_all(self) -> None:
        """One pass over the fleet."""
        now_s = self.clock.now()
        airspace = self.dispatcher.airspace
        if self._pending_zone_ids:
            zone_ids, self._pending_zone_ids = set(self._pending_zone_ids), set()
            self._react_to_new_zones(airspace, zone_ids, now_s)
        for vehicle in self.fleet:
            state = vehicle.state()
            if state is None:
                continue
            self._check_link(vehicle, state, now_s)
            if state.link is not LinkStatus.CONNECTED:
                continue
            if state.battery_remaining_pct is not None:
                previous = self.min_battery_pct.get(vehicle.vehicle_id, 100.0)
                self.min_battery_pct[vehicle.vehicle_id] = min(previous, state.battery_remaining_pct)
            if vehicle.kind is VehicleKind.DRONE:
                self._check_geofence(vehicle, state, airspace, now_s)
                self._check_battery(vehicle, state)

    def _check_link(self, vehicle: FleetVehicle, state: VehicleState, now_s: float) -> None:
        if state.link is LinkStatus.CONNECTED:
            if vehicle.link_lost_since_s is not None:
                self.alert(vehicle.vehicle_id, "link_restored", "telemetry is back")
                if vehicle.out_of_service.startswith("link lost"):
                    vehicle.out_of_service = ""
            vehicle.link_lost_since_s = None
            return
        if vehicle.link_lost_since_s is None:
            vehicle.link_lost_since_s = now_s
            self.alert(vehicle.vehicle_id, "link_lost", f"no telemetry since {state.stamp_s:.0f}")
            vehicle.out_of_service = "link lost"
        elif (now_s - vehicle.link_lost_since_s >= self.config.reassign_after_link_lost_s
              and self.dispatcher.abandon(vehicle.vehicle_id, "link lost")):
            self.alert(vehicle.vehicle_id, "reassigned", "link lost too long: its parcels go out with other vehicles")

    def _check_geofence(self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, now_s: float) -> None:
        if state.relative_altitude_m < AIRBORNE_M or not state.position_valid:
            self.ledger.observe(vehicle.vehicle_id, None, now_s)
            return
        x_m, y_m = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        zone_id = position_violation(airspace, x_m, y_m, state.relative_altitude_m, now_s)
        if self.ledger.observe(vehicle.vehicle_id, zone_id, now_s):
            altitude = f"{state.relative_altitude_m:.0f} m"
            self.alert(vehicle.vehicle_id, "geofence", f"inside {zone_id} at {altitude}: return to launch")
            self._act(vehicle.adapter.return_home(), f"{vehicle.vehicle_id}-geofence-rtl")
            return
        if zone_id is None:
            point = Point(x_m, y_m)
            for zone in airspace.zones:
                if zone_blocks_at(zone, now_s, state.relative_altitude_m) and (
                    zone.polygon.distance(point) < self.config.near_zone_m
                ):
                    near = f"within {self.config.near_zone_m} m of {zone.zone_id}"
                    self.alert(vehicle.vehicle_id, "geofence_near", near)
                    break

    def _check_battery(self, vehicle: FleetVehicle, state: VehicleState) -> None:
        """Energy to fly home from here (plus reserve) against what is left -> return early."""
        if state.relative_altitude_m < AIRBORNE_M or not state.armed or not state.position_valid:
            self._recalled.discard(vehicle.vehicle_id)
            return
        if vehicle.vehicle_id in self._recalled:
            return
        remaining_wh = state.battery_remaining_wh
        if remaining_wh is None and state.battery_remaining_pct is not None:
            remaining_wh = vehicle.profile.battery_wh * state.battery_remaining_pct / 100.0
        if remaining_wh is None:
            return
        needed_wh = self._energy_to_finish_wh(vehicle, state)
        reserve_wh = vehicle.profile.battery_wh * vehicle.profile.reserve_pct / 100.0 * 0.5
        if remaining_wh < needed_wh + reserve_wh + self.config.battery_margin_wh:
            self._recalled.add(vehicle.vehicle_id)
            self.alert(
                vehicle.vehicle_id,
                "low_battery",
                f"{remaining_wh:.0f} Wh left, {needed_wh:.0f} Wh needed to finish plus {reserve_wh:.0f} Wh reserve: "
                "returning",
            )
            self._act(vehicle.adapter.return_home(), f"{vehicle.vehicle_id}-battery-rtl")

    def _energy_to_finish_wh(self, vehicle: FleetVehicle, state: VehicleState) -> float:
        model = MultirotorModel(
            battery_capacity_wh=vehicle.profile.battery_wh,
            max_payload_kg=max(vehicle.profile.max_payload_kg, 0.1),
            cruise_airspeed_m_s=vehicle.profile.speed_m_s,
        )
        route = self.remaining_route(vehicle, state)
        distance_m = route.length if route is not None else 0.0
        return model.leg_energy_wh(0.0, distance_m) + model.vertical_energy_wh(0.0, -state.relative_altitude_m)

    # ----- new zones -------------------------------------------------------------------------------
    def _on_airspace(self, _airspace: Airspace, new_zone_ids: frozenset[str]) -> None:
        if new_zone_ids:
            self._pending_zone_ids |= set(new_zone_ids)
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(self.check_all)

    def remaining_route(self, vehicle: FleetVehicle, state: VehicleState) -> LineString | None:
        """From the reported position to the parcel not yet handed over, along the rest of the mission, home.

        Step counters differ between back-ends (MAVLink items vs mission steps), so progress is taken
        from the hand-overs the dispatcher has recorded, not from `mission_step`.
        """
        running = self.dispatcher.running.get(vehicle.vehicle_id)
        points = [self.frame.to_local(state.latitude_deg, state.longitude_deg)]
        if running is not None:
            steps = list(running.mission.steps)
            pending = [i for i, step in enumerate(steps) if step.kind is StepKind.DELIVER
                       and step.order_id in running.order_ids and step.order_id not in running.resolved]
            first = pending[0] if pending else next(
                (i for i in range(len(steps) - 1, -1, -1) if steps[i].kind is StepKind.DELIVER), 0) + 1
            for step in steps[first:]:
                if step.latitude_deg is not None and step.longitude_deg is not None:
                    points.append(self.frame.to_local(step.latitude_deg, step.longitude_deg))
        points.append(self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg))
        if len(points) < 2:
            return None
        return LineString(points)

    def _react_to_new_zones(self, airspace: Airspace, zone_ids: set[str], now_s: float) -> None:
        zones = [z for z in airspace.zones if z.zone_id in zone_ids and z.blocks(None)]
        margin_m = self.dispatcher.planner.config.drone_safety_margin_m
        for vehicle in self.fleet:
            state = vehicle.state()
            if vehicle.kind is not VehicleKind.DRONE or state is None or state.relative_altitude_m < AIRBORNE_M:
                continue
            route = self.remaining_route(vehicle, state)
            if route is None:
                continue
            now_utc = dt.datetime.fromtimestamp(now_s, dt.UTC)
            crossed = [z for z in zones if route.intersects(z.polygon.buffer(margin_m)) and z.active_at(now_utc)]
            if not crossed:
                continue
            names = ", ".join(z.zone_id for z in crossed)
            here = Point(self.frame.to_local(state.latitude_deg, state.longitude_deg))
            inside = [z.zone_id for z in crossed if z.polygon.covers(here)]
            if inside:
                # No path out is "safe" any more; the shortest way out of the way is home (RTL).
                self.alert(vehicle.vehicle_id, "zone_recall", f"inside new zone {', '.join(inside)}: returning home")
                self._act(vehicle.adapter.return_home(), f"{vehicle.vehicle_id}-zone-rtl")
                continue
            self._act(self._reroute(vehicle, state, airspace, names, now_s), f"{vehicle.vehicle_id}-reroute")

    def _escape(self, airspace: Airspace, here: tuple[float, float], altitude_m: float,
                now_s: float) -> tuple[float, float] | None:
        """A point just outside every buffered blocking zone, straight away from the zone the drone is near.

        The path planner refuses a start inside a zone's safety margin; a drone that is there (but
        not inside the zone itself) first moves straight out, which only increases its distance.
        """
        margin_m = self.dispatcher.planner.config.drone_safety_margin_m
        point = Point(here)
        near = [z for z in airspace.zones if zone_blocks_at(z, now_s, altitude_m)
                and z.polygon.distance(point) < margin_m + 1.0]
        if not near:
            return None
        zone = min(near, key=lambda z: z.polygon.distance(point))
        nearest = zone.polygon.exterior.interpolate(zone.polygon.exterior.project(point))
        dx, dy = point.x - nearest.x, point.y - nearest.y
        length = math.hypot(dx, dy)
        if length < 1e-6:
            return None
        scale = (margin_m + 5.0) / length
        return nearest.x + dx * scale, nearest.y + dy * scale

    async def _reroute(
        self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, names: str, now_s: float
    ) -> None:
        """New mission around the zone (to the pending drop if any, then home); recall or hold when impossible."""
        planner = self.dispatcher.planner
        here = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        home = self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        altitude_m = vehicle.profile.cruise_altitude_m or max(state.relative_altitude_m, 30.0)
        pending = self.dispatcher.pending_drop(vehicle.vehicle_id)
        escape = self._escape(airspace, here, altitude_m, now_s)
        if escape is not None:
            here = escape
        try:
            if pending is not None:
                order_id, latitude_deg, longitude_deg = pending
                drop = self.frame.to_local(latitude_deg, longitude_deg)
                to_drop = planner.reroute_path(airspace, altitude_m, here, drop, now_s)
                home_path = planner.reroute_path(airspace, altitude_m, drop, home, now_s)
                stop: Stop | None = Stop(order_id, latitude_deg, longitude_deg)
            else:
                to_drop, stop = None, None
                home_path = planner.reroute_path(airspace, altitude_m, here, home, now_s)
        except PlanningError as exc:
            self.alert(vehicle.vehicle_id, "zone_recall", f"no safe path around {names} ({exc}): holding position")
            await vehicle.adapter.pause()
            return
        mission = drone_reroute(
            planner.next_mission_id(vehicle.vehicle_id, now_s), stop, to_drop, home_path, self.frame,
            cruise_speed_m_s=vehicle.profile.speed_m_s,
        )
        if escape is not None:
            latitude_deg, longitude_deg = self.frame.to_wgs84(*escape)
            out = MissionStep(StepKind.GOTO, latitude_deg, longitude_deg, altitude_m=altitude_m)
            mission = Mission(mission.mission_id, (out, *mission.steps), cruise_speed_m_s=mission.cruise_speed_m_s)
        try:
            await self.dispatcher.replace_mission(vehicle, mission)
        except AdapterError as exc:
            # RTL flies straight home: only safe when that line keeps clear of every blocking zone.
            straight_home = LineString([here, home])
            margin_m = planner.config.drone_safety_margin_m
            if any(straight_home.intersects(z.polygon.buffer(margin_m)) for z in airspace.zones
                   if zone_blocks_at(z, now_s, altitude_m)):
                self.alert(vehicle.vehicle_id, "zone_recall",
                           f"re-route around {names} refused ({exc}); straight line home crosses a zone: holding")
                await vehicle.adapter.pause()
                return
            self.alert(vehicle.vehicle_id, "zone_recall", f"re-route around {names} refused ({exc}): returning home")
            await vehicle.adapter.return_home()
            return
        self.alert(vehicle.vehicle_id, "zone_reroute", f"re-routed around {names} with mission {mission.mission_id}")
