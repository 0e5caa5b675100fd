"""What one running app holds (on `app.state.service`): store, clock, settings, stream, webhooks, commander."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from fleet_manager.bus.commands import CommandRouter
from fleet_manager.bus.link import BusLink
from fleet_manager.config import Settings
from fleet_manager.domain.commander import VehicleCommander
from fleet_manager.errors import AdapterError
from fleet_manager.hub_routing import HubRouter, HubUnresolved
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store.db import Database
from fleet_manager.supervisor import Supervisor, VehicleLink
from fleet_manager.webhooks.deliverer import WebhookDeliverer
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

from .broker import EventSource
from .keyring import KeyRing
from .metrics import Metrics
from .rate_limits import RateLimiter

if TYPE_CHECKING:
    from fleet_manager.condition_monitor import ConditionMonitor
    from fleet_manager.world.address_resolver import AddressResolver

logger = logging.getLogger(__name__)


@dataclass
class FleetService:
    """Per-app state; routes reach it through `deps.ServiceDep`."""

    settings: Settings
    database: Database
    clock: Clock
    frame: LocalFrame
    broker: EventSource
    metrics: Metrics
    commander: VehicleCommander | None = None
    deliverer: WebhookDeliverer | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    keyring: KeyRing = field(default_factory=lambda: KeyRing({}, server_secret=secrets.token_bytes(32)))
    pickup_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10, "pickup attempts at this locker"))
    recipient_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10, "recipient actions on this order"))
    streams_by_key: Counter[str] = field(default_factory=Counter)  # open event streams per key id
    address_resolvers: dict[str, AddressResolver] = field(default_factory=dict)  # per hub (the runtime builds them)
    _resolver_lock: threading.Lock = field(default_factory=threading.Lock)
    conditions: ConditionMonitor | None = None  # the parcel-sensor subscriber (FINALMILE_MQTT_URL)
    loop: asyncio.AbstractEventLoop | None = None  # the app's event loop (set when its lifespan starts)
    supervisor: Supervisor = field(default_factory=Supervisor)  # the background jobs and their liveness
    vehicle_links: Callable[[], list[VehicleLink]] | None = None  # the runtime's vehicles, for /readyz
    hub_router: HubRouter | None = None  # which hub an order goes to (the runtime's fleet); None: the one hub
    hub_worlds: dict[str, str] = field(default_factory=dict)  # each hub's world, when not the settings' one
    bus: BusLink | None = None  # the process's NATS connection (FINALMILE_NATS_URL)
    command_router: CommandRouter | None = None  # operator commands to the hub's leader over NATS (scale-out)

    def route_order(self, *, hub_id: str | None, latitude_deg: float | None, longitude_deg: float | None) -> str:
        """The hub of a new order (`fleet_manager.hub_routing`); `HubUnresolved` naming the field to fix."""
        if self.hub_router is not None:
            return self.hub_router.route(hub_id=hub_id, latitude_deg=latitude_deg, longitude_deg=longitude_deg)
        chosen = hub_id or self.settings.hub_id
        if chosen not in self.hub_ids:
            raise HubUnresolved("hub_id", f"hub {chosen!r} is not served here (serving: {', '.join(self.hub_ids)})")
        return chosen

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """Hubs this process serves."""
        return self.settings.hub_ids

    def address_resolver(self, hub_id: str) -> AddressResolver:
        """The hub's address resolver (built here from the settings' world when the runtime did not give one)."""
        with self._resolver_lock:
            resolver = self.address_resolvers.get(hub_id)
            if resolver is None:
                from fleet_manager.address_intake import build_resolver

                resolver = build_resolver(self.hub_worlds.get(hub_id, self.settings.world),
                                          cache_dir=self.settings.address_cache_dir,
                                          review_below=self.settings.address_review_below)
                self.address_resolvers[hub_id] = resolver
            return resolver

    def prepare_address_resolver(self, hub_id: str) -> None:
        """Build the hub's resolver now, in the background (start-up stays quick; a typed address waits for it)."""
        def build() -> None:
            try:
                self.address_resolver(hub_id)
            except Exception:  # the first typed address will raise the same error to its caller
                logger.exception("address resolver for hub %s could not be built", hub_id)

        threading.Thread(target=build, name=f"address-resolver-{hub_id}", daemon=True).start()

    def now(self) -> float:
        """Clock time (simulation time in a speeded-up day)."""
        return self.clock.now()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; on commit the stream and the webhook deliverer are woken."""
        with self.database.transaction() as session:
            yield session
        self.committed()

    def committed(self) -> None:
        """Wake the event tail and the deliverer (call after any outbox write outside `write()`).

        Sync routes run in worker threads, and an asyncio.Event is not thread-safe (setting it while the
        loop cancels a waiter raised InvalidStateError: a 500 after the commit), so from a worker thread
        the wake-up is handed to the loop.
        """
        loop = self.loop
        if loop is not None and loop.is_running() and not _on_loop(loop):
            loop.call_soon_threadsafe(self._poke)
        else:
            self._poke()

    def _poke(self) -> None:
        self.broker.poke()
        if self.deliverer is not None:
            self.deliverer.poke()

    def supervise(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a background job owned by the app, started again with backoff when it fails."""
        self.spawn(self.supervisor.supervise(name, job), name=name)

    def spawn(self, coroutine: object, *, name: str) -> None:
        """Run a background coroutine owned by the app (kept referenced, cancelled at shutdown)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine, name=name)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def execute_command(self, command: fleet_store.VehicleCommand) -> None:
        """Hand a queued command to the commander and record what the vehicle said."""
        commander = self.commander
        if commander is None:
            return
        await asyncio.to_thread(self.finish_command, command.command_id, fleet_store.CommandStatus.SENT, "")
        try:
            await commander.execute(command)
        except AdapterError as exc:
            await asyncio.to_thread(self.finish_command, command.command_id, fleet_store.CommandStatus.FAILED, str(exc))
            return
        except Exception as exc:
            logger.exception("commander crashed on %s", command.command_id)
            await asyncio.to_thread(
                self.finish_command, command.command_id, fleet_store.CommandStatus.FAILED,
                f"{type(exc).__name__}: {exc}")
            return
        await asyncio.to_thread(self.finish_command, command.command_id, fleet_store.CommandStatus.ACCEPTED, "")

    def finish_command(self, command_id: str, status: fleet_store.CommandStatus, error: str) -> None:
        """Record what became of a command."""
        with self.write() as session:
            fleet_store.finish_command(session, command_id=command_id, status=status, at_s=self.now(), error=error)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on `loop`'s thread."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
