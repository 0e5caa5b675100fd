"""Ros2Bridge: the one asyncio <-> rclpy crossing (results, rclpy futures, errors, timeouts, callbacks to the loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")

from fleet_manager.adapters.ros2_bridge import BridgeError, BridgeTimeout, Ros2Bridge
from sim_worlds.leases import lease_ros_domain

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]


@pytest.fixture
def bridge() -> Iterator[Ros2Bridge]:
    """A started bridge on a random ROS domain."""
    with lease_ros_domain() as domain:
        ros_bridge = Ros2Bridge(domain_id=domain.number, node_name="bridge_test")
        ros_bridge.start()
        yield ros_bridge
        ros_bridge.close()


async def test_call_runs_in_the_ros_thread_and_returns_the_value(bridge: Ros2Bridge) -> None:
    """The function runs on the bridge's thread, not the loop's, and its value comes back."""
    thread_name = await bridge.call(lambda: threading.current_thread().name, timeout_s=5.0)
    assert thread_name == "ros2-bridge"


async def test_call_waits_for_an_rclpy_future(bridge: Ros2Bridge) -> None:
    """A returned rclpy Future is awaited without blocking: its result crosses back when it completes."""
    from rclpy.task import Future

    future = Future()
    pending = asyncio.ensure_future(bridge.call(lambda: future, timeout_s=5.0))
    await asyncio.sleep(0.2)
    assert not pending.done()
    await bridge.call(lambda: future.set_result(42), timeout_s=5.0)
    assert await pending == 42


async def test_errors_raised_in_the_ros_thread_reach_the_caller(bridge: Ros2Bridge) -> None:
    """An exception in the ROS thread is raised at the await."""

    def fail() -> None:
        raise KeyError("no such robot")

    with pytest.raises(KeyError, match="no such robot"):
        await bridge.call(fail, timeout_s=5.0)


async def test_unanswered_call_times_out_with_what_was_asked(bridge: Ros2Bridge) -> None:
    """A future that never completes raises BridgeTimeout naming the call."""
    from rclpy.task import Future

    with pytest.raises(BridgeTimeout, match="goal response"):
        await bridge.call(Future, timeout_s=0.2, what="goal response")


async def test_to_loop_hands_ros_callbacks_to_the_loop_thread(bridge: Ros2Bridge) -> None:
    """A wrapped handler called from the ROS thread runs on the asyncio loop's thread."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Queue[tuple[object, str]] = asyncio.Queue()
    handler = bridge.to_loop(loop, lambda message: seen.put_nowait((message, threading.current_thread().name)))
    await bridge.call(lambda: handler("odom"), timeout_s=5.0)
    message, thread_name = await asyncio.wait_for(seen.get(), 5.0)
    assert message == "odom" and thread_name == threading.current_thread().name


async def test_closed_bridge_refuses_calls() -> None:
    """Calling a bridge that is not started names the fix."""
    with pytest.raises(BridgeError, match="not running"):
        await Ros2Bridge().call(lambda: None, timeout_s=1.0)
