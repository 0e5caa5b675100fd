"""Fanout: the one publish/subscribe helper behind every adapter's telemetry() and mission_events().

Pure logic (no protocol): the adapters' own tests cover it over MAVLink, DDS and TCP.
"""

from __future__ import annotations

import asyncio

import pytest

from fleet_manager.adapters.fanout import Fanout

pytestmark = pytest.mark.timeout(10)


async def _take(iterator: object, count: int) -> list[int]:
    got: list[int] = []
    async for item in iterator:  # type: ignore[attr-defined]
        got.append(item)
        if len(got) == count:
            break
    return got


async def test_a_slow_subscriber_keeps_the_newest_items_and_does_not_hold_up_a_fast_one() -> None:
    """Queue of 3: a reader that does not read while 10 items go out sees the last 3; another reader sees all 10."""
    fanout: Fanout[int] = Fanout(3)
    slow = fanout.subscribe()
    fast_seen: list[int] = []

    async def fast() -> None:
        async for item in fanout.subscribe():
            fast_seen.append(item)

    slow_first = asyncio.ensure_future(slow.__anext__())
    fast_task = asyncio.create_task(fast())
    await asyncio.sleep(0)  # both register their queues
    assert fanout.subscribers == 2
    fanout.publish(0)
    assert await slow_first == 0
    for item in range(1, 10):
        fanout.publish(item)
        await asyncio.sleep(0)  # the fast reader takes each item as it comes; the slow one never reads
    fanout.close()
    await fast_task
    assert fast_seen == list(range(10))
    assert [item async for item in slow] == [7, 8, 9]
    assert fanout.dropped == 6


async def test_close_ends_every_iterator_even_a_full_one_and_later_subscribers_end_at_once() -> None:
    """close() ends readers after everything they hold, a full queue too; new readers get nothing."""
    fanout: Fanout[int] = Fanout(2)
    full = fanout.subscribe()
    first = asyncio.ensure_future(full.__anext__())
    await asyncio.sleep(0)
    fanout.publish(1)
    assert await first == 1
    fanout.publish(2)
    fanout.publish(3)
    waiting = asyncio.create_task(_take(fanout.subscribe(), 5))
    await asyncio.sleep(0)
    fanout.close()
    assert await asyncio.wait_for(waiting, 1.0) == []
    assert [item async for item in full] == [2, 3]
    assert fanout.subscribers == 0 and fanout.closed
    assert [item async for item in fanout.subscribe()] == []
    fanout.publish(4)  # publishing after close reaches nobody and does not fail

    fanout.reopen()
    again = asyncio.create_task(_take(fanout.subscribe(), 1))
    await asyncio.sleep(0)
    fanout.publish(5)
    assert await asyncio.wait_for(again, 1.0) == [5]


async def test_a_subscriber_unsubscribes_when_its_generator_is_closed_or_its_task_cancelled() -> None:
    """aclose() and task cancellation run the generator's finally: its queue is gone, publishing goes on."""
    fanout: Fanout[int] = Fanout(4)
    closed_early = fanout.subscribe()
    first = asyncio.ensure_future(closed_early.__anext__())
    await asyncio.sleep(0)
    assert fanout.subscribers == 1
    fanout.publish(1)
    assert await first == 1
    await closed_early.aclose()
    assert fanout.subscribers == 0

    reader = asyncio.create_task(_take(fanout.subscribe(), 100))
    await asyncio.sleep(0)
    assert fanout.subscribers == 1
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert fanout.subscribers == 0
    fanout.publish(2)
    assert fanout.dropped == 0


def test_a_queue_must_hold_at_least_one_item() -> None:
    """maxsize 0 would mean unbounded in asyncio.Queue: refused, naming the fan-out."""
    with pytest.raises(ValueError, match="events: maxsize must be >= 1, got 0"):
        Fanout(0, name="events")
