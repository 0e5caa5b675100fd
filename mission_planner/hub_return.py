"""Van-launched drones that fly home to the hub after their last sortie of a van trip.

A drone the van takes back aboard after its last sortie rides with the van until the van is back at the
hub: on a rural trip of two or three hours that is the drone's afternoon gone, and the van stops (and
sometimes waits) for it once more. When the drone can reach the hub from its last drop on its battery,
its reserve kept, it flies there instead and lands on arrival (nothing to wait for: the hub is where it
is recharged), free for hub trips until its van is back. The van's stops and times stay as planned (it
no longer waits for that drone at the recovery stop: on the safe side).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .handoff import HandoffParams, HandoffSchedule, Sortie

# A drone goes home on its own only when it lands this much before the van is back: a smaller gain is not worth
# a long flight home over open country (a hub trip needs a swap and a flight before the van takes it out again).
HOMEBOUND_GAIN_S = 900.0


def homebound(
    schedule: HandoffSchedule,
    carrier_time: np.ndarray,
    params: HandoffParams,
    fits: Callable[[int, Sortie], bool],
) -> HandoffSchedule:
    """`schedule` with each carrier's last sortie recovered at the hub (the tour's last position) where that lands
    it at least `HOMEBOUND_GAIN_S` before the van is back and `fits(index, sortie)` (its battery allows the way
    home); `carrier_time` is the carriers' travel time between tour nodes (node 0: the hub)."""
    if not schedule.sorties or not schedule.arrival_s:
        return schedule
    hub_pos = len(schedule.tour) - 1
    van_back_s = schedule.arrival_s[-1]
    last: dict[int, int] = {}  # carrier -> index of its last sortie
    for number, sortie in enumerate(schedule.sorties):
        if sortie.carrier not in last or sortie.recovered_s > schedule.sorties[last[sortie.carrier]].recovered_s:
            last[sortie.carrier] = number
    sorties = list(schedule.sorties)
    for number in last.values():
        sortie = sorties[number]
        if sortie.recovery_pos == hub_pos:
            continue
        landed_s = sortie.delivered_s + params.carrier_service_s + float(carrier_time[sortie.customer, 0])
        if not landed_s + params.recovery_s + HOMEBOUND_GAIN_S <= van_back_s:
            continue  # also an unreachable hub (inf)
        home = replace(sortie, recovery_pos=hub_pos, recovered_s=landed_s + params.recovery_s)
        if fits(number, home):
            sorties[number] = home
    return replace(schedule, sorties=tuple(sorties))
