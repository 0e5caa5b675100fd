"""FinalMile mission planner: pure planning library (geodesy, airspace, paths, energy, assignment, handoff)."""

from .airspace import Airspace as Airspace
from .airspace import Zone as Zone
from .airspace import ZoneKind as ZoneKind
from .clock import Clock as Clock
from .errors import AirspaceError as AirspaceError
from .errors import FinalMileError as FinalMileError
from .errors import PlanningError as PlanningError
from .errors import WorldError as WorldError
from .geodesy import LocalFrame as LocalFrame
