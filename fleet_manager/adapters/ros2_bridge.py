"""The one crossing between the fleet manager's asyncio loop and ROS 2 (rclpy in its own executor thread).

`Ros2Bridge` owns an rclpy context on a ROS domain, its node(s) and an executor spinning in a
daemon thread; every ROS 2 adapter shares it. Only two doors cross threads:

- asyncio → ROS: `await bridge.call(fn)` runs `fn` in the executor thread (where rclpy objects
  may be touched) and hands back its result; if `fn` returns an rclpy Future (a goal response, a
  result, a service reply), the crossing waits for that future instead, without blocking either side.
- ROS → asyncio: `bridge.to_loop(loop, handler)` wraps an asyncio-side handler so that a ROS
  callback (subscription, action feedback) schedules it on the loop. Messages queue in one inbox
  per loop and the loop is woken once per batch, not once per message (a hundred robots send some
  two thousand messages a second).

Nothing else in the fleet manager calls rclpy from asyncio code or asyncio from ROS callbacks.

How it spins was chosen by measuring (`python -m benchmarks ros2`, benchmarks/results/ros2.csv):
rclpy's EventsExecutor (`executor="events"`, the default) against the SingleThreadedExecutor,
and one node for all robots (`nodes="shared"`, the default) against one node per robot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from mission_planner.errors import FinalMileError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BridgeError(FinalMileError):
    """The ROS 2 bridge is not running, or a call through it failed or timed out."""


class BridgeTimeout(BridgeError):
    """A call through the bridge got no answer within its timeout."""


ExecutorKind = Literal["events", "single_threaded"]
NodeLayout = Literal["shared", "per_robot"]


class _Inbox:
    """ROS-thread messages for one asyncio loop, handed over in batches (one wake-up per batch)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, handler: Callable[[Any], None], message: Any) -> None:
        """From the ROS thread: queue `handler(message)`; wake the loop if no drain is pending."""
        with self._lock:
            self._items.append((handler, message))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop was closed: the adapters are gone and the messages moot
            with self._lock:
                self._items.clear()
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            batch, self._items = self._items, deque()
            self._scheduled = False
        for handler, message in batch:
            try:
                handler(message)
            except Exception:  # one robot's bad message must not cost the others theirs
                logger.exception("error handling a ROS 2 message on the loop")


class Relay:
    """A ROS callback that hands each message to whoever is attached now (adapters come and go; entities stay).

    Attach and detach from any thread: the handler map is replaced, never changed in place.
    """

    def __init__(self) -> None:
        self._handlers: dict[object, Callable[[Any], None]] = {}

    def attach(self, owner: object, handler: Callable[[Any], None]) -> None:
        """Deliver to `handler` (typically `Ros2Bridge.to_loop(...)`) on behalf of `owner`."""
        self._handlers = {**self._handlers, owner: handler}

    def detach(self, owner: object) -> None:
        """Stop delivering to `owner`'s handler."""
        self._handlers = {key: value for key, value in self._handlers.items() if key is not owner}

    def __call__(self, message: Any) -> None:
        for handler in self._handlers.values():
            handler(message)


class Ros2Bridge:
    """rclpy in its own executor thread, shared by every ROS 2 adapter of a fleet manager.

    `executor`: "events" (rclpy's EventsExecutor) or "single_threaded"; `nodes`: "shared" (one node
    holds every robot's entities) or "per_robot" (`node_for(namespace)` gives each robot a node).
    """

    def __init__(
        self, *, domain_id: int | None = None, node_name: str = "finalmile_fleet_manager",
        executor: ExecutorKind = "events", nodes: NodeLayout = "shared",
    ) -> None:  # fmt: skip
        if domain_id is not None and not 0 <= domain_id <= 232:
            raise ValueError(f"domain_id must be within 0..232, got {domain_id}")
        if executor not in ("events", "single_threaded"):
            raise ValueError(f"executor must be 'events' or 'single_threaded', got {executor!r}")
        if nodes not in ("shared", "per_robot"):
            raise ValueError(f"nodes must be 'shared' or 'per_robot', got {nodes!r}")
        self.domain_id = domain_id
        self.node_name = node_name
        self.executor_kind = executor
        self.nodes = nodes
        self._context: Any = None
        self._node: Any = None
        self._robot_nodes: dict[str, Any] = {}
        self._entities: dict[str, Any] = {}
        self._executor: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._inboxes: dict[asyncio.AbstractEventLoop, _Inbox] = {}

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
        from rclpy.signals import SignalHandlerOptions

        self._stop.clear()
        self._context = Context()
        # The fleet manager owns its signals; rclpy must not install handlers from a library thread.
        rclpy.init(context=self._context, domain_id=self.domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self._node = rclpy.create_node(self.node_name, context=self._context)
        if self.executor_kind == "events":
            from rclpy.experimental import EventsExecutor

            self._executor = EventsExecutor(context=self._context)
        else:
            from rclpy.executors import SingleThreadedExecutor

            self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, name="ros2-bridge", daemon=True)
        self._thread.start()
        logger.info("ROS 2 bridge %s started on ROS_DOMAIN_ID %s (%s executor, %s node%s)", self.node_name,
                    self.domain_id, self.executor_kind, self.nodes, "" if self.nodes == "shared" else "s")

    def node_for(self, namespace: str) -> Any:
        """The node to hold a robot's entities (the shared node, or the robot's own); call in the ROS thread."""
        if self.nodes == "shared":
            return self.node
        node = self._robot_nodes.get(namespace)
        if node is None:
            import rclpy

            name = f"{self.node_name}_{namespace.strip('/').replace('/', '_')}"
            node = rclpy.create_node(name, context=self._context, start_parameter_services=False)
            self._executor.add_node(node)
            self._robot_nodes[namespace] = node
        return node

    def entities(self, key: str, create: Callable[[], T]) -> T:
        """The ROS entities kept under `key`, made once by `create()`; call in the ROS thread.

        Entities live as long as the bridge: an adapter that closes detaches from them (its `Relay`s)
        and one that connects again finds them. Destroying an entity while rclpy's EventsExecutor
        spins can crash the process when events for it are still queued (ros2/rclpy#1644; measured
        here: a segfault within three rounds of closing and reconnecting 20 robots).
        """
        if key not in self._entities:
            self._entities[key] = create()
        return self._entities[key]  # type: ignore[no-any-return]

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
        self._entities.clear()  # destroyed with their nodes, now that nothing spins
        for node in self._robot_nodes.values():
            node.destroy_node()
        self._robot_nodes.clear()
        self._node.destroy_node()
        rclpy.shutdown(context=self._context)
        self._node = self._executor = self._context = None
        self._inboxes.clear()

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

    def to_loop(self, loop: asyncio.AbstractEventLoop, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """A ROS callback that runs `handler(msg)` on `loop`, in order, batched (dropped once the loop is closed)."""
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inboxes.setdefault(loop, _Inbox(loop))

        def on_message(message: Any) -> None:
            inbox.put(handler, message)

        return on_message
