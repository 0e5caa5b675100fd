"""FinalMile's one exception hierarchy: every error the project raises derives from FinalMileError."""

from __future__ import annotations


class FinalMileError(Exception):
    """Base class of every error FinalMile raises on purpose."""


class PlanningError(FinalMileError):
    """A planning problem is ill-formed or has no feasible answer."""


class AirspaceError(FinalMileError):
    """An airspace zone is invalid (geometry, altitude band, kind, time window, format)."""


class WorldError(FinalMileError):
    """A world (streets, buildings, hub, lockers, zones) cannot be loaded or is inconsistent."""


class EnergyError(PlanningError):
    """An energy query is ill-formed (negative payload, airspeed below the wind) or a sortie cannot fly."""


class PathError(PlanningError):
    """No path exists between two points (blocked by zones, outside the operating area, unreachable node)."""


class TerrainError(PlanningError):
    """An elevation query is ill-formed or falls outside the elevation model."""
