"""Real ArduCopter SITL flies a planned Andorra path in the terrain altitude frame, fed from the world's model.

What it shows (the recommendation for missions over terrain): waypoints uploaded in
MAV_FRAME_GLOBAL_TERRAIN_ALT_INT are accepted (read back as MAV_FRAME_GLOBAL_TERRAIN_ALT); the
autopilot refuses to arm until the ground station answers its TERRAIN_REQUESTs ("waiting for
terrain data"); once the fleet manager serves TERRAIN_DATA from the world's elevation model
(`ardupilot_terrain_block`), it arms, follows the ground up the slope east of Escaldes and back,
and its reported positions (GLOBAL_POSITION_INT, altitude above sea level) stay 30-120 m above the
model along the way (`terrain_clearance_violations` finds nothing). SITL's simulated ground is its
own terrain database, i.e. the data served. Fences are off here: ArduCopter measures FENCE_ALT_MAX
from home, which a climb up a valley exceeds ("Max Alt fence breached"), and a polygon-only fence
(FENCE_TYPE 4) refuses to arm until a polygon is uploaded ("Arm: Fences enabled, but none selected").

This talks MAVLink with pymavlink directly: the fleet manager's adapter does not encode terrain
frames or serve terrain data yet (see the report of the Andorra work).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from pymavlink import mavutil

from fleet_manager.world import load_world
from fleet_manager.world.terrain import ardupilot_terrain_block
from mission_planner.clearance import PositionReport, terrain_clearance_violations
from mission_planner.drone_paths import DronePathPlanner, Waypoint

pytestmark = [pytest.mark.sitl, pytest.mark.slow, pytest.mark.timeout(600)]

mav = mavutil.mavlink
# SITL runs 5x faster than the wall while the ground station uploads and arms (ArduPilot drops an upload
# whose next item takes 8 s of vehicle time: 1.6 s of wall at 5x, enough on a loaded machine), then 20x
# for the ~500 s of the AUTO flight (SIM_SPEEDUP, ~0.15 core): ~25 s of wall instead of ~100 s. The flight
# wait does not shrink with the speed-up: a SITL that falls behind on a busy machine is slower, not wrong.
SPEEDUP = 5.0
FLIGHT_SPEEDUP = 20.0
FLIGHT_TIMEOUT_WALL_S = 360.0
TERRAIN_FRAME = mav.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT
TERRAIN_PARAMS = {"FENCE_ENABLE": 0, "TERRAIN_ENABLE": 1, "RTL_ALT": 6000}


class TerrainGcs:
    """A minimal ground station: answers TERRAIN_REQUEST from the world's model and records what it hears."""

    def __init__(self, url: str, world: Any) -> None:
        self.world = world
        self.conn = mavutil.mavlink_connection(url, source_system=250, source_component=191)
        if self.conn.wait_heartbeat(timeout=30) is None:
            raise AssertionError(f"no heartbeat on {url}")
        self.target = (self.conn.target_system, self.conn.target_component)
        self.texts: list[str] = []
        self.positions: list[Any] = []
        self.served = 0
        self.serve_terrain = False

    def pump(self, seconds: float, wanted: str | None = None) -> Any:
        """Handle messages for up to `seconds`; return early with the first message of type `wanted`."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            msg = self.conn.recv_match(blocking=True, timeout=min(remaining, 0.2))
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "TERRAIN_REQUEST" and self.serve_terrain:
                for bit in range(56):
                    if msg.mask & (1 << bit):
                        data = ardupilot_terrain_block(
                            self.world.terrain, self.world.frame, msg.lat * 1e-7, msg.lon * 1e-7, msg.grid_spacing, bit
                        )
                        self.conn.mav.terrain_data_send(msg.lat, msg.lon, msg.grid_spacing, bit, data)
                        self.served += 1
            elif kind == "STATUSTEXT":
                self.texts.append(msg.text)
            elif kind == "GLOBAL_POSITION_INT":
                self.positions.append(msg)
            if wanted is not None and kind.removesuffix("_INT") == wanted:  # MISSION_REQUEST(_INT) alike
                return msg
        return None

    def set_param(self, name: str, value: float, param_type: int) -> float:
        """PARAM_SET; the value the autopilot reports back (fails the test without an answer in 10 s)."""
        self.conn.mav.param_set_send(*self.target, name.encode(), value, param_type)
        deadline = time.monotonic() + 10.0
        while (answer := self.pump(1.0, "PARAM_VALUE")) is None or answer.param_id != name:
            assert time.monotonic() < deadline, f"{name} was not acknowledged"
        return float(answer.param_value)

    def command(self, command: int, *params: float) -> int | None:
        """COMMAND_LONG; the COMMAND_ACK result (None without an answer in 6 s)."""
        padded = [float(p) for p in params] + [0.0] * (7 - len(params))
        for _ in range(2):
            self.conn.mav.command_long_send(*self.target, command, 0, *padded)
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                ack = self.pump(end - time.monotonic(), "COMMAND_ACK")
                if ack is not None and ack.command == command:
                    return int(ack.result)
        return None

    def upload(self, items: list[tuple[int, int, float, float, float, float]]) -> int:
        """MISSION_COUNT, answer each request with MISSION_ITEM_INT; the MISSION_ACK type."""
        self.conn.mav.mission_count_send(*self.target, len(items), 0)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            msg = self.pump(deadline - time.monotonic(), "MISSION_REQUEST")
            if msg is None:
                break
            frame, command, lat, lon, z, hold_s = items[msg.seq]
            self.conn.mav.mission_item_int_send(
                *self.target, msg.seq, frame, command, 0, 1, hold_s, 0, 0, 0,
                round(lat * 1e7), round(lon * 1e7), z, 0,
            )  # fmt: skip
            if msg.seq == len(items) - 1:
                ack = self.pump(5.0, "MISSION_ACK")
                return -1 if ack is None else int(ack.type)
        return -1

    def frames(self, count: int) -> list[int]:
        """The frames of the mission read back."""
        frames = []
        for seq in range(count):
            self.conn.mav.mission_request_int_send(*self.target, seq, 0)
            item = self.conn.recv_match(type="MISSION_ITEM_INT", blocking=True, timeout=5)
            frames.append(-1 if item is None else int(item.frame))
        self.conn.mav.mission_ack_send(*self.target, 0, 0)
        return frames


def _mission(world: Any, out: Any, back: Any) -> list[tuple[int, int, float, float, float, float]]:
    """Item 0 (home), take-off to 60 m, the planned cruise vertices in the terrain frame (their height above the
    ground), a 10 m-above-ground drop at the far end, the way back, land at the hub."""
    hub = world.hub
    ground_m = out.waypoints[0].ground_elevation_m
    items = [(mav.MAV_FRAME_GLOBAL, mav.MAV_CMD_NAV_WAYPOINT, hub.latitude_deg, hub.longitude_deg, ground_m, 0.0),
             (mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_CMD_NAV_TAKEOFF, 0.0, 0.0, 60.0, 0.0)]

    def waypoint(w: Waypoint, hold_s: float = 0.0) -> None:
        lat, lon = world.frame.to_wgs84(w.x_m, w.y_m)
        items.append((TERRAIN_FRAME, mav.MAV_CMD_NAV_WAYPOINT, lat, lon, w.altitude_m, hold_s))

    for path in (out, back):
        cruise = path.waypoints[1:-1]
        for w in cruise[1:]:
            waypoint(w)
        if path is out:
            waypoint(Waypoint(cruise[-1].x_m, cruise[-1].y_m, 10.0, cruise[-1].ground_elevation_m), hold_s=2.0)
            waypoint(cruise[-1])
    items.append((mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_CMD_NAV_LAND, hub.latitude_deg, hub.longitude_deg, 0, 0))
    return items


def test_sitl_flies_a_terrain_frame_mission_within_30_to_120_m_of_the_ground(make_sitl_fleet) -> None:
    world = load_world("andorra")
    hub = world.hub
    planner = DronePathPlanner(world.airspace, terrain=world.terrain)
    far = world.frame.to_local(42.5105, 1.5520)  # up the slope east of Escaldes, ~1.5 km from the hub
    out = planner.path((hub.x_m, hub.y_m), far)
    back = planner.path(far, (hub.x_m, hub.y_m))
    assert out.climb_m > 200
    ground_m = out.waypoints[0].ground_elevation_m
    fleet = make_sitl_fleet(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, round(ground_m, 2), 0.0),
                            params=TERRAIN_PARAMS)
    try:
        gcs = TerrainGcs(fleet.urls[0], world)
        # Positions and EXTRA3 (which carries TERRAIN_REQUEST), 4 Hz of vehicle time: all streams at 20x are
        # thousands of messages a wall second for pymavlink to parse that the test never reads (HEARTBEAT and
        # STATUSTEXT come unasked).
        for stream in (mav.MAV_DATA_STREAM_POSITION, mav.MAV_DATA_STREAM_EXTRA3):
            gcs.conn.mav.request_data_stream_send(*gcs.target, stream, 4, 1)
        # RTL over terrain: keep RTL_ALT above the ground, not above home (set after boot: with it, even
        # arming waits for terrain data, which the launcher's readiness check does not serve)
        assert gcs.set_param("RTL_ALT_TYPE", 1.0, mav.MAV_PARAM_TYPE_INT8) == 1.0
        items = _mission(world, out, back)
        assert gcs.upload(items) == mav.MAV_MISSION_ACCEPTED
        frames = gcs.frames(len(items))
        assert frames[2:-1] == [mav.MAV_FRAME_GLOBAL_TERRAIN_ALT] * (len(items) - 3)

        assert gcs.command(mav.MAV_CMD_DO_SET_MODE, mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4) == 0
        assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_FAILED
        gcs.pump(2.0)
        assert any("waiting for terrain data" in text for text in gcs.texts), gcs.texts

        gcs.serve_terrain = True
        deadline = time.monotonic() + 90.0
        while gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) != 0:
            assert time.monotonic() < deadline, f"not armable after serving terrain: {gcs.texts[-5:]}"
            gcs.pump(2.0)
        assert gcs.served > 0
        assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 60.0) == 0
        deadline = time.monotonic() + 120.0
        while not (gcs.positions and gcs.positions[-1].relative_alt > 55_000):
            assert time.monotonic() < deadline, "did not climb to 55 m"
            gcs.pump(1.0)
        assert gcs.set_param("SIM_SPEEDUP", FLIGHT_SPEEDUP, mav.MAV_PARAM_TYPE_REAL32) == FLIGHT_SPEEDUP
        gcs.conn.mav.mission_set_current_send(*gcs.target, 2)
        assert gcs.command(mav.MAV_CMD_DO_SET_MODE, mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 3) == 0
        deadline = time.monotonic() + FLIGHT_TIMEOUT_WALL_S
        while True:
            gcs.pump(2.0)
            heartbeat = gcs.conn.messages.get("HEARTBEAT")
            if heartbeat is not None and not heartbeat.base_mode & mav.MAV_MODE_FLAG_SAFETY_ARMED:
                break
            assert time.monotonic() < deadline, f"mission did not end: {gcs.texts[-5:]}"
    finally:
        fleet.stop()

    reports = [
        PositionReport(m.time_boot_ms / 1000.0, "sitl-1", m.lat * 1e-7, m.lon * 1e-7, m.alt / 1000.0,
                       airborne=m.relative_alt > 1000, ground_speed_m_s=math.hypot(m.vx, m.vy) / 100.0)
        for m in gcs.positions if m.lat != 0
    ]  # fmt: skip
    assert terrain_clearance_violations(reports, world.terrain, world.frame) == []
    farthest = max(math.dist(world.frame.to_local(r.latitude_deg, r.longitude_deg), (hub.x_m, hub.y_m))
                   for r in reports)
    assert farthest > 1300.0  # it went up the slope
    assert max(r.altitude_amsl_m for r in reports) > ground_m + 250.0  # and climbed with the ground
    last = world.frame.to_local(reports[-1].latitude_deg, reports[-1].longitude_deg)
    assert math.dist(last, (hub.x_m, hub.y_m)) < 10.0  # landed back at the hub
