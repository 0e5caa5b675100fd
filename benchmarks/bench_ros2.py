"""N sim robots (10 Hz odometry + goal feedback) into one fleet-manager process: does it keep up?

For each row the robots run in ceil(N / ROBOTS_PER_PROCESS) `finalmile robots` processes on a
fresh ROS_DOMAIN_ID; one Ros2Bridge and N Ros2Adapters connect, every robot gets a goal 1-2 km
away (the adapter then also receives 10 Hz feedback per robot), and we count the odometry messages
stamped by the robots inside a measurement window that the fleet manager's loop handled (tapped
beside the adapters, `Ros2Adapter.tap`; a message that arrives up to LATE_S after the window still
counts, a backlog from before it does not) against 10 Hz x N (`received_ratio`) and against what
the robots actually published (`received_of_sent`, from the simulator's side channel), and their
age when handled (handled - stamped, same clock).

Also per row: the slowest robot's rate, CPU % of the fleet-manager process (bridge thread +
asyncio loop) and of the robot processes, goal round trip (start_mission -> accepted, median /
p95, sent one after another while the others drive, taking the robot processes in turn, at least
GOAL_SAMPLES per row), cancel round trip (land -> CANCELED result), and the machine's 1-minute
load average (the machine is shared and the benchmark runs under `nice -n 10`: a busy machine
shows first in the round trips).

A row keeps up when >= 99 % of the expected 10 Hz odometry is handled and goal-accept p95 < 50 ms.

Two parts. `choice`: the bridge's executor (rclpy's EventsExecutor or SingleThreadedExecutor) and
node layout (one node for all robots, or one per robot) at DECISION_N robots — how the default was
chosen. `scale`: the default configuration from 10 up to 100 robots.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import networkx as nx
import psutil

from sim_worlds.leases import lease_ros_domain

NAME = "ros2"
ODOM_RATE_HZ = 10.0
ROBOTS_PER_PROCESS = 20
KEEPS_UP_RATIO = 0.99
GOAL_ACCEPT_P95_MS = 50.0
DECISION_N = 60
GOAL_SAMPLES = 60  # goal round trips per row at least (small fleets send several rounds)
LATE_S = 2.0  # how long after the window an odometry message stamped in it still counts
CHOICES = (("single_threaded", "shared"), ("events", "per_robot"), ("events", "shared"))
DEFAULT = ("events", "shared")  # Ros2Bridge's defaults, as the choice rows found

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


def _odometry_sent(ports: list[tuple[int, int]]) -> tuple[int, float]:
    """Odometry messages all robots have published so far (from each process's sim-control channel), and when
    (the monotonic midpoint of the queries)."""
    from sim_worlds.mavsim.sim_control import MavsimControl

    started = time.monotonic()
    total = 0
    for port, count in ports:
        with MavsimControl(f"tcp:127.0.0.1:{port}") as control:
            total += sum(int(control.status(i)["odometry_sent"]) for i in range(count))
    return total, (started + time.monotonic()) / 2.0


async def _wait_channels(ports: list[tuple[int, int]], timeout_s: float) -> None:
    from sim_worlds.mavsim.sim_control import SimControlError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await asyncio.to_thread(_odometry_sent, ports)
            return
        except SimControlError:  # the processes are still loading the world
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _measure(count: int, window_s: float, domain_id: int, executor: str, nodes: str) -> dict[str, Any]:
    from fleet_manager.adapters.base import Mission, MissionStep, StepKind
    from fleet_manager.adapters.ros2_adapter import Ros2Adapter
    from fleet_manager.adapters.ros2_bridge import Ros2Bridge
    from fleet_manager.world import load_world
    from sim_worlds.day import free_port
    from sim_worlds.robots.process import RobotsProcess

    frame = load_world("helsinki").frame
    targets = _targets(count)
    gc.freeze()  # as the runtime does once started: the world's objects out of the collector's way
    ports = [(free_port(), min(ROBOTS_PER_PROCESS, count - first)) for first in range(0, count, ROBOTS_PER_PROCESS)]
    processes = [
        RobotsProcess(size, domain_id=domain_id, speedup=10.0, first_index=first + 1, control_port=port)
        for first, (port, size) in zip(range(0, count, ROBOTS_PER_PROCESS), ports, strict=True)
    ]
    bridge = Ros2Bridge(domain_id=domain_id, node_name="finalmile_bench_ros2", executor=executor,  # type: ignore[arg-type]
                        nodes=nodes)  # type: ignore[arg-type]  # fmt: skip
    adapters = [Ros2Adapter(f"robot_{i + 1}", bridge, frame, link_timeout_s=5.0) for i in range(count)]
    received = [0] * count  # odometry stamped inside the window that the fleet manager handled
    ages_s: list[float] = []  # handled - stamped, for those
    window: list[float] = []  # [start, end] wall time (the robots stamp odometry with the wall clock)

    def counter(index: int) -> Callable[[Any], None]:
        def on_odometry(message: Any) -> None:
            stamp_s = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
            if len(window) == 2 and window[0] <= stamp_s < window[1]:
                received[index] += 1
                ages_s.append(time.time() - stamp_s)

        return on_odometry

    for process in processes:
        process.__enter__()
    try:
        bridge.start()
        await _wait_channels(ports, 120.0)
        await asyncio.gather(*(a.connect(timeout_s=120.0) for a in adapters))
        for index, adapter in enumerate(adapters):
            adapter.tap("odom", counter(index))
        accept_s: list[float] = []
        # Round-robin over the robot processes: a sim robot plans its route in its process's one thread right
        # after accepting, and the next goal to that process would wait for it (real robots plan on their own).
        order = sorted(range(count), key=lambda i: (i % ROBOTS_PER_PROCESS, i // ROBOTS_PER_PROCESS))
        for goal_round in range(math.ceil(GOAL_SAMPLES / count)):  # enough goals for a p95 at small N too
            for adapter, (lat, lon) in ((adapters[i], targets[i]) for i in order):
                if goal_round:
                    await adapter.land()
                    await adapter.wait_mission(timeout_s=30.0)
                started = time.perf_counter()
                await adapter.start_mission(
                    Mission(f"bench-{goal_round}", (MissionStep(StepKind.GOTO, latitude_deg=lat, longitude_deg=lon),))
                )
                accept_s.append(time.perf_counter() - started)
        await asyncio.sleep(1.0)  # feedback flowing for every robot
        me = psutil.Process()
        robots = [psutil.Process(p.pid) for p in processes]
        me.cpu_percent(None)
        for robot in robots:
            robot.cpu_percent(None)
        sent_before, before_s = await asyncio.to_thread(_odometry_sent, ports)
        window[:] = [time.time(), time.time() + window_s]
        await asyncio.sleep(window_s + LATE_S)  # messages stamped in the window may still arrive
        sent_after, after_s = await asyncio.to_thread(_odometry_sent, ports)
        # The robots' rate between the two readings, over the counting window (the readings take a while).
        sent = round((sent_after - sent_before) / (after_s - before_s) * window_s)
        manager_cpu = me.cpu_percent(None)
        load_1m = os.getloadavg()[0]  # the machine is shared: how busy it was (2 cores)
        robots_cpu = sum(robot.cpu_percent(None) for robot in robots)
        cancel_s: list[float] = []
        for adapter in adapters:
            started = time.perf_counter()
            await adapter.land()
            await adapter.wait_mission(timeout_s=30.0)
            cancel_s.append(time.perf_counter() - started)
        for adapter in adapters:
            await adapter.close()
    finally:
        bridge.close()
        for process in processes:
            process.__exit__(None, None, None)
    expected = ODOM_RATE_HZ * window_s * count
    ratio = sum(received) / expected
    p95_ms = _percentile(accept_s, 0.95) * 1000
    return {
        "robots": count,
        "executor": executor,
        "nodes": nodes,
        "processes": len(processes),
        "window_s": window_s,
        "odometry_received": sum(received),
        "odometry_expected": int(expected),
        "odometry_sent": sent,
        "received_ratio": round(ratio, 4),
        "received_of_sent": round(sum(received) / sent, 4) if sent else 0.0,
        "worst_robot_hz": round(min(received) / window_s, 2),
        "odometry_age_ms_median": round(statistics.median(ages_s) * 1000, 1) if ages_s else None,
        "odometry_age_ms_p95": round(_percentile(ages_s, 0.95) * 1000, 1) if ages_s else None,
        "keeps_up": ratio >= KEEPS_UP_RATIO and p95_ms < GOAL_ACCEPT_P95_MS,
        "manager_cpu_pct": round(manager_cpu, 1),
        "robots_cpu_pct": round(robots_cpu, 1),
        "goal_accept_ms_median": round(statistics.median(accept_s) * 1000, 1),
        "goal_accept_ms_p95": round(p95_ms, 1),
        "cancel_ms_median": round(statistics.median(cancel_s) * 1000, 1),
        "cancel_ms_p95": round(_percentile(cancel_s, 0.95) * 1000, 1),
        "goal_samples": len(accept_s),
        "machine_load_1m": round(load_1m, 1),
    }


def _measure_in_fresh_process(count: int, window_s: float, domain_id: int, executor: str,
                              nodes: str) -> dict[str, Any]:  # fmt: skip
    """One row, run in a child process: a fresh rclpy/DDS state for every row."""
    from fleet_manager.errors import AdapterError

    logging.basicConfig(level=logging.WARNING)
    try:
        return asyncio.run(_measure(count, window_s, domain_id, executor, nodes))
    except AdapterError as exc:
        return {"robots": count, "executor": executor, "nodes": nodes, "keeps_up": False, "error": str(exc)}


def measure(count: int, window_s: float, executor: str, nodes: str) -> dict[str, Any]:
    """One row on a fresh ROS domain no other FinalMile process uses, in a spawned child process."""
    # The parent holds the lease while the child runs: the child is gone before the lease is freed.
    with lease_ros_domain() as domain, ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        row = pool.submit(
            _measure_in_fresh_process, count, window_s, domain.number, executor, nodes
        ).result(timeout=900)
    logger.info("ros2 bench: %s", row)
    return row


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The choice rows (executor x node layout at DECISION_N), then the default configuration up to 100 robots."""
    quick = getattr(args, "quick", False)
    window_s = 5.0 if quick else 10.0
    rows: list[dict[str, Any]] = []
    for executor, nodes in CHOICES:
        row = measure(20 if quick else DECISION_N, window_s, executor, nodes)
        rows.append({"part": "choice", **row})
    for count in (10, 20) if quick else (10, 20, 40, 60, 80, 100):
        row = measure(count, window_s, *DEFAULT)
        rows.append({"part": "scale", **row})
    largest = max((r["robots"] for r in rows if r["part"] == "scale" and r["keeps_up"]), default=0)
    for row in rows:
        row["largest_n_kept_up"] = largest
    return rows
