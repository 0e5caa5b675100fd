"""An independent check of a timed truck–drone schedule against the FSTSP / mFSTSP rules.

Written from the rules (Murray & Chu 2015; Murray & Raj 2020), not from the solver: it does not
import or re-run the search's schedule simulation, it only reads the result's tour, sorties and
times and tests each rule on them. The rules, one code each:

- `tour`: the truck tour starts and ends at the depot 0, visits no node twice and no depot in between;
- `cover`: every customer is served exactly once, by the truck or by one sortie;
- `eligible`: a sortie serves a drone-eligible customer, with a drone that exists;
- `launch_before_recovery`: a sortie is launched at an earlier tour position than it is recovered;
- `same_node`: launch and recovery nodes differ (except depot at the start -> depot at the end);
- `one_sortie_at_a_time`: a drone is launched again only after (in tour order and in time) its recovery;
- `truck_times`: the truck leaves the depot at time >= 0, drives each leg no faster than its travel time;
- `driver`: at a node the truck's service, launches and recoveries each take their full time, lie
  between the truck's arrival and departure, and do not overlap (one driver);
- `drone_times`: the drone leaves after its launch, flies each leg no faster than its travel time,
  serves the customer for its service time, and is recovered no earlier than it is back;
- `endurance`: the sortie's span (launch start or end to recovery end or start, as the problem
  counts it; hovering while waiting included unless the problem leaves it out) fits its endurance;
- `makespan`: the stated makespan is when the truck is done at the depot, after every recovery.

Live rules, checked when the problem sets them (see `truck_drone`):
- `same_node` allows launch and recovery at one tour position with `same_stop_recovery`;
- `window`: the truck starts serving a customer no later than its latest time, a drone arrives
  within the customer's window;
- `carrier`: a drone takes only the parcels it is allowed;
- `battery`: replaying the recoveries in time order, each sortie's flight energy plus hovering
  while it waited leaves the drone's reserve; at each recovery the truck swaps in a charged pack
  while it has spare ones.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .errors import PlanningError
from .truck_drone import TruckDroneProblem, TruckDroneResult

TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken rule: its code (see the module docstring) and what was found."""

    rule: str
    detail: str


