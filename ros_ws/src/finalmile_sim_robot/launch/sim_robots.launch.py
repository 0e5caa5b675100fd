"""Launch N FinalMile sim robots (namespaces /robot_1..N) in one process on the current ROS domain.

ros2 launch finalmile_sim_robot sim_robots.launch.py count:=3 world:=helsinki speedup:=10
ros2 launch finalmile_sim_robot sim_robots.launch.py count:=2 map_latitude_deg:=60.17 map_longitude_deg:=24.93 \
    map_yaw_deg:=30 map_projection:=utm fromll_service:=true

Everything reaches the robots as ROS parameters (`parameters=`), which the `sim_robots` node and
every robot node declare (sim_worlds/robots/params.py). The map datum applies to every robot; give
one robot its own with a parameters file keyed by its node (`/robot_2/sim_robot`).
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
        "battery_pct": ("100.0", "initial battery charge in percent"),
        "speed_limit": ("1.7", "driving speed limit in m/s"),
        # .nan (YAML's not-a-number) leaves the datum unset: the robots' map is the world's frame.
        "map_latitude_deg": (".nan", "map origin latitude, WGS84 degrees"),
        "map_longitude_deg": (".nan", "map origin longitude, WGS84 degrees"),
        "map_yaw_deg": ("0.0", "map x axis, degrees from east, counter-clockwise"),
        "map_projection": ("local_cartesian", "map plane: local_cartesian or utm"),
        "fromll_service": ("false", "offer robot_localization fromLL/toLL in each robot's namespace"),
    }
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=text)
        for name, (default, text) in arguments.items()
    ]
    parameters = {
        "count": LaunchConfiguration("count"),
        "world": LaunchConfiguration("world"),
        "speedup": LaunchConfiguration("speedup"),
        "battery_pct": LaunchConfiguration("battery_pct"),
        "speed_limit": LaunchConfiguration("speed_limit"),
        "map_datum": {
            "latitude_deg": LaunchConfiguration("map_latitude_deg"),
            "longitude_deg": LaunchConfiguration("map_longitude_deg"),
            "yaw_deg": LaunchConfiguration("map_yaw_deg"),
            "projection": LaunchConfiguration("map_projection"),
        },
        "fromll_service": LaunchConfiguration("fromll_service"),
    }
    robots = Node(
        package="finalmile_sim_robot",
        executable="sim_robots",
        name="sim_robots",
        output="screen",
        parameters=[parameters],
    )
    return LaunchDescription([*declared, robots])
