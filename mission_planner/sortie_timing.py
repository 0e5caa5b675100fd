"""Timing of a truck–drone schedule for the sortie search: play it once, check every rule, fast.

`simulate(problem, tour, sorties)` is the search's only judge of a candidate: it times the
whole schedule the way `truck_drone` describes it (the truck waits for its drones; launches,
recoveries and service take the driver's time one after another) and returns an infinite makespan
for a schedule that breaks a rule. It runs thousands of times per second, so the problem's numpy
arrays are copied once into plain Python lists (`Tables`): indexing a list is several times
faster than indexing a numpy array element by element.

With `serve_first` (the search on larger FSTSP/mFSTSP instances) a drone whose endurance breaks is also tried
launched after the truck's own service at its node, before its launch is delayed.

Besides the FSTSP/mFSTSP rules it applies the problem's live rules when they are set: time
windows of the deliveries, carriers that may not take some parcels, and each carrier's battery
across its successive sorties, with the truck's spare packs swapped in at recoveries.
"""

from __future__ import annotations

import itertools
import math
import weakref

import numpy as np

from .truck_drone import SortieTimes, TruckDroneProblem, TruckDroneResult

Assignment = dict[int, tuple[int, int, int]]  # customer -> (drone, launch node, recovery node)
INF = math.inf
_EPS = 1e-9


class Tables:
    """The problem's numbers as Python lists (built once per problem, see `tables`)."""

    def __init__(self, problem: TruckDroneProblem) -> None:
        self.size = problem.customers + 1
        self.truck: list[list[float]] = problem.truck_s.tolist()
        self.drone: list[list[float]] = problem.drone_s.tolist()
        self.truck_service: list[float] = problem.truck_service_s.tolist()
        self.drone_service: list[float] = problem.drone_service_s.tolist()
        endurance = problem.endurance_s
        self.endurance_flat: list[float] | None = (
            endurance.ravel().tolist() if isinstance(endurance, np.ndarray) else None
        )
        self.endurance_scalar = INF if isinstance(endurance, np.ndarray) else float(endurance)
        self.latest: list[float] | None = None
        self.earliest: list[float] | None = None
        if problem.window_s is not None:
            self.earliest = problem.window_s[:, 0].tolist()
            self.latest = problem.window_s[:, 1].tolist()
        self.allowed: list[list[bool]] | None = (
            problem.drone_allowed.tolist() if problem.drone_allowed is not None else None
        )
        battery = problem.battery
        self.energy_flat: list[float] | None = battery.sortie_wh.ravel().tolist() if battery is not None else None

    def endurance(self, launch: int, customer: int, recovery: int) -> float:
        """The endurance limit (s) of a sortie."""
        if self.endurance_flat is None:
            return self.endurance_scalar
        return self.endurance_flat[(launch * self.size + customer) * self.size + recovery]

    def flight_wh(self, launch: int, customer: int, recovery: int) -> float:
        """Energy (Wh) of a sortie's flight, hovering while it waits for the truck left out."""
        if self.energy_flat is None:
            return 0.0
        return self.energy_flat[(launch * self.size + customer) * self.size + recovery]


_TABLES: weakref.WeakKeyDictionary[TruckDroneProblem, Tables] = weakref.WeakKeyDictionary()


def tables(problem: TruckDroneProblem) -> Tables:
    """The `Tables` of a problem (cached while the problem lives)."""
    found = _TABLES.get(problem)
    if found is None:
        found = _TABLES[problem] = Tables(problem)
    return found


def _drone_order_ok(per_drone: list[list[tuple[int, int]]]) -> bool:
    """A drone flies one sortie at a time; a same-stop sortie shares its stop with no other sortie of that drone."""
    for intervals in per_drone:
        intervals.sort()
        for (start_1, end_1), (start_2, end_2) in itertools.pairwise(intervals):
            if start_2 < end_1 or (start_2 == end_1 and (start_1 == end_1 or start_2 == end_2)):
                return False
    return True


