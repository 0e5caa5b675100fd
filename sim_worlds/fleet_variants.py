"""The three fleets a day is compared with: vans only, vans plus hub drones and robots, full handoff.

Issue 14's comparison runs the same demand and seed three ways, with the same vehicles wherever
they are used (the scenario's fleet is fixed first, then each variant only says who carries whom):

- `vans_only`: the scenario's vans and nothing else (no drones, no robots);
- `hub_drones`: the same vans, and the scenario's drones and robots all based at the hub (no van carries any);
- `handoff`: the same vans carrying all of those drones and robots, spread evenly over the vans
  (8 drones and 2 robots on 4 vans: two drones on each van, a robot on the first two), launched
  and recovered at their stops.

`scenario` is the fleet exactly as the scenario file states it. Pure: a scenario in, a scenario out.
"""

from __future__ import annotations

import enum
import math

from .scenario import Scenario, ScenarioError


class FleetVariant(enum.StrEnum):
    """Who carries whom in a simulated day (see the module docstring)."""

    SCENARIO = "scenario"
    VANS_ONLY = "vans_only"
    HUB_DRONES = "hub_drones"
    HANDOFF = "handoff"


COMPARED = (FleetVariant.VANS_ONLY, FleetVariant.HUB_DRONES, FleetVariant.HANDOFF)


def with_fleet_variant(scenario: Scenario, variant: FleetVariant) -> Scenario:
    """`scenario` with its fleet arranged as `variant`; ScenarioError when the fleet cannot be (no vans)."""
    fleet = scenario.fleet
    drones, robots, vans = fleet.drones, fleet.robots, fleet.vans
    if variant is FleetVariant.SCENARIO:
        return scenario
    if variant is FleetVariant.VANS_ONLY:
        changes = {"drones": drones.model_copy(update={"count": 0}), "robots": robots.model_copy(update={"count": 0}),
                   "vans": vans.model_copy(update={"carries_drones": 0, "carries_robots": 0}), "sitl_drones": 0}
    elif variant is FleetVariant.HUB_DRONES:
        changes = {"vans": vans.model_copy(update={"carries_drones": 0, "carries_robots": 0})}
    else:
        if vans.count == 0:
            raise ScenarioError(f"scenario {scenario.name!r}: fleet variant handoff needs vans to carry the drones")
        per_van_drones = math.ceil(drones.count / vans.count)
        per_van_robots = math.ceil(robots.count / vans.count)
        if per_van_drones > 4 or per_van_robots > 4:
            raise ScenarioError(
                f"scenario {scenario.name!r}: {drones.count} drones and {robots.count} robots on {vans.count} vans "
                "is more than a van carries (4 of a kind)")
        changes = {"vans": vans.model_copy(update={"carries_drones": per_van_drones,
                                                   "carries_robots": per_van_robots})}
    return scenario.model_copy(update={"fleet": fleet.model_copy(update=changes)})
