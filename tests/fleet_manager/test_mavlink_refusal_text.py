"""Which STATUSTEXT explains a refused command: the one naming it, not a periodic warning sent in the same second."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from fleet_manager.adapters.mavlink_link import mavlink
from fleet_manager.adapters.mavlink_session import MavlinkSession, MavlinkTimeouts
from mission_planner.clock import Clock

ARM_PREFIXES = ("Arm:", "PreArm:")


def _session() -> MavlinkSession:
    return MavlinkSession("d1", "udpout:127.0.0.1:9", lambda msg: None, clock=Clock(), timeouts=MavlinkTimeouts(),
                          source_system=255, source_component=190)  # fmt: skip


def _text(session: MavlinkSession, text: str, severity: int = mavlink.MAV_SEVERITY_WARNING) -> None:
    session.on_statustext(SimpleNamespace(text=text, severity=severity))


async def test_an_unrelated_warning_in_the_same_second_is_not_the_reason() -> None:
    session = _session()
    _text(session, "ODID: lost operator location")
    _text(session, "Arm: OpenDroneID: SYSTEM not available", mavlink.MAV_SEVERITY_CRITICAL)
    assert await session.texts_since(0.0, ARM_PREFIXES) == "Arm: OpenDroneID: SYSTEM not available"
    assert "ODID: lost operator location" in await session.texts_since(0.0)


async def test_the_reason_that_trails_the_ack_is_waited_for() -> None:
    session = _session()
    _text(session, "ODID: lost operator location")
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, _text, session, "PreArm: Battery 1 below minimum arming voltage")
    assert await session.texts_since(0.0, ARM_PREFIXES) == "PreArm: Battery 1 below minimum arming voltage"


async def test_without_a_named_text_the_other_texts_are_still_given() -> None:
    session = _session()
    _text(session, "EKF3 IMU0 is using GPS", mavlink.MAV_SEVERITY_INFO)
    assert await session.texts_since(0.0, ARM_PREFIXES) == "EKF3 IMU0 is using GPS"
