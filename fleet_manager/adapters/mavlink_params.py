"""MAVLink parameters (PARAM_REQUEST_READ / PARAM_SET -> PARAM_VALUE), as MAVSDK's `param`.

Reads and writes are retried until the vehicle answers; a write the vehicle does not take (it
echoes another value) raises `CommandRefused` with the STATUSTEXT that explains it.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from ..errors import CommandRefused, NotConnected
from .mavlink_link import mavlink
from .mavlink_session import MavlinkSession


class MavlinkParameters:
    """Read and set one vehicle's parameters by name."""

    def __init__(self, session: MavlinkSession) -> None:
        self._session = session
        self._waiters: dict[str, list[asyncio.Future[Any]]] = {}

    async def get(self, name: str) -> float:
        """Read one parameter (PARAM_REQUEST_READ → PARAM_VALUE)."""
        session = self._session
        call = f"get_parameter({name})"
        session.require_link(call)
        for _ in range(session.timeouts.command_retries + 1):
            future = self._future(name)
            session.link.send(
                session.link.mav.param_request_read_encode(
                    session.target_sys(), session.target_component, name.encode(), -1
                )
            )
            try:
                return float((await asyncio.wait_for(future, session.timeouts.param_wall_s)).param_value)
            except TimeoutError:
                continue
        raise session.timeout(call, f"no PARAM_VALUE for {name} (unknown parameter?)")

    async def set(self, name: str, value: float) -> float:
        """Set one parameter (PARAM_SET) and return the value the vehicle echoes back."""
        session = self._session
        call = f"set_parameter({name}={value})"
        session.require_link(call)
        for _ in range(session.timeouts.command_retries + 1):
            future = self._future(name)
            session.link.send(
                session.link.mav.param_set_encode(
                    session.target_sys(),
                    session.target_component,
                    name.encode(),
                    float(value),
                    mavlink.MAV_PARAM_TYPE_REAL32,
                )
            )
            try:
                echoed = float((await asyncio.wait_for(future, session.timeouts.param_wall_s)).param_value)
            except TimeoutError:
                continue
            if not math.isclose(echoed, float(value), rel_tol=1e-5, abs_tol=1e-5):
                raise CommandRefused(
                    session.vehicle_id,
                    call,
                    f"vehicle kept {name}={echoed}",
                    status_text=(await session.texts_since(time.monotonic() - 1.0)) or None,
                )
            return echoed
        raise session.timeout(call, f"no PARAM_VALUE echo for {name}")

    def on_param_value(self, msg: Any) -> None:
        """Hand a PARAM_VALUE to everyone waiting for that parameter."""
        name = msg.param_id if isinstance(msg.param_id, str) else bytes(msg.param_id).decode(errors="replace")
        for future in self._waiters.pop(name.rstrip("\x00"), []):
            if not future.done():
                future.set_result(msg)

    def close(self) -> None:
        """Fail every read or write still waiting for its answer."""
        for future in [f for futures in self._waiters.values() for f in futures]:
            if not future.done():
                future.set_exception(NotConnected(self._session.vehicle_id, "close()", "adapter closed"))

    def _future(self, name: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, []).append(future)
        return future
