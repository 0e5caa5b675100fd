"""FinalMile mission planner: pure planning library (geodesy, airspace, paths, energy, assignment, handoff).

No I/O, no threads, no database; deterministic for a seed and an iteration budget (``plan_fleet(...,
max_iterations=N)``, ``HandoffPolicy(search_iterations=N)``): a time budget alone stops the search wherever
the machine's speed has got it.

Entry point for the dispatcher::

    from mission_planner import FleetTravel, VehicleSpec, OrderSpec, plan_fleet
    travel = FleetTravel.for_world(world)      # once per world/airspace; holds the path and matrix caches
    plan = plan_fleet(travel, vehicles, orders, now_s=clock.now(), seed=0, time_budget_s=5.0)
    plan.routes      -> per vehicle: VehicleRoute(vehicle_id, kind, legs)
    leg              -> Leg(kind=PICKUP|DROPOFF|RETURN|CHARGE|LAUNCH|RECOVERY|WAIT, start_s, arrival_s, end_s,
                            from_xy_m, to_xy_m (local metres), to_latitude_deg, to_longitude_deg,
                            distance_m, energy_wh, order_ids, waypoints (drones, local 3-D))
    plan.unplanned   -> {order_id: reason}   (customs not cleared, unreachable, no time...)

Re-planning after events keeps committed legs (a drone in the air finishes its trip)::

    result = plan_fleet_result(travel, vehicles, orders, now_s=t0)          # keep the Result
    result = replan(PlanState(result, now_s=t1), [OrderSpec(...), CancelOrder("o7"), VehicleDown("drone-3")],
                    time_budget_s=1.0)                                     # -> Result (result.plan)

Planner inputs besides places and windows: ``VehicleSpec.battery_wh`` (present charge: the first
trip must fit it), ``OrderSpec.avoid_vehicle_ids`` (vehicles not to give the order), and the
vehicle profiles' speeds (`DEFAULT_PROFILES`). ``route.trips()`` groups a route's legs into trips.

Van handoff: give drones/robots ``VehicleSpec(carried_by="van-1")``; their legs are LAUNCH (from the
van at a stop), DROPOFF, RECOVERY (back onto the van at the same or a later stop). Pass
``handoff=HandoffPolicy(recovery=Recovery.SAME_STOP, launch_at_depot=False, ...)`` to `plan_fleet`
to get only the handoffs the caller can execute.

Core API (PyVRP style): ``Model`` (``add_depot``, ``add_vehicle``, ``add_order`` return the created
objects) -> ``Model.problem(travel)`` -> frozen ``Problem`` -> ``solve(problem, stop=MaxRuntime(s), seed=0)``
-> ``Result`` (``cost()``, ``is_feasible()``, ``summary()``, ``plan``).
"""

from .airspace import Airspace as Airspace
from .airspace import TimeWindow as TimeWindow
from .airspace import Zone as Zone
from .airspace import ZoneKind as ZoneKind
from .clearance import ClearanceKind as ClearanceKind
from .clearance import ClearanceViolation as ClearanceViolation
from .clearance import PositionReport as PositionReport
from .clearance import terrain_clearance_violations as terrain_clearance_violations
from .clock import Clock as Clock
from .drone_paths import DronePath as DronePath
from .drone_paths import DronePathPlanner as DronePathPlanner
from .drone_paths import Waypoint as Waypoint
from .energy import MultirotorModel as MultirotorModel
from .energy import ReservePolicy as ReservePolicy
from .energy import RobotModel as RobotModel
from .energy import Wind as Wind
from .errors import AirspaceError as AirspaceError
from .errors import EnergyError as EnergyError
from .errors import FinalMileError as FinalMileError
from .errors import PathError as PathError
from .errors import PlanningError as PlanningError
from .errors import TerrainError as TerrainError
from .errors import WorldError as WorldError
from .fleet import FleetTravel as FleetTravel
from .fleet import OrderSpec as OrderSpec
from .fleet import VehicleSpec as VehicleSpec
from .fleet import plan_fleet as plan_fleet
from .fleet import plan_fleet_result as plan_fleet_result
from .geodesy import LocalFrame as LocalFrame
from .ground_paths import GroundNetwork as GroundNetwork
from .handoff import HandoffParams as HandoffParams
from .handoff import HandoffSchedule as HandoffSchedule
from .handoff import Sortie as Sortie
from .model import Locker as Locker
from .model import Model as Model
from .model import Objective as Objective
from .model import ObjectiveKind as ObjectiveKind
from .model import Problem as Problem
from .model import SizeClass as SizeClass
from .model import VehicleKind as VehicleKind
from .plan import Leg as Leg
from .plan import LegKind as LegKind
from .plan import Plan as Plan
from .plan import VehicleRoute as VehicleRoute
from .profiles import DEFAULT_PROFILES as DEFAULT_PROFILES
from .profiles import VehicleProfile as VehicleProfile
from .replan import CancelOrder as CancelOrder
from .replan import PlanState as PlanState
from .replan import VehicleDown as VehicleDown
from .replan import replan as replan
from .solver import MaxIterations as MaxIterations
from .solver import MaxRuntime as MaxRuntime
from .solver import Result as Result
from .solver import solve as solve
from .terrain import CellIndexMap as CellIndexMap
from .terrain import ElevationGrid as ElevationGrid
from .travel import DroneTravel as DroneTravel
from .travel import EuclideanTravel as EuclideanTravel
from .travel import GroundTravel as GroundTravel
from .van_handoff import HandoffPolicy as HandoffPolicy
from .van_handoff import Recovery as Recovery
from .van_handoff import apply_handoff as apply_handoff
