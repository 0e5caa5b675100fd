"""The one crossing between the fleet manager's asyncio loop and ROS 2 (rclpy in its own executor thread).

`Ros2Bridge` owns an rclpy context on a ROS domain, one node and a single-threaded executor
spinning in a daemon thread; every ROS 2 adapter shares it. Only two doors cross threads:

- asyncio → ROS: `await bridge.call(fn)` runs `fn` in the executor thread (where rclpy objects
  may be touched) and hands back its result; if `fn` returns an rclpy Future (a goal response, a
  result, a service reply), the crossing waits for that future instead, without blocking either side.
- ROS → asyncio: `bridge.to_loop(loop, handler)` wraps an asyncio-side handler so that a ROS
  callback (subscription, action feedback) schedules it on the loop.

Nothing else in the fleet manager calls rclpy from asyncio code or asyncio from ROS callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mission_planner.errors import FinalMileError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BridgeError(FinalMileError):
    """The ROS 2 bridge is not running, or a call through it failed or timed out."""


class BridgeTimeout(BridgeError):
    """A call through the bridge got no answer within its timeout."""


class Ros2Bridge:
    """One rclpy node in its own executor thread, shared by every ROS 2 adapter of a fleet manager."""

    def __init__(self, *, domain_id: int | None = None, node_name: str = "finalmile_fleet_manager") -> None:
        if domain_id is not None and not 0 <= domain_id <= 232:
            raise ValueError(f"domain_id must be within 0..232, got {domain_id}")
        self.domain_id = domain_id
        self.node_name = node_name
        self._context: Any = None
        self._node: Any = None
        self._executor: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        """True between `start()` and `close()`."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def node(self) -> Any:
        """The rclpy node; touch it only inside functions passed to `call`."""
        if self._node is None:
            raise BridgeError("the ROS 2 bridge is not started; call Ros2Bridge.start() first")
        return self._node

    def start(self) -> None:
        """Create the context, node and executor thread; idempotent."""
        if self.running:
            return
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self._stop.clear()
        self._context = Context()
        # The fleet manager owns its signals; rclpy must not install handlers from a library thread.
        rclpy.init(context=self._context, domain_id=self.domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self._node = rclpy.create_node(self.node_name, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, name="ros2-bridge", daemon=True)
        self._thread.start()
        logger.info("ROS 2 bridge %s started on ROS_DOMAIN_ID %s", self.node_name, self.domain_id)

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        while not self._stop.is_set():
            try:
                self._executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                break
            except Exception:  # a callback bug must not kill every robot's link
                logger.exception("error in a ROS 2 callback")

    def close(self) -> None:
        """Stop the executor thread and shut the context down; idempotent."""
        import rclpy

        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=5.0)
        if thread.is_alive():
            logger.warning("ROS 2 bridge thread did not stop within 5 s")
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        rclpy.shutdown(context=self._context)
        self._node = self._executor = self._context = None

    async def call(self, fn: Callable[[], Any], *, timeout_s: float | None, what: str = "ROS 2 call") -> Any:
        """Run `fn()` in the ROS thread and return its result (or the result of the rclpy Future it returns).

        `timeout_s=None` waits without limit and is for callers that bound the wait themselves
        (e.g. a navigation result, ended by link-loss detection or a mission timeout).
        """
        if not self.running:
            raise BridgeError(f"{what}: the ROS 2 bridge is not running")
        from rclpy.task import Future as RosFuture

        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any = None, error: BaseException | None = None) -> None:
            if answer.done():  # the caller timed out or was cancelled meanwhile
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)

        def from_ros_future(future: Any) -> None:
            error = future.exception()
            loop.call_soon_threadsafe(settle, None if error else future.result(), error)

        def in_ros_thread() -> None:
            try:
                result = fn()
            except Exception as exc:
                loop.call_soon_threadsafe(settle, None, exc)
                return
            if isinstance(result, RosFuture):
                result.add_done_callback(from_ros_future)
            else:
                loop.call_soon_threadsafe(settle, result, None)

        self._executor.create_task(in_ros_thread)
        try:
            return await asyncio.wait_for(answer, timeout_s)
        except TimeoutError as exc:
            raise BridgeTimeout(f"{what}: no answer from ROS 2 within {timeout_s} s") from exc

    @staticmethod
    def to_loop(loop: asyncio.AbstractEventLoop, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """A ROS callback that runs `handler(msg)` on `loop` (dropped once the loop is closed)."""

        def on_message(message: Any) -> None:
            # RuntimeError: the loop was closed, the adapter is gone and the message is moot.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(handler, message)

        return on_message
