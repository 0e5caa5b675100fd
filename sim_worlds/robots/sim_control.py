"""Simulation control for the sim robots: the same JSON-lines channel as `sim_worlds.mavsim.sim_control`.

A van carries a parked robot and sets it down at a stop; in reality that is physical, so the sim
robots take it on a side channel (127.0.0.1 only), not over ROS 2. Same requests and replies as the
MAVLink simulator's (`ping`, `status`, `place`, `attach`, `detach`, `recharge`; `vehicle` is the
robot's index in the process, 0 for `/robot_1`), so `MavsimControl` is the client. A robot's status
says `armed` while it drives a goal and is always `landed`; while attached (stowed on a van) it
refuses NavigateToPose goals. The server runs its own asyncio loop in a daemon thread next to the
ROS executor: placing only touches an idle robot's pose, which the tick does not write while idle.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame
from sim_worlds.mavsim.sim_control import SimControlError, number_field, serve_json_lines, vehicle_index
from sim_worlds.robots.robot import RobotSim
from sim_worlds.robots.route import Pose2D

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


def status(index: int, robot: RobotSim, frame: LocalFrame) -> dict[str, Any]:
    """What the channel reports about one robot (field names as for drones)."""
    latitude_deg, longitude_deg = frame.to_wgs84(robot.pose.x_m, robot.pose.y_m)
    return {
        "vehicle": index, "name": robot.name, "armed": robot.active, "landed": True,
        "latitude_deg": latitude_deg, "longitude_deg": longitude_deg, "relative_alt_m": 0.0,
        "battery_remaining_pct": robot.battery.fraction * 100.0, "carrier": robot.carrier,
        "odometry_sent": robot.odometry_sent, "goals_accepted": robot.goals_accepted,
    }


def handle_request(robots: Sequence[RobotSim], frame: LocalFrame, request: dict[str, Any]) -> dict[str, Any]:
    """One request -> one reply (errors are replies with ok false)."""
    request_id = request.get("id")
    try:
        op = request.get("op")
        if op == "ping":
            return {"id": request_id, "ok": True, "vehicles": len(robots)}
        index = vehicle_index(request, len(robots))
        robot = robots[index]
        if op in ("place", "attach") and robot.active:
            raise SimControlError(f"{op}: {robot.name} is driving a goal; only a stopped robot can be moved or stowed")
        if op == "place":
            latitude_deg, longitude_deg = number_field(request, "latitude_deg"), number_field(request, "longitude_deg")
            x_m, y_m = frame.to_local(latitude_deg, longitude_deg)
            robot.pose = Pose2D(x_m, y_m, robot.pose.yaw_rad)
        elif op == "attach":
            carrier = str(request.get("carrier") or "")
            if not carrier:
                raise SimControlError("attach: carrier must be a non-empty name")
            robot.carrier = carrier
        elif op == "detach":
            robot.carrier = None
        elif op == "recharge":
            remaining_pct = number_field(request, "remaining_pct")
            if not 0 <= remaining_pct <= 100:
                raise SimControlError(f"recharge: remaining_pct must be within 0..100, got {remaining_pct}")
            robot.battery.charge_wh = robot.battery.capacity_wh * remaining_pct / 100.0
        elif op != "status":
            raise SimControlError(f"unknown op {op!r} (ping, status, place, attach, detach, recharge)")
        return {"id": request_id, "ok": True, "status": status(index, robot, frame)}
    except SimControlError as exc:
        return {"id": request_id, "ok": False, "error": str(exc)}


class RobotControlServer:
    """The channel in a daemon thread: `start()` returns the bound port, `stop()` ends it."""

    def __init__(self, robots: Sequence[RobotSim], frame: LocalFrame, host: str = "127.0.0.1", port: int = 0) -> None:
        self.robots = list(robots)
        self.frame = frame
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> int:
        """Listen; returns the port (FinalMileError when it cannot)."""
        self._thread = threading.Thread(target=self._run, name="robots-sim-control", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise FinalMileError(f"robots sim-control did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            raise FinalMileError(f"robots sim-control: cannot listen on {self.host}:{self.port}: {self._error}")
        return self.port

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            server = loop.run_until_complete(serve_json_lines(
                lambda request: handle_request(self.robots, self.frame, request), self.host, self.port))
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            clients = asyncio.all_tasks(loop)  # connections still open: end them before the loop closes
            for task in clients:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*clients, return_exceptions=True))
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def stop(self) -> None:
        """Stop the loop and join the thread (at most START_TIMEOUT_S)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)
