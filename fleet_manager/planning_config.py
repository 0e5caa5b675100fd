"""The live planner's knobs (`PlanningConfig`) and the van handoffs the dispatcher can execute."""

from __future__ import annotations

from dataclasses import dataclass, field

from mission_planner.model import ObjectiveKind
from mission_planner.van_handoff import HandoffPolicy, Recovery

from .van_departure import VanConsolidation


def dispatcher_handoff(search_s: float = 0.25, spare_packs: int = 0, *, return_to_hub: bool = False) -> HandoffPolicy:
    """The van handoffs the dispatcher executes: the van sets drones (robots) down at a stop, drives on and
    takes each back aboard at the stop the plan names (that one or a later one), where it may set it down
    again for its next trip; none leaves from the hub. None is recovered there by the van either (the van's
    trip ends at the hub after its last stop, which its mission has no stop for), but with `return_to_hub` a
    drone's last sortie of the van trip may end at the hub, where it lands on its own
    (`mission_planner.hub_return`, FINALMILE_HANDOFF_RETURN_TO_HUB). The planner's sortie search gets `search_s`
    per van trip; a carried drone's trips of one van trip are counted against the pack it left with plus the
    van's `spare_packs` charged packs, one swapped in at each recovery (FINALMILE_HANDOFF_SEARCH_S,
    FINALMILE_VAN_SPARE_PACKS)."""
    return HandoffPolicy(recovery=Recovery.LATER_STOP, launch_at_depot=False, recovery_at_depot=False,
                         search_s=search_s, spare_packs=spare_packs, return_to_hub=return_to_hub)


@dataclass(frozen=True)
class PlanningConfig:
    """Knobs of the translation and of the planner calls."""

    drone_safety_margin_m: float = 25.0
    path_horizon_s: float = 3600.0  # zones active within this of departure are avoided
    vertical_margin_m: float = 10.0
    time_budget_s: float = 2.0  # full plan (solver wall time), at most
    replan_budget_s: float = 0.5  # incremental re-plan after new/withdrawn orders, at most
    budget_per_order_s: float = 0.002  # small problems converge fast: budget = min(cap, floor + this x orders)
    budget_floor_s: float = 0.1
    full_plan_period_s: float = 120.0  # replan() at most this long after the last full plan
    dispatch_slack_s: float = 60.0  # a trip planned to start within this of now starts now
    late_after_s: float = 600.0  # orders due sooner than this are planned without a deadline (late beats never)
    objective: ObjectiveKind = ObjectiveKind.DURATION  # deliver soon: vehicle-seconds, not euros
    min_spare_charge_fraction: float = 0.03  # idle drones/robots with less above their reserve are not planned
    # Trips are planned to land with this fraction of the battery above the vehicle's reserve: for what the energy
    # model does not see (mavsim drew 2.4-4.7 % more than the model on long flights; hovering at a door; the live
    # battery check's own margin). Planned to the reserve itself, hub drones landed at 21-23 % with a 25 % reserve.
    energy_margin_fraction: float = 0.05
    recharge_fraction: float = 0.05  # an idle vehicle's charge moved this much (a swap): plan afresh
    handoff: HandoffPolicy = field(default_factory=dispatcher_handoff)
    # True: carried drones/robots whose van is at the hub fly from the hub when a plan finds them a trip there now,
    # and the van takes the others. Off by default: on the full Andorra day it delivered fewer parcels on time (the
    # plan with them at the hub gives the near parcels to the van, whose detour costs fewer vehicle-seconds).
    hub_first: bool = False
    van_consolidation: VanConsolidation = field(default_factory=VanConsolidation)  # see fleet_manager.van_departure
    seed: int = 0