REPAIRS = 4  # launch delays tried per schedule when a drone would hover beyond its endurance
SERVICE_FIRST_REPAIRS = 2  # then plays with such drones launched after the truck's service at their node


def simulate(
    problem: TruckDroneProblem,
    tour: list[int],
    sorties: Assignment,
    timed: bool = False,
    launch_rank: dict[int, int] | None = None,
    serve_first: bool = False,
) -> tuple[float, TruckDroneResult | None]:
    """(makespan_s, timed result if `timed`); makespan inf when the schedule breaks a rule.

    A drone that would hover beyond its endurance waiting for the truck is launched later instead (the
    truck idles before that launch, as Murray & Raj's schedules do): when the recovery of a sortie breaks
    the endurance by x seconds, the schedule is played again with that drone launched after the others
    leaving the same node, then with its launch x seconds later (up to `REPAIRS` plays); the idle is often
    absorbed where the truck would wait for another drone anyway. Where several drones set out from one
    node, the longest flights go first; the schedule is also played with the shortest first (the one
    back soonest frees the driver sooner) and with those recovered at the earliest tour position first
    (they hold the truck up there): the best is kept. `launch_rank` (customer -> rank, lowest first)
    replaces these three orders with one given order (the exact method tries every order this way).
    With `serve_first` (the search on larger FSTSP/mFSTSP instances), a drone that would hover too long is
    launched after the truck's own service at its node before any launch is delayed (see `_repaired`).
    """
    layout = _layout(problem, tour, sorties)
    if layout is None:
        return INF, None
    if launch_rank is not None:
        return _repaired(problem, tour, sorties, layout, timed, "rank", launch_rank, serve_first)
    makespan, result = _repaired(problem, tour, sorties, layout, timed, "longest", serve_first=serve_first)
    return _other_orders(problem, tour, sorties, layout, timed, makespan, result, serve_first)


def _other_orders(
    problem: TruckDroneProblem,
    tour: list[int],
    sorties: Assignment,
    layout: _Layout,
    timed: bool,
    makespan: float,
    result: TruckDroneResult | None,
    serve_first: bool = False,
) -> tuple[float, TruckDroneResult | None]:
    """The better of the longest-first play (`makespan`, `result`) and `simulate`'s other launch orders, which
    are played only where two drones or more set out from one node (elsewhere every order is the same play)."""
    launch_nodes = [launch for _, launch, _ in sorties.values()]
    if len(set(launch_nodes)) < len(launch_nodes):
        for order in ("shortest", "back-first"):
            other = _repaired(problem, tour, sorties, layout, timed, order, serve_first=serve_first)
            if other[0] < makespan:
                makespan, result = other
    return makespan, result


def screen(
    problem: TruckDroneProblem, tour: list[int], sorties: Assignment, serve_first: bool = False
) -> tuple[float, bool]:
    """(makespan_s, exact): the schedule played with `simulate`'s first launch order only.

    The makespan is never below `simulate`'s (which keeps the best of its orders, this one included), and
    equals it when `exact` (no two drones set out from one node, so simulate plays this order alone). The
    search ranks many candidates this way, a third of the plays each, and times only the best few fully.
    """
    layout = _layout(problem, tour, sorties)
    makespan = INF
    if layout is not None:
        makespan = _repaired(problem, tour, sorties, layout, False, "longest", serve_first=serve_first)[0]
    launch_nodes = [launch for _, launch, _ in sorties.values()]
    return makespan, len(set(launch_nodes)) == len(launch_nodes)


def finish_screen(
    problem: TruckDroneProblem, tour: list[int], sorties: Assignment, screened_s: float, serve_first: bool = False
) -> float:
    """`simulate`'s makespan of a schedule `screen` timed at `screened_s` (its other launch orders played)."""
    layout = _layout(problem, tour, sorties)
    if layout is None:
        return INF
    return _other_orders(problem, tour, sorties, layout, False, screened_s, None, serve_first)[0]


