"""MAVLink adapter throughput: N simulated drones streaming 10 Hz telemetry into one adapter process.

For each fleet size N, `finalmile mavsim` (a separate process) runs N drones; this process opens
N `MavlinkAdapter`s over UDP (one asyncio event loop, no threads), asks for GLOBAL_POSITION_INT at
10 Hz (plus the 1 Hz status streams) and measures over a window: MAVLink messages handled per
second, position messages received versus the 10·N expected, this process's CPU %, the
simulator's CPU %, and event-loop lag. "Keeps up" means ≥ 95 % of the expected position messages
arrive and the 95th-percentile loop lag stays under 100 ms, i.e. no backlog grows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psutil

from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from mission_planner.clock import Clock
from sim_worlds.mavsim.process import MavsimProcess

logger = logging.getLogger(__name__)

RATE_HZ = 10.0
FULL_SIZES = (10, 50, 100, 200, 250)  # MAVLink system ids stop at 255
QUICK_SIZES = (10, 50)


async def _measure(count: int, udp_ports: list[int], window_s: float) -> dict[str, Any]:
    adapters = [
        MavlinkAdapter(f"bench-{i}", f"udpout:127.0.0.1:{port}", clock=Clock(), telemetry_rate_hz=RATE_HZ)
        for i, port in enumerate(udp_ports)
    ]
    snapshots = [0]

    async def consume(adapter: MavlinkAdapter) -> None:
        async for _ in adapter.telemetry():
            snapshots[0] += 1

    consumers: list[asyncio.Task[None]] = []
    try:
        connect_start = time.monotonic()
        await asyncio.gather(*(a.connect(timeout_s=60 + count * 0.2) for a in adapters))
        connect_s = time.monotonic() - connect_start
        consumers = [asyncio.create_task(consume(a)) for a in adapters]
        await asyncio.sleep(3.0)  # let every stream reach its rate
        me = psutil.Process()
        me.cpu_percent(None)
        messages_before = sum(a.link.stats.messages_in for a in adapters)
        positions_before = sum(a.positions_received for a in adapters)
        snapshots[0] = 0
        lags: list[float] = []
        start = time.monotonic()
        while (now := time.monotonic()) - start < window_s:
            await asyncio.sleep(0.1)
            lags.append(time.monotonic() - now - 0.1)
        elapsed = time.monotonic() - start
        cpu = me.cpu_percent(None)
        handled = sum(a.link.stats.messages_in for a in adapters) - messages_before
        lost = sum(1 for a in adapters if a.link_status.value != "connected")
        positions = sum(a.positions_received for a in adapters) - positions_before
        received_ratio = positions / (count * RATE_HZ * elapsed)
        lags.sort()
        lag_ms = (
            1000 * lags[int(0.95 * (len(lags) - 1))]
        )  # p95: one scheduler hiccup on a shared machine is not a backlog
        return {
            "drones": count,
            "connect_s": round(connect_s, 2),
            "messages_per_s": round(handled / elapsed),
            "snapshots_per_s": round(snapshots[0] / elapsed),
            "received_pct": round(100 * received_ratio, 1),
            "adapter_cpu_pct": round(cpu, 1),
            "p95_loop_lag_ms": round(lag_ms, 1),
            "max_loop_lag_ms": round(1000 * lags[-1], 1),
            "links_lost": lost,
            "keeps_up": received_ratio >= 0.95 and lag_ms < 100 and lost == 0,
        }
    finally:
        for task in consumers:
            task.cancel()
        await asyncio.gather(*(a.close() for a in adapters), return_exceptions=True)


def run(args: Any) -> list[dict[str, Any]]:
    """One row per fleet size (quick: 10 and 50 drones)."""
    sizes = QUICK_SIZES if getattr(args, "quick", False) else FULL_SIZES
    window_s = 5.0 if getattr(args, "quick", False) else 10.0
    rows = []
    for count in sizes:
        with MavsimProcess(count, speedup=1.0, start_timeout_s=60.0) as sim:
            if sim.process is None:
                raise RuntimeError("mavsim process did not start")
            sim_proc = psutil.Process(sim.process.pid)
            sim_proc.cpu_percent(None)
            row = asyncio.run(_measure(count, sim.udp_ports, window_s))
            row["simulator_cpu_pct"] = round(sim_proc.cpu_percent(None), 1)
        logger.info("mavlink bench: %s", row)
        rows.append(row)
    return rows
