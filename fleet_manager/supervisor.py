"""Supervised background jobs: a job that dies is logged and started again, with backoff.

The app's jobs (dispatcher, safety monitor, telemetry recorder, webhook deliverer, event-stream
tail, vehicle links) each run under `Supervisor.supervise`. An exception that escapes a job (its
loop passes catch their own errors; this is what they did not foresee) is logged with its
traceback, counted, and the job is started again after a backoff that doubles up to
`backoff_max_s` and resets once the job has run `healthy_after_s` without failing. `/healthz`
shows each job's liveness and restart count (`JobHealth`), `/readyz` whether all are alive and
whether the vehicles that are down still let the process serve (`VehiclePolicy`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class JobHealth:
    """Liveness of one supervised job."""

    name: str
    alive: bool = False  # running now (False while it waits to be restarted)
    restarts: int = 0
    last_error: str = ""
    last_failure_wall_s: float | None = None  # time.time() of the last crash
    started_wall_s: float = field(default_factory=time.time)


@dataclass(frozen=True)
class NamedJob:
    """A background job with the name /healthz shows for it."""

    name: str
    run: Callable[[Any], Awaitable[None]]

    async def __call__(self, service: Any) -> None:
        """Run the job (the app passes its service)."""
        await self.run(service)


@dataclass(frozen=True)
class VehicleLink:
    """Whether a vehicle of the fleet is connected, and why not (for /readyz)."""

    vehicle_id: str
    connected: bool
    why: str = ""
    hub_id: str = ""


class VehiclePolicy(enum.StrEnum):
    """How vehicles that are down weigh on /readyz (`FINALMILE_READYZ_VEHICLES`)."""

    EVERY_HUB_HAS_ONE = "every_hub_has_one"  # 503 when a hub has vehicles and none is up; degraded otherwise
    ALL_UP = "all_up"  # 503 while any vehicle is down
    IGNORE = "ignore"  # vehicles never make the process unready (still listed, status degraded)


def vehicle_readiness(links: list[VehicleLink], policy: VehiclePolicy) -> tuple[bool, list[str]]:
    """(whether the vehicles let the process be ready under `policy`, hubs with vehicles none of which is up).

    A hub with no vehicle up cannot deliver: a load balancer or an orchestrator should route its
    work to a process that can (a standby), so by default that makes the process unready.
    """
    by_hub: dict[str, bool] = {}
    for link in links:
        by_hub[link.hub_id] = by_hub.get(link.hub_id, False) or link.connected
    empty_hubs = sorted(hub for hub, any_up in by_hub.items() if not any_up)
    if policy is VehiclePolicy.IGNORE:
        return True, empty_hubs
    if policy is VehiclePolicy.ALL_UP:
        return all(link.connected for link in links), empty_hubs
    return not empty_hubs, empty_hubs


@dataclass(frozen=True)
class SupervisorConfig:
    """Restart backoff (wall seconds)."""

    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    healthy_after_s: float = 60.0  # a job that ran this long without failing starts its backoff over


class Supervisor:
    """Runs jobs and restarts them when they fail; keeps their `JobHealth`."""

    def __init__(self, config: SupervisorConfig | None = None) -> None:
        self.config = config or SupervisorConfig()
        self.jobs: dict[str, JobHealth] = {}

    def health(self, name: str) -> JobHealth:
        """The health record of a job (created on first use)."""
        return self.jobs.setdefault(name, JobHealth(name))

    async def supervise(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job()` until cancelled, starting it again after each failure (or unexpected return)."""
        health = self.health(name)
        backoff_s = self.config.backoff_initial_s
        while True:
            started = time.monotonic()
            health.alive, health.started_wall_s = True, time.time()
            try:
                await job()
                why = "returned"
                logger.error("background job %s returned; starting it again", name)
            except asyncio.CancelledError:
                health.alive = False
                raise
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"[:500]
                logger.exception("background job %s crashed; starting it again", name)
            health.alive = False
            health.restarts += 1
            health.last_error = why
            health.last_failure_wall_s = time.time()
            if time.monotonic() - started >= self.config.healthy_after_s:
                backoff_s = self.config.backoff_initial_s
            await asyncio.sleep(backoff_s)
            backoff_s = min(self.config.backoff_max_s, backoff_s * 2)

    def all_alive(self) -> bool:
        """Whether every job runs now."""
        return all(job.alive for job in self.jobs.values())
