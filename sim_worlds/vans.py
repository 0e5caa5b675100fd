"""Simulated delivery vans: drive the world's street graph, stop at recipients, report over JSON-over-TCP.

Each van is the "driver app" end of `fleet_manager.adapters.van_adapter`, whose docstring defines
the wire protocol: newline-delimited JSON on one TCP port for the whole fleet. The simulator adds
two messages of its own, for simulation control (no hello needed):

    client -> server  {"type": "clock", "start_s": S, "origin_monotonic": T, "speedup": K}
                      (re-align the fleet's clock with the orchestrator's)
                      {"type": "traffic", "events": [...]}  (the world's real traffic, see
                      `sim_worlds.street_traffic`: vans drive slower where it is)

Carrying: `load` (at the hub, van stopped) stows a landed, disarmed drone in the van; `launch`
(van stopped anywhere) sets it down at the van and frees it to take off; `recover` (van stopped,
the drone landed and disarmed within `RECOVER_RADIUS_M`) stows it again; `unload` at the hub.
Carried vehicles ride along (their simulator is told every metre or so) and are listed in the
state's `carried`; a launch or recovery during a mission is also an event (`vehicle_launched`,
`vehicle_recovered`, detail = the vehicle id). A recovered drone gets one of the van's charged
spare packs (`battery_swapped`; the spares are refilled at the hub); robots charge from the van's
bay. The van reaches the carried vehicles' simulators through a `sim_worlds.van_carriage.Carriage`
(drones: the mavsim sim-control channel, `--mavsim-control`); without one, carrying is refused.

Vans move kinematically at each edge's `speed_m_s` (times the world's traffic there) along the fastest
free-flow street route between the points they are sent to (their navigation does not know the traffic), consume
`energy_wh_per_km`, and spend `stop_duration_s` at each DELIVER step (park, walk, hand over). An idle van at
the hub charges at `charge_w` (a depot charger); a van whose pack is empty stops where it is.
The physics (`VanSim.advance`) is pure; the server only moves time and bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.errors import FinalMileError

from .street_traffic import StreetTraffic, TrafficEventError, event_from_wire
from .van_carriage import Carriage, CarriageError

logger = logging.getLogger(__name__)
SPARE_PACKS = 4  # charged drone packs a simulated van carries out (its day tells the planner so)

TELEMETRY_PERIOD_S = 0.2  # wall seconds between state messages per van
TICK_PERIOD_S = 0.05  # wall seconds between physics steps
HUB_RADIUS_M = 30.0  # load/unload only this close to the van's home
RECOVER_RADIUS_M = 30.0  # a vehicle this close to a stopped van can be recovered
CARRY_SYNC_M = 1.0  # carried vehicles are moved when the van has gone this far
DEPOT_CHARGE_W = 22_000.0  # an AC depot charger (three-phase 32 A), what a van fleet's yard typically has


class VanSimError(FinalMileError):
    """A van refused a request (unknown step kind, malformed mission, unknown van)."""


@dataclass
class _Leg:
    """A drive along street nodes: polyline points (x, y) with cumulative distances."""

    points: list[tuple[float, float]]
    cumulative_m: list[float]
    speeds_m_s: list[float]  # per segment

    @property
    def length_m(self) -> float:
        return self.cumulative_m[-1]


@dataclass
class VanSim:
    """One van's state and mission execution; `advance(dt_s)` moves it forward in simulated time."""

    vehicle_id: str
    world: World
    home_xy: tuple[float, float]
    battery_wh: float = 60_000.0
    energy_wh_per_km: float = 250.0
    charge_w: float = DEPOT_CHARGE_W
    stop_duration_s: float = 120.0
    x_m: float = 0.0
    y_m: float = 0.0
    heading_deg: float = 0.0
    speed_m_s: float = 0.0
    remaining_wh: float = 0.0
    odometer_m: float = 0.0
    mode: str = "IDLE"
    paused: bool = False
    mission: dict[str, Any] | None = None
    step_index: int = 0
    _leg: _Leg | None = None
    _leg_progress_m: float = 0.0
    _segment: int = 0
    _dwell_left_s: float = 0.0
    outbox: list[dict[str, Any]] = field(default_factory=list)
    carriage: Carriage | None = None
    carried: list[str] = field(default_factory=list)
    spare_packs: int = SPARE_PACKS  # charged drone packs aboard; refilled at the hub (`unload`)
    spare_packs_full: int = SPARE_PACKS
    _carried_at: tuple[float, float] | None = None
    traffic: StreetTraffic | None = None  # the world's real traffic (slows the van where it drives)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.battery_wh) and self.battery_wh > 0 and math.isfinite(self.charge_w)
                and self.charge_w >= 0):
            raise VanSimError(f"{self.vehicle_id}: battery_wh must be > 0 and charge_w >= 0, got "
                              f"{self.battery_wh!r} and {self.charge_w!r}")
        self.x_m, self.y_m = self.home_xy
        self.remaining_wh = self.battery_wh

    # ----- commands -------------------------------------------------------------------------------
    def start_mission(self, mission: dict[str, Any], now_s: float) -> None:
        """Validate and begin a mission (replacing any running one, which ends CANCELED)."""
        steps = mission.get("steps")
        if not isinstance(mission.get("mission_id"), str) or not isinstance(steps, list) or not steps:
            raise VanSimError(f"{self.vehicle_id}: mission needs a mission_id and a non-empty steps list")
        for index, step in enumerate(steps):
            kind = step.get("kind")
            if kind not in ("goto", "deliver", "wait", "return"):
                raise VanSimError(f"{self.vehicle_id}: step {index} kind {kind!r} is not something a van does")
            if kind in ("goto", "deliver") and (step.get("latitude_deg") is None or step.get("longitude_deg") is None):
                raise VanSimError(f"{self.vehicle_id}: step {index} ({kind}) needs latitude_deg and longitude_deg")
        if self.mission is not None:
            self._finish("canceled", now_s, "replaced by a new mission")
        self.mission = mission
        self.step_index = 0
        self.paused = False
        self._begin_step(now_s)

    def pause(self) -> None:
        """Pull over and wait: the van does not drive on until resumed.

        A hand-over or WAIT under way goes on counting (the driver still walks the parcel to the door);
        only the drive to the next step waits. That is what holding a van for its drones needs: it
        keeps the van at the stop without adding to its stop time.
        """
        self.paused = True
        self.speed_m_s = 0.0
        self.mode = "PAUSED"

    def resume(self) -> None:
        """Carry on with the mission."""
        self.paused = False
        if self.mission is None:
            self.mode = "IDLE"
        elif self._leg is None and self._dwell_left_s > 0:  # held during a hand-over or WAIT: it goes on
            kind = self.mission["steps"][self.step_index]["kind"]
            self.mode = "HANDING_OVER" if kind == "deliver" else "WAITING"
        else:
            self.mode = "DRIVING"

    def return_home(self, now_s: float) -> None:
        """Abandon the mission and drive back to the hub."""
        if self.mission is not None:
            self._finish("canceled", now_s, "return to hub requested")
        self.mission = {"mission_id": f"{self.vehicle_id}-rth-{int(now_s)}", "steps": [{"kind": "return"}]}
        self.step_index = 0
        self.paused = False
        self._begin_step(now_s)

    def stop(self, now_s: float) -> None:
        """Stop where it is (a van's 'land')."""
        if self.mission is not None:
            self._finish("canceled", now_s, "stopped by operator")
        self.speed_m_s = 0.0
        self.mode = "IDLE"

    # ----- carrying -------------------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        """Parked: not on a drive leg (idle, waiting, handing over) or pulled over."""
        return self._leg is None or self.paused

    def _carriage(self, action: str, vehicle_id: str) -> Carriage:
        if self.carriage is None:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {vehicle_id}: "
                              "no vehicle simulator is connected to this van")
        if not self.stopped:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {vehicle_id} while driving")
        return self.carriage

    def _at_hub(self, action: str, vehicle_id: str) -> None:
        distance_m = math.hypot(self.x_m - self.home_xy[0], self.y_m - self.home_xy[1])
        if distance_m > HUB_RADIUS_M:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {vehicle_id} {distance_m:.0f} m from the hub "
                              f"(within {HUB_RADIUS_M:.0f} m only)")

    def _position(self) -> tuple[float, float]:
        latitude_deg, longitude_deg = self.world.frame.to_wgs84(self.x_m, self.y_m)
        return latitude_deg, longitude_deg

    def load(self, vehicle_id: str) -> None:
        """Stow a parked vehicle standing at the hub."""
        carriage = self._carriage("load", vehicle_id)
        self._at_hub("load", vehicle_id)
        if vehicle_id in self.carried:
            raise VanSimError(f"{self.vehicle_id}: {vehicle_id} is already loaded")
        self._stow(carriage, vehicle_id, "load")

    def unload(self, vehicle_id: str) -> None:
        """Take a carried vehicle out at the hub."""
        carriage = self._carriage("unload", vehicle_id)
        self._at_hub("unload", vehicle_id)
        self._release(carriage, vehicle_id, "unload")
        self.spare_packs = self.spare_packs_full  # the hub hands over charged spares

    def launch(self, vehicle_id: str, now_s: float) -> None:
        """Set a carried vehicle down where the van stands, free to go."""
        self._release(self._carriage("launch", vehicle_id), vehicle_id, "launch")
        self._event("vehicle_launched", now_s, detail=vehicle_id)

    def recover(self, vehicle_id: str, now_s: float) -> None:
        """Stow a vehicle that has landed (and disarmed) next to the stopped van."""
        carriage = self._carriage("recover", vehicle_id)
        if vehicle_id in self.carried:
            raise VanSimError(f"{self.vehicle_id}: {vehicle_id} is already on board")
        try:
            latitude_deg, longitude_deg = carriage.parked_position(vehicle_id)
        except CarriageError as exc:
            raise VanSimError(f"{self.vehicle_id}: cannot recover {exc}") from exc
        x_m, y_m = self.world.frame.to_local(latitude_deg, longitude_deg)
        distance_m = math.hypot(x_m - self.x_m, y_m - self.y_m)
        if distance_m > RECOVER_RADIUS_M:
            raise VanSimError(f"{self.vehicle_id}: cannot recover {vehicle_id}: it stands {distance_m:.0f} m away "
                              f"(within {RECOVER_RADIUS_M:.0f} m only)")
        self._stow(carriage, vehicle_id, "recover")
        self._event("vehicle_recovered", now_s, detail=vehicle_id)
        self._swap_pack(carriage, vehicle_id, now_s)

    def _swap_pack(self, carriage: Carriage, vehicle_id: str, now_s: float) -> None:
        """A recovered drone gets one of the van's charged packs (while it rides to the next stop)."""
        if self.spare_packs <= 0:
            return
        try:
            before_pct = carriage.swap_pack(vehicle_id)
        except CarriageError:
            logger.exception("%s: could not swap the pack of %s", self.vehicle_id, vehicle_id)
            return
        if before_pct is None:
            return  # a vehicle that charges in the bay
        self.spare_packs -= 1
        logger.info("%s: %s got a full pack aboard (was %.0f %%; %d spare left)", self.vehicle_id, vehicle_id,
                    before_pct, self.spare_packs)
        self._event("battery_swapped", now_s, detail=vehicle_id)

    def _stow(self, carriage: Carriage, vehicle_id: str, action: str) -> None:
        try:
            carriage.stow(vehicle_id, self.vehicle_id, *self._position())
        except CarriageError as exc:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {exc}") from exc
        self.carried.append(vehicle_id)
        self._carried_at = (self.x_m, self.y_m)

    def _release(self, carriage: Carriage, vehicle_id: str, action: str) -> None:
        if vehicle_id not in self.carried:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {vehicle_id}: it is not on board "
                              f"(carried: {', '.join(self.carried) or 'nothing'})")
        try:
            carriage.release(vehicle_id, *self._position())
        except CarriageError as exc:
            raise VanSimError(f"{self.vehicle_id}: cannot {action} {exc}") from exc
        self.carried.remove(vehicle_id)

    def move_carried(self) -> None:
        """Tell the carried vehicles' simulators where the van is (once it has moved CARRY_SYNC_M)."""
        if not self.carried or self.carriage is None:
            return
        last = self._carried_at
        if last is not None and math.hypot(self.x_m - last[0], self.y_m - last[1]) < CARRY_SYNC_M:
            return
        position = self._position()
        for vehicle_id in self.carried:
            try:
                self.carriage.move(vehicle_id, *position)
            except CarriageError:
                logger.exception("%s: could not move carried %s", self.vehicle_id, vehicle_id)
        self._carried_at = (self.x_m, self.y_m)

    # ----- physics --------------------------------------------------------------------------------
    def advance(self, dt_s: float, now_s: float) -> None:
        """Move the simulation `dt_s` seconds forward."""
        if self.mission is None:
            self.speed_m_s = 0.0
            if math.hypot(self.x_m - self.home_xy[0], self.y_m - self.home_xy[1]) <= HUB_RADIUS_M:
                self.remaining_wh = min(self.battery_wh, self.remaining_wh + self.charge_w * dt_s / 3600.0)
            return
        budget_s = dt_s
        while budget_s > 1e-9 and self.mission is not None:
            if self._leg is not None:
                if self.paused:  # held: no driving on (a hand-over or WAIT still counts down, below)
                    self.speed_m_s = 0.0
                    return
                budget_s = self._drive(budget_s, now_s)
                if self._leg is None:
                    self._arrived(now_s)
            elif self._dwell_left_s > 0:
                used = min(budget_s, self._dwell_left_s)
                self._dwell_left_s -= used
                budget_s -= used
                self.speed_m_s = 0.0
                if self._dwell_left_s <= 1e-9:
                    self._step_done(now_s)
            else:
                self._step_done(now_s)

    def _drive(self, budget_s: float, now_s: float) -> float:
        leg = self._leg
        if leg is None:
            return budget_s
        while budget_s > 1e-9 and self._segment < len(leg.speeds_m_s):
            if self.remaining_wh <= 0.0:  # flat: it goes nowhere until someone brings a charger
                self.speed_m_s = 0.0
                return 0.0
            speed = leg.speeds_m_s[self._segment]
            if self.traffic is not None:
                speed *= self.traffic.factor_at(leg.points[self._segment], leg.points[self._segment + 1], now_s)
            seg_end_m = leg.cumulative_m[self._segment + 1]
            can_go_m = speed * budget_s
            left_m = seg_end_m - self._leg_progress_m
            moved_m = min(can_go_m, left_m)
            self._leg_progress_m += moved_m
            self.odometer_m += moved_m
            self.remaining_wh = max(0.0, self.remaining_wh - moved_m / 1000.0 * self.energy_wh_per_km)
            budget_s -= moved_m / speed if speed > 0 else budget_s
            self.speed_m_s = speed
            (x0, y0), (x1, y1) = leg.points[self._segment], leg.points[self._segment + 1]
            seg_len = max(1e-9, seg_end_m - leg.cumulative_m[self._segment])
            frac = min(1.0, (self._leg_progress_m - leg.cumulative_m[self._segment]) / seg_len)
            self.x_m, self.y_m = x0 + (x1 - x0) * frac, y0 + (y1 - y0) * frac
            if x1 != x0 or y1 != y0:
                self.heading_deg = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
            if moved_m >= left_m - 1e-9:
                self._segment += 1
        if self._segment >= len(leg.speeds_m_s):
            self._leg = None
            self.speed_m_s = 0.0
        return budget_s

    def _route_to(self, x_m: float, y_m: float) -> _Leg:
        graph = self.world.street_graph
        source = self.world.nearest_street_node(self.x_m, self.y_m)
        target = self.world.nearest_street_node(x_m, y_m)
        nodes = nx.shortest_path(
            graph, source, target, weight=lambda u, v, d: d["length_m"] / max(0.5, d["speed_m_s"])
        )
        points = [(self.x_m, self.y_m)] + [(graph.nodes[n]["x_m"], graph.nodes[n]["y_m"]) for n in nodes]
        speeds = [max(0.5, graph[nodes[0]][nodes[1]]["speed_m_s"]) if len(nodes) > 1 else 5.0]
        speeds += [max(0.5, graph[a][b]["speed_m_s"]) for a, b in itertools.pairwise(nodes)]
        cumulative = [0.0]
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            cumulative.append(cumulative[-1] + math.hypot(bx - ax, by - ay))
        return _Leg(points, cumulative, speeds[: len(points) - 1])

    def _begin_step(self, now_s: float) -> None:
        if self.mission is None:
            return
        step = self.mission["steps"][self.step_index]
        kind = step["kind"]
        self._leg, self._leg_progress_m, self._segment, self._dwell_left_s = None, 0.0, 0, 0.0
        if kind in ("goto", "deliver"):
            x_m, y_m = self.world.frame.to_local(float(step["latitude_deg"]), float(step["longitude_deg"]))
            self._leg = self._route_to(x_m, y_m)
            self.mode = "DRIVING"
        elif kind == "return":
            self._leg = self._route_to(*self.home_xy)
            self.mode = "RETURNING"
        elif kind == "wait":
            self._dwell_left_s = float(step.get("duration_s") or 0.0)
            self.mode = "WAITING"
        if self._leg is not None and len(self._leg.points) < 2:
            self._leg = None
        if self.paused:
            self.mode = "PAUSED"

    def _arrived(self, now_s: float) -> None:
        if self.mission is None:
            return
        step = self.mission["steps"][self.step_index]
        self._event("step_reached", now_s)
        if step["kind"] == "deliver":
            self._dwell_left_s = max(float(step.get("duration_s") or 0.0), self.stop_duration_s)
            self.mode = "PAUSED" if self.paused else "HANDING_OVER"
        elif step["kind"] == "return":
            self.x_m, self.y_m = self.home_xy
            self.mode = "IDLE"

    def _step_done(self, now_s: float) -> None:
        if self.mission is None:
            return
        step = self.mission["steps"][self.step_index]
        if step["kind"] == "deliver":
            self._event("parcel_handed_over", now_s, detail=str(step.get("order_id") or ""))
        elif step["kind"] == "wait":
            self._event("step_reached", now_s)
        self.step_index += 1
        if self.step_index >= len(self.mission["steps"]):
            self._finish("succeeded", now_s, "")
            self.mode = "IDLE"
        else:
            self._begin_step(now_s)

    def _event(self, what: str, now_s: float, detail: str = "") -> None:
        if self.mission is None:
            return
        latitude_deg, longitude_deg = self.world.frame.to_wgs84(self.x_m, self.y_m)
        self.outbox.append(
            {
                "type": "event",
                "mission_id": self.mission["mission_id"],
                "stamp_s": now_s,
                "step_index": self.step_index,
                "what": what,
                "detail": detail,
                "latitude_deg": latitude_deg,
                "longitude_deg": longitude_deg,
            }
        )

    def _finish(self, outcome: str, now_s: float, error_msg: str) -> None:
        if self.mission is None:
            return
        self.outbox.append(
            {
                "type": "result",
                "mission_id": self.mission["mission_id"],
                "stamp_s": now_s,
                "outcome": outcome,
                "steps_completed": self.step_index,
                "error_msg": error_msg,
            }
        )
        self.mission = None
        self._leg = None
        self._dwell_left_s = 0.0

    def state(self, now_s: float) -> dict[str, Any]:
        """The telemetry message for this van."""
        latitude_deg, longitude_deg = self.world.frame.to_wgs84(self.x_m, self.y_m)
        return {
            "type": "state",
            "vehicle_id": self.vehicle_id,
            "stamp_s": now_s,
            "latitude_deg": latitude_deg,
            "longitude_deg": longitude_deg,
            "heading_deg": self.heading_deg,
            "ground_speed_m_s": self.speed_m_s,
            "battery_remaining_wh": self.remaining_wh,
            "battery_remaining_pct": 100.0 * self.remaining_wh / self.battery_wh,
            "mode": self.mode,
            "mission_id": None if self.mission is None else self.mission["mission_id"],
            "mission_step": None if self.mission is None else self.step_index,
            "odometer_m": self.odometer_m,
            "carried": list(self.carried),
        }


