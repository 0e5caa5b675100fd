"""A simulated delivery day: fleet, demand, recipients, customs, wind, zones that appear, prices.

A scenario is a small YAML file (`sim_worlds/scenarios/<name>.yaml`) validated by the pydantic
models below; every error names the field and the value. Times of day are local wall-clock
`HH:MM` in the scenario's time zone; durations are `4h`, `90min`, `30s` or plain seconds.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from mission_planner.errors import FinalMileError
from mission_planner.model import VehicleKind
from mission_planner.profiles import DEFAULT_PROFILES

_DRONE, _ROBOT, _VAN = (DEFAULT_PROFILES[kind] for kind in (VehicleKind.DRONE, VehicleKind.ROBOT, VehicleKind.VAN))
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|min|m|s)?\s*$")
_UNIT_S = {"h": 3600.0, "min": 60.0, "m": 60.0, "s": 1.0, None: 1.0}


class ScenarioError(FinalMileError):
    """A scenario file is missing, unreadable or invalid (the message names the field and value)."""


def parse_duration_s(value: Any) -> float:
    """'4h' -> 14400.0, '90min' -> 5400.0, '30s' / 30 -> 30.0; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is not a number or '<n>h|min|s'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"duration {value!r} is not a number or '<n>h|min|s'")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration {value!r} must be a finite number of seconds >= 0")
    return seconds


