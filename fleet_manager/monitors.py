"""Safety monitors: battery, geofence conformance, link loss, and new no-fly zones for drones in flight.

They read only what the vehicles themselves report (telemetry positions, battery), never the
plan. Actions go through the adapters (RTL / land / hold), the mission control (give up a lost
vehicle's mission) or the re-router (a new mission around a zone published in flight): a narrow
interface, `FlightControl`, not the dispatcher's fields. Every alert is logged, kept in `alerts`
with its clock time and put on the event stream; `GeofenceLedger` counts violations.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shapely.geometry import LineString, Point

from mission_planner.airspace import Airspace
from mission_planner.clock import Clock
from mission_planner.energy import MultirotorModel
from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame
from mission_planner.wind_flight import wind_vector_m_s

from .adapters.base import FenceHolding, LinkStatus, MissionStep, StepKind, VehicleKind, VehicleState
from .energy_home import route_energy_wh
from .errors import AdapterError
from .fleet import Fleet, FleetVehicle
from .live_airspace import LiveAirspace
from .missions import carried_drone_ends
from .reroute import Rerouter
from .store import outbox
from .store.db import Database
from .zone_rules import GeofenceLedger, position_violation, zone_blocks_at

if TYPE_CHECKING:
    from .adapters.base import Geofence
    from .mission_runner import RunningMission


class FlightControl(Protocol):
    """What the monitors may ask of the mission side (implemented by `MissionControl`)."""

    def running_mission(self, vehicle_id: str) -> RunningMission | None:
        """The mission a vehicle is running, if any."""
        ...

    def abandon(self, vehicle_id: str, why: str) -> bool:
        """Give up a lost vehicle's mission (its parcels are replanned); False when it has none."""
        ...

    def geofence_for(self, vehicle: FleetVehicle) -> Geofence:
        """The fence a drone's autopilot should hold now (the airspace as it is)."""
        ...


logger = logging.getLogger(__name__)

AIRBORNE_M = 1.0


def flying(state: VehicleState) -> bool:
    """Off the ground by its own report: above home, or armed and below it (a van-launched drone's home is its
    launch stop, and its way to a lower stop or down a valley to the hub is flown hundreds of metres below it:
    counted as on the ground, half such a flight went without a battery check)."""
    return state.relative_altitude_m >= AIRBORNE_M or (state.armed and state.relative_altitude_m <= -AIRBORNE_M)


def _drops_left(running: RunningMission) -> list[int]:
    """Indexes of the mission's DELIVER steps whose parcel is not handed over yet."""
    return [i for i, step in enumerate(running.mission.steps) if step.kind is StepKind.DELIVER
            and step.order_id in running.order_ids and step.order_id not in running.resolved]


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
    # Wall time a recall holds the drone while its way is planned and sent, until a recall has been timed: on the
    # Andorra hub-drones day (x60, 2-core box) the first took 0.64 s (it builds the re-routes' path planner), the next
    # 39 0.03-0.25 s.
    recall_wall_s: float = 1.0
    timed_recalls: int = 5  # the margin keeps the longest hold of this many recalls, the latest