class VanFleetServer:
    """Serves a fleet of `VanSim`s on one TCP port; time from a shared `Clock`."""

    def __init__(self, vans: list[VanSim], clock: Clock) -> None:
        self._vans = {van.vehicle_id: van for van in vans}
        self._clock = clock
        self._writers: dict[str, list[asyncio.StreamWriter]] = {v: [] for v in self._vans}
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._clock_changed = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port."""
        self._server = await asyncio.start_server(self._serve_client, host, port)
        self._ticker = asyncio.create_task(self._tick())
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for writers in self._writers.values():
            for writer in writers:
                writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def sync_clock(self, start_s: float, speedup: float, origin_monotonic: float) -> None:
        """Re-align with another process's clock (the day starts once every vehicle is connected)."""
        self._clock = shared_clock(start_s, speedup, origin_monotonic)
        self._clock_changed = True

    async def _tick(self) -> None:
        last_s = self._clock.now()
        last_telemetry_wall = 0.0
        while True:
            await asyncio.sleep(TICK_PERIOD_S)
            if self._clock_changed:
                self._clock_changed = False
                last_s = self._clock.now()
            now_s = self._clock.now()
            for van in self._vans.values():
                van.advance(now_s - last_s, now_s)
                van.move_carried()
            last_s = now_s
            send_state = time.monotonic() - last_telemetry_wall >= TELEMETRY_PERIOD_S
            if send_state:
                last_telemetry_wall = time.monotonic()
            for van in self._vans.values():
                messages, van.outbox = van.outbox, []
                if send_state or messages:  # the state goes first, so a result never outruns its position
                    messages.insert(0, van.state(now_s))
                for message in messages:
                    self._broadcast(van.vehicle_id, message)

    def _broadcast(self, vehicle_id: str, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        for writer in list(self._writers[vehicle_id]):
            if writer.is_closing():
                self._writers[vehicle_id].remove(writer)
                continue
            writer.write(data)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        vehicle_id: str | None = None
        try:
            while line := await reader.readline():
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    writer.write(b'{"type": "ack", "request_id": null, "ok": false, "error": "not JSON"}\n')
                    continue
                if message.get("type") == "traffic":
                    self._send(writer, self._set_traffic(message))
                    continue
                if message.get("type") == "clock":
                    try:
                        self.sync_clock(float(message["start_s"]), float(message["speedup"]),
                                        float(message["origin_monotonic"]))
                        self._send(writer, {"type": "ack", "request_id": message.get("request_id"), "ok": True})
                    except (KeyError, TypeError, ValueError) as exc:
                        self._send(writer, {"type": "ack", "request_id": message.get("request_id"), "ok": False,
                                            "error": f"clock needs start_s, speedup, origin_monotonic: {exc}"})
                    continue
                if message.get("type") == "hello":
                    vehicle_id = str(message.get("vehicle_id"))
                    van = self._vans.get(vehicle_id)
                    if van is None:
                        known = ", ".join(sorted(self._vans))
                        self._send(writer, {"type": "error", "error": f"unknown van {vehicle_id!r} (known: {known})"})
                        break
                    self._writers[vehicle_id].append(writer)
                    home = self._vans[vehicle_id].world.frame.to_wgs84(*van.home_xy)
                    self._send(writer, {"type": "welcome", "vehicle_id": vehicle_id, "home": list(home)})
                    self._send(writer, van.state(self._clock.now()))
                    continue
                self._send(writer, self._handle(vehicle_id, message))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if vehicle_id in self._writers and writer in self._writers[vehicle_id]:
                self._writers[vehicle_id].remove(writer)
            writer.close()

    def _set_traffic(self, message: dict[str, Any]) -> dict[str, Any]:
        """The world's traffic events (sim control): every van meets them from now on."""
        request_id = message.get("request_id")
        try:
            events = [event_from_wire(e) for e in message.get("events") or ()]
        except (TrafficEventError, AttributeError) as exc:
            return {"type": "ack", "request_id": request_id, "ok": False, "error": str(exc)}
        for traffic in {id(v.traffic): v.traffic for v in self._vans.values() if v.traffic is not None}.values():
            traffic.replace(events)
        logger.info("world traffic: %s", ", ".join(f"{e.report_id} x{e.speed_factor:g}" for e in events) or "none")
        return {"type": "ack", "request_id": request_id, "ok": True}

    def _handle(self, vehicle_id: str | None, message: dict[str, Any]) -> dict[str, Any]:
        request_id = message.get("request_id")
        van = self._vans.get(vehicle_id or "")
        if van is None:
            return {"type": "ack", "request_id": request_id, "ok": False, "error": "say hello with a vehicle_id first"}
        now_s = self._clock.now()
        try:
            if message.get("type") == "mission":
                van.start_mission(dict(message.get("mission") or {}), now_s)
            elif message.get("type") == "command":
                name = message.get("name")
                if name == "pause":
                    van.pause()
                elif name == "resume":
                    van.resume()
                elif name == "return":
                    van.return_home(now_s)
                elif name == "land":
                    van.stop(now_s)
                elif name in ("load", "unload", "launch", "recover"):
                    self._carry(van, str(name), message.get("vehicle_id"), now_s)
                else:
                    raise VanSimError(f"{van.vehicle_id}: unknown command {name!r}")
            else:
                raise VanSimError(f"{van.vehicle_id}: unknown message type {message.get('type')!r}")
        except VanSimError as exc:
            return {"type": "ack", "request_id": request_id, "ok": False, "error": str(exc)}
        return {"type": "ack", "request_id": request_id, "ok": True}

    def _carry(self, van: VanSim, name: str, vehicle_id: Any, now_s: float) -> None:
        if not isinstance(vehicle_id, str) or not vehicle_id:
            raise VanSimError(f"{van.vehicle_id}: {name} needs a vehicle_id, got {vehicle_id!r}")
        if name in ("load", "recover"):
            holder = next((v.vehicle_id for v in self._vans.values() if vehicle_id in v.carried), None)
            if holder is not None and holder != van.vehicle_id:
                raise VanSimError(f"{van.vehicle_id}: {vehicle_id} is on board {holder}")
        if name == "load":
            van.load(vehicle_id)
        elif name == "unload":
            van.unload(vehicle_id)
        elif name == "launch":
            van.launch(vehicle_id, now_s)
        else:
            van.recover(vehicle_id, now_s)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write((json.dumps(message) + "\n").encode())


def build_vans(
    world: World, count: int, *, energy_wh_per_km: float = 250.0, stop_duration_s: float = 120.0, prefix: str = "van",
    carriage: Carriage | None = None, traffic: StreetTraffic | None = None, battery_wh: float = 60_000.0,
    charge_w: float = DEPOT_CHARGE_W,
) -> list[VanSim]:
    """`count` vans parked at the hub's nearest street node, a few metres apart (carrying through `carriage`),
    all meeting the world's `traffic` (a fresh, empty one when None: set through the `traffic` message)."""
    traffic = traffic if traffic is not None else StreetTraffic(world.frame)
    node = world.street_graph.nodes[world.nearest_street_node(world.hub.x_m, world.hub.y_m)]
    return [
        VanSim(
            vehicle_id=f"{prefix}-{i + 1}",
            world=world,
            home_xy=(float(node["x_m"]) + 3.0 * i, float(node["y_m"])),
            battery_wh=battery_wh,
            energy_wh_per_km=energy_wh_per_km,
            charge_w=charge_w,
            stop_duration_s=stop_duration_s,
            carriage=carriage,
            traffic=traffic,
        )
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m sim_worlds.vans --world helsinki --count 2 --port 0 --speedup 60 --start-s S`."""
    parser = argparse.ArgumentParser(prog="python -m sim_worlds.vans", description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="helsinki")
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed on stdout)")
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--start-s", type=float, default=None, help="simulated epoch seconds at --origin-monotonic")
    parser.add_argument("--origin-monotonic", type=float, default=None, help="time.monotonic() at which --start-s held")
    parser.add_argument("--energy-wh-per-km", type=float, default=250.0)
    parser.add_argument("--battery-wh", type=float, default=60_000.0)
    parser.add_argument("--charge-kw", type=float, default=DEPOT_CHARGE_W / 1000.0, help="the hub's charger")
    parser.add_argument("--stop-duration-s", type=float, default=120.0)
    parser.add_argument("--mavsim-control", default=None, metavar="tcp:HOST:PORT",
                        help="mavsim's sim-control channel: vans can then carry its drones (drone-1..N)")
    parser.add_argument("--robots-control", default=None, metavar="tcp:HOST:PORT",
                        help="the sim robots' sim-control channel: vans can then carry them (robot_1..N)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clock = shared_clock(args.start_s, args.speedup, args.origin_monotonic)
    world = load_world(args.world)
    carriage = _carriage(args.mavsim_control, args.robots_control)
    vans = build_vans(world, args.count, energy_wh_per_km=args.energy_wh_per_km, stop_duration_s=args.stop_duration_s,
                      carriage=carriage, battery_wh=args.battery_wh, charge_w=args.charge_kw * 1000.0)
    return asyncio.run(_serve_forever(vans, clock, args.host, args.port))


def _carriage(mavsim_control: str | None, robots_control: str | None) -> Carriage | None:
    """Carriages over the simulators' sim-control channels (waits up to a minute for each to answer)."""
    from .mavsim.sim_control import MavsimControl
    from .van_carriage import Carriages, ChannelCarriage

    carriages = []
    for url, prefix in ((mavsim_control, "drone-"), (robots_control, "robot_")):
        if url:
            control = MavsimControl(url)
            control.wait_ready(60.0)
            carriage = ChannelCarriage.numbered(control, prefix, swaps_packs=prefix == "drone-")
            logger.info("vans can carry %s (sim-control %s)", ", ".join(carriage.index_by_id), url)
            carriages.append(carriage)
    return Carriages(carriages) if carriages else None


def shared_clock(start_s: float | None, speedup: float, origin_monotonic: float | None) -> Clock:
    """A Clock aligned with another process's: both read `start_s` at the same `time.monotonic()` origin."""
    if start_s is None:
        return Clock(speedup=speedup)
    elapsed_wall_s = 0.0 if origin_monotonic is None else max(0.0, time.monotonic() - origin_monotonic)
    return Clock(start_s=start_s + elapsed_wall_s * speedup, speedup=speedup)


async def _serve_forever(vans: list[VanSim], clock: Clock, host: str, port: int) -> int:
    server = VanFleetServer(vans, clock)
    bound = await server.start(host, port)
    print(json.dumps({"van_port": bound, "vans": [v.vehicle_id for v in vans]}), flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
