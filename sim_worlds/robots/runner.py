"""Run N sim robots in one process with one executor: the body of `finalmile robots`.

Settings come from the command-line flags (`FleetConfig`) and, over them, from ROS parameters
(`--ros-args -p ...`, `--params-file`, a launch file's `parameters=`; see `sim_worlds.robots.params`).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mission_planner.energy import RobotModel
from sim_worlds.robots.battery import SimBattery
from sim_worlds.robots.robot import RobotSim
from sim_worlds.robots.robot_map import MapDatumSetting
from sim_worlds.robots.route import WalkRouter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetConfig:
    """What `finalmile robots` starts: names `{prefix}{first_index}..`, all at the world's hub."""

    count: int
    world: str = "helsinki"
    speedup: float = 1.0
    domain_id: int | None = None
    battery_pct: float = 100.0
    speed_limit_m_s: float = 1.7
    namespace_prefix: str = "robot_"
    first_index: int = 1
    max_snap_m: float = 50.0
    control_port: int | None = None  # sim-control channel (robots/sim_control.py); 0 = any free port
    map_datum: MapDatumSetting | None = None  # every robot's map frame (None: the world's frame)
    fromll_service: bool = False  # offer robot_localization fromLL / toLL per robot
    executor: Literal["events", "single_threaded"] = "events"  # rclpy executor spinning all robots

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if self.speedup <= 0:
            raise ValueError(f"speedup must be > 0, got {self.speedup}")
        if self.domain_id is not None and not 0 <= self.domain_id <= 232:
            raise ValueError(f"domain_id must be within 0..232, got {self.domain_id}")
        if self.executor not in ("events", "single_threaded"):
            raise ValueError(f"executor must be events or single_threaded, got {self.executor!r}")

    def namespaces(self) -> list[str]:
        """`/robot_1`, `/robot_2`, ..."""
        return [f"/{self.namespace_prefix}{self.first_index + i}" for i in range(self.count)]


def build_robots(config: FleetConfig, world: Any = None) -> list[tuple[str, RobotSim]]:
    """(namespace, RobotSim) for every robot, each on the walk node nearest the world's hub."""
    from fleet_manager.world import load_world

    world = world if world is not None else load_world(config.world)
    router = WalkRouter(world.walk_graph, max_snap_m=config.max_snap_m)
    start_node, _ = router.nearest_node(world.hub.x_m, world.hub.y_m)
    start_xy = router.node_xy(start_node)
    model = RobotModel(speed_m_s=config.speed_limit_m_s)
    return [
        (
            namespace,
            RobotSim(
                namespace.strip("/"),
                router,
                start_xy,
                battery=SimBattery.at_percent(model, config.battery_pct),
                speed_limit_m_s=config.speed_limit_m_s,
                dock_xy=start_xy,  # they start on the hub's dock
            ),
        )
        for namespace in config.namespaces()
    ]


def _executor(kind: str, context: Any) -> Any:
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context)


def run_fleet(config: FleetConfig, stop: threading.Event | None = None, ros_args: Sequence[str] = ()) -> None:
    """Spin all robots until `stop` is set or SIGINT/SIGTERM arrives; `ros_args` follow `--ros-args`."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from fleet_manager.world import load_world
    from sim_worlds.robots.node import SimRobotNode
    from sim_worlds.robots.params import MANAGER_NODE, declare_fleet, robot_node_arguments

    stop = stop or threading.Event()
    context = Context()
    arguments = ["finalmile-robots", *(("--ros-args", *ros_args) if ros_args else ())]
    # Signals are ours (stop the loop cleanly), not rclpy's.
    rclpy.init(context=context, domain_id=config.domain_id, signal_handler_options=SignalHandlerOptions.NO,
               args=arguments)
    manager = rclpy.create_node(MANAGER_NODE, context=context)
    nodes: list[Any] = []
    control = None
    executor: Any = None
    try:
        config = declare_fleet(manager, config)
        world = load_world(config.world)
        robots = build_robots(config, world)
        gc.freeze()  # the world's objects (graphs, footprints) stay: keep full collections short for the ticks
        if config.control_port is not None:
            from sim_worlds.robots.sim_control import RobotControlServer

            control = RobotControlServer([robot for _, robot in robots], world.frame, port=config.control_port)
            logger.warning("robots: sim-control on tcp:127.0.0.1:%d", control.start())
        executor = _executor(config.executor, context)
        executor.add_node(manager)
        robot_args = ["--ros-args", *robot_node_arguments(ros_args)]
        for namespace, robot in robots:
            node = SimRobotNode(robot, namespace=namespace, speedup=config.speedup, context=context,
                                world_frame=world.frame, map_datum=config.map_datum,
                                fromll_service=config.fromll_service, cli_args=robot_args)
            executor.add_node(node)
            nodes.append(node)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
        logger.info(
            "%d sim robot(s) ready on ROS_DOMAIN_ID %s: %s (speedup %g, %s executor)",
            len(nodes),
            config.domain_id if config.domain_id is not None else "from env",
            " ".join(config.namespaces()),
            config.speedup,
            config.executor,
        )
        while not stop.is_set():
            try:
                executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                break
    finally:
        if control is not None:
            control.stop()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        for node in nodes:
            node.destroy_node()
        manager.destroy_node()
        rclpy.shutdown(context=context)