class ScheduleError(PlanningError):
    """A truck–drone schedule breaks the FSTSP / mFSTSP rules."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.rule}: {v.detail}" for v in violations[:5]))


def _late(a: float, b: float) -> bool:
    """a is later than b beyond rounding."""
    return a > b + TOLERANCE_S * max(1.0, abs(b))


def violations(problem: TruckDroneProblem, result: TruckDroneResult) -> list[Violation]:
    """Every rule the schedule breaks (empty when it is valid)."""
    found: list[Violation] = []
    tour = list(result.tour)
    last = len(tour) - 1
    n = problem.customers

    def bad(rule: str, detail: str) -> None:
        found.append(Violation(rule, detail))

    # -- tour ---------------------------------------------------------------------------------
    if len(tour) < 2 or tour[0] != 0 or tour[-1] != 0:
        bad("tour", f"the tour must start and end at the depot: {tour}")
        return found
    inner = tour[1:-1]
    if any(not 1 <= node <= n for node in inner):
        bad("tour", f"the tour visits a node that is not a customer: {inner}")
        return found
    if len(set(inner)) != len(inner):
        bad("tour", "the tour visits a customer twice")
    if not (len(result.arrival_s) == len(result.departure_s) == len(result.service_start_s) == len(tour)):
        bad("tour", "arrival, service and departure times must have one entry per tour position")
        return found
    # -- cover, eligible, positions ----------------------------------------------------------------
    served = [*inner, *(s.customer for s in result.sorties)]
    if sorted(served) != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(served))
        twice = sorted({c for c in served if served.count(c) > 1})
        bad("cover", f"customers missing {missing}, served more than once {twice}")
    for s in result.sorties:
        if s.customer not in problem.eligible:
            bad("eligible", f"customer {s.customer} may not be served by a drone")
        if not 0 <= s.drone < problem.drones:
            bad("eligible", f"drone {s.drone} does not exist (the truck carries {problem.drones})")
        same_stop = problem.same_stop_recovery and s.launch_pos == s.recovery_pos
        if not (0 <= s.launch_pos < s.recovery_pos <= last or (same_stop and 0 < s.launch_pos < last)):
            bad(
                "launch_before_recovery",
                f"sortie to {s.customer}: launch at {s.launch_pos}, recovery at {s.recovery_pos}",
            )
            continue
        launch_node, recovery_node = tour[s.launch_pos], tour[s.recovery_pos]
        if launch_node == recovery_node and not (s.launch_pos == 0 and s.recovery_pos == last) and not same_stop:
            bad("same_node", f"sortie to {s.customer} is launched and recovered at node {launch_node}")
    if any(v.rule == "launch_before_recovery" for v in found):
        return found
    # -- one sortie at a time per drone -----------------------------------------------------
    for drone in range(problem.drones):
        own = sorted((s for s in result.sorties if s.drone == drone), key=lambda s: (s.launch_pos, s.launch_start_s))
        for before, after in itertools.pairwise(own):
            if after.launch_pos < before.recovery_pos or _late(before.recovery_end_s, after.launch_start_s):
                bad(
                    "one_sortie_at_a_time",
                    f"drone {drone} launched to {after.customer} before it was back from {before.customer}",
                )
    # -- truck times ---------------------------------------------------------------------------
    arrival, departure = result.arrival_s, result.departure_s
    if arrival[0] < -TOLERANCE_S:
        bad("truck_times", "the truck starts before time 0")
    for p in range(last):
        if _late(departure[p] + float(problem.truck_s[tour[p], tour[p + 1]]), arrival[p + 1]):
            bad("truck_times", f"leg {tour[p]} -> {tour[p + 1]} driven faster than its travel time")
    # -- driver: one activity at a time, inside the stay -------------------------------------
    for p, node in enumerate(tour):
        intervals: list[tuple[float, float, str]] = []
        service_s = float(problem.truck_service_s[node]) if 0 < p < last else 0.0
        start = result.service_start_s[p]
        if 0 < p < last:
            if start is None:
                bad("driver", f"no service time for truck customer {node}")
            else:
                intervals.append((start, start + service_s, f"service of {node}"))
        launch_s = problem.depot_launch_s if p == 0 else problem.launch_s
        for s in result.sorties:
            if s.launch_pos == p:
                if _late(s.launch_start_s + launch_s, s.launch_end_s):
                    bad("driver", f"launch to {s.customer} shorter than {launch_s} s")
                intervals.append((s.launch_start_s, s.launch_end_s, f"launch to {s.customer}"))
            if s.recovery_pos == p:
                if _late(s.recovery_start_s + problem.recovery_s, s.recovery_end_s):
                    bad("driver", f"recovery from {s.customer} shorter than {problem.recovery_s} s")
                intervals.append((s.recovery_start_s, s.recovery_end_s, f"recovery from {s.customer}"))
        if _late(arrival[p], departure[p]):
            bad("driver", f"the truck leaves node {node} before it arrives")
        intervals.sort()
        for begin, end, what in intervals:
            if _late(arrival[p], begin) or _late(end, departure[p]):
                bad("driver", f"{what} at position {p} outside the truck's stay")
        for (_, end, first), (begin, _, second) in itertools.pairwise(intervals):
            if _late(end, begin):
                bad("driver", f"{first} and {second} overlap at position {p}")
    # -- drones: flight, service, endurance --------------------------------------------------
    for s in result.sorties:
        launch_node, recovery_node = tour[s.launch_pos], tour[s.recovery_pos]
        c = s.customer
        if _late(s.launch_end_s + float(problem.drone_s[launch_node, c]), s.arrive_customer_s):
            bad("drone_times", f"flight {launch_node} -> {c} faster than its travel time")
        if _late(s.arrive_customer_s + float(problem.drone_service_s[c]), s.leave_customer_s):
            bad("drone_times", f"service at {c} shorter than its service time")
        if _late(s.leave_customer_s + float(problem.drone_s[c, recovery_node]), s.land_s):
            bad("drone_times", f"flight {c} -> {recovery_node} faster than its travel time")
        if _late(s.land_s, s.recovery_start_s):
            bad("drone_times", f"drone from {c} recovered before it is back")
        begin = s.launch_start_s if problem.endurance_counts_launch else s.launch_end_s
        end = s.recovery_end_s if problem.endurance_counts_recovery else s.recovery_start_s
        if not problem.endurance_counts_waiting:
            end -= s.recovery_start_s - s.land_s  # the problem leaves hovering out of the endurance
        limit = problem.endurance(launch_node, c, recovery_node)
        if _late(end - begin, limit):
            bad("endurance", f"sortie to {c} lasts {end - begin:.1f} s, endurance {limit:.1f} s")
    found.extend(_live_violations(problem, result))
    # -- makespan ------------------------------------------------------------------------------
    done = max([departure[last], *(s.recovery_end_s for s in result.sorties)])
    if abs(result.makespan_s - done) > TOLERANCE_S * max(1.0, done) or _late(done, departure[last]):
        bad(
            "makespan",
            f"stated {result.makespan_s:.3f} s, truck done at the depot {departure[last]:.3f} s, "
            f"last recovery {done:.3f} s",
        )
    return found


def _live_violations(problem: TruckDroneProblem, result: TruckDroneResult) -> list[Violation]:
    """The live rules: windows, carriers' parcels, battery across sorties (nothing when the problem sets none)."""
    found: list[Violation] = []
    tour = result.tour
    if problem.window_s is not None:
        windows = problem.window_s
        for p, node in enumerate(tour[1:-1], start=1):
            start = result.service_start_s[p]
            if start is not None and _late(start, float(windows[node, 1])):
                found.append(
                    Violation("window", f"the truck serves {node} at {start:.0f} s, after {windows[node, 1]:.0f}")
                )
        for s in result.sorties:
            early, late = float(windows[s.customer, 0]), float(windows[s.customer, 1])
            if _late(early, s.arrive_customer_s) or _late(s.arrive_customer_s, late):
                found.append(
                    Violation(
                        "window",
                        f"drone reaches {s.customer} at {s.arrive_customer_s:.0f} s, outside {early:.0f}..{late:.0f}",
                    )
                )
    if problem.drone_allowed is not None:
        for s in result.sorties:
            if 0 <= s.drone < problem.drones and not problem.drone_allowed[s.drone, s.customer]:
                found.append(Violation("carrier", f"drone {s.drone} may not take the parcel of {s.customer}"))
    battery = problem.battery
    if battery is not None:
        charge = list(battery.charge_wh)
        spare = battery.spare_packs
        for s in sorted(result.sorties, key=lambda s: s.recovery_start_s):
            if not 0 <= s.drone < problem.drones:
                continue
            launch, recovery = tour[s.launch_pos], tour[s.recovery_pos]
            used = float(battery.sortie_wh[launch, s.customer, recovery])
            used += battery.hover_w * max(0.0, s.recovery_start_s - s.land_s) / 3600.0
            if charge[s.drone] - used < battery.reserve_wh[s.drone] - TOLERANCE_S:
                found.append(
                    Violation(
                        "battery",
                        f"drone {s.drone} to {s.customer} needs {used:.1f} Wh, holds "
                        f"{charge[s.drone]:.1f} Wh, reserve {battery.reserve_wh[s.drone]:.1f}",
                    )
                )
            charge[s.drone] -= used
            if spare > 0:
                spare -= 1
                charge[s.drone] = battery.capacity_wh[s.drone]
    return found


def check(problem: TruckDroneProblem, result: TruckDroneResult) -> None:
    """Raise `ScheduleError` listing the broken rules, or return when the schedule is valid."""
    found = violations(problem, result)
    if found:
        raise ScheduleError(found)
