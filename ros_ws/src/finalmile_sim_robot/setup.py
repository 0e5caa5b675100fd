"""ament_python package of FinalMile's sim robot: console script + launch file around sim_worlds.robots."""

from glob import glob

from setuptools import setup

PACKAGE = "finalmile_sim_robot"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FinalMile developers",
    maintainer_email="dev@finalmile.invalid",
    description="Nav2-compatible sidewalk sim robot (NavigateToPose, odom, battery_state, open_compartment).",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"sim_robots = {PACKAGE}.main:main"]},
)
