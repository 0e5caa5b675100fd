"""Van "driver app" adapter: newline-delimited JSON over TCP.

A van's driver app (or the simulated van) listens on `tcp:HOST:PORT`; the adapter says hello
with its vehicle id, then sends missions and commands, each acknowledged by `request_id`, and
receives `state`, `event` and `result` messages. Vans do GOTO, DELIVER (the driver hands the
parcel over on foot), WAIT and RETURN; other step kinds are refused by the van. The wire
protocol (this adapter defines it; the simulated vans implement it):

    client -> server  {"type": "hello", "vehicle_id": "van-1"}
                      {"type": "mission", "request_id": 7, "mission": {...}}   (see `mission_to_wire`)
                      {"type": "command", "request_id": 8, "name": "pause|resume|return|land"}
                      {"type": "command", "request_id": 9, "name": "load|unload|launch|recover",
                       "vehicle_id": "drone-1"}
    server -> client  {"type": "welcome", "vehicle_id": ..., "home": [lat, lon]}
                      {"type": "ack", "request_id": 7, "ok": true | false, "error": "..."}
                      {"type": "state", ...VehicleState fields..., "carried": [...]}
                      {"type": "event", "mission_id", "step_index", "what", "detail", "latitude_deg", ...}
                      {"type": "result", "mission_id", "outcome", "steps_completed", "error_msg"}

A `mission` message while the van is on a mission replaces it (the old one ends CANCELED); the
adapter sends one only through `replace_mission`, as the contract says (`start_mission` on a busy
van raises `MissionBusy`). Vans also carry drones and robots: `load` / `unload` at the hub,
`launch` / `recover` wherever the van is stopped (a WAIT step, or paused). The van's state lists
what it carries (`carried`).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fleet_manager.errors import AdapterTimeout, CommandRefused, LinkLost, MissionBusy, NoMissionRunning, NotConnected

from .base import (
    AdoptionReport,
    Geofence,
    HeldMission,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionResult,
    StepKind,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from .fanout import Fanout

logger = logging.getLogger(__name__)

_ACK_TIMEOUT_S = 10.0
_LINK_TIMEOUT_S = 5.0  # wall seconds without a state message -> link lost
_QUEUE_SIZE = 1000  # per telemetry / event subscriber; a slow one loses its oldest items


def mission_to_wire(mission: Mission) -> dict[str, Any]:
    """A `Mission` as the JSON the van understands."""
    return {
        "mission_id": mission.mission_id,
        "steps": [
            {
                "kind": step.kind.value,
                "latitude_deg": step.latitude_deg,
                "longitude_deg": step.longitude_deg,
                "duration_s": step.duration_s,
                "order_id": step.order_id,
            }
            for step in mission.steps
        ],
    }


def parse_tcp_url(url: str) -> tuple[str, int]:
    """`tcp:HOST:PORT` -> (host, port); ValueError naming the URL otherwise."""
    scheme, _, rest = url.partition(":")
    host, _, port = rest.removeprefix("//").rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        raise ValueError(f"van URL {url!r} is not 'tcp:HOST:PORT'")
    return host, int(port)


class VanAdapter(VehicleAdapter):
    """One van, reached through its driver app's JSON-over-TCP link."""

    kind = VehicleKind.VAN

    def __init__(self, vehicle_id: str, url: str) -> None:
        self.vehicle_id = vehicle_id
        self.url = url
        self._host, self._port = parse_tcp_url(url)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._state: VehicleState | None = None
        self._first_state = asyncio.Event()
        self._welcomed = asyncio.Event()
        self.home: tuple[float, float] | None = None  # (latitude_deg, longitude_deg) from the welcome
        self._acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_request = 1
        self._state_fanout: Fanout[VehicleState] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} telemetry")
        self._event_fanout: Fanout[MissionEvent] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} mission events")
        self._results: dict[str, MissionResult] = {}
        self._result_changed = asyncio.Condition()
        self._mission_id: str | None = None
        self._last_state_wall_s = 0.0
        self.odometer_m = 0.0
        self.carried: tuple[str, ...] = ()  # vehicle ids on board, from the latest state
        self.malformed_lines = 0  # lines from the driver app that were skipped (not JSON, fields missing or bad)

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Open the link, say hello and wait for the first state message."""
        self._state_fanout.reopen()
        self._event_fanout.reopen()
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), timeout_s
            )
        except (TimeoutError, OSError) as exc:
            raise AdapterTimeout(self.vehicle_id, "connect()", f"no driver app at {self.url}: {exc}") from exc
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"van-reader-{self.vehicle_id}")
        self._write({"type": "hello", "vehicle_id": self.vehicle_id})
        try:
            await asyncio.wait_for(self._first_state.wait(), timeout_s)
        except TimeoutError as exc:
            await self.close()
            raise AdapterTimeout(self.vehicle_id, "connect()", f"no state from {self.url} in {timeout_s} s") from exc

    async def close(self) -> None:
        """Close the link and end every telemetry/event iterator; idempotent."""
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
            self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._state_fanout.close()
        self._event_fanout.close()
        for future in self._acks.values():
            if not future.done():
                future.set_exception(LinkLost(self.vehicle_id, "request", "link closed"))

    def latest_state(self) -> VehicleState | None:
        """Newest state, with the link marked LOST when the van has gone quiet."""
        state = self._state
        if state is None:
            return None
        loop_time = asyncio.get_event_loop().time() if self._reader_task is not None else 0.0
        if self._reader_task is None or loop_time - self._last_state_wall_s > _LINK_TIMEOUT_S:
            return VehicleState(**{**state.__dict__, "link": LinkStatus.LOST})
        return state

    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every state message as it arrives, until the adapter closes."""
        return self._state_fanout.subscribe()

    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Progress events (step_reached, parcel_handed_over) as they happen, until the adapter closes."""
        return self._event_fanout.subscribe()

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the driver app has welcomed this van and sent its first state (wall seconds)."""
        if self._reader_task is None:
            raise NotConnected(self.vehicle_id, "wait_ready()", "not connected; call connect() first")
        try:
            await asyncio.wait_for(asyncio.gather(self._welcomed.wait(), self._first_state.wait()), timeout_s)
        except TimeoutError as exc:
            awaited = (("welcome", self._welcomed), ("state", self._first_state))
            missing = " and ".join(what for what, event in awaited if not event.is_set())
            logger.warning("%s: no %s from %s within %.1f s", self.vehicle_id, missing, self.url, timeout_s)
            raise AdapterTimeout(
                self.vehicle_id, "wait_ready()", f"no {missing} from the driver app at {self.url} within {timeout_s} s"
            ) from exc

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Send the route to a van that runs no mission; vans ignore geofences (they drive on streets).

        Raises MissionBusy while the van is on a mission (`replace_mission` gives it a new route),
        CommandRefused when the van refuses the route.
        """
        running = self._running_mission()
        if running is not None:
            raise MissionBusy(
                self.vehicle_id, "start_mission()",
                f"mission {running!r} is still running; replace_mission() gives the van a new route",
            )  # fmt: skip
        await self._send_mission(mission, "start_mission()")

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Give a van on a mission a new route at once; the old mission ends CANCELED.

        Raises NoMissionRunning when the van runs no mission, CommandRefused when it refuses the new
        route (the old mission then runs on).
        """
        if self._running_mission() is None:
            raise NoMissionRunning(
                self.vehicle_id, "replace_mission()", "no mission is running; start_mission() starts one"
            )
        await self._send_mission(mission, "replace_mission()")

    def _running_mission(self) -> str | None:
        """The mission the van is on: the last one sent, or one it reports (say, its own return to the
        hub), until the van's result for it has arrived."""
        reported = self._state.mission_id if self._state is not None else None
        for mission_id in (self._mission_id, reported):
            if mission_id is not None and mission_id not in self._results:
                return mission_id
        return None

    async def _send_mission(self, mission: Mission, call: str) -> None:
        previous = self._mission_id
        self._mission_id = mission.mission_id
        self._results.pop(mission.mission_id, None)
        try:
            await self._request({"type": "mission", "mission": mission_to_wire(mission)}, call)
        except BaseException:
            self._mission_id = previous  # refused or unanswered: the mission in force is still the old one
            raise

    async def adopt_mission(self, mission: Mission) -> AdoptionReport:
        """After a restart of ours: whether the van still drives `mission` (its state names the mission it runs).

        RUNNING when it does: followed from the step it reports (its events and result carry the mission
        id), and the DELIVER steps before that step were handed over on the way. ABSENT otherwise (the
        van runs another mission, or none: its result went to nobody).
        """
        call = f"adopt_mission({mission.mission_id!r})"
        if self._writer is None:
            raise NotConnected(self.vehicle_id, call, "connect() first")
        try:
            await asyncio.wait_for(self._first_state.wait(), _LINK_TIMEOUT_S)
        except TimeoutError:
            raise AdapterTimeout(self.vehicle_id, call, f"no state from the van in {_LINK_TIMEOUT_S:.0f} s") from None
        state = self._state
        reported = state.mission_id if state is not None else None
        if state is None or reported != mission.mission_id:
            what = f"mission {reported}" if reported else f"no mission ({state.mode if state else 'no state'})"
            return AdoptionReport(mission.mission_id, HeldMission.ABSENT, detail=f"the van runs {what}")
        step = state.mission_step if state.mission_step is not None else 0
        self._mission_id = mission.mission_id
        released = tuple(i for i, s in enumerate(mission.steps[:step]) if s.kind is StepKind.DELIVER)
        return AdoptionReport(mission.mission_id, HeldMission.RUNNING, step, released,
                              detail=f"the van drives it, at step {step}/{len(mission.steps)} ({state.mode})")

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """Wait for the current mission's result."""
        mission_id = self._mission_id
        if mission_id is None:
            raise NotConnected(self.vehicle_id, "wait_mission()", "no mission was started")
        async with self._result_changed:
            try:
                await asyncio.wait_for(self._result_changed.wait_for(lambda: mission_id in self._results), timeout_s)
            except TimeoutError as exc:
                raise AdapterTimeout(
                    self.vehicle_id, "wait_mission()", f"mission {mission_id} still running after {timeout_s} s"
                ) from exc
        return self._results[mission_id]

    async def pause(self) -> None:
        """Pull over and hold."""
        await self._request({"type": "command", "name": "pause"}, "pause()")

    async def resume(self) -> None:
        """Continue."""
        await self._request({"type": "command", "name": "resume"}, "resume()")

    async def return_home(self) -> None:
        """Drive back to the hub."""
        await self._request({"type": "command", "name": "return"}, "return_home()")

    async def land(self) -> None:
        """Stop where the van is."""
        await self._request({"type": "command", "name": "land"}, "land()")

    async def load(self, vehicle_id: str) -> None:
        """Stow a landed, disarmed drone/robot standing at the hub (van stopped at the hub)."""
        await self._carry("load", vehicle_id)

    async def unload(self, vehicle_id: str) -> None:
        """Take a carried vehicle out at the hub."""
        await self._carry("unload", vehicle_id)

    async def launch(self, vehicle_id: str) -> None:
        """Set a carried vehicle down where the stopped van stands; it may then arm and go."""
        await self._carry("launch", vehicle_id)

    async def recover(self, vehicle_id: str) -> None:
        """Take on board a vehicle that has landed and disarmed next to the stopped van."""
        await self._carry("recover", vehicle_id)

    async def _carry(self, name: str, vehicle_id: str) -> None:
        await self._request({"type": "command", "name": name, "vehicle_id": vehicle_id}, f"{name}({vehicle_id!r})")
        # The ack is sent after the state change; the next state carries it, but callers may ask now.
        carried = set(self.carried)
        if name in ("load", "recover"):
            carried.add(vehicle_id)
        else:
            carried.discard(vehicle_id)
        self.carried = tuple(sorted(carried))

    # ----- internals ------------------------------------------------------------------------------
    def _write(self, message: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            raise NotConnected(self.vehicle_id, str(message.get("type")), "not connected; call connect() first")
        self._writer.write((json.dumps(message) + "\n").encode())

    async def _request(self, message: dict[str, Any], call: str) -> None:
        request_id = self._next_request
        self._next_request += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[request_id] = future
        try:
            self._write({**message, "request_id": request_id})
            ack = await asyncio.wait_for(future, _ACK_TIMEOUT_S)
        except TimeoutError as exc:
            raise AdapterTimeout(self.vehicle_id, call, f"no ack within {_ACK_TIMEOUT_S} s") from exc
        finally:
            self._acks.pop(request_id, None)
        if not ack.get("ok"):
            raise CommandRefused(self.vehicle_id, call, "the van refused", status_text=str(ack.get("error") or ""))

    async def _read_loop(self) -> None:
        if self._reader is None:
            return
        try:
            while line := await self._reader.readline():
                try:
                    message = json.loads(line)
                    if not isinstance(message, dict):
                        raise TypeError(f"a JSON {type(message).__name__}, not an object")
                    await self._dispatch(message)
                except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
                    # One bad line (a driver-app bug, a truncated write) is skipped; the link reads on.
                    self.malformed_lines += 1
                    logger.warning("%s: skipping a malformed line (%s: %s): %.200r", self.vehicle_id,
                                   type(exc).__name__, exc, line)
                    continue
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.warning("%s: link to %s closed: %s", self.vehicle_id, self.url, exc)
        finally:
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(LinkLost(self.vehicle_id, "request", "link closed"))

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "state":
            self._last_state_wall_s = asyncio.get_running_loop().time()
            self.odometer_m = float(message.get("odometer_m") or 0.0)
            self.carried = tuple(sorted(str(v) for v in message.get("carried") or ()))
            state = VehicleState(
                vehicle_id=self.vehicle_id,
                kind=VehicleKind.VAN,
                stamp_s=float(message["stamp_s"]),
                latitude_deg=float(message["latitude_deg"]),
                longitude_deg=float(message["longitude_deg"]),
                heading_deg=float(message.get("heading_deg") or 0.0),
                ground_speed_m_s=float(message.get("ground_speed_m_s") or 0.0),
                battery_remaining_pct=message.get("battery_remaining_pct"),
                battery_remaining_wh=message.get("battery_remaining_wh"),
                mode=str(message.get("mode") or ""),
                armed=message.get("mode") not in ("IDLE", None),
                link=LinkStatus.CONNECTED,
                mission_id=message.get("mission_id"),
                mission_step=message.get("mission_step"),
            )
            self._state = state
            self._first_state.set()
            self._state_fanout.publish(state)
        elif kind == "ack":
            future = self._acks.get(int(message.get("request_id") or 0))
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "event":
            event = MissionEvent(
                mission_id=str(message["mission_id"]),
                stamp_s=float(message["stamp_s"]),
                step_index=int(message["step_index"]),
                what=str(message["what"]),
                detail=str(message.get("detail") or ""),
                latitude_deg=message.get("latitude_deg"),
                longitude_deg=message.get("longitude_deg"),
            )
            self._event_fanout.publish(event)
        elif kind == "result":
            result = MissionResult(
                mission_id=str(message["mission_id"]),
                outcome=MissionOutcome(str(message["outcome"])),
                error_msg=str(message.get("error_msg") or ""),
                steps_completed=int(message.get("steps_completed") or 0),
            )
            async with self._result_changed:
                self._results[result.mission_id] = result
                self._result_changed.notify_all()
        elif kind == "welcome":
            try:
                latitude_deg, longitude_deg = message["home"]
                self.home = (float(latitude_deg), float(longitude_deg))
            except (KeyError, TypeError, ValueError):
                logger.warning("%s: welcome without a usable home: %r", self.vehicle_id, message.get("home"))
            self._welcomed.set()
        elif kind == "error":
            logger.error("%s: driver app error: %s", self.vehicle_id, message.get("error"))
