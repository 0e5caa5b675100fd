"""Bodies of airspace zones (GeoJSON features with a time window and an altitude band)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..limits import ID_PATTERN, SaneTime
from .common import Strict

MAX_INPUT_VERTICES = 100_000
ZoneId = Annotated[str, Field(pattern=ID_PATTERN, description="1-64 of A-Z a-z 0-9 _ . - (used in URLs)")]
Position = Annotated[list[float], Field(min_length=2, max_length=3, description="[lon, lat] or [lon, lat, alt]")]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]


class GeometryIn(Strict):
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[Position], Field(max_length=MAX_INPUT_VERTICES)]] = Field(
        min_length=1, max_length=1, description="one closed ring (no holes)"
    )


class ZoneWindowIn(Strict):
    """An absolute window (`start`, `end`) or a daily one (`daily_start`, `daily_end`, HH:MM UTC)."""

    start: SaneTime | None = None
    end: SaneTime | None = None
    daily_start: HHMM | None = None
    daily_end: HHMM | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ZoneWindowIn:
        absolute = self.start is not None and self.end is not None
        daily = self.daily_start is not None and self.daily_end is not None
        if absolute == daily or (absolute and (self.daily_start or self.daily_end)):
            raise ValueError("give either start and end, or daily_start and daily_end")
        if absolute and self.end <= self.start:  # type: ignore[operator]
            raise ValueError("end must be after start")
        return self


class ZonePropertiesIn(Strict):
    """As in `mission_planner.airspace.zone_from_feature`; altitudes in metres above ground."""

    id: ZoneId | None = None
    kind: Literal["no_fly", "restricted", "operating_area"]
    lower_m: float = Field(default=0.0, ge=-500, le=20_000)
    upper_m: float = Field(ge=-500, le=20_000)
    name: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)
    allowed_operators: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    time_windows: list[ZoneWindowIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _band(self) -> ZonePropertiesIn:
        if self.upper_m <= self.lower_m:
            raise ValueError("upper_m must be above lower_m")
        return self


class ZoneFeatureIn(Strict):
    """A GeoJSON Feature; `properties` as in `mission_planner.airspace.zone_from_feature`."""

    type: Literal["Feature"]
    geometry: GeometryIn
    properties: ZonePropertiesIn
    id: ZoneId | None = None

    @model_validator(mode="after")
    def _has_id(self) -> ZoneFeatureIn:
        if self.properties.id is None and self.id is None:
            raise ValueError("a zone needs an id: properties.id (or the feature's id)")
        return self


class ZoneCreated(BaseModel):
    zone_id: str
    kind: str
    area_m2: float
    vertices: int
    simplified: dict[str, Any] | None = Field(
        default=None, description="set when the ring had too many vertices: from, to, tolerance_m, and why"
    )