class SafetyMonitor:
    """Watches every vehicle of a fleet and acts on battery, geofence, link and zone changes."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        clock: Clock,
        frame: LocalFrame,
        airspace: LiveAirspace,
        missions: FlightControl,
        rerouter: Rerouter,
        database: Database | None = None,
        config: MonitorConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.airspace = airspace
        self.missions = missions
        self.rerouter = rerouter
        self.database = database
        self.clock = clock
        self.frame = frame
        self.config = config or MonitorConfig()
        self.alerts: list[Alert] = []
        self.ledger = GeofenceLedger()
        self.failed_passes = 0  # passes that raised (logged; the next pass runs regardless)
        self.min_battery_pct: dict[str, float] = {}
        self._on_alert = on_alert
        self._recalled: set[str] = set()
        self._near: dict[str, set[str]] = {}  # vehicle -> zones it is near now (alerted once per episode)
        self._actions: set[asyncio.Task[None]] = set()
        self._pending_zone_ids: set[str] = set()
        self._pending_by_vehicle: dict[str, set[str]] = {}  # zones one drone is to react to (see react_to_zones)
        self._last_pass_s: float | None = None
        self._pass_gap_s = 0.0  # clock time between the last two passes (the battery margin covers it)
        # clock time the latest recalls held their drones before their missions went (the battery margin covers it)
        self._recall_holds_s: deque[float] = deque(maxlen=max(1, self.config.timed_recalls))
        self._owed_zone_ids: dict[str, set[str]] = {}  # zone reactions a drone did not take (its link was down)
        self._link_restores: dict[str, int] = {}
        airspace.add_listener(self._on_airspace)

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
            if self.database is not None:
                self._act(self._store_alert(entry, self.database), f"{vehicle_id}-alert")

    async def _store_alert(self, entry: Alert, database: Database) -> None:
        """Put the alert on the event stream (the dashboard shows it); not a webhook to the backend."""
        hub_id = self.fleet.get(entry.vehicle_id).hub_id if entry.vehicle_id in self.fleet else ""
        data = {"vehicle_id": entry.vehicle_id, "kind": entry.kind, "message": entry.message}

        def store(session: Any) -> None:
            outbox.append_event(session, hub_id=hub_id, event_type="vehicle.alert",
                                subject=f"vehicles/{entry.vehicle_id}", data=data, at_s=entry.at_s, webhook=False)

        try:
            await database.write_async(store)
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
                try:
                    self.check_all()
                except Exception:  # one bad pass (a vehicle's odd state) must not stop the safety checks
                    self.failed_passes += 1
                    logger.exception("safety monitor pass failed")
        finally:
            for task in list(self._actions):
                task.cancel()

    def check_all(self) -> None:
        """One pass over the fleet."""
        now_s = self.clock.now()
        if self._last_pass_s is not None:
            self._pass_gap_s = max(0.0, now_s - self._last_pass_s)
        self._last_pass_s = now_s
        airspace = self.airspace.current
        reacted: set[str] = set()
        if self._pending_zone_ids:
            reacted, self._pending_zone_ids = set(self._pending_zone_ids), set()
            self._react_to_new_zones(airspace, reacted, now_s)
        if self._pending_by_vehicle:
            by_vehicle, self._pending_by_vehicle = self._pending_by_vehicle, {}
            for vehicle_id, zone_ids in by_vehicle.items():
                if zone_ids - reacted:
                    self._react_to_new_zones(airspace, zone_ids - reacted, now_s, only_vehicle_id=vehicle_id)
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
                self._link_restores[vehicle.vehicle_id] = self._link_restores.get(vehicle.vehicle_id, 0) + 1
                owed = self._owed_zone_ids.pop(vehicle.vehicle_id, set())
                if owed:  # a zone reaction it never got (its link was down): the zones that still block, again
                    self._react_to_new_zones(self.airspace.current, owed, now_s, only_vehicle_id=vehicle.vehicle_id)
            vehicle.link_lost_since_s = None
            return
        if vehicle.link_lost_since_s is None:
            vehicle.link_lost_since_s = now_s
            self.alert(vehicle.vehicle_id, "link_lost", f"no telemetry since {state.stamp_s:.0f}")
            vehicle.out_of_service = "link lost"
        elif (now_s - vehicle.link_lost_since_s >= self.config.reassign_after_link_lost_s
              and self.missions.abandon(vehicle.vehicle_id, "link lost")):
            self.alert(vehicle.vehicle_id, "reassigned", "link lost too long: its parcels go out with other vehicles")

    def _check_geofence(self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, now_s: float) -> None:
        if not flying(state) or not state.position_valid:
            self.ledger.observe(vehicle.vehicle_id, None, now_s)
            self._near.pop(vehicle.vehicle_id, None)
            return
        x_m, y_m = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        zone_id = position_violation(airspace, x_m, y_m, state.relative_altitude_m, now_s)
        if self.ledger.observe(vehicle.vehicle_id, zone_id, now_s):
            altitude = f"{state.relative_altitude_m:.0f} m"
            self.alert(vehicle.vehicle_id, "geofence", f"inside {zone_id} at {altitude}: returning home")
            # the shortest way out, then home around every zone: an RTL's straight line may cross another one
            self._act(self._recall(vehicle, airspace, now_s), f"{vehicle.vehicle_id}-geofence-recall")
            return
        near_ids: set[str] = set()
        if zone_id is None:
            point = Point(x_m, y_m)
            near_ids = {zone.zone_id for zone in airspace.zones
                        if zone_blocks_at(zone, now_s, state.relative_altitude_m)
                        and zone.polygon.distance(point) < self.config.near_zone_m}
        # One alert per episode: when the drone comes near a zone, not at every pass while it stays near.
        for zone_near in sorted(near_ids - self._near.get(vehicle.vehicle_id, set())):
            self.alert(vehicle.vehicle_id, "geofence_near", f"within {self.config.near_zone_m} m of {zone_near}")
        self._near[vehicle.vehicle_id] = near_ids

    def _check_battery(self, vehicle: FleetVehicle, state: VehicleState) -> None:
        """Energy to fly home from here (plus reserve) against what is left -> return early."""
        if not flying(state) or not state.armed or not state.position_valid:
            self._recalled.discard(vehicle.vehicle_id)
            return
        if vehicle.vehicle_id in self._recalled:
            return
        remaining_wh = state.battery_remaining_wh
        if remaining_wh is None and state.battery_remaining_pct is not None:
            remaining_wh = vehicle.profile.battery_wh * state.battery_remaining_pct / 100.0
        if remaining_wh is None:
            return
        model = self._energy_model(vehicle)
        needed_wh = self._energy_to_finish_wh(vehicle, state, model)
        # The whole reserve stays in the pack (it is what the counters and the regulations hold it to), and the margin
        reserve_wh = vehicle.profile.battery_wh * vehicle.profile.reserve_pct / 100.0
        if remaining_wh < needed_wh + reserve_wh + self._margin_wh(model):
            self._recalled.add(vehicle.vehicle_id)
            short = f"{remaining_wh:.0f} Wh left, {needed_wh:.0f} Wh needed to finish plus {reserve_wh:.0f} Wh reserve"
            if self._homeward(vehicle):
                # Nothing left to hand over: the rest of its mission is already the planner's safe way home (or to
                # its van), and a recall would fly that same way after a hold that only burns hover (at x60 each
                # held its drone ~40 s, and hub drones recalled on most long trips landed under their reserve).
                self.alert(vehicle.vehicle_id, "low_battery", f"{short}: on its way home with nothing left to drop, "
                           "not recalled")
                return
            self.alert(vehicle.vehicle_id, "low_battery", f"{short}: returning")
            # over terrain an RTL at a height above home may meet a ridge: a terrain-following path home (hub
            # drone) or to the van's recovery stop (van-launched drone, whose launch stop the van has left)
            self._act(self._recall(vehicle, self.airspace.current, self.clock.now()),
                      f"{vehicle.vehicle_id}-battery-recall")

    def _homeward(self, vehicle: FleetVehicle) -> bool:
        """The drone flies a mission with no parcel left to hand over: its remaining steps only bring it in."""
        running = self.missions.running_mission(vehicle.vehicle_id)
        return running is not None and not _drops_left(running)

    def _margin_wh(self, model: MultirotorModel) -> float:
        """What a drone burns beyond its way home before it flies it: until the next pass (a pass every period of wall
        time is a longer flight at a simulation's speed-up, and longer still when the host is loaded), then holding
        while its recall is planned and sent (`Rerouter.recall` stops it first: at x60 the Andorra day's first recall
        held its drone 38 s, ~11 Wh of hover the check did not count), and a fixed margin. The hold is the longest of
        the latest recalls (a slow one, planning while the host is loaded, counts for a few recalls, not for the day),
        before any `recall_wall_s` of wall time."""
        gap_s = max(self.config.period_wall_s * self.clock.speedup, self._pass_gap_s)
        hold_s = max(self._recall_holds_s, default=self.config.recall_wall_s * self.clock.speedup)
        return (self.config.battery_margin_wh + model.power_w(0.0, model.max_airspeed_m_s) * gap_s / 3600.0
                + model.hover_power_w(0.0) * hold_s / 3600.0)

    async def _recall(self, vehicle: FleetVehicle, airspace: Airspace, now_s: float) -> None:
        """`Rerouter.recall`, timed: how long it held the drone is what the next battery checks keep for a hold."""
        try:
            await self.rerouter.recall(vehicle, airspace, now_s)
        finally:
            self._recall_holds_s.append(max(0.0, self.clock.now() - now_s))

    @staticmethod
    def _energy_model(vehicle: FleetVehicle) -> MultirotorModel:
        return MultirotorModel(
            battery_capacity_wh=vehicle.profile.battery_wh,
            max_payload_kg=max(vehicle.profile.max_payload_kg, 0.1),
            cruise_airspeed_m_s=vehicle.profile.speed_m_s,
            max_airspeed_m_s=max(22.0, vehicle.profile.speed_m_s),
        )

    def _energy_to_finish_wh(self, vehicle: FleetVehicle, state: VehicleState, model: MultirotorModel) -> float:
        """Along the rest of the mission in 3-D, in the wind the drone reports (`energy_home`): each step's altitude
        is relative to home, so a leg that climbs or descends with the terrain costs its climb or saves on its
        descent, as the planner reckoned it."""
        stops = self._remaining_stops(vehicle, state)
        wind = wind_vector_m_s(state.wind_speed_m_s, state.wind_from_deg)
        return route_energy_wh(model, self._loads_kg(vehicle, stops, model), [p for p, _o in stops],
                               vehicle.profile.speed_m_s, wind, landing_ground_m=self._landing_ground_m(vehicle))

    def _loads_kg(self, vehicle: FleetVehicle, stops: list[tuple[tuple[float, float, float], str | None]],
                  model: MultirotorModel) -> list[float]:
        """The weight it carries from each of `stops` on: the parcels not handed over yet, each until its drop (as the
        planner prices the trip); one the rest of the mission does not drop (a recall's) to the end. Priced empty,
        a 9 kg drone bringing back a 1 kg parcel drew 13-15 % more than the check had counted (mavsim, the recalls
        of the Andorra hub-drones day)."""
        running = self.missions.running_mission(vehicle.vehicle_id)
        weights = {o: running.payload_kg.get(o, 0.0) for o in running.order_ids
                   if o not in running.resolved} if running is not None else {}
        loads = []
        for _point, dropped in stops:
            weights.pop(dropped or "", None)
            loads.append(min(sum(weights.values()), model.max_payload_kg))
        return loads

    # ----- new zones -------------------------------------------------------------------------------
    def _on_airspace(self, _airspace: Airspace, new_zone_ids: frozenset[str]) -> None:
        if new_zone_ids:
            self._pending_zone_ids |= set(new_zone_ids)
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(self.check_all)

    def remaining_route(self, vehicle: FleetVehicle, state: VehicleState) -> LineString | None:
        """From the reported position to the parcel not yet handed over, along the rest of the mission, home.

        Progress is taken from the hand-overs the dispatcher has recorded, and from the step the vehicle reports
        flying (`mission_step`, an index into the mission's steps on every adapter) while it reports this mission.
        """
        points = self._remaining_points(vehicle, state)
        if len(points) < 2:
            return None
        return LineString([(x, y) for x, y, _z in points])

    def _remaining_points(self, vehicle: FleetVehicle, state: VehicleState) -> list[tuple[float, float, float]]:
        """`remaining_route`'s points with altitudes above home (a step without one keeps the one before)."""
        return [point for point, _dropped in self._remaining_stops(vehicle, state)]

    def _remaining_stops(self, vehicle: FleetVehicle,
                         state: VehicleState) -> list[tuple[tuple[float, float, float], str | None]]:
        """`_remaining_points`, each with the order handed over there (a DELIVER's), else None."""
        running = self.missions.running_mission(vehicle.vehicle_id)
        altitude_m = state.relative_altitude_m
        points: list[tuple[tuple[float, float, float], str | None]] = [
            ((*self.frame.to_local(state.latitude_deg, state.longitude_deg), altitude_m), None)]
        if running is not None:
            steps = list(running.mission.steps)
            pending = _drops_left(running)
            first = pending[0] if pending else next(
                (i for i in range(len(steps) - 1, -1, -1) if steps[i].kind is StepKind.DELIVER), -1) + 1
            # The steps before the one it flies to are behind it. Counted from its start instead, a recall's mission
            # (no DELIVER) was priced whole at every pass, and a trip after its drop from the drop on: on the Andorra
            # handoff day drone-5, 1.4 km and 350 m of descent from the hub (~55 Wh), was recalled a second time
            # for "253 Wh needed" (the whole 6 km way home of its first recall), and the first recall priced the
            # climb back to its drop, 190 m above it (234 Wh where the way home drew ~195).
            if state.mission_id == running.mission.mission_id and state.mission_step is not None:
                first = max(first, min(state.mission_step, len(steps)))
            for step in steps[first:]:
                if step.latitude_deg is not None and step.longitude_deg is not None:
                    altitude_m = step.altitude_m if step.altitude_m is not None else altitude_m
                    dropped = step.order_id if step.kind is StepKind.DELIVER else None
                    points.append(((*self.frame.to_local(step.latitude_deg, step.longitude_deg), altitude_m), dropped))
            if running.launched_from is not None:
                return points + [(p, None) for p in _back_to_launch(steps, self.frame, altitude_m)]
        points.append(((*self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg), altitude_m), None))
        return points

    def _landing_ground_m(self, vehicle: FleetVehicle) -> float:
        """The ground where `_remaining_points` ends, above home's: a van-launched drone's closing LAND beside its van
        carries the ground of that stop (its home stays its launch stop's height); anywhere else it lands at home.
        Priced as a landing from its height above home, a drone landing at a stop 200 m below its launch point had
        its last 60 m of descent counted as none and landed under its reserve (tests/fleet_manager/
        test_battery_check_in_mavsim.py)."""
        running = self.missions.running_mission(vehicle.vehicle_id)
        if running is None or running.launched_from is None:
            return 0.0
        _first, land_at = carried_drone_ends(running.mission.steps)
        return running.mission.steps[-1].ground_above_home_m if land_at is not None else 0.0

    def react_to_zones(self, vehicle_id: str, zone_ids: list[str]) -> None:
        """React to zones one drone never reacted to (published while its mission was being started), in the next
        pass: one reaction when the same zones just came in through the airspace as well."""
        self._pending_by_vehicle.setdefault(vehicle_id, set()).update(zone_ids)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon(self.check_all)

    def _react_to_new_zones(self, airspace: Airspace, zone_ids: set[str], now_s: float,
                            only_vehicle_id: str | None = None) -> None:
        zones = [z for z in airspace.zones if z.zone_id in zone_ids and z.blocks(None)]
        margin_m = self.rerouter.safety_margin_m
        for vehicle in self.fleet:
            if only_vehicle_id is not None and vehicle.vehicle_id != only_vehicle_id:
                continue
            state = vehicle.state()
            if vehicle.kind is not VehicleKind.DRONE or state is None or not flying(state):
                continue
            route = self.remaining_route(vehicle, state)
            if route is None:
                continue
            now_utc = dt.datetime.fromtimestamp(now_s, dt.UTC)
            crossed = [z for z in zones if route.intersects(z.polygon.buffer(margin_m)) and z.active_at(now_utc)]
            if not crossed:
                # off its route, but a failsafe RTL (a lost link, its battery) flies straight home: its autopilot
                # keeps out of the zone only once the zone is in its fence
                self._act(self._update_fence(vehicle), f"{vehicle.vehicle_id}-fence")
                continue
            names = ", ".join(z.zone_id for z in crossed)
            here = Point(self.frame.to_local(state.latitude_deg, state.longitude_deg))
            inside = [z.zone_id for z in crossed if z.polygon.covers(here)]
            # Until the drone took the reaction (its link may be down: radio out of range), the zones stay owed
            # to it and are applied again when its link is back (`_check_link`).
            owed = {z.zone_id for z in crossed}
            if inside:
                # The zone appeared over it: the shortest way out, then home around every zone (an RTL's
                # straight line home may cross this zone or another one).
                self.alert(vehicle.vehicle_id, "zone_recall", f"inside new zone {', '.join(inside)}: returning home")
                self._act(self._owing(vehicle.vehicle_id, owed, self._recall(vehicle, airspace, now_s)),
                          f"{vehicle.vehicle_id}-zone-recall")
                continue
            self._act(self._owing(vehicle.vehicle_id, owed, self._reroute(vehicle, state, airspace, names, now_s)),
                      f"{vehicle.vehicle_id}-reroute")

    async def _owing(self, vehicle_id: str, zone_ids: set[str], action: Awaitable[None]) -> None:
        """Run a zone reaction; when it fails, the zones are owed to the vehicle until its link is next back
        (at once when the link came back while the reaction was still trying)."""
        restores = self._link_restores.get(vehicle_id, 0)
        try:
            await action
        except FinalMileError:
            if self._link_restores.get(vehicle_id, 0) != restores:
                self._react_to_new_zones(self.airspace.current, zone_ids, self.clock.now(),
                                         only_vehicle_id=vehicle_id)
            else:
                self._owed_zone_ids.setdefault(vehicle_id, set()).update(zone_ids)
            raise

    async def _reroute(
        self, vehicle: FleetVehicle, state: VehicleState, airspace: Airspace, names: str, now_s: float
    ) -> None:
        # Planning the way around and uploading it take a while (a plan in progress holds the path planner; a
        # loaded host, a sped-up simulation: seconds of wall time are minutes of flight): the drone holds where
        # it is, outside the zone, meanwhile, rather than flying on into it (found by the safety days); the new
        # mission sets it going again.
        await vehicle.adapter.pause()
        # then the zone into its own fence, before the path is planned: should the link drop now, the GCS failsafe's
        # RTL goes round it (an autopilot with OA_TYPE 2), not straight through (safety day 44, seed 19044)
        await self._update_fence(vehicle)
        outcome = await self.rerouter.reroute(vehicle, state, airspace, names, now_s)
        self.alert(vehicle.vehicle_id, outcome.kind, outcome.message)

    async def _update_fence(self, vehicle: FleetVehicle) -> None:
        """The airspace as it is now into the drone's own fence (a vehicle that holds one); a failure is logged (the
        re-route's mission carries the fence again)."""
        adapter = vehicle.adapter
        if not isinstance(adapter, FenceHolding):
            return
        try:
            await adapter.update_geofence(self.missions.geofence_for(vehicle))
        except AdapterError as exc:
            logger.warning("%s: new zone not in its fence yet (%s)", vehicle.vehicle_id, exc)


def _back_to_launch(steps: list[MissionStep], frame: LocalFrame, altitude_m: float) -> list[tuple[float, float, float]]:
    """A van-launched drone's way back after its last step: none when its mission lands beside the van at a later
    stop (the LAND is its last point), else the RTL to its launch point (the first waypoint, the top of its climb
    there). Never the hub, its fleet home: counting the flight there recalled drones that had ample charge for
    the van."""
    first, land_at = carried_drone_ends(steps)
    if land_at is not None or first is None:
        return []
    return [(*frame.to_local(first[0], first[1]), altitude_m)]