def _repaired(
    problem: TruckDroneProblem,
    tour: list[int],
    sorties: Assignment,
    layout: _Layout,
    timed: bool,
    order: str,
    rank: dict[int, int] | None = None,
    serve_first: bool = False,
) -> tuple[float, TruckDroneResult | None]:
    """The schedule played with the launch order rule and the endurance repairs of `simulate`."""
    delays: dict[int, float] = {}
    last_out: set[int] = set()
    # `serve_first`: a drone's launch is also tried after the truck's own service at its node. A delayed launch
    # delays the truck as much, so a drone it then meets late still hovers as long; served first, the truck loses
    # no time and the drone is away for less (Murray & Raj's schedules do so). Tried before the delays, and the
    # delays stopped once one changes nothing; without it (live rules, the exact method) the plays are as they were.
    after_service: set[int] | None = set() if serve_first else None
    launches, _recoveries, spans, _events = layout
    previous: tuple[int, float] | None = None
    for _ in range(REPAIRS + 1 + (after_service is not None)):
        makespan, result, excess = _play(
            problem, tour, sorties, layout, timed, delays, last_out, order, rank, after_service
        )
        if excess is None or not problem.endurance_counts_waiting:
            return makespan, result
        customer, extra_s = excess
        if customer not in last_out and (after_service is None or len(launches[spans[customer][0]]) > 1):
            last_out.add(customer)  # first try launching it after the others set out from its node
        elif after_service is not None and customer not in after_service:
            after_service.add(customer)
        else:
            if after_service is not None and customer in delays and _no_better(previous, excess):
                break  # the delay moved the truck's whole timetable and the drone hovers as long: more will too
            delays[customer] = delays.get(customer, 0.0) + extra_s + 1e-6
        previous = excess
    return INF, None


def _no_better(previous: tuple[int, float] | None, excess: tuple[int, float]) -> bool:
    """Whether a play broke the same drone's endurance by as much as the play before it (to 1e-6 s)."""
    return previous is not None and previous[0] == excess[0] and previous[1] - excess[1] < 1e-6


# (launches, recoveries: customers per tour position; customer -> (launch, recovery position); positions with either)
_Layout = tuple[list[list[int]], list[list[int]], dict[int, tuple[int, int]], set[int]]


def _layout(problem: TruckDroneProblem, tour: list[int], sorties: Assignment) -> _Layout | None:
    """Where each sortie sets out and comes back on the tour (shared by every play of one schedule); None when
    a sortie's nodes, drone or parcel break a rule, or a drone would fly two sorties at once."""
    t = tables(problem)
    last = len(tour) - 1
    position = {node: i for i, node in enumerate(tour[:-1])}
    launches: list[list[int]] = [[] for _ in tour]
    recoveries: list[list[int]] = [[] for _ in tour]
    drones = problem.drones
    per_drone: list[list[tuple[int, int]]] = [[] for _ in range(drones)]
    spans: dict[int, tuple[int, int]] = {}
    same_ok = problem.same_stop_recovery
    allowed = t.allowed
    for customer, (drone, launch, recovery) in sorties.items():
        a = position.get(launch)
        b = last if recovery == 0 else position.get(recovery)
        if a is None or b is None or (b != last and recovery == 0) or not 0 <= drone < drones:
            return None
        if a > b or (a == b and not same_ok) or (allowed is not None and not allowed[drone][customer]):
            return None
        launches[a].append(customer)
        recoveries[b].append(customer)
        per_drone[drone].append((a, b))
        spans[customer] = (a, b)
    if not _drone_order_ok(per_drone):
        return None
    events = {i for i, (up, down) in enumerate(zip(launches, recoveries, strict=True)) if up or down}
    return launches, recoveries, spans, events


