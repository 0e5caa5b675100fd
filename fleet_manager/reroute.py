"""Re-routing a drone in flight around a zone published while it flies (or recalling it when impossible).

The safety monitors decide that a drone's remaining route crosses a new zone; this module plans
the way around (to the parcel not yet delivered, then home) through the planner's safe paths,
builds the replacement mission and has the mission control switch the drone to it. When the
pending drop is out of reach (the zone covers it) the drone brings the parcel home; when no safe
path home exists either it holds the drone; when the drone refuses the new mission it flies home
if the straight line home is clear, else holds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from shapely.geometry import LineString, Point, Polygon
from shapely.ops import nearest_points, unary_union

from mission_planner.airspace import Airspace
from mission_planner.drone_paths import DronePath
from mission_planner.errors import PlanningError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import ElevationGrid

from .adapters.base import Mission, MissionStep, StepKind, VehicleState
from .errors import AdapterError
from .fleet import FleetVehicle
from .mission_control import MissionControl
from .missions import Stop, carried_drone_ends, drone_reroute
from .planning import FleetPlanner
from .reroute_paths import ReroutePaths
from .zone_rules import zone_blocks_at

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class RerouteOutcome:
    """What a re-route came to, as an operator alert (`zone_reroute` or `zone_recall`) and its text."""

    kind: str
    message: str


class Rerouter:
    """Plans and sends re-routes for one hub's drones."""

    def __init__(self, *, planner: FleetPlanner, missions: MissionControl, frame: LocalFrame,
                 upload_attempts: int = 3, paths: ReroutePaths | None = None) -> None:
        self.planner = planner
        self.missions = missions
        self.frame = frame
        self.upload_attempts = upload_attempts  # tries of a recall mission before the RTL fallback
        # a path planner of their own: a fleet plan in progress never delays a re-route (see reroute_paths)
        self.paths = paths or ReroutePaths(planner.config, planner.terrain)
        self._recalling: dict[str, Airspace] = {}  # drone -> the airspace its recall in progress is planned in

    @property
    def safety_margin_m(self) -> float:
        """How far drone paths keep from a blocking zone."""
        return self.planner.config.drone_safety_margin_m

    async def _path(self, airspace: Airspace, altitude_m: float, start_xy: tuple[float, float],
                    goal_xy: tuple[float, float], now_s: float) -> DronePath:
        """A safe path from the re-routes' own planner, in its own thread (never waits for a fleet plan)."""
        return await self.paths.path(airspace, altitude_m, start_xy, goal_xy, now_s)

    async def _head_out(self, vehicle: FleetVehicle, escape: tuple[float, float], altitude_m: float) -> None:
        """Start the drone towards the escape point at once, before any path is planned or uploaded: every second
        spent planning and uploading (seconds of wall time are minutes of flight in a sped-up simulation) it would
        otherwise fly on, deeper into the zone. A drone that cannot take the command is held instead (BRAKE: it
        stops, getting no deeper); when even that fails the planned mission still follows."""
        latitude_deg, longitude_deg = self.frame.to_wgs84(*escape)
        try:
            await vehicle.adapter.fly_to(latitude_deg, longitude_deg, altitude_m)
        except AdapterError as exc:
            logger.warning("%s: could not head out of the zone (%s): holding", vehicle.vehicle_id, exc)
            try:
                await vehicle.adapter.pause()
            except AdapterError as pause_exc:
                logger.warning("%s: could not hold either (%s)", vehicle.vehicle_id, pause_exc)

    async def reroute(
        self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, names: str, now_s: float
    ) -> RerouteOutcome:
        """New mission around the zone (to the pending drop if any, then home); recall or hold when impossible.

        `state` is what the reaction was decided on; the way around starts from the drone's newest position.
        """
        planner = self.planner
        # The hold before a re-route waits for the autopilot's answer, through a radio drop too: seconds of wall
        # time, minutes of flight at x100. Planned from the older position, the new mission's first GOTO sent the
        # drone back there in a straight line (seed 19055 of the safety days: from its drop back towards the hub,
        # through the rail yard).
        state = _newest(vehicle.state(), state)
        here = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        home = self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        altitude_m = vehicle.profile.cruise_altitude_m or max(state.relative_altitude_m, 30.0)
        pending = self.missions.pending_drop(vehicle.vehicle_id)
        escape = self._escape(airspace, here, altitude_m, now_s)
        if escape is not None:
            await self._head_out(vehicle, escape, altitude_m)
            here = escape
        try:
            if pending is not None:
                order_id, latitude_deg, longitude_deg = pending
                drop = self.frame.to_local(latitude_deg, longitude_deg)
                to_drop = await self._path(airspace, altitude_m, here, drop, now_s)
                home_path = await self._path(airspace, altitude_m, drop, home, now_s)
                stop: Stop | None = Stop(order_id, latitude_deg, longitude_deg)
            else:
                to_drop, stop = None, None
                home_path = await self._path(airspace, altitude_m, here, home, now_s)
        except PlanningError as exc:
            if pending is None:
                await vehicle.adapter.pause()
                return RerouteOutcome("zone_recall", f"no safe path around {names} ({exc}): holding position")
            # The drop itself is out of reach (inside the new zone or its margin): the parcel comes back
            # with the drone and goes out again later, rather than the drone hovering until its pack runs down.
            try:
                home_path = await self._path(airspace, altitude_m, here, home, now_s)
            except PlanningError as home_exc:
                await vehicle.adapter.pause()
                return RerouteOutcome("zone_recall", f"no safe path around {names} ({exc}; home: {home_exc}): "
                                                     "holding position")
            to_drop, stop = None, None
            logger.warning("%s: drop of %s unreachable since %s (%s): bringing it back", vehicle.vehicle_id,
                           pending[0], names, exc)
        mission = drone_reroute(
            planner.next_mission_id(vehicle.vehicle_id, now_s), stop, to_drop, home_path, self.frame,
            cruise_speed_m_s=vehicle.profile.speed_m_s,
        )
        if escape is not None:
            mission = self._with_escape(mission, escape, altitude_m)
        try:
            await self.missions.replace_mission(vehicle, mission)
        except AdapterError as exc:
            # RTL flies straight home: only safe when that line keeps clear of every blocking zone.
            straight_home = LineString([here, home])
            if any(straight_home.intersects(z.polygon.buffer(self.safety_margin_m)) for z in airspace.zones
                   if zone_blocks_at(z, now_s, altitude_m)):
                await vehicle.adapter.pause()
                why = f"re-route around {names} refused ({exc}); straight line home crosses a zone: holding"
                return RerouteOutcome("zone_recall", why)
            await vehicle.adapter.return_home()
            return RerouteOutcome("zone_recall", f"re-route around {names} refused ({exc}): returning home")
        return RerouteOutcome("zone_reroute", f"re-routed around {names} with mission {mission.mission_id}")

    async def recall(self, vehicle: FleetVehicle, airspace: Airspace, now_s: float) -> None:
        """Bring a drone in now, the safe way for where it flies: over terrain a hub drone flies a terrain-following
        path home and a van-launched one to its recovery point; elsewhere (or with no position) an RTL.

        One recall at a time per drone in one airspace: a second one asked while the first is planned and sent
        brings nothing more in. It would be planned from where the drone held for the first and sent after it: on
        the Andorra handoff day a battery recall held drone-5 over its drop, the drop it was holding for could then
        not be confirmed, and the runner's recall for that was sent ~80 s after the first, when the drone had flown
        350 m on its way home: it flew back to its drop to start again (~150 s, ~37 Wh) and landed with 18 %
        against its 25 %. A recall in an airspace with other zones (one published over the drone) still goes."""
        in_progress = self._recalling.get(vehicle.vehicle_id)
        if in_progress is not None and _zone_ids(in_progress) == _zone_ids(airspace):
            logger.info("%s: already being recalled", vehicle.vehicle_id)
            return
        self._recalling[vehicle.vehicle_id] = airspace
        try:
            await self._recall(vehicle, airspace, now_s)
        finally:
            if self._recalling.get(vehicle.vehicle_id) is airspace:
                del self._recalling[vehicle.vehicle_id]

    async def _recall(self, vehicle: FleetVehicle, airspace: Airspace, now_s: float) -> None:
        state = vehicle.state()
        if state is not None and not state.armed:
            return  # landed and disarmed (a timed-out mission that ended on the ground): nothing to bring in
        if state is None or not state.position_valid:
            await vehicle.adapter.return_home()
        elif self.missions.van_launched(vehicle.vehicle_id) and self.planner.terrain is None:
            await vehicle.adapter.return_home()  # van-launched, flat world: the RTL to its launch point
        else:
            # The path starts where the drone is when asked; flown on while it is planned and sent (seconds under
            # load: minutes of a fast simulation) the drone may be far from that start by then, low down in the
            # column of its next drop, and would fly from there to the start, climbing as it goes (the short
            # Andorra day: a terrain clearance episode). So it holds where it is first.
            state = await self._hold(vehicle) or state
            try:
                if not self.missions.van_launched(vehicle.vehicle_id):
                    # flat or not: an RTL flies the straight line home, which may cross a no-fly zone
                    await self.go_home(vehicle, state, airspace, now_s)
                else:
                    await self.go_to_recovery(vehicle, state, airspace, now_s)
            except Exception:
                # never left holding: that lasts until the autopilot's battery failsafe
                logger.exception("%s: recall failed: RTL", vehicle.vehicle_id)
                await vehicle.adapter.return_home()
                raise

    async def _hold(self, vehicle: FleetVehicle) -> VehicleState | None:
        """Stop the drone where it is (BRAKE) and return its state then; None when it would not (it flies on, and
        the path is planned from where it was)."""
        try:
            await vehicle.adapter.pause()
        except AdapterError as exc:
            logger.warning("%s: would not hold for its recall (%s): planned from where it was", vehicle.vehicle_id,
                           exc)
            return None
        state = vehicle.state()
        return state if state is not None and state.position_valid else None

    async def go_home(self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, now_s: float) -> None:
        """Send a hub drone home now along a safe path (over terrain: following the ground, where an RTL flies
        straight at a height above home and may meet a ridge); RTL only when no path can be had or the drone
        refuses the mission on every try (the autopilot then flies its RTL, above terrain when RTL_ALT_TYPE 1)."""
        here = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        home = self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        altitude_m = vehicle.profile.cruise_altitude_m or max(state.relative_altitude_m, 30.0)
        # inside a zone or its margin (the path planner refuses such a start): straight out first
        escape = self._escape(airspace, here, altitude_m, now_s)
        if escape is not None:
            await self._head_out(vehicle, escape, altitude_m)
        try:
            home_path = await self._path(airspace, altitude_m, escape or here, home, now_s)
            mission = drone_reroute(self.planner.next_mission_id(vehicle.vehicle_id, now_s), None, None, home_path,
                                    self.frame, cruise_speed_m_s=vehicle.profile.speed_m_s)
            if escape is not None:
                mission = self._with_escape(mission, escape, altitude_m)
            await self._send(vehicle, mission)
        except (PlanningError, AdapterError) as exc:
            logger.warning("%s: no safe path home (%s): RTL", vehicle.vehicle_id, exc)
            await vehicle.adapter.return_home()

    async def go_to_recovery(self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace,
                             now_s: float) -> None:
        """Send a van-launched drone (recalled for its battery) straight to where its mission ends, along a
        terrain-following path: beside the van at its recovery stop (the mission's LAND), or the launch stop
        when recovered there. An RTL would fly to the launch stop, long left behind by the van. Only when no
        such mission can be had (none in flight to take the point from, or refused on every try) does it RTL:
        a holding drone would stay until the autopilot's battery failsafe, which flies the same RTL with less
        energy left.

        Altitudes stay relative to the drone's home (its launch point), whose ground the mission in flight
        encodes: a GOTO's ground above home is the ground under it minus the ground at home.
        """
        running = self.missions.running.get(vehicle.vehicle_id)
        terrain = self.planner.terrain
        try:
            if running is None or terrain is None:
                raise PlanningError("no mission in flight over terrain to take the recovery point from")
            goal, land_at, home_ground_m = _recovery_point(running.mission, terrain, self.frame)
            here = self.frame.to_local(state.latitude_deg, state.longitude_deg)
            altitude_m = vehicle.profile.cruise_altitude_m or max(state.relative_altitude_m, 30.0)
            path = await self._path(airspace, altitude_m, here, goal, now_s)
            mission = drone_reroute(self.planner.next_mission_id(vehicle.vehicle_id, now_s), None, None, path,
                                    self.frame, cruise_speed_m_s=vehicle.profile.speed_m_s,
                                    home_ground_m=home_ground_m, land_at=land_at)
            await self._send(vehicle, mission)
        except (PlanningError, AdapterError) as exc:
            logger.warning("%s: no safe path to its recovery point (%s): RTL", vehicle.vehicle_id, exc)
            await vehicle.adapter.return_home()

    async def _send(self, vehicle: FleetVehicle, mission: Mission) -> None:
        """`MissionControl.replace_mission`, tried again after a refusal: under load a mission or fence upload
        times out or is cancelled now and then, and a retry is far safer than the fallback (an RTL)."""
        attempts = max(1, self.upload_attempts)
        for attempt in range(1, attempts + 1):
            try:
                await self.missions.replace_mission(vehicle, mission)
                return
            except AdapterError as exc:
                if attempt == attempts:
                    raise
                logger.warning("%s: mission %s refused (%s): try %d of %d", vehicle.vehicle_id,
                               mission.mission_id, exc, attempt + 1, attempts)

    def _with_escape(self, mission: Mission, escape: tuple[float, float], altitude_m: float) -> Mission:
        """`mission` with a first waypoint at the escape point (see `_escape`)."""
        latitude_deg, longitude_deg = self.frame.to_wgs84(*escape)
        out = MissionStep(StepKind.GOTO, latitude_deg, longitude_deg, altitude_m=altitude_m)
        return Mission(mission.mission_id, (out, *mission.steps), cruise_speed_m_s=mission.cruise_speed_m_s)

    def _escape(self, airspace: Airspace, here: tuple[float, float], altitude_m: float,
                now_s: float) -> tuple[float, float] | None:
        """A point just outside every buffered blocking zone, the shortest way out of the one(s) the drone is in or
        near; None when it is clear of them all.

        The path planner refuses a start inside a zone or its safety margin; a drone that is there
        first moves straight out: from the margin, away from the zone (only increasing its distance);
        from inside the zone (it appeared over the drone, or the drone was pushed in), to the nearest
        edge and on past the margin: the shortest time inside. The zones are taken together, grown by
        the margin (and 5 m more): an exit out of one zone into a neighbour's margin, or into the neighbour
        itself, is no exit (the planner would refuse that start, and the drone would hold or RTL there).
        """
        margin_m = self.safety_margin_m
        point = Point(here)
        blocking = [z for z in airspace.zones if zone_blocks_at(z, now_s, altitude_m)]
        if not any(z.polygon.distance(point) < margin_m + 1.0 for z in blocking):
            return None
        blocked = unary_union([z.polygon.buffer(margin_m + 5.0) for z in blocking])
        # the part of the grown zones the drone is in; its outer edge is the way out to the free air where the path
        # planner can start (a drone in a hole, air enclosed by zones, is in none: the planner takes it from there)
        region = next((p for p in getattr(blocked, "geoms", [blocked]) if isinstance(p, Polygon) and p.covers(point)),
                      None)
        if region is None:
            return None
        exit_point = nearest_points(region.exterior, point)[0]
        dx, dy = exit_point.x - point.x, exit_point.y - point.y
        length = math.hypot(dx, dy)
        if length < 1e-6:
            return exit_point.x, exit_point.y
        step_m = 1.0  # just past the grown edge: the planner's own check buffers by the margin plus half its clearance
        return exit_point.x + dx / length * step_m, exit_point.y + dy / length * step_m


