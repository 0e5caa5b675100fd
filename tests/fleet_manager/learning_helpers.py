"""A short learning scenario and a small trained model, shared by the learning tests."""

from __future__ import annotations

from typing import Any

from sim_worlds.scenario import Scenario, load_scenario


def learning_scenario(**changes: Any) -> Scenario:
    """A short day with every knob the history should reveal turned on (no drones: ground legs feel traffic)."""
    base = load_scenario("helsinki_day").model_dump()
    base.update(duration_s=7200.0, zone_events=[])
    base["fleet"]["drones"]["count"] = 0
    base["fleet"]["robots"]["count"] = 10
    base["demand"].update(orders_per_hour=[50.0], stop_ordering_before_end_s=1800.0)
    base["demand"]["cold_chain"]["orders"] = 0
    base["demand"]["cold_chain"]["failing_boxes"] = 0
    base["demand"]["typed_addresses"]["orders"] = 0
    base["demand"]["customs_share"] = 0.6
    base["demand"]["customs"] = {
        "origins": [{"name": "EE", "share": 0.5}, {"name": "CN", "share": 0.5, "delay_factor": 4.0}],
        "categories": [{"name": "apparel", "share": 0.5},
                       {"name": "electronics", "share": 0.5, "min_value_eur": 200, "max_value_eur": 900}],
        "high_value_eur": 150.0, "high_value_delay_factor": 2.0,
    }
    base["traffic"] = {"rush_hours": [{"start": "08:00", "end": "09:00", "van_speed_factor": 0.4,
                                       "robot_speed_factor": 0.5}], "noise_sigma": 0.05}
    base["recipients"]["absence"] = [{"start": "09:30", "end": "10:00", "presence_factor": 0.0}]
    base.update(changes)
    return Scenario.model_validate(base)
