"""Operator commands routed over NATS request/reply to the process that leads the vehicle's hub.

Any API process stores the command (`vehicle_commands`, status queued) and sends its id on
`finalmile.commands.<hub>`; the hub's leader (`CommandResponder`, run only while it holds the hub's
lease) executes it through its fenced adapter, records the outcome in the store and replies with it.
No reply within FINALMILE_COMMAND_TIMEOUT_S (no leader: dead, being replaced, or NATS down) is
`NoLeaderAnswered`: the command is recorded as failed with that reason and the API answers 503, so
an operator never believes a vehicle paused when nothing told it to. A deposed leader that wakes up
late does not answer (its fence is no longer valid), so it cannot shadow the new leader's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mission_planner.errors import FinalMileError

from .link import BusLink

logger = logging.getLogger(__name__)

COMMAND_SUBJECT_PREFIX = "finalmile.commands"

#: What the leader does with a command id: its outcome to reply with, or None to stay silent (not leading).
Execute = Callable[[str], Awaitable[dict[str, Any] | None]]


class NoLeaderAnswered(FinalMileError):
    """Nobody leading the hub answered a command within the timeout."""

    def __init__(self, hub_id: str, reason: str) -> None:
        self.hub_id = hub_id
        self.reason = reason
        super().__init__(f"no leader of hub {hub_id!r} took the command: {reason}")


def command_subject(hub_id: str) -> str:
    """`finalmile.commands.<hub>` ('.' in a hub id becomes '_', as on the events stream)."""
    return f"{COMMAND_SUBJECT_PREFIX}.{hub_id.replace('.', '_')}"


class CommandRouter:
    """The API side: sends a stored command's id to the hub's leader and waits for its outcome."""

    def __init__(self, link: BusLink, *, timeout_s: float) -> None:
        self.link = link
        self.timeout_s = timeout_s

    async def send(self, *, hub_id: str, command_id: str) -> dict[str, Any]:
        """The leader's reply (`status`, `error`); NoLeaderAnswered when there is none within the timeout."""
        import nats.errors

        try:
            client = await self.link.client(self.timeout_s)
        except TimeoutError as exc:
            raise NoLeaderAnswered(hub_id, f"this process has no NATS connection ({self.link.url})") from exc
        try:
            reply = await client.request(command_subject(hub_id), json.dumps({"command_id": command_id}).encode(),
                                         timeout=self.timeout_s)
        except nats.errors.NoRespondersError as exc:
            raise NoLeaderAnswered(hub_id, "no process leads the hub (nobody listens on its command subject)") \
                from exc
        except (nats.errors.TimeoutError, TimeoutError) as exc:
            raise NoLeaderAnswered(hub_id, f"no answer within {self.timeout_s:g} s") from exc
        outcome = json.loads(reply.data)
        if not isinstance(outcome, dict):
            raise NoLeaderAnswered(hub_id, "the answer was not a command outcome")
        return outcome


class CommandResponder:
    """The leader side for one hub: answers command requests while its job runs (its term as leader)."""

    def __init__(self, url: str, *, hub_id: str, execute: Execute) -> None:
        self.link = BusLink(url, name=f"finalmile-commands-{hub_id}")
        self.hub_id = hub_id
        self.execute = execute

    async def run(self, _service: object = None) -> None:
        """Subscribe to the hub's command subject and answer until cancelled."""
        link_task = asyncio.ensure_future(self.link.run())
        subscription = None
        try:
            client = await self.link.client(30.0)
            subscription = await client.subscribe(command_subject(self.hub_id), cb=self._answer)
            logger.info("hub %s: taking operator commands on %s", self.hub_id, command_subject(self.hub_id))
            await link_task
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
            link_task.cancel()
            await asyncio.gather(link_task, return_exceptions=True)

    async def _answer(self, message: Any) -> None:
        try:
            command_id = str(json.loads(message.data)["command_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("hub %s: a command request without a command_id; ignored", self.hub_id)
            return
        try:
            outcome = await self.execute(command_id)
        except Exception as exc:  # the requester gets a reason rather than a timeout
            logger.exception("hub %s: command %s failed", self.hub_id, command_id)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        if outcome is not None:
            await message.respond(json.dumps(outcome).encode())
