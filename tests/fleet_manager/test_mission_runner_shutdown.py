"""A mission runner cancelled at shutdown takes its pending vehicle calls down with it."""

from __future__ import annotations

import asyncio

import pytest

from fleet_manager.errors import NotConnected
from fleet_manager.mission_runner import _first_of


async def test_cancelled_wait_cancels_the_calls_it_waited_on() -> None:
    vehicle_call: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    abandoned = asyncio.ensure_future(asyncio.Event().wait())
    waiter = asyncio.ensure_future(_first_of(vehicle_call, abandoned))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert vehicle_call.cancelled() and abandoned.cancelled()


async def test_a_call_that_failed_as_the_wait_was_cancelled_is_retrieved() -> None:
    vehicle_call: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiter = asyncio.ensure_future(_first_of(vehicle_call))
    await asyncio.sleep(0)
    vehicle_call.set_exception(NotConnected("robot_4", "wait_mission", "adapter closed during the mission"))
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert vehicle_call.done() and not vehicle_call.cancelled()
    assert vehicle_call._log_traceback is False  # retrieved: asyncio will not report it as never retrieved
