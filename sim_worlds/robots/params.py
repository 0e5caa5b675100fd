"""ROS 2 parameters of the sim robots: `--ros-args -p name:=value`, `--params-file`, a launch file's `parameters=`.

A robots process has one manager node, `sim_robots` (named as a launch file names it), that declares
the process's settings; the command-line flags are their defaults:

    count, world, speedup, battery_pct, speed_limit, namespace_prefix, first_index

Every robot node (`/robot_1/sim_robot`, ...) declares its own map datum and navsat services, with
the manager's values as defaults, so one `-p` sets every robot of the process and a parameters file
can set one robot (`/robot_2/sim_robot: {ros__parameters: {map_datum: {...}}}`):

    map_datum.latitude_deg, map_datum.longitude_deg   map (0, 0) in WGS84 (unset: the world's frame)
    map_datum.yaw_deg                                  x axis, degrees from east, counter-clockwise
    map_datum.projection                               local_cartesian | utm
    fromll_service                                     offer fromLL / toLL (robot_localization) in the namespace

Numbers take integers too (`-p speedup:=10`). A robot node is created with the process's ROS
arguments but without its node-name and namespace remaps (which a launch file adds for the manager
and which would otherwise rename every node of the process).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mission_planner.errors import FinalMileError
from sim_worlds.robots.robot_map import MapDatumSetting

MANAGER_NODE = "sim_robots"
_NAME_REMAPS = ("__node", "__name", "__ns")


class ParameterError(FinalMileError):
    """A sim-robot ROS parameter has a value of the wrong type or out of range; names the parameter."""


def robot_node_arguments(ros_args: Sequence[str]) -> list[str]:
    """The process's ROS arguments for a robot node: all but node-name / namespace remaps."""
    kept: list[str] = []
    index = 0
    while index < len(ros_args):
        argument = ros_args[index]
        if argument in ("-r", "--remap") and index + 1 < len(ros_args):
            rule = ros_args[index + 1]
            target = rule.split(":=", 1)[0].rsplit(":", 1)[-1]
            if target not in _NAME_REMAPS:
                kept += [argument, rule]
            index += 2
            continue
        kept.append(argument)
        index += 1
    return kept


def _descriptor(text: str) -> Any:
    from rcl_interfaces.msg import ParameterDescriptor

    return ParameterDescriptor(description=text, dynamic_typing=True)


def _number(node: Any, name: str, default: float, text: str) -> float:
    value = node.declare_parameter(name, default, _descriptor(text)).value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{node.get_fully_qualified_name()}: parameter {name} must be a number, got {value!r}")
    return float(value)


def _integer(node: Any, name: str, default: int, text: str) -> int:
    value = node.declare_parameter(name, default, _descriptor(text)).value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{node.get_fully_qualified_name()}: parameter {name} must be an integer, got {value!r}")
    return value


def _text(node: Any, name: str, default: str, text: str) -> str:
    value = node.declare_parameter(name, default, _descriptor(text)).value
    if not isinstance(value, str):
        raise ParameterError(f"{node.get_fully_qualified_name()}: parameter {name} must be a string, got {value!r}")
    return value


def _flag(node: Any, name: str, default: bool, text: str) -> bool:
    value = node.declare_parameter(name, default, _descriptor(text)).value
    if not isinstance(value, bool):
        where = node.get_fully_qualified_name()
        raise ParameterError(f"{where}: parameter {name} must be true or false, got {value!r}")
    return value


def declare_fleet(node: Any, config: Any) -> Any:
    """The manager's parameters over `config` (a runner.FleetConfig): the config the process runs."""
    values = {
        "count": _integer(node, "count", config.count, "number of robots (namespaces prefix+first_index..)"),
        "world": _text(node, "world", config.world, "FinalMile world name or world YAML path"),
        "speedup": _number(node, "speedup", config.speedup, "simulated seconds per wall second"),
        "battery_pct": _number(node, "battery_pct", config.battery_pct, "initial battery charge in percent"),
        "speed_limit_m_s": _number(node, "speed_limit", config.speed_limit_m_s, "driving speed limit in m/s"),
        "namespace_prefix": _text(node, "namespace_prefix", config.namespace_prefix, "robot namespace prefix"),
        "first_index": _integer(node, "first_index", config.first_index, "index of the first robot"),
    }
    datum = declare_map(node, config.map_datum, config.fromll_service)
    try:
        return replace(config, **values, map_datum=datum[0], fromll_service=datum[1])
    except ValueError as exc:
        raise ParameterError(f"{node.get_fully_qualified_name()}: {exc}") from exc


def declare_map(node: Any, default: MapDatumSetting | None, fromll: bool) -> tuple[MapDatumSetting | None, bool]:
    """The node's map datum (None: the world's frame) and whether it offers fromLL/toLL, defaults given."""
    nan = float("nan")
    latitude_deg = _number(node, "map_datum.latitude_deg", default.latitude_deg if default else nan,
                           "map origin latitude, WGS84 degrees (unset: the world's frame)")
    longitude_deg = _number(node, "map_datum.longitude_deg", default.longitude_deg if default else nan,
                            "map origin longitude, WGS84 degrees")
    yaw_deg = _number(node, "map_datum.yaw_deg", default.yaw_deg if default else 0.0,
                      "map x axis, degrees from east, counter-clockwise (REP-103)")
    projection = _text(node, "map_datum.projection", default.projection if default else "local_cartesian",
                       "map plane: local_cartesian or utm (robot_localization's use_local_cartesian)")
    offers = _flag(node, "fromll_service", fromll, "offer robot_localization fromLL/toLL in the robot's namespace")
    where = node.get_fully_qualified_name()
    if math.isnan(latitude_deg) and math.isnan(longitude_deg):
        return None, offers
    if math.isnan(latitude_deg) or math.isnan(longitude_deg):
        raise ParameterError(f"{where}: map_datum needs both latitude_deg and longitude_deg "
                             f"(got {latitude_deg}, {longitude_deg})")  # fmt: skip
    datum = MapDatumSetting(latitude_deg, longitude_deg, yaw_deg, projection)
    try:
        datum.frame()
    except ValueError as exc:
        raise ParameterError(f"{where}: map_datum: {exc}") from exc
    return datum, offers
