"""Hub leadership: one leader per hub through a lease in the store, fenced by its token.

Each process that may serve a hub runs a `HubLeadership` for it. It tries to take the hub's lease
(`store.leases`) and, once it holds it, renews it every `ttl_s / 3`; a standby keeps trying and takes
the hub over once the leader stops renewing (killed, paused, cut off) and the lease expires. The
holder's `HubFence` carries the token:

- every store write made for the hub by its leader passes `HubFence.check` first (`Database.fenced`):
  the process must believe it leads (its lease renewed within `ttl_s`, by its own monotonic clock,
  which keeps running while a process is stopped) *and* its token must still be the row's;
- every vehicle command goes through `guard_commands`, which makes the same two checks before the
  command leaves the process, and raises `CommandFenced` otherwise.

So a leader that wakes up after a takeover has its late writes and commands refused by the token,
whatever it still believes. What remains is a command that passed the check and then stalled in
the process before reaching the link (MAVLink and Nav2 cannot check a token themselves); the local
lease margin (`ttl_s` x LOCAL_VALIDITY) keeps that window below the lease time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from .adapters.base import VehicleAdapter
from .errors import CommandFenced, ConfigError, StaleLeader
from .store import leases
from .store.db import Database

logger = logging.getLogger(__name__)

#: Share of the lease time a leader trusts its own lease after a renewal (clock-rate margin).
LOCAL_VALIDITY = 0.8
#: Adapter methods that act on a vehicle; `guard_commands` fences those the adapter has.
GUARDED_COMMANDS = (
    "start_mission", "replace_mission", "pause", "resume", "return_home", "land",  # every adapter
    "load", "unload", "launch", "recover",  # vans (Carrier)
    "set_mode", "arm", "disarm", "takeoff", "release_payload", "command", "set_parameter",  # MAVLink
    "upload_mission", "upload_geofence", "upload_items",
)
A = TypeVar("A", bound=VehicleAdapter)


class HubFence:
    """The leader's token for one hub, and whether this process may still act on it."""

    def __init__(self, hub_id: str, holder: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.hub_id = hub_id
        self.holder = holder
        self.token: int | None = None
        self._monotonic = monotonic
        self._valid_until = -float("inf")

    def granted(self, token: int, *, asked_at: float, ttl_s: float) -> None:
        """The store gave (or renewed) the lease with `token`; `asked_at` is when we asked (monotonic)."""
        self.token = token
        self._valid_until = asked_at + ttl_s * LOCAL_VALIDITY

    def revoke(self) -> None:
        """We no longer lead the hub (deposed, or shutting down)."""
        self.token = None
        self._valid_until = -float("inf")

    @property
    def leading(self) -> bool:
        """Holding a token whose lease was renewed recently enough to trust it locally."""
        return self.token is not None and self._monotonic() < self._valid_until

    def check_local(self) -> None:
        """StaleLeader unless `leading` (no store round trip)."""
        if self.token is None:
            raise StaleLeader(self.hub_id, None, None)
        if not self.leading:
            raise StaleLeader(self.hub_id, self.token, None, lapsed=True)

    def check(self, session: Session) -> None:
        """The write fence: `check_local`, then the token against the store's row (in the caller's transaction)."""
        self.check_local()
        leases.check_token(session, hub_id=self.hub_id, token=self.token)


def guard_commands(adapter: A, fence: HubFence, database: Database) -> A:
    """Fence `adapter`'s vehicle commands with the hub's lease: a command from a deposed leader raises
    CommandFenced and never reaches the vehicle. Telemetry, connect and close are left alone.

    The adapter keeps its own class underneath (a subclass made here), so `isinstance` checks (a van is
    a Carrier) and every other attribute still work.
    """
    base = type(adapter)
    if getattr(base, "_finalmile_fenced", False):
        raise ConfigError(f"{adapter.vehicle_id}: its commands are fenced already")

    def fenced(name: str, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(self: VehicleAdapter, *args: Any, **kwargs: Any) -> Any:
            try:
                fence.check_local()
                await database.write_async(fence.check)
            except StaleLeader as exc:
                logger.warning("%s: %s() refused: %s", self.vehicle_id, name, exc)
                raise CommandFenced(self.vehicle_id, f"{name}()", str(exc)) from exc
            return await original(self, *args, **kwargs)

        call.__name__ = name
        call.__doc__ = original.__doc__
        return call

    namespace: dict[str, Any] = {"_finalmile_fenced": True}
    for name in GUARDED_COMMANDS:
        original = getattr(base, name, None)
        if original is not None:
            namespace[name] = fenced(name, original)
    adapter.__class__ = type(f"Fenced{base.__name__}", (base,), namespace)
    return adapter


OnElected = Callable[[HubFence], Awaitable[None]]


class HubLeadership:
    """Takes and keeps one hub's lease; runs `serve_hub(fence)` while leading, cancels it when deposed."""

    def __init__(
        self, *, database: Database, hub_id: str, holder: str, serve_hub: OnElected, ttl_s: float = 6.0,
        standby: bool = False,
    ) -> None:
        if ttl_s <= 0:
            raise ConfigError(f"lease ttl_s must be > 0, got {ttl_s}")
        self.database = database
        self.fence = HubFence(hub_id, holder)
        self.ttl_s = ttl_s
        self.standby = standby
        self.elections = 0
        self._serve_hub = serve_hub
        self._serving: asyncio.Task[None] | None = None

    @property
    def hub_id(self) -> str:
        """The hub."""
        return self.fence.hub_id

    async def run(self, _service: object = None) -> None:
        """Compete for the lease until cancelled (a background job of the app); releases it on the way out."""
        if self.standby:  # let the primary, started alongside, take the hub first
            await asyncio.sleep(self.ttl_s)
        try:
            while True:
                await self.step()
                await asyncio.sleep(self.ttl_s / 3)
        finally:
            await self._stop_serving()
            token = self.fence.token
            self.fence.revoke()
            if token is not None:
                with contextlib.suppress(Exception):
                    await self.database.write_async(lambda s: leases.release(
                        s, hub_id=self.hub_id, holder=self.fence.holder, token=token))

    async def step(self) -> bool:
        """One round: take or renew the lease; start or stop serving the hub. True while leading."""
        fence = self.fence
        asked_at = time.monotonic()
        token = fence.token
        try:
            if token is None:
                lease = await self.database.write_async(lambda s: leases.try_acquire(
                    s, hub_id=self.hub_id, holder=fence.holder, ttl_s=self.ttl_s))
            else:
                lease = await self.database.write_async(lambda s: leases.renew(
                    s, hub_id=self.hub_id, holder=fence.holder, token=token, ttl_s=self.ttl_s))
        except Exception as exc:  # store unreachable: keep what we have until the local lease lapses
            logger.warning("hub %s: lease round failed (%s)", self.hub_id, exc)
            if token is not None and not fence.leading:
                logger.error("hub %s: lease lapsed while the store was unreachable; stepping down", self.hub_id)
                fence.revoke()
                await self._stop_serving()
            return fence.leading
        if lease is not None:
            fence.granted(lease.token, asked_at=asked_at, ttl_s=self.ttl_s)
            if token is None:
                self.elections += 1
                logger.warning("hub %s: leading as %s with token %d", self.hub_id, fence.holder, lease.token)
                self._serving = asyncio.create_task(self._serve(), name=f"hub-{self.hub_id}")
            return True
        if token is not None:
            logger.error("hub %s: deposed (token %d is no longer the lease's); stopping its services",
                         self.hub_id, token)
            fence.revoke()
            await self._stop_serving()
        return False

    async def _serve(self) -> None:
        try:
            await self._serve_hub(self.fence)
        except asyncio.CancelledError:
            raise
        except StaleLeader as exc:
            logger.error("hub %s: %s", self.hub_id, exc)
        except Exception:
            logger.exception("hub %s: serving the hub failed; giving the lease up", self.hub_id)
            token = self.fence.token
            self.fence.revoke()
            if token is not None:
                await self.database.write_async(lambda s: leases.release(
                    s, hub_id=self.hub_id, holder=self.fence.holder, token=token))

    async def _stop_serving(self) -> None:
        task, self._serving = self._serving, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