def _parse_time_of_day(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 08:00 as sexagesimal minutes
        return dt.time(value // 60 % 24, value % 60)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"time of day {value!r} is not HH:MM") from exc


DurationS = Annotated[float, BeforeValidator(parse_duration_s)]
TimeOfDay = Annotated[dt.time, BeforeValidator(_parse_time_of_day)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DroneFleet(_Model):
    """Delivery drones based at the hub (quadcopters with a winch/gripper)."""

    count: int = Field(default=6, ge=0, le=50)
    battery_wh: float = Field(default=_DRONE.battery_wh, gt=0)
    cruise_speed_m_s: float = Field(default=_DRONE.speed_m_s, gt=0, le=30)
    cruise_altitude_m: float = Field(default=_DRONE.cruise_altitude_m, gt=0, le=120)
    max_payload_kg: float = Field(default=_DRONE.max_payload_kg, gt=0)
    empty_mass_kg: float = Field(default=6.0, gt=0)
    reserve_pct: float = Field(default=_DRONE.reserve_pct, ge=0, lt=100)
    swap_time_s: float = Field(default=_DRONE.swap_time_s, ge=0)  # hub battery swap: landed -> full pack after this
    insulated_boxes: int = Field(default=0, ge=0, le=50)  # the first N drones carry an insulated box (cold chain)


class RobotFleet(_Model):
    """Sidewalk robots based at the hub."""

    count: int = Field(default=4, ge=0, le=50)
    battery_wh: float = Field(default=_ROBOT.battery_wh, gt=0)
    speed_m_s: float = Field(default=_ROBOT.speed_m_s, gt=0, le=5)
    max_payload_kg: float = Field(default=_ROBOT.max_payload_kg, gt=0)
    energy_wh_per_km: float = Field(default=_ROBOT.energy_wh_per_km, gt=0)
    reserve_pct: float = Field(default=_ROBOT.reserve_pct, ge=0, lt=100)


class VanFleet(_Model):
    """Vans that deliver on foot from the kerb and may carry drones/robots to launch near recipients."""

    count: int = Field(default=2, ge=0, le=20)
    capacity_parcels: int = Field(default=_VAN.capacity_parcels, ge=1)
    max_payload_kg: float = Field(default=_VAN.max_payload_kg, gt=0)
    carries_drones: int = Field(default=0, ge=0, le=4)
    carries_robots: int = Field(default=0, ge=0, le=4)
    energy_wh_per_km: float = Field(default=_VAN.energy_wh_per_km, gt=0)  # an electric van in city traffic
    battery_wh: float = Field(default=_VAN.battery_wh, gt=0, le=500_000)
    charge_kw: float = Field(default=22.0, ge=0, le=400)  # the hub's charger: an idle van there charges
    stop_duration_s: float = Field(default=120.0, ge=0)  # park, walk to the door, hand over, walk back


class Fleet(_Model):
    """Fleet size and mix. `sitl_drones` is the drone count when drones fly on ArduPilot SITL."""

    drones: DroneFleet = Field(default_factory=DroneFleet)
    robots: RobotFleet = Field(default_factory=RobotFleet)
    vans: VanFleet = Field(default_factory=VanFleet)
    sitl_drones: int = Field(default=3, ge=0, le=10)


class SizeClass(_Model):
    """A parcel size class with its weight range and share of demand."""

    name: str = Field(min_length=1)
    share: float = Field(gt=0)
    min_weight_kg: float = Field(gt=0)
    max_weight_kg: float = Field(gt=0)

    @model_validator(mode="after")
    def _weights(self) -> SizeClass:
        if self.max_weight_kg < self.min_weight_kg:
            raise ValueError(
                f"size class {self.name!r}: max_weight_kg={self.max_weight_kg} < min_weight_kg={self.min_weight_kg}"
            )
        return self


def _default_size_classes() -> tuple[SizeClass, ...]:
    return (
        SizeClass(name="small", share=0.55, min_weight_kg=0.1, max_weight_kg=1.0),
        SizeClass(name="medium", share=0.30, min_weight_kg=1.0, max_weight_kg=2.5),
        SizeClass(name="large", share=0.15, min_weight_kg=2.5, max_weight_kg=12.0),
    )


class ColdChainDemand(_Model):
    """Cold-chain parcels (pharmaceuticals, food) added to the day, each in an insulated box with a sensor.

    They are drawn from their own seeded stream, so the day's other orders stay exactly as they were.
    """

    orders: int = Field(default=0, ge=0, le=500)
    min_temp_c: float = Field(default=2.0, ge=-40, le=40)
    max_temp_c: float = Field(default=8.0, ge=-40, le=40)
    max_minutes_out_of_conditioning: float = Field(default=60.0, gt=0, le=1440)
    # how slowly a good box (cooling packs) warms toward its surroundings: 8 h keeps 2-8 °C through an hour at 25 °C
    box_time_constant_min: float = Field(default=480.0, gt=0)
    failing_boxes: int = Field(default=0, ge=0)  # boxes packed with a spent cooling pack: warm on arrival, leaky
    failing_box_time_constant_min: float = Field(default=25.0, gt=0)
    fragile_share: float = Field(default=0.0, ge=0, le=1)  # of these parcels, also fragile (a shock limit)
    max_shock_g: float = Field(default=4.0, gt=0)
    sensor_period_s: DurationS = 120.0  # how often each box's sensor publishes

    @model_validator(mode="after")
    def _range(self) -> ColdChainDemand:
        if self.max_temp_c <= self.min_temp_c:
            raise ValueError(f"max_temp_c={self.max_temp_c} must be above min_temp_c={self.min_temp_c}")
        if self.failing_boxes > self.orders:
            raise ValueError(f"failing_boxes={self.failing_boxes} is more than the {self.orders} cold-chain orders")
        return self


class TypedAddressDemand(_Model):
    """Some of the day's orders arrive with the address as typed text (written from the building's real address
    the way people type it; the building is kept for scoring). The same parcels: only how the address arrives."""

    orders: int = Field(default=0, ge=0, le=1000)  # how many of the day's orders (at most those the index knows)
    kinds: tuple[str, ...] = ("clean", "format", "other_language", "postcode_first", "no_diacritics", "digraphs",
                              "typo", "transposed_tokens", "apartment", "abbreviated", "wrong_postcode", "combined")
    # The simulated operator picks the right building this long after an order enters the review queue; null: never.
    operator_review_delay_s: DurationS | None = 600.0

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from .address_typing import POSITIVE_KINDS, REVIEW_KINDS

        known = POSITIVE_KINDS + REVIEW_KINDS
        unknown = sorted(set(value) - set(known))
        if unknown or not value:
            raise ValueError(f"kinds {unknown or '[]'} are not typing kinds (known: {', '.join(known)})")
        return value


class CustomsOrigin(_Model):
    """A country parcels come from and how much longer customs holds them than the base delay."""

    name: str = Field(min_length=1, max_length=32)
    share: float = Field(gt=0)
    delay_factor: float = Field(default=1.0, gt=0, le=20)


class GoodsCategory(_Model):
    """A goods category with its share, declared-value range and customs delay factor."""

    name: str = Field(min_length=1, max_length=32)
    share: float = Field(gt=0)
    delay_factor: float = Field(default=1.0, gt=0, le=20)
    min_value_eur: float = Field(default=10.0, ge=0)
    max_value_eur: float = Field(default=80.0, ge=0)

    @model_validator(mode="after")
    def _values(self) -> GoodsCategory:
        if self.max_value_eur < self.min_value_eur:
            raise ValueError(f"category {self.name!r}: max_value_eur={self.max_value_eur} < "
                             f"min_value_eur={self.min_value_eur}")
        return self


def _default_origins() -> tuple[CustomsOrigin, ...]:
    return (CustomsOrigin(name="EE", share=1.0),)


def _default_categories() -> tuple[GoodsCategory, ...]:
    return (GoodsCategory(name="general", share=1.0),)


class CustomsProfile(_Model):
    """What history would reveal about customs: delays by origin, goods category and declared value.

    Every parcel gets an origin, a category and a declared value (drawn from a stream of their own, so
    the day's orders stay as they were); a customs parcel's delay is the base delay
    (`customs_delay_min_s`..`customs_delay_max_s`) times its origin's and category's factors, and times
    `high_value_delay_factor` above `high_value_eur` (inspection). The defaults change nothing.
    """

    origins: tuple[CustomsOrigin, ...] = Field(default_factory=_default_origins, min_length=1)
    categories: tuple[GoodsCategory, ...] = Field(default_factory=_default_categories, min_length=1)
    high_value_eur: float = Field(default=150.0, ge=0)
    high_value_delay_factor: float = Field(default=1.0, gt=0, le=20)


class Demand(_Model):
    """Orders over the day: a rate per hour of the simulated day (the last value repeats)."""

    orders_per_hour: tuple[float, ...] = (18.0, 26.0, 30.0, 22.0)
    size_classes: tuple[SizeClass, ...] = Field(default_factory=_default_size_classes)
    window_length_s: DurationS = 7200.0  # promised delivery window, from the order's release
    customs_share: float = Field(default=0.3, ge=0, le=1)  # share of parcels still waiting on customs
    customs_delay_min_s: DurationS = 600.0
    customs_delay_max_s: DurationS = 2700.0
    leave_at_door_share: float = Field(default=0.2, ge=0, le=1)
    locker_preference_share: float = Field(default=0.5, ge=0, le=1)  # absent recipients choosing a locker
    stop_ordering_before_end_s: DurationS = 1800.0  # the backend stops creating orders this long before the end
    cold_chain: ColdChainDemand = Field(default_factory=ColdChainDemand)
    typed_addresses: TypedAddressDemand = Field(default_factory=TypedAddressDemand)
    customs: CustomsProfile = Field(default_factory=CustomsProfile)

    @field_validator("orders_per_hour")
    @classmethod
    def _rates(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("orders_per_hour needs at least one hourly rate")
        for hour, rate in enumerate(value):
            if not math.isfinite(rate) or rate < 0:
                raise ValueError(f"orders_per_hour[{hour}] = {rate!r} must be a finite rate >= 0")
        return value

    @model_validator(mode="after")
    def _delays(self) -> Demand:
        if self.customs_delay_max_s < self.customs_delay_min_s:
            raise ValueError(
                f"customs_delay_max_s={self.customs_delay_max_s} < customs_delay_min_s={self.customs_delay_min_s}"
            )
        return self

    def rate_per_hour(self, offset_s: float) -> float:
        """Order rate at `offset_s` seconds after the day's start."""
        hour = int(offset_s // 3600)
        return self.orders_per_hour[min(hour, len(self.orders_per_hour) - 1)]


class AbsenceWindow(_Model):
    """Hours in which recipients (of some areas, or everywhere) are less often at home."""

    start: TimeOfDay
    end: TimeOfDay
    presence_factor: float = Field(ge=0, le=1)  # multiplies each recipient's own presence probability
    areas: tuple[str, ...] = ()  # `fleet_manager.learning.areas.area_of` cells; empty: every area

    def applies(self, local_time: dt.time, area: str) -> bool:
        """True when this window covers `local_time` in `area`."""
        return self.start <= local_time < self.end and (not self.areas or area in self.areas)


class Recipients(_Model):
    """How often recipients are at home; each recipient draws their own probability around the mean."""

    presence_probability: float = Field(default=0.85, ge=0, le=1)
    presence_spread: float = Field(default=0.1, ge=0, le=0.5)
    absence: tuple[AbsenceWindow, ...] = ()  # by area and hour (what history would reveal)

    def presence_factor(self, local_time: dt.time, area: str) -> float:
        """Product of the absence windows that cover this time and area (1.0 outside them)."""
        return math.prod(w.presence_factor for w in self.absence if w.applies(local_time, area))


class RushHour(_Model):
    """Local hours in which street traffic slows vans (and crowds slow sidewalk robots)."""

    start: TimeOfDay
    end: TimeOfDay
    van_speed_factor: float = Field(gt=0, le=1)  # van speed = street speed x this
    robot_speed_factor: float = Field(default=1.0, gt=0, le=1)


class TrafficIncident(_Model):
    """Street traffic in the simulated day (the traffic simulator, `sim_worlds.traffic_sim`): the vans meet it
    from `starts_at`; the feed posts it to the fleet manager `reported_after_s` later (never when `reported`
    is false: the planner only knows what is posted)."""

    incident_id: str = Field(min_length=1, max_length=64)
    kind: Literal["congestion", "incident"] = "incident"
    starts_at: TimeOfDay
    duration_s: DurationS
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    radius_m: float = Field(default=60.0, gt=0, le=2000)
    speed_factor: float = Field(default=0.05, ge=0, le=1)  # street speed times this (0: closed)
    reported: bool = True
    reported_after_s: float = Field(default=0.0, ge=0, le=3600)


class Traffic(_Model):
    """Time-of-day traffic. The history simulator (`sim_worlds.history_day`) applies the rush hours to its legs;
    in a live simulated day the traffic simulator (`sim_worlds.traffic_sim`) makes the van simulator honour
    the rush hours (within `rush_radius_m` of the hub) and `incidents`, and posts them to the traffic feed."""

    rush_hours: tuple[RushHour, ...] = ()
    noise_sigma: float = Field(default=0.08, ge=0, le=1)  # lognormal spread of a leg's travel time
    incidents: tuple[TrafficIncident, ...] = ()
    rush_radius_m: float = Field(default=2000.0, gt=0, le=2000)

    def speed_factor(self, local_time: dt.time, kind: str) -> float:
        """Speed multiplier for a `van` or `robot` at `local_time` (1.0 outside rush hours)."""
        factor = 1.0
        for rush in self.rush_hours:
            if rush.start <= local_time < rush.end:
                factor *= rush.van_speed_factor if kind == "van" else rush.robot_speed_factor
        return factor


class Wind(_Model):
    """Steady wind with gusts; direction is where it blows FROM (meteorological)."""

    speed_m_s: float = Field(default=4.0, ge=0, le=25)
    direction_deg: float = Field(default=240.0, ge=0, lt=360)
    gust_m_s: float = Field(default=2.0, ge=0, le=15)


class ZoneEvent(_Model):
    """A temporary no-fly zone that an operator publishes mid-day (a circle, in WGS84)."""

    zone_id: str = Field(min_length=1, max_length=64)
    name: str = ""
    reason: str = ""
    appears_at: TimeOfDay
    duration_s: DurationS
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=2000)
    upper_m: float = Field(default=120.0, gt=0)

    def polygon_lonlat(self, vertices: int = 24) -> list[list[float]]:
        """The circle as a closed GeoJSON ring of [lon, lat] (small-circle approximation)."""
        lat_m = 111_320.0
        lon_m = lat_m * math.cos(math.radians(self.latitude_deg))
        ring = [
            [
                self.longitude_deg + self.radius_m * math.cos(2 * math.pi * i / vertices) / lon_m,
                self.latitude_deg + self.radius_m * math.sin(2 * math.pi * i / vertices) / lat_m,
            ]
            for i in range(vertices)
        ]
        return [*ring, ring[0]]


class Weather(_Model):
    """Outdoor temperature over the day and the season, and the hub's cold store (for the parcels' boxes).

    Ambient = the day's mean (annual mean plus the seasonal swing, warmest in late July) plus a daily
    swing peaking at `warmest_hour`; defaults suit Helsinki (about -4 °C in January, 18 °C in July).
    """

    annual_mean_temp_c: float = Field(default=6.0, ge=-40, le=40)
    seasonal_amplitude_c: float = Field(default=11.0, ge=0, le=30)
    daily_amplitude_c: float = Field(default=4.0, ge=0, le=20)
    warmest_hour: float = Field(default=15.0, ge=0, lt=24)
    cold_store_temp_c: float = Field(default=4.0, ge=-30, le=20)


class ModePrices(_Model):
    """Prices of one vehicle mode."""

    eur_per_km: float = Field(ge=0)
    eur_per_hour: float = Field(ge=0)


def _default_mode_prices() -> dict[str, ModePrices]:
    return {
        "drone": ModePrices(eur_per_km=0.05, eur_per_hour=6.0),
        "robot": ModePrices(eur_per_km=0.03, eur_per_hour=3.0),
        "van": ModePrices(eur_per_km=0.35, eur_per_hour=38.0),  # includes the driver
    }


class Prices(_Model):
    """What cost per parcel counts: energy, distance and vehicle time by mode."""

    energy_eur_per_wh: float = Field(default=0.0003, ge=0)  # 0.30 €/kWh
    modes: dict[str, ModePrices] = Field(default_factory=_default_mode_prices)

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, value: dict[str, ModePrices]) -> dict[str, ModePrices]:
        unknown = sorted(set(value) - {"drone", "robot", "van"})
        if unknown:
            raise ValueError(f"prices.modes has unknown modes {unknown} (known: drone, robot, van)")
        missing = sorted({"drone", "robot", "van"} - set(value))
        if missing:
            raise ValueError(f"prices.modes is missing {missing}")
        return value


class Scenario(_Model):
    """One simulated delivery day."""

    name: str = Field(min_length=1)
    description: str = ""
    world: str = "helsinki"
    hub_id: str = Field(default="helsinki-west-harbour", min_length=1, max_length=64)
    timezone: str = "Europe/Helsinki"
    date: dt.date = dt.date(2025, 6, 12)
    start_time: TimeOfDay = dt.time(8, 0)
    duration_s: DurationS = 4 * 3600.0
    seed: int = 7
    speedup: float = Field(default=60.0, gt=0, le=1000)
    fleet: Fleet = Field(default_factory=Fleet)
    demand: Demand = Field(default_factory=Demand)
    recipients: Recipients = Field(default_factory=Recipients)
    wind: Wind = Field(default_factory=Wind)
    zone_events: tuple[ZoneEvent, ...] = ()
    prices: Prices = Field(default_factory=Prices)
    weather: Weather = Field(default_factory=Weather)
    traffic: Traffic = Field(default_factory=Traffic)
    # `finalmile sim` runs the day three ways by default (vans only, hub drones, handoff; see fleet_variants)
    fleet_comparison: bool = False

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {value!r} is not an IANA time zone (e.g. Europe/Helsinki)") from exc
        return value

    @field_validator("duration_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"duration_s={value} must be > 0")
        return value

    @model_validator(mode="after")
    def _zone_ids_unique(self) -> Scenario:
        ids = [event.zone_id for event in self.zone_events]
        duplicates = sorted({z for z in ids if ids.count(z) > 1})
        if duplicates:
            raise ValueError(f"zone_events: zone_id {duplicates} defined more than once")
        return self

    @property
    def start_epoch_s(self) -> float:
        """The simulated day's start as seconds since the Unix epoch."""
        local = dt.datetime.combine(self.date, self.start_time, tzinfo=ZoneInfo(self.timezone))
        return local.timestamp()

    def epoch_at(self, time_of_day: dt.time) -> float:
        """Epoch seconds of a local time of day on the scenario's date."""
        local = dt.datetime.combine(self.date, time_of_day, tzinfo=ZoneInfo(self.timezone))
        return local.timestamp()

    def local_time(self, epoch_s: float) -> dt.datetime:
        """Epoch seconds -> aware local datetime in the scenario's zone."""
        return dt.datetime.fromtimestamp(epoch_s, ZoneInfo(self.timezone))

    def ambient_temp_c(self, epoch_s: float) -> float:
        """Outdoor air temperature at `epoch_s` (season by day of year, daily swing by local hour)."""
        local = self.local_time(epoch_s)
        weather = self.weather
        season = math.cos(2 * math.pi * (local.timetuple().tm_yday - 205) / 365.25)
        hour = local.hour + local.minute / 60.0
        daily = math.cos(2 * math.pi * (hour - weather.warmest_hour) / 24.0)
        return weather.annual_mean_temp_c + weather.seasonal_amplitude_c * season + weather.daily_amplitude_c * daily

    def with_overrides(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced (CLI flags: duration, seed, speedup)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return validate_scenario(data, source=f"{self.name} (overridden)")


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        value = error.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {where}: {error['msg']}{shown}")
    return f"invalid scenario {source}:\n" + "\n".join(lines)


def validate_scenario(data: Any, *, source: str = "<data>") -> Scenario:
    """Validate parsed YAML/JSON into a Scenario; ScenarioError lists every bad field and value."""
    if not isinstance(data, dict):
        raise ScenarioError(f"invalid scenario {source}: top level must be a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, source)) from exc


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in `sim_worlds/scenarios/`."""
    folder = resources.files("sim_worlds") / "scenarios"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str = "helsinki_day") -> Scenario:
    """A scenario by file path, shipped name, or world name (`helsinki` -> the world's default day)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ScenarioError(f"scenario file {path} does not exist")
        text, source = path.read_text(), str(path)
    else:
        folder = resources.files("sim_worlds") / "scenarios"
        candidate = folder / f"{name_or_path}.yaml"
        if not candidate.is_file():
            candidate = folder / f"{name_or_path}_day.yaml"
        if not candidate.is_file():
            raise ScenarioError(
                f"unknown scenario or world {name_or_path!r}; available: {', '.join(available_scenarios())}"
            )
        text, source = candidate.read_text(), str(candidate)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {source} is not valid YAML: {exc}") from exc
    return validate_scenario(data, source=source)
