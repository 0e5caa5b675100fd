"""A Nav2 leg whose result never comes ends the mission after its leg timeout (issue 19, item 6).

The navigator is a stub that accepts the goal and then says nothing (as a wedged bt_navigator
does); the goal protocol itself is tested over ROS 2 in tests/ros.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.ros2_missions import LegTimeout, RobotMissions
from fleet_manager.errors import AdapterTimeout
from mission_planner.clock import Clock

pytestmark = pytest.mark.timeout(60)


class SilentNavigator:
    """Accepts every goal; its result never arrives; records cancels."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.cancels = 0

    async def send(self, x_m: float, y_m: float, **_kwargs: Any) -> object:
        self.handle = object()
        return self.handle

    async def result(self, handle: Any, **_kwargs: Any) -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def cancel(self) -> int | None:
        self.cancels += 1
        return 0


class Telemetry:
    map_xy = (0.0, 0.0)
    home_xy = (0.0, 0.0)
    progress = None

    def on_feedback(self, message: Any, step: int | None) -> None:
        return None

    def position_wgs84(self) -> tuple[float, float]:
        return (60.17, 24.94)


def test_leg_timeout_grows_with_the_leg() -> None:
    timeout = LegTimeout(slowest_m_s=0.5, margin_s=10.0, min_s=30.0)
    assert timeout.for_leg(None, (100.0, 0.0)) == 30.0
    assert timeout.for_leg((0.0, 0.0), (5.0, 0.0)) == 30.0
    assert timeout.for_leg((0.0, 0.0), (300.0, 400.0)) == 1010.0


async def test_a_leg_without_a_result_fails_the_mission_and_cancels_the_goal() -> None:
    navigator = SilentNavigator()

    async def goal_xy(latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        return (3.0, 4.0)

    clock = Clock(speedup=100.0)  # 2 s of leg timeout are 0.02 s of the test
    missions = RobotMissions("robot_1", "/robot_1", goal_xy, clock, Telemetry(), navigator,  # type: ignore[arg-type]
                             link_timeout_s=5.0, leg_timeout=LegTimeout(slowest_m_s=1.0, margin_s=0.0, min_s=2.0))
    mission = Mission("m-1", (MissionStep(StepKind.DELIVER, 60.17, 24.94, order_id="o-1"),))
    await missions.start_mission(mission)
    with pytest.raises(AdapterTimeout, match="leg timeout"):
        await missions.wait_mission(timeout_s=1000.0)
    assert navigator.cancels == 1
