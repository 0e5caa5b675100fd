"""A scenario's fleet file: which drones and robots ride on which van; drones the van cannot move stay at the hub."""

from __future__ import annotations

from sim_worlds.fleet_setup import scenario_fleet
from sim_worlds.scenario import load_scenario


def _scenario():  # type: ignore[no-untyped-def]
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data["fleet"]["vans"].update(count=2, carries_drones=1, carries_robots=2)
    return load_scenario("helsinki_day").model_validate(data)


def test_the_first_drones_and_robots_per_van_ride_on_it() -> None:
    """carries_drones 1 and carries_robots 2 per van: drone-1 and robot_1..2 on van-1, drone-2 and robot_3..4 on
    van-2, the rest at the hub."""
    fleet = scenario_fleet(_scenario(), drone_urls=[f"tcp:127.0.0.1:{5760 + 10 * i}" for i in range(3)],
                           robot_count=5, van_urls=[("van-1", "tcp:127.0.0.1:7100"), ("van-2", "tcp:127.0.0.1:7100")],
                           recipient_presence_url=None)
    carriers = {v.vehicle_id: v.carried_by for v in fleet.vehicles}
    assert carriers == {"drone-1": "van-1", "drone-2": "van-2", "drone-3": None, "robot_1": "van-1",
                        "robot_2": "van-1", "robot_3": "van-2", "robot_4": "van-2", "robot_5": None,
                        "van-1": None, "van-2": None}


def test_drones_a_van_cannot_move_fly_from_the_hub() -> None:
    """SITL drones (no sim-control channel): no drone rides on a van; robots still do."""
    fleet = scenario_fleet(_scenario(), drone_urls=["tcp:127.0.0.1:5760", "tcp:127.0.0.1:5770"], robot_count=2,
                           van_urls=[("van-1", "tcp:127.0.0.1:7100")], recipient_presence_url=None,
                           vans_carry_drones=False)
    carriers = {v.vehicle_id: v.carried_by for v in fleet.vehicles}
    assert carriers["drone-1"] is None and carriers["drone-2"] is None
    assert carriers["robot_1"] == carriers["robot_2"] == "van-1"
