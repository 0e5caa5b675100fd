"""FinalMile sets and reads back ArduCopter's GCS-failsafe parameters, and makes itself the drone's GCS (the
system id whose heartbeats the failsafe watches), when it connects to a drone (mavsim over UDP)."""

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
    assert GcsFailsafe().options_clear == 16  # no pilot: a BRAKE hold is not "pilot control"


@pytest.fixture(scope="module")
def mavsim() -> Iterator[Any]:
    """Two vehicles; FS_OPTIONS starts at 48 (Copter's 16 + 'release gripper' 32), as an operator may have set."""
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(2, speedup=SPEEDUP, params={"FS_OPTIONS": 48, "FS_GCS_TIMEOUT": 5}) as sim:
        yield sim


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_connect_sets_the_failsafe_and_keeps_the_operators_other_bits(mavsim: Any) -> None:
    """After connect: MAV_GCS_SYSID 255 (our id), FS_GCS_ENABLE 1, FS_GCS_TIMEOUT 15, FS_OPTIONS 48|2|8 without
    Copter's 16 ("continue if pilot control"), read back from the vehicle."""
    drone = MavlinkAdapter("drone-fs", f"udpout:127.0.0.1:{mavsim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP),
                           gcs_failsafe=GcsFailsafe())
    try:
        await drone.connect(timeout_s=20)
        assert drone.gcs_failsafe_params == {"MAV_GCS_SYSID": 255.0, "FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 15.0,
                                             "FS_OPTIONS": 42.0}
        assert await drone.get_parameter("FS_OPTIONS") == 42.0
        assert await drone.get_parameter("FS_GCS_TIMEOUT") == 15.0
    finally:
        await drone.close()



@pytest.mark.sim
@pytest.mark.timeout(60)
@pytest.mark.parametrize("param_names", ["4.7", "before-4.7"])
async def test_connect_makes_our_system_id_the_drones_gcs_whichever_name_the_firmware_uses(param_names: str) -> None:
    """A drone whose GCS id names another station (77): FinalMile, sending as 200, sets it to 200 under the name the
    firmware has (MAV_GCS_SYSID from 4.7, SYSID_MYGCS before) and reads it back."""
    from sim_worlds.mavsim.process import MavsimProcess

    name = "MAV_GCS_SYSID" if param_names == "4.7" else "SYSID_MYGCS"
    with MavsimProcess(1, speedup=SPEEDUP, params={"MAV_GCS_SYSID": 77},
                       extra_args=("--param-names", param_names)) as sim:
        drone = MavlinkAdapter("drone-id", f"udpout:127.0.0.1:{sim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP),
                               gcs_failsafe=GcsFailsafe(), gcs_system_id=200)
        try:
            await drone.connect(timeout_s=30)
            assert drone.gcs_failsafe_params[name] == 200.0, drone.gcs_failsafe_params
            assert set(drone.gcs_failsafe_params) == {name, "FS_GCS_ENABLE", "FS_GCS_TIMEOUT", "FS_OPTIONS"}
            assert await drone.get_parameter(name) == 200.0
        finally:
            await drone.close()