def _play(
    problem: TruckDroneProblem,
    tour: list[int],
    sorties: Assignment,
    layout: _Layout,
    timed: bool,
    delays: dict[int, float],
    last_out: set[int],
    order: str,
    rank: dict[int, int] | None,
    after_service: set[int] | None = None,
) -> tuple[float, TruckDroneResult | None, tuple[int, float] | None]:
    """One play of the schedule: (makespan, timed result, (customer, excess s) when an endurance broke); the
    drones of `after_service` are launched once the truck has served its customer and recovered its drones."""
    t = tables(problem)
    last = len(tour) - 1
    launches, recoveries, spans, events = layout
    truck, drone_s = t.truck, t.drone
    drone_service, truck_service = t.drone_service, t.truck_service
    launch_s, recovery_s = problem.launch_s, problem.recovery_s
    counts_launch, counts_recovery = problem.endurance_counts_launch, problem.endurance_counts_recovery
    counts_waiting = problem.endurance_counts_waiting
    latest, earliest = t.latest, t.earliest
    battery = problem.battery
    charge = list(battery.charge_wh) if battery is not None else []
    spare = battery.spare_packs if battery is not None else 0
    land: dict[int, float] = {}
    started: dict[int, tuple[float, float, float, float]] = {}  # launch start, end, at customer, leave
    arrivals: list[float] = []
    services: list[float | None] = []
    departures: list[float] = []
    records: list[SortieTimes] = []
    clock = 0.0

    broken: list[tuple[int, float]] = []

    def fly(customer: int, node: int, at_s: float, duration_s: float) -> bool:
        out = at_s + duration_s
        at_customer = out + drone_s[node][customer]
        if latest is not None and earliest is not None and not earliest[customer] <= at_customer <= latest[customer]:
            return False
        leave = at_customer + drone_service[customer]
        land[customer] = leave + drone_s[customer][sorties[customer][2]]
        started[customer] = (at_s, out, at_customer, leave)
        return True

    def recover(customer: int, clock: float) -> float:
        """Recover one drone at the truck's `clock`; the clock after it (inf when a rule is broken)."""
        nonlocal spare
        landed = land[customer]
        begin = clock if clock > landed else landed
        end = begin + recovery_s
        launch_start, launch_end, at_customer, leave = started[customer]
        span = (end if counts_recovery else begin) - (launch_start if counts_launch else launch_end)
        if not counts_waiting:
            span -= begin - landed  # hovering until the recovery starts is not counted
        drone, launch, recovery = sorties[customer]
        limit = t.endurance(launch, customer, recovery)
        if not span <= limit + _EPS:
            broken.append((customer, span - limit))
            return INF
        if battery is not None:
            used = t.flight_wh(launch, customer, recovery) + battery.hover_w * (begin - landed) / 3600.0
            if charge[drone] - used < battery.reserve_wh[drone] - _EPS:
                return INF
            charge[drone] -= used
            if spare > 0:  # the truck gives every recovered drone a charged pack while it has one
                spare -= 1
                charge[drone] = battery.capacity_wh[drone]
        if timed:
            a, b = spans[customer]
            records.append(
                SortieTimes(drone, a, customer, b, launch_start, launch_end, at_customer, leave, landed, begin, end)
            )
        return end

    def _hover_bound(customer: int, begin: float) -> bool:
        """Whether recovering the hovering drone only at `begin` would break its endurance."""
        launch_start, launch_end, _, _ = started[customer]
        end = begin + recovery_s
        span = (end if counts_recovery else begin) - (launch_start if counts_launch else launch_end)
        if not counts_waiting:
            span -= begin - land[customer]
        _drone, launch, recovery = sorties[customer]
        return not span <= t.endurance(launch, customer, recovery) + _EPS

    def _deadline(customer: int) -> float:
        """The latest start of this drone's recovery its endurance allows."""
        launch_start, launch_end, _, _ = started[customer]
        _drone, launch, recovery = sorties[customer]
        limit = t.endurance(launch, customer, recovery) - (recovery_s if counts_recovery else 0.0)
        return limit + (launch_start if counts_launch else launch_end)

    previous = tour[0]
    for i, node in enumerate(tour):
        if i > 0:
            clock += truck[previous][node]
            previous = node
        arrivals.append(clock)
        if i not in events:  # the truck only serves its customer here
            if 0 < i < last:
                if latest is not None and clock > latest[node] + _EPS:
                    return INF, None, None
                services.append(clock)
                clock += truck_service[node]
            else:
                services.append(None)
            departures.append(clock)
            continue
        here = recoveries[i]
        returning = {sorties[c][0] for c in here if spans[c][0] != i}
        first = [c for c in launches[i] if sorties[c][0] not in returning]
        relaunch = {sorties[c][0]: c for c in launches[i] if sorties[c][0] in returning}
        this_launch_s = problem.depot_launch_s if i == 0 else launch_s
        if len(first) > 1 and rank is not None:
            first.sort(key=lambda c: (c in last_out, rank.get(c, 0)))
        elif len(first) > 1:
            sign = 1.0 if order == "shortest" else -1.0
            soon = order == "back-first"  # the drones the truck meets again soonest go first (they hold it up there)
            first.sort(
                key=lambda c: (
                    c in last_out,
                    spans[c][1] if soon else 0,
                    sign * (drone_s[node][c] + drone_s[c][sorties[c][2]]),
                )
            )
        deferred: list[int] = []
        if after_service:
            deferred = [c for c in first if c in after_service]
            first = [c for c in first if c not in after_service]
        for customer in first:
            clock += delays.get(customer, 0.0) if delays else 0.0
            if not fly(customer, node, clock, this_launch_s):
                return INF, None, None
            clock += this_launch_s
        # The driver's order here: a drone recovered goes out again at once (its next sortie starts sooner), a
        # drone already hovering is recovered before the truck's own service, the service fills the time until
        # the next landing (the order Murray & Raj's schedules use).
        pending = sorted(here, key=land.__getitem__) if len(here) > 1 else list(here)
        ready: list[int] = []
        serve = 0 < i < last
        if not serve:
            services.append(None)
        while pending or ready or serve:
            hovering = bool(pending) and land[pending[0]] <= clock
            if hovering and counts_waiting and len(pending) > 1:
                # of the drones hovering, the one whose endurance ends first is recovered first (their IP
                # schedules do so: a drone that flew far is taken in before others that landed earlier)
                due = min((c for c in pending if land[c] <= clock), key=_deadline)
                pending.remove(due)
                pending.insert(0, due)
            if ready and not (hovering and _hover_bound(pending[0], clock + this_launch_s)):
                customer = ready.pop()
                clock += delays.get(customer, 0.0) if delays else 0.0
                if not fly(customer, node, clock, this_launch_s):
                    return INF, None, None
                clock += this_launch_s
            elif pending and (hovering or not serve):
                customer = pending.pop(0)
                clock = recover(customer, clock)
                if clock == INF:
                    return INF, None, (broken[0] if broken else None)
                follow = relaunch.get(sorties[customer][0])
                if follow is not None:
                    (deferred if after_service and follow in after_service else ready).append(follow)
            else:
                if latest is not None and clock > latest[node] + _EPS:
                    return INF, None, None
                services.append(clock)
                clock += truck_service[node]
                serve = False
        for customer in deferred:
            if not fly(customer, node, clock, this_launch_s):
                return INF, None, None
            clock += this_launch_s
        departures.append(clock)
    if not timed:
        return clock, None, None
    records.sort(key=lambda s: (s.launch_start_s, s.drone))
    result = TruckDroneResult(
        tuple(tour), tuple(records), tuple(arrivals), tuple(services), tuple(departures), clock, truck_only_s=0.0
    )
    return clock, result, None