def _zone_ids(airspace: Airspace) -> frozenset[str]:
    return frozenset(zone.zone_id for zone in airspace.zones)


def _newest(latest: VehicleState | None, decided_on: VehicleState) -> VehicleState:
    """The newer of two reports of one vehicle with a usable position."""
    if latest is None or not latest.position_valid or latest.stamp_s < decided_on.stamp_s:
        return decided_on
    return latest


def _recovery_point(mission: Mission, terrain: ElevationGrid,
                    frame: LocalFrame) -> tuple[tuple[float, float], tuple[float, float] | None, float]:
    """Where a van-launched drone's mission ends (local xy), the LAND point (lat, lon) or None when it returns to
    its launch point, and the ground at home (m above sea level) its altitudes are relative to."""
    first, land_at = carried_drone_ends(mission.steps)
    if first is None:
        raise PlanningError(f"mission {mission.mission_id} has no waypoint to take its home ground from")
    latitude_deg, longitude_deg, ground_above_home_m = first
    first_xy = frame.to_local(latitude_deg, longitude_deg)
    home_ground_m = terrain.elevation_at(*first_xy) - ground_above_home_m
    if land_at is not None:
        return frame.to_local(*land_at), land_at, home_ground_m
    # recovered where it was launched: the first waypoint is the top of the climb above the launch point
    return first_xy, None, home_ground_m
