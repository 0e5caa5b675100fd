"""Launch N FinalMile sim robots (namespaces /robot_1..N) in one process on the current ROS domain.

ros2 launch finalmile_sim_robot sim_robots.launch.py count:=3 world:=helsinki speedup:=10
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """One `sim_robots` process running `count` robots with one executor."""
    arguments = {
        "count": ("1", "number of robots (namespaces /robot_1..N)"),
        "world": ("helsinki", "FinalMile world name or world YAML path"),
        "speedup": ("1.0", "simulated seconds per wall second"),
        "battery_pct": ("100", "initial battery charge in percent"),
        "speed_limit": ("1.7", "driving speed limit in m/s"),
    }
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=text)
        for name, (default, text) in arguments.items()
    ]
    robots = Node(
        package="finalmile_sim_robot",
        executable="sim_robots",
        name="sim_robots",
        output="screen",
        arguments=[
            "--count",
            LaunchConfiguration("count"),
            "--world",
            LaunchConfiguration("world"),
            "--speedup",
            LaunchConfiguration("speedup"),
            "--battery-pct",
            LaunchConfiguration("battery_pct"),
            "--speed-limit",
            LaunchConfiguration("speed_limit"),
        ],
    )
    return LaunchDescription([*declared, robots])
