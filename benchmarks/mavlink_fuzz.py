"""Fuzzed MAVLink frames at the fleet manager's adapter and at the simulator (issue 19, item 8).

Frames of four kinds, in equal shares: random bytes, truncated valid frames, valid frames with a
bad CRC, and valid frames from a foreign system id (a spoofer). At the adapter they are spliced
into the byte stream from mavsim to a connected `MavlinkAdapter` by a TCP proxy; at the simulator
they are sent on a connection of their own. Counted: crashes (an adapter task or the simulator
process died, the link stopped carrying heartbeats, the adapter took the spoofer's id, the
event loop saw an unhandled exception) and the frames the parser rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_link import mavlink
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl

KINDS = ("random", "truncated", "bad_crc", "foreign_sysid")
SPOOFER_SYSTEM_ID = 77


def fuzz_frames(count: int, *, seed: int, target_system: int = 1) -> list[tuple[str, bytes]]:
    """`count` (kind, frame) pairs, the kinds in turn."""
    rng = random.Random(seed)
    vehicle = mavlink.MAVLink(None, srcSystem=target_system, srcComponent=1)
    spoofer = mavlink.MAVLink(None, srcSystem=SPOOFER_SYSTEM_ID, srcComponent=1)

    def valid(mav: Any) -> bytes:
        choice = rng.randrange(4)
        if choice == 0:
            message = mavlink.MAVLink_heartbeat_message(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, rng.randrange(256),
                rng.randrange(2**32), rng.randrange(8), 3)
        elif choice == 1:
            message = mavlink.MAVLink_global_position_int_message(
                rng.randrange(2**32), rng.randrange(-900_000_000, 900_000_000),
                rng.randrange(-1_800_000_000, 1_800_000_000), rng.randrange(-2**31, 2**31),
                rng.randrange(-2**31, 2**31), 0, 0, 0, rng.randrange(36000))
        elif choice == 2:
            message = mavlink.MAVLink_mission_current_message(rng.randrange(2**16))
        else:
            message = mavlink.MAVLink_statustext_message(rng.randrange(8), bytes(rng.randrange(32, 127)
                                                                                 for _ in range(50)))
        return bytes(message.pack(mav))

    frames = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        if kind == "random":
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 280)))
        elif kind == "truncated":
            whole = valid(vehicle)
            frame = whole[: rng.randrange(1, len(whole))]
        elif kind == "bad_crc":
            whole = bytearray(valid(vehicle))
            whole[-1] ^= 1 + rng.randrange(255)
            frame = bytes(whole)
        else:
            frame = valid(spoofer)
        frames.append((kind, frame))
    return frames


@dataclass
class FuzzResult:
    """What one target went through."""

    target: str
    frames: int
    crashes: int = 0
    rejected_frames: int | None = None
    problems: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        """A CSV row."""
        return {"target": self.target, "frames": self.frames, "crashes": self.crashes,
                "rejected_frames": self.rejected_frames, "problems": "; ".join(self.problems)}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                inject: asyncio.Queue[bytes] | None) -> None:
    """Copy bytes; between two chunks, whatever is queued in `inject` goes first."""
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while chunk := await reader.read(4096):
            while inject is not None and not inject.empty():
                writer.write(inject.get_nowait())
            writer.write(chunk)
            await writer.drain()


async def fuzz_adapter(sim_url: str, frames: list[tuple[str, bytes]], *, connect_timeout_s: float = 60.0) -> FuzzResult:
    """Splice `frames` into mavsim's stream to a connected adapter; the adapter must keep its link and its vehicle."""
    result = FuzzResult("adapter", len(frames))
    unhandled: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(str(context.get("message"))))
    host, port = sim_url.removeprefix("tcp:").rsplit(":", 1)
    inject: asyncio.Queue[bytes] = asyncio.Queue()
    pipes: list[asyncio.Task[None]] = []

    async def proxy(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        sim_reader, sim_writer = await asyncio.open_connection(host, int(port))
        pipes.append(asyncio.create_task(_pipe(sim_reader, client_writer, inject)))
        pipes.append(asyncio.create_task(_pipe(client_reader, sim_writer, None)))

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    adapter = MavlinkAdapter("fuzzed", f"tcp:127.0.0.1:{proxy_port}")
    try:
        await adapter.connect(timeout_s=connect_timeout_s)
        system_id = adapter.target_system
        for _kind, frame in frames:
            inject.put_nowait(frame)
            if inject.qsize() > 50:
                await asyncio.sleep(0.01)  # let the stream carry them
        deadline = time.monotonic() + 60.0
        while not inject.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        before = adapter.heartbeats_received
        deadline = time.monotonic() + 30.0
        while adapter.heartbeats_received < before + 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if adapter.heartbeats_received < before + 2:
            result.problems.append("no heartbeats after the fuzz")
        if adapter.target_system != system_id:
            result.problems.append(f"took system id {adapter.target_system} (was {system_id})")
        dead = [t.get_name() for t in adapter._tasks if t.done()]
        if dead:
            result.problems.append(f"adapter tasks ended: {dead}")
        result.problems.extend(f"unhandled: {u}" for u in unhandled)
        result.rejected_frames = adapter.link_stats.bad_frames
    finally:
        await adapter.close()
        for task in pipes:
            task.cancel()
        server.close()
        loop.set_exception_handler(None)
    result.crashes = len(result.problems)
    return result


async def fuzz_simulator(sim: MavsimProcess, frames: list[tuple[str, bytes]]) -> FuzzResult:
    """Send `frames` to mavsim on a connection of their own; it must stay up and keep answering."""
    result = FuzzResult("mavsim", len(frames))
    host, port = sim.urls[0].removeprefix("tcp:").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    drain = asyncio.create_task(reader.read(-1))  # its telemetry: read and dropped
    try:
        for index, (_kind, frame) in enumerate(frames):
            writer.write(frame)
            if index % 50 == 0:
                await writer.drain()
        await writer.drain()
    except ConnectionError as exc:
        result.problems.append(f"simulator dropped the connection: {exc}")
    finally:
        writer.close()
        drain.cancel()
    await asyncio.sleep(1.0)
    if sim.process is None or sim.process.poll() is not None:
        result.problems.append("simulator process exited")
    else:
        assert sim.control_url is not None
        try:
            with MavsimControl(sim.control_url) as control:
                control.ping()
        except Exception as exc:  # the benchmark reports it rather than failing
            result.problems.append(f"sim-control does not answer: {exc}")
    result.crashes = len(result.problems)
    return result
