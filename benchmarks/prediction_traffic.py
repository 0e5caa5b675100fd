"""Traffic rows of `python -m benchmarks prediction`: van days with incidents, with and without live re-routing.

Each day (its own seed) sends `VANS` simulated vans (`sim_worlds.vans.VanSim`, the van simulator's
own physics) from the Helsinki hub on a tour of `STOPS` random addresses (nearest-neighbour order
by free-flow time), promised at the free-flow arrival plus `SLACK_S`. While they drive, `INCIDENTS`
streets on the vans' planned routes close (crawl at 5 %) for `INCIDENT_S`, in the simulated world
(`sim_worlds.street_traffic.StreetTraffic`: the vans really slow there) from a random minute in the
first half hour, and reach the traffic feed `REPORT_DELAY_S` later. With re-routing, every
`CHECK_PERIOD_S` the service's own decision (`fleet_manager.traffic_reroute.reroute_mission`, the
default thresholds) is applied to each van on the reports the feed has, and a new mission replaces
the van's, as the running service does over the van link; without it the vans drive on. Same
days, same seeds, same incidents in both arms.

Figures per arm: on-time % of parcels, p95 lateness against the promise (min), van km per day,
mean tour time (min), re-routes per day. The simulation steps 1 s; no vehicle processes and no
store (the live path through the API and the van link is what `tests/fleet_manager/test_traffic_reroute.py` covers).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.van_adapter import mission_to_wire
from fleet_manager.traffic import TrafficReport, edge_factors
from fleet_manager.traffic_reroute import TrafficRerouteConfig, reroute_mission
from fleet_manager.world import World, load_world
from mission_planner.ground_paths import GroundNetwork
from sim_worlds.street_traffic import StreetTraffic
from sim_worlds.vans import VanSim, build_vans

VANS = 4
STOPS = 6
SLACK_S = 600.0
INCIDENTS = 3
INCIDENT_S = 3600.0
REPORT_DELAY_S = 120.0
CHECK_PERIOD_S = 10.0
STOP_S = 120.0
DAY_START_S = 1_749_711_600.0
DAYS = 20
DAYS_QUICK = 6


@dataclass
class _Tour:
    van: VanSim
    mission: Mission
    promised_s: dict[str, float]
    delivered_s: dict[str, float]
    finished_s: float | None = None
    step_origin: tuple[int | None, ...] | None = None  # after a re-route: which steps are its via points


def _tours(world: World, freeflow: GroundNetwork, rng: random.Random) -> list[tuple[Mission, dict[str, float]]]:
    """Each van's stops in nearest-neighbour order by free-flow time, and each parcel's promised time."""
    hub_node = freeflow.nearest_node(world.hub.x_m, world.hub.y_m)
    picks = rng.sample(range(len(world.addresses)), VANS * STOPS)
    tours = []
    for v in range(VANS):
        left = [world.addresses[i] for i in picks[v * STOPS:(v + 1) * STOPS]]
        here, at_s, steps, promised = hub_node, DAY_START_S, [], {}
        while left:
            nodes = [freeflow.nearest_node(b.x_m, b.y_m) for b in left]
            times = [freeflow.path(here, n).duration_s for n in nodes]
            best = int(np.argmin(times))
            building = left.pop(best)
            at_s += times[best]
            order_id = f"v{v}-{len(steps)}"
            promised[order_id] = at_s + SLACK_S
            at_s += STOP_S
            here = nodes[best]
            steps.append(MissionStep(StepKind.DELIVER, building.latitude_deg, building.longitude_deg,
                                     order_id=order_id))
        steps.append(MissionStep(StepKind.RETURN))
        tours.append((Mission(f"van-{v + 1}-day", tuple(steps)), promised))
    return tours


def _incidents(world: World, freeflow: GroundNetwork, tours: list[tuple[Mission, dict[str, float]]],
               rng: random.Random) -> list[TrafficReport]:
    """Closures on streets the vans plan to drive (50 m around a segment's middle), each at a random minute."""
    hub = (world.hub.x_m, world.hub.y_m)
    route_edges: list[tuple[Any, Any]] = []
    for mission, _promised in tours:
        here = freeflow.nearest_node(*hub)
        for step in mission.steps:
            xy = world.frame.to_local(step.latitude_deg, step.longitude_deg) if step.latitude_deg is not None \
                else hub
            nodes = freeflow.path(here, freeflow.nearest_node(*xy)).nodes
            route_edges += [(a, b) for a, b in itertools.pairwise(nodes)
                            if world.street_graph.edges[a, b]["length_m"] >= 30.0]
            here = nodes[-1]
    events = []
    for index, (a, b) in enumerate(rng.sample(route_edges, INCIDENTS)):
        na, nb = world.street_graph.nodes[a], world.street_graph.nodes[b]
        latitude_deg, longitude_deg = world.frame.to_wgs84((na["x_m"] + nb["x_m"]) / 2, (na["y_m"] + nb["y_m"]) / 2)
        starts_s = DAY_START_S + rng.uniform(60.0, 1800.0)
        events.append(TrafficReport(f"incident-{index}", "incident", latitude_deg, longitude_deg, 50.0, 0.0,
                                    starts_s, starts_s + INCIDENT_S))
    return events


def _play(world: World, tours: list[tuple[Mission, dict[str, float]]], events: list[TrafficReport],
          reroute: bool) -> dict[str, Any]:
    truth = StreetTraffic(world.frame)
    truth.replace(events)
    vans = build_vans(world, VANS, stop_duration_s=STOP_S, traffic=truth)
    config = TrafficRerouteConfig()
    speed_m_s = 10.0
    freeflow = GroundNetwork(world.street_graph, speed_m_s=speed_m_s, use_edge_speed=True)
    runs = [_Tour(van, mission, promised, {}) for van, (mission, promised) in zip(vans, tours, strict=True)]
    for run in runs:
        run.van.start_mission(mission_to_wire(run.mission), DAY_START_S)
    weighed: dict[str, tuple[str, tuple[str, ...]]] = {}
    networks: dict[tuple[str, ...], GroundNetwork] = {}
    reroutes = 0
    now_s = DAY_START_S
    while any(r.finished_s is None for r in runs) and now_s < DAY_START_S + 8 * 3600:
        now_s += 1.0
        for run in runs:
            run.van.advance(1.0, now_s)
            for message in run.van.outbox:
                if message.get("what") == "parcel_handed_over":
                    run.delivered_s[message["detail"]] = message["stamp_s"]
                if message["type"] == "result" and message["mission_id"] == run.mission.mission_id:
                    run.finished_s = message["stamp_s"]
            run.van.outbox.clear()
        if not reroute or (now_s - DAY_START_S) % CHECK_PERIOD_S:
            continue
        known = [e for e in events if e.starts_at_s + REPORT_DELAY_S <= now_s and e.active(now_s)]
        key = tuple(e.report_id for e in known)
        if not key:
            continue
        if key not in networks:
            networks[key] = GroundNetwork(world.street_graph, speed_m_s=speed_m_s, use_edge_speed=True,
                                          edge_factors=edge_factors(world.street_graph, world.frame, known, now_s))
        for run in runs:
            van = run.van
            if run.finished_s is not None or van.mission is None or weighed.get(van.vehicle_id) == (
                    run.mission.mission_id, key):
                continue
            weighed[van.vehicle_id] = (run.mission.mission_id, key)
            decision = reroute_mission(freeflow, networks[key], world.frame, run.mission, van.step_index,
                                       (van.x_m, van.y_m), van.home_xy, config,
                                       f"{van.vehicle_id}-{int(now_s)}", run.step_origin)
            if decision is None:
                continue
            run.mission, run.step_origin = decision.mission, decision.step_origin
            weighed[van.vehicle_id] = (run.mission.mission_id, key)
            van.start_mission(mission_to_wire(run.mission), now_s)
            van.outbox.clear()  # the old mission's "canceled" result
            reroutes += 1
    late_s = [max(0.0, r.delivered_s.get(o, now_s) - p) for r in runs for o, p in r.promised_s.items()]
    on_time = [r.delivered_s.get(o, np.inf) <= p for r in runs for o, p in r.promised_s.items()]
    return {"on_time": on_time, "late_s": late_s, "km": sum(r.van.odometer_m for r in runs) / 1000.0,
            "tour_s": [(r.finished_s or now_s) - DAY_START_S for r in runs], "reroutes": reroutes}


def traffic_rows(quick: bool, seed: int) -> list[dict[str, Any]]:
    """One row per arm (with / without live re-routing), over the same days."""
    world = load_world("helsinki")
    freeflow = GroundNetwork(world.street_graph, speed_m_s=10.0, use_edge_speed=True)
    days = DAYS_QUICK if quick else DAYS
    results: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for day in range(days):
        rng = random.Random(seed + day)
        tours = _tours(world, freeflow, rng)
        events = _incidents(world, freeflow, tours, rng)
        for arm in (False, True):
            results[arm].append(_play(world, tours, events, reroute=arm))
    rows = []
    for arm, days_played in results.items():
        on_time = [x for d in days_played for x in d["on_time"]]
        late = [x for d in days_played for x in d["late_s"]]
        tours_s = [x for d in days_played for x in d["tour_s"]]
        method = "live re-routing" if arm else "drive on (no re-routing)"
        rows.append({"feature": "traffic", "method": method, "mode": "van", "n": len(on_time), "days": days,
                     "on_time_pct": round(100 * float(np.mean(on_time)), 1),
                     "late_p95_min": round(float(np.percentile(late, 95)) / 60, 2),
                     "van_km_per_day": round(float(np.mean([d["km"] for d in days_played])), 2),
                     "tour_mean_min": round(float(np.mean(tours_s)) / 60, 1),
                     "reroutes_per_day": round(float(np.mean([d["reroutes"] for d in days_played])), 2)})
    return rows
