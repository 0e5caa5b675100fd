"""N sim robots (10 Hz odometry + goal feedback) into the ROS 2 adapter: does the fleet manager keep up?

For each fleet size N the robots run in ceil(N / 20) `finalmile robots` processes on a fresh
ROS_DOMAIN_ID; one Ros2Bridge and N Ros2Adapters connect, every robot gets a goal ~1-2 km away
(the adapter then also receives 10 Hz feedback per robot), and for a measurement window we count
the VehicleState snapshots the adapters deliver against 10 Hz × N. Reported per N: received rate
ratio, CPU % of the fleet-manager side (this process: bridge thread + asyncio loop) and of the robot
processes, goal round trip (send goal → accepted, median / p95) and cancel round trip (cancel →
CANCELED result). N "keeps up" when at least 95 % of the expected snapshots arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import networkx as nx
import psutil

NAME = "ros2"
ODOM_RATE_HZ = 10.0
ROBOTS_PER_PROCESS = 20
KEEPS_UP_RATIO = 0.95

logger = logging.getLogger(__name__)


def _targets(count: int) -> list[tuple[float, float]]:
    """(lat, lon) of walk nodes 1-2 km from the hub, cycled to `count`."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    hub = world.nearest_walk_node(world.hub.x_m, world.hub.y_m)
    lengths = nx.single_source_dijkstra_path_length(world.walk_graph, hub, weight="length_m")
    nodes = sorted(n for n, length_m in lengths.items() if 1000.0 <= length_m <= 2000.0)
    rng = random.Random(0)
    chosen = rng.sample(nodes, min(count, len(nodes)))
    graph = world.walk_graph
    return [
        (graph.nodes[n]["latitude_deg"], graph.nodes[n]["longitude_deg"])
        for n in chosen * math.ceil(count / len(chosen))
    ][:count]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _measure(count: int, window_s: float, domain_id: int) -> dict[str, Any]:
    from fleet_manager.adapters.base import Mission, MissionStep, StepKind
    from fleet_manager.adapters.ros2_adapter import Ros2Adapter
    from fleet_manager.adapters.ros2_bridge import Ros2Bridge
    from fleet_manager.world import load_world
    from sim_worlds.robots.process import RobotsProcess

    frame = load_world("helsinki").frame
    processes = [
        RobotsProcess(min(ROBOTS_PER_PROCESS, count - first), domain_id=domain_id, speedup=10.0, first_index=first + 1)
        for first in range(0, count, ROBOTS_PER_PROCESS)
    ]
    bridge = Ros2Bridge(domain_id=domain_id, node_name="finalmile_bench_ros2")
    adapters = [Ros2Adapter(f"robot_{i + 1}", bridge, frame, link_timeout_s=5.0) for i in range(count)]
    received = [0] * count
    counting = False

    async def count_states(index: int) -> None:
        async for _ in adapters[index].telemetry():
            if counting:
                received[index] += 1

    for process in processes:
        process.__enter__()
    try:
        bridge.start()
        await asyncio.gather(*(a.connect(timeout_s=90.0) for a in adapters))
        counters = [asyncio.create_task(count_states(i)) for i in range(count)]
        accept_s: list[float] = []
        for adapter, (lat, lon) in zip(adapters, _targets(count), strict=True):
            started = time.perf_counter()
            await adapter.start_mission(
                Mission("bench", (MissionStep(StepKind.GOTO, latitude_deg=lat, longitude_deg=lon),))
            )
            accept_s.append(time.perf_counter() - started)
        await asyncio.sleep(1.0)  # feedback flowing for every robot
        me = psutil.Process()
        robots = [psutil.Process(p.pid) for p in processes]
        me.cpu_percent(None)
        for robot in robots:
            robot.cpu_percent(None)
        counting = True
        await asyncio.sleep(window_s)
        counting = False
        manager_cpu = me.cpu_percent(None)
        robots_cpu = sum(robot.cpu_percent(None) for robot in robots)
        cancel_s: list[float] = []
        for adapter in adapters:
            started = time.perf_counter()
            await adapter.land()
            await adapter.wait_mission(timeout_s=30.0)
            cancel_s.append(time.perf_counter() - started)
        for adapter in adapters:
            await adapter.close()
        await asyncio.gather(*counters, return_exceptions=True)
    finally:
        bridge.close()
        for process in processes:
            process.__exit__(None, None, None)
    expected = ODOM_RATE_HZ * window_s * count
    ratio = sum(received) / expected
    return {
        "robots": count,
        "processes": len(processes),
        "window_s": window_s,
        "states_received": sum(received),
        "states_expected": int(expected),
        "received_ratio": round(ratio, 3),
        "worst_robot_hz": round(min(received) / window_s, 2),
        "keeps_up": ratio >= KEEPS_UP_RATIO,
        "manager_cpu_pct": round(manager_cpu, 1),
        "robots_cpu_pct": round(robots_cpu, 1),
        "goal_accept_ms_median": round(statistics.median(accept_s) * 1000, 1),
        "goal_accept_ms_p95": round(_percentile(accept_s, 0.95) * 1000, 1),
        "cancel_ms_median": round(statistics.median(cancel_s) * 1000, 1),
        "cancel_ms_p95": round(_percentile(cancel_s, 0.95) * 1000, 1),
    }


def _measure_in_fresh_process(count: int, window_s: float, domain_id: int) -> dict[str, Any]:
    """One fleet size, run in a child process: a fresh rclpy/DDS state for every N."""
    from fleet_manager.errors import AdapterError

    logging.basicConfig(level=logging.WARNING)
    try:
        return asyncio.run(_measure(count, window_s, domain_id))
    except AdapterError as exc:
        return {"robots": count, "keeps_up": False, "error": str(exc)}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows per fleet size; stops growing N once the adapter no longer keeps up."""
    sizes = (5, 10, 20) if getattr(args, "quick", False) else (5, 10, 20, 40, 60)
    window_s = 5.0 if getattr(args, "quick", False) else 10.0
    rows: list[dict[str, Any]] = []
    for count in sizes:
        domain_id = random.SystemRandom().randint(100, 200)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            row = pool.submit(_measure_in_fresh_process, count, window_s, domain_id).result(timeout=600)
        logger.info("ros2 bench: %s", row)
        rows.append(row)
        if not row["keeps_up"]:
            break
    largest = max((r["robots"] for r in rows if r["keeps_up"]), default=0)
    for row in rows:
        row["largest_n_kept_up"] = largest
    return rows
