"""Safe paths for drones already flying (re-routes, recalls, the way out of a zone), never behind a fleet plan.

The dispatcher's plan runs for seconds in a worker thread and holds its own path planner the whole
time; a re-route that waited for it lost 3-8 s of wall time, 300-800 s of flight at a simulation's
×100 (the safety days' geofence violations and the reserve breach of seed 19097). So re-routes get a
`DronePathPlanner` of their own, used from one thread of their own:

- its own geometry: the zones' polygons are copied (new GEOS objects) before its `DronePathPlanner` buffers,
  unions and prepares them into scenes of its own, so no GEOS geometry, prepared or not, is shared with the
  plan's thread (prepared geometry is not thread-safe, libgeos/geos#825: sharing it crashed a day);
- its own thread (a one-worker executor): off the event loop, and not queued behind the default
  executor's jobs; every use of the planner is in that thread, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import shapely

from mission_planner.airspace import Airspace
from mission_planner.drone_paths import DronePath, DronePathPlanner
from mission_planner.terrain import ElevationGrid

from .planning_config import PlanningConfig


class ReroutePaths:
    """The path planner of one hub's re-routes and recalls (see the module's docstring)."""

    def __init__(self, config: PlanningConfig, terrain: ElevationGrid | None = None) -> None:
        self.config = config
        self.terrain = terrain
        self._planner: DronePathPlanner | None = None
        self._key: tuple[object, ...] = ()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()  # two first uses at once make one executor
        self.thread_ids: set[int] = set()  # threads that used the planner (always one)

    async def path(self, airspace: Airspace, cruise_altitude_m: float, start_xy: tuple[float, float],
                   goal_xy: tuple[float, float], now_s: float) -> DronePath:
        """A safe path for a drone already flying, zones active from `now_s` over the path horizon avoided
        (PathError when there is none); planned in this planner's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread(), self.path_now, airspace, cruise_altitude_m, start_xy,
                                          goal_xy, now_s)

    def path_now(self, airspace: Airspace, cruise_altitude_m: float, start_xy: tuple[float, float],
                 goal_xy: tuple[float, float], now_s: float) -> DronePath:
        """`path` in the calling thread: only ever called from this planner's own thread (or with no other)."""
        self.thread_ids.add(threading.get_ident())
        return self._paths(airspace, cruise_altitude_m).path(start_xy, goal_xy, start_s=now_s,
                                                             end_s=now_s + self.config.path_horizon_s)

    def close(self) -> None:
        """Stop the thread (a path being planned is finished first, queued ones dropped)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _thread(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reroute-paths")
            return self._executor

    def _paths(self, airspace: Airspace, cruise_altitude_m: float) -> DronePathPlanner:
        """The planner for the current zones (rebuilt when a zone or the altitude changes: zones compare by value,
        so a zone redrawn under the same id counts as a change)."""
        key = (airspace.zones, cruise_altitude_m)
        if self._planner is None or key != self._key:
            self._planner = DronePathPlanner(
                _own_copy(airspace), safety_margin_m=self.config.drone_safety_margin_m,
                cruise_altitude_m=cruise_altitude_m, vertical_margin_m=self.config.vertical_margin_m,
                terrain=self.terrain,
            )
            self._key = key
        return self._planner


def _own_copy(airspace: Airspace) -> Airspace:
    """`airspace` with every zone's polygon a new GEOS geometry (see the module's docstring)."""
    return Airspace(airspace.frame, tuple(replace(z, polygon=shapely.from_wkb(shapely.to_wkb(z.polygon)))
                                          for z in airspace.zones))
