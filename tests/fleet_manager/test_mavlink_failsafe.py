"""FinalMile sets and reads back ArduCopter's GCS-failsafe parameters when it connects to a drone (mavsim over UDP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from mission_planner.clock import Clock

SPEEDUP = 10.0


def test_removed_or_out_of_range_values_are_refused() -> None:
    """FS_GCS_ENABLE=2 (removed in Copter 4.0, blocks arming) and a timeout outside 2..120 s are clear errors."""
    with pytest.raises(ValueError, match="removed"):
        GcsFailsafe(enable=2)
    with pytest.raises(ValueError, match="FS_GCS_TIMEOUT"):
        GcsFailsafe(timeout_s=1.0)
    assert GcsFailsafe().options_set == 2 | 8


@pytest.fixture(scope="module")
def mavsim() -> Iterator[Any]:
    """Two vehicles; FS_OPTIONS starts at 48 (Copter's 16 + 'release gripper' 32), as an operator may have set."""
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(2, speedup=SPEEDUP, params={"FS_OPTIONS": 48, "FS_GCS_TIMEOUT": 5}) as sim:
        yield sim


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_connect_sets_the_failsafe_and_keeps_the_operators_other_bits(mavsim: Any) -> None:
    """After connect: FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 15, FS_OPTIONS 48|2|8, read back from the vehicle."""
    drone = MavlinkAdapter("drone-fs", f"udpout:127.0.0.1:{mavsim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP),
                           gcs_failsafe=GcsFailsafe())
    try:
        await drone.connect(timeout_s=20)
        assert drone.gcs_failsafe_params == {"FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 15.0, "FS_OPTIONS": 58.0}
        assert await drone.get_parameter("FS_OPTIONS") == 58.0
        assert await drone.get_parameter("FS_GCS_TIMEOUT") == 15.0
    finally:
        await drone.close()

