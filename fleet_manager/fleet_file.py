"""The fleet file: which vehicles a fleet manager drives, what each can do, and each hub's services.

YAML, in the spirit of Open-RMF's fleet configuration, validated with pydantic; every error names
the file, the vehicle (or hub) and the field. Point to it with `FINALMILE_FLEET_FILE`.

    hubs:
      - hub_id: helsinki-west-harbour
        world: helsinki                     # the world the hub lives in (its lockers come from it)
        lockers: world                      # every locker of the world, or a list of locker ids
        recipient_presence: {kind: http, url: "https://backend.example/presence"}   # or {kind: always}
    profiles:                               # fleet-wide overrides of the kind defaults (optional)
      drone: {max_payload_kg: 2.5, battery_wh: 500, speed_m_s: 12, reserve_pct: 25, swap_time_s: 180}
    vehicles:
      - {vehicle_id: drone-1, kind: drone, url: "tcp:127.0.0.1:5760", hub: helsinki-west-harbour,
         carried_by: van-1}                 # adapter defaults to the kind's: mavlink / ros2 / van
      - {vehicle_id: robot_1, kind: robot, url: "ros2:/robot_1", profile: {speed_m_s: 1.2}}
      - {vehicle_id: robot_2, kind: robot, url: "ros2:/robot_2",   # a Nav2 robot with its own map frame:
         map_datum: {latitude_deg: 60.1702, longitude_deg: 24.9312, yaw_deg: 0, projection: utm}}
      - {vehicle_id: robot_3, kind: robot, url: "ros2:/robot_3", fromll_service: /robot_3/fromLL}  # or ask it
      - {vehicle_id: van-1, kind: van, url: "tcp:127.0.0.1:7100"}

`FINALMILE_VEHICLES` ('drone-1=tcp:127.0.0.1:5760,robot_1=ros2:/robot_1,van-1=van:tcp:HOST:PORT')
is a shorthand that yields the same model for one hub (`FINALMILE_HUB_ID`, `FINALMILE_WORLD`,
`FINALMILE_RECIPIENT_PRESENCE`). Profiles start from `mission_planner.profiles.DEFAULT_PROFILES`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from mission_planner.errors import PlanningError
from mission_planner.model import VehicleKind
from mission_planner.profiles import DEFAULT_PROFILES, VehicleProfile

from .errors import ConfigError

_ID = r"^[A-Za-z0-9_.-]{1,64}$"
_MAVLINK_SCHEMES = ("tcp:", "tcpin:", "udp:", "udpin:", "udpout:", "serial:")
_BARE_SERIAL = re.compile(r"^(/dev/\S+|COM\d+),\d+$")  # pymavlink's DEVICE,BAUD


class FleetFileError(ConfigError):
    """The fleet file (or FINALMILE_VEHICLES) is missing, unreadable or invalid; the message names the field."""


class AdapterKind(enum.StrEnum):
    """How the fleet manager talks to a vehicle."""

    MAVLINK = "mavlink"  # ArduPilot-compatible autopilot (SITL, the built-in simulator, a real drone)
    ROS2 = "ros2"  # a Nav2 robot (NavigateToPose) on the fleet manager's ROS domain
    VAN = "van"  # the van driver app (JSON lines over TCP)


_ADAPTER_OF_KIND = {VehicleKind.DRONE: AdapterKind.MAVLINK, VehicleKind.ROBOT: AdapterKind.ROS2,
                    VehicleKind.VAN: AdapterKind.VAN}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileOverrides(_Model):
    """Any `VehicleProfile` field; what is not given comes from the fleet's or the kind's defaults."""

    max_payload_kg: float | None = Field(default=None, gt=0)
    battery_wh: float | None = Field(default=None, gt=0)
    speed_m_s: float | None = Field(default=None, gt=0)
    capacity_parcels: int | None = Field(default=None, ge=1)
    cruise_altitude_m: float | None = Field(default=None, ge=0, le=120)
    reserve_pct: float | None = Field(default=None, ge=0, lt=100)
    energy_wh_per_km: float | None = Field(default=None, ge=0)
    swap_time_s: float | None = Field(default=None, ge=0)
    service_s: float | None = Field(default=None, ge=0)
    cost_per_km: float | None = Field(default=None, ge=0)
    cost_per_hour: float | None = Field(default=None, ge=0)
    fixed_cost: float | None = Field(default=None, ge=0)
    cold_chain: bool | None = None  # an insulated box: may carry cold-chain parcels
    ride_shock_g: float | None = Field(default=None, ge=0, le=100)  # shock its ride puts on a parcel

    def given(self) -> dict[str, Any]:
        """The fields set in the file."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


class RecipientPresence(_Model):
    """Who says whether the recipient is at the door: the backend's HTTP callback, or `always` (explicitly)."""

    kind: Literal["http", "always"]
    url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _url_for_http(self) -> RecipientPresence:
        if self.kind == "http" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError(f"kind http needs an http(s) url, got {self.url!r}")
        if self.kind == "always" and self.url:
            raise ValueError("kind always takes no url")
        return self


class OperatorLocation(_Model):
    """Where the remote pilot / operator station is (WGS84; altitude above the ellipsoid, metres)."""

    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0


class RemoteIdHub(_Model):
    """The hub's Remote ID operator registration and location (OPERATOR_ID, SYSTEM, SELF_ID for every drone)."""

    operator_id: str = Field(min_length=1, max_length=20)  # e.g. the national UAS operator registration number
    operator_id_type: int = Field(default=0, ge=0, le=255)  # MAV_ODID_OPERATOR_ID_TYPE: 0 CAA
    operator_location: OperatorLocation | None = None  # default: the hub's site in its world
    location_type: Literal["takeoff", "live_gnss", "fixed"] = "fixed"
    area_radius_m: int = Field(default=0, ge=0, le=65535)
    area_ceiling_m: float = -1000.0  # -1000 = unknown (ASTM F3411)
    area_floor_m: float = -1000.0
    category_eu: Literal["undeclared", "open", "specific", "certified"] = "open"
    class_eu: int = Field(default=0, ge=0, le=8)  # MAV_ODID_CLASS_EU: 0 undeclared, 1..7 class 0..6
    description: str = Field(default="parcel delivery", max_length=23)


class RemoteIdAircraftConfig(_Model):
    """A drone's Basic ID: its UAS id (serial number) and the kind of aircraft."""

    uas_id: str = Field(min_length=1, max_length=20)
    id_type: Literal["serial_number", "caa_registration", "utm_assigned", "specific_session"] = "serial_number"
    ua_type: Literal["helicopter_or_multirotor", "aeroplane", "hybrid_lift", "other"] = "helicopter_or_multirotor"


class SigningConfig(_Model):
    """A drone's MAVLink 2 signing key: `key` (64 hex digits) or `key_file`, never both; never logged.

    `key_file` holds the key alone or a YAML mapping of vehicle id to key (one secrets file per fleet).
    `setup: true` installs the key with SETUP_SIGNING when the fleet manager connects: only over a
    trusted link (USB, SITL SERIAL0); otherwise install it once with a GCS and leave `setup` off.
    """

    key: SecretStr | None = None
    key_file: Path | None = None
    setup: bool = False
    link_id: int = Field(default=0, ge=0, le=255)

    @model_validator(mode="after")
    def _one_source(self) -> SigningConfig:
        if (self.key is None) == (self.key_file is None):
            raise ValueError("give the signing key as key or key_file (one of them)")
        return self


class ServiceArea(_Model):
    """Where a hub takes orders without a hub id (`fleet_manager.hub_routing`): a circle, by default around the
    hub's site in its world."""

    latitude_deg: float | None = Field(default=None, ge=-90, le=90)
    longitude_deg: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float = Field(default=25_000.0, gt=0, le=500_000)


class HubConfig(_Model):
    """A hub: where its vehicles start, its lockers, and its recipient-presence service."""

    hub_id: Annotated[str, Field(pattern=_ID)]
    world: str = "helsinki"
    lockers: Literal["world"] | tuple[Annotated[str, Field(pattern=_ID)], ...] = "world"
    recipient_presence: RecipientPresence
    remote_id: RemoteIdHub | None = None  # stream Remote ID (OpenDroneID) data to this hub's drones
    service_area: ServiceArea | None = None  # orders without hub_id come here when their destination is inside


class MapDatum(_Model):
    """Where a Nav2 robot's own `map` frame lies on the Earth (as robot_localization's navsat `datum`).

    `latitude_deg`/`longitude_deg` is map (0, 0); `yaw_deg` is the direction of the map's x axis
    (REP-103: 0 = east, counter-clockwise, so 90 = north); `projection` is the plane the map is drawn
    on: `local_cartesian` (navsat's `use_local_cartesian: true`, or a hand-surveyed map) or `utm`
    (navsat's default).
    """

    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    yaw_deg: float = Field(default=0.0, ge=-360, le=360)
    projection: Literal["local_cartesian", "utm"] = "local_cartesian"


class VehicleConfig(_Model):
    """One vehicle: how to reach it, what it can do, where it is based, what carries it."""

    vehicle_id: Annotated[str, Field(pattern=_ID)]
    kind: VehicleKind
    url: str = Field(min_length=1)
    adapter: AdapterKind | None = None  # default: the kind's (drone mavlink, robot ros2, van van)
    hub: str | None = None  # default: the only hub
    profile: ProfileOverrides = Field(default_factory=ProfileOverrides)
    carried_by: str | None = None  # the van this drone/robot rides on
    carries: tuple[str, ...] = ()  # van: the drones/robots it carries (same as their carried_by)
    # MAVLink only: the vehicle's system id (needed when drones share one URL), our GCS ids, signing, Basic ID.
    system_id: int | None = Field(default=None, ge=1, le=255)
    gcs_system_id: int = Field(default=255, ge=1, le=255)  # ArduPilot's MAV_GCS_SYSID default
    gcs_component_id: int = Field(default=190, ge=0, le=255)  # MAV_COMP_ID_MISSIONPLANNER
    signing: SigningConfig | None = None
    remote_id: RemoteIdAircraftConfig | None = None
    # ROS 2 robots with a map frame of their own (default: the robot's map is the world's frame)
    map_datum: MapDatum | None = None
    fromll_service: str | None = None  # robot_localization FromLL service, e.g. /robot_1/fromLL

    @model_validator(mode="after")
    def _adapter_fits(self) -> VehicleConfig:
        adapter = self.adapter_kind
        if adapter is not _ADAPTER_OF_KIND[self.kind]:
            raise ValueError(f"adapter {adapter.value!r} cannot drive a {self.kind.value}")
        if adapter is AdapterKind.MAVLINK and not is_mavlink_url(self.url):
            raise ValueError(f"url {self.url!r} is not a MAVLink URL (tcp:, tcpin:, udp:, udpin:, udpout:, "
                             "serial:DEVICE:BAUD or DEVICE,BAUD)")
        if adapter is not AdapterKind.MAVLINK:
            given = [name for name in ("system_id", "signing", "remote_id") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} apply to MAVLink drones only")
        if adapter is AdapterKind.ROS2 and not re.match(r"^ros2:/[A-Za-z_][A-Za-z0-9_/]*$", self.url):
            raise ValueError(f"url {self.url!r} is not 'ros2:/<namespace>'")
        if adapter is AdapterKind.VAN and not re.match(r"^tcp:[^:]+:\d+$", self.url):
            raise ValueError(f"url {self.url!r} is not 'tcp:HOST:PORT'")
        if self.kind is VehicleKind.VAN and self.carried_by:
            raise ValueError("a van cannot be carried")
        if self.kind is not VehicleKind.VAN and self.carries:
            raise ValueError(f"a {self.kind.value} cannot carry vehicles")
        if adapter is not AdapterKind.ROS2 and (self.map_datum or self.fromll_service):
            raise ValueError(f"map_datum and fromll_service are for ros2 robots, not a {adapter.value} vehicle")
        if self.map_datum and self.fromll_service:
            raise ValueError("give map_datum or fromll_service, not both (fromll_service asks the robot itself)")
        if self.fromll_service is not None and not re.match(r"^/[A-Za-z_][A-Za-z0-9_/]*$", self.fromll_service):
            raise ValueError(f"fromll_service {self.fromll_service!r} is not an absolute ROS service name (/ns/fromLL)")
        return self

    @property
    def adapter_kind(self) -> AdapterKind:
        """The adapter, given or the kind's default."""
        return self.adapter or _ADAPTER_OF_KIND[self.kind]


class FleetFile(_Model):
    """The whole fleet of a fleet-manager process."""

    hubs: tuple[HubConfig, ...] = Field(min_length=1)
    profiles: dict[VehicleKind, ProfileOverrides] = Field(default_factory=dict)
    vehicles: tuple[VehicleConfig, ...] = ()

    @field_validator("vehicles", mode="before")
    @classmethod
    def _default_hub(cls, value: Any, info: Any) -> Any:
        hubs: tuple[HubConfig, ...] = tuple(info.data.get("hubs") or ())
        if len(hubs) != 1 or not isinstance(value, list | tuple):
            return value
        only = hubs[0].hub_id
        return [{**item, "hub": item.get("hub") or only} if isinstance(item, dict) else item for item in value]

    @model_validator(mode="after")
    def _consistent(self) -> FleetFile:
        hub_ids = [hub.hub_id for hub in self.hubs]
        _unique("hub", hub_ids)
        _unique("vehicle", [v.vehicle_id for v in self.vehicles])
        by_id = {v.vehicle_id: v for v in self.vehicles}
        for vehicle in self.vehicles:
            if vehicle.hub not in hub_ids:
                raise ValueError(f"vehicle {vehicle.vehicle_id!r}: hub {vehicle.hub!r} is not one of {hub_ids}")
            carrier = self.carrier_of(vehicle.vehicle_id)
            if carrier is None:
                continue
            van = by_id.get(carrier)
            if van is None or van.kind is not VehicleKind.VAN:
                raise ValueError(f"vehicle {vehicle.vehicle_id!r}: carried_by {carrier!r} is not a van of this fleet")
            if van.hub != vehicle.hub:
                raise ValueError(f"vehicle {vehicle.vehicle_id!r}: its van {carrier!r} is based at another hub")
        for van in self.vehicles:
            for carried in van.carries:
                if carried not in by_id:
                    raise ValueError(f"vehicle {van.vehicle_id!r}: carries unknown vehicle {carried!r}")
                other = by_id[carried].carried_by
                if other not in (None, van.vehicle_id):
                    raise ValueError(f"vehicle {carried!r} is carried by both {other!r} and {van.vehicle_id!r}")
        _shared_links(self.vehicles)
        for kind, overrides in self.profiles.items():
            _profile(kind, overrides.given(), f"profiles.{kind.value}")
        for vehicle in self.vehicles:
            self.profile(vehicle)
        return self

    def hub(self, hub_id: str) -> HubConfig:
        """The hub with this id."""
        return next(hub for hub in self.hubs if hub.hub_id == hub_id)

    def carrier_of(self, vehicle_id: str) -> str | None:
        """The van a vehicle rides on (from its `carried_by` or a van's `carries`), None if it flies alone."""
        vehicle = next(v for v in self.vehicles if v.vehicle_id == vehicle_id)
        if vehicle.carried_by:
            return vehicle.carried_by
        return next((v.vehicle_id for v in self.vehicles if vehicle_id in v.carries), None)

    def profile(self, vehicle: VehicleConfig) -> VehicleProfile:
        """The vehicle's profile: kind defaults, then the fleet's `profiles`, then the vehicle's own."""
        fleet_wide = self.profiles.get(vehicle.kind, ProfileOverrides()).given()
        return _profile(vehicle.kind, {**fleet_wide, **vehicle.profile.given()}, f"vehicle {vehicle.vehicle_id!r}")

    def vehicles_of(self, hub_id: str) -> tuple[VehicleConfig, ...]:
        """The vehicles based at a hub."""
        return tuple(v for v in self.vehicles if v.hub == hub_id)

    def to_yaml(self) -> str:
        """The fleet file text (what `finalmile sim` writes into its run folder)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def is_mavlink_url(url: str) -> bool:
    """Whether `url` is one of the MAVLink URL forms (the link module parses it fully)."""
    return url.startswith(_MAVLINK_SCHEMES) or bool(_BARE_SERIAL.match(url))


def _shared_links(vehicles: tuple[VehicleConfig, ...]) -> None:
    """Drones on one URL (mavlink-router, a radio) must each name a distinct system id."""
    by_url: dict[str, list[VehicleConfig]] = {}
    for vehicle in vehicles:
        if vehicle.adapter_kind is AdapterKind.MAVLINK:
            by_url.setdefault(vehicle.url, []).append(vehicle)
    for url, sharing in by_url.items():
        if len(sharing) < 2:
            continue
        names = [v.vehicle_id for v in sharing]
        if any(v.system_id is None for v in sharing):
            raise ValueError(f"vehicles {names} share url {url!r}: give each its system_id")
        ids = [v.system_id for v in sharing]
        if len(set(ids)) != len(ids):
            raise ValueError(f"vehicles {names} share url {url!r} with the same system_id")


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} id {item!r} appears twice")
        seen.add(item)


def _profile(kind: VehicleKind, changes: Mapping[str, Any], where: str) -> VehicleProfile:
    try:
        return DEFAULT_PROFILES[kind].with_changes(**changes)
    except PlanningError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def parse_fleet(data: Any, source: str) -> FleetFile:
    """Validate parsed YAML; FleetFileError naming `source`, the vehicle or hub, the field and the value."""
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise FleetFileError(f"{source}: a fleet file is a mapping with 'hubs' and 'vehicles', got {kind}")
    try:
        return FleetFile.model_validate(data)
    except ValidationError as exc:
        raise FleetFileError(f"{source}: {_describe(exc, data)}") from None


def load_fleet_file(path: str | Path) -> FleetFile:
    """Read and validate a fleet file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise FleetFileError(f"FINALMILE_FLEET_FILE {str(path)!r}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise FleetFileError(f"{path}: not valid YAML ({exc})") from None
    return parse_fleet(data, str(path))


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """The first error as 'vehicle 'drone-1': profile.max_payload_kg: <why> (got <value>)'."""
    error = exc.errors(include_url=False)[0]
    location = list(error["loc"])
    where = ""
    if len(location) >= 2 and location[0] in ("vehicles", "hubs") and isinstance(location[1], int):
        items = data.get(location[0]) or []
        item = items[location[1]] if location[1] < len(items) else {}
        key = "vehicle_id" if location[0] == "vehicles" else "hub_id"
        name = item.get(key) if isinstance(item, Mapping) else None
        label = "vehicle" if location[0] == "vehicles" else "hub"
        where = f"{label} {name!r}: " if name else f"{location[0]}[{location[1]}]: "
        location = location[2:]
    field = ".".join(str(part) for part in location if not str(part).startswith("function-after"))
    message = str(error["msg"]).removeprefix("Value error, ")
    got = f" (got {error['input']!r})" if location and not isinstance(error.get("input"), dict | list) else ""
    return f"{where}{field + ': ' if field else ''}{message}{got}"


def fleet_from_vehicles(raw: str, *, hub_id: str, world: str, recipient_presence: str) -> FleetFile:
    """The `FINALMILE_VEHICLES` shorthand as a fleet file: one hub, kinds from the URL schemes."""
    vehicles: list[dict[str, Any]] = []
    for index, entry in enumerate(part.strip() for part in raw.split(",")):
        if not entry:
            continue
        vehicle_id, separator, url = (text.strip() for text in entry.partition("="))
        if not separator or not re.match(_ID, vehicle_id) or not url:
            raise FleetFileError(f"FINALMILE_VEHICLES entry {index + 1} {entry!r} is not 'vehicle_id=URL'")
        if is_mavlink_url(url):
            kind = VehicleKind.DRONE
        elif url.startswith("ros2:/"):
            kind = VehicleKind.ROBOT
        elif url.startswith("van:tcp:"):
            kind, url = VehicleKind.VAN, url.removeprefix("van:")
        else:
            raise FleetFileError(
                f"FINALMILE_VEHICLES entry {vehicle_id!r}: unknown URL {url!r} "
                "(tcp:/tcpin:/udp:/udpin:/udpout:/serial: MAVLink drone, ros2:/namespace robot, van:tcp:host:port van)"
            )
        if any(v["vehicle_id"] == vehicle_id for v in vehicles):
            raise FleetFileError(f"FINALMILE_VEHICLES names {vehicle_id!r} twice")
        vehicles.append({"vehicle_id": vehicle_id, "kind": kind.value, "url": url})
    presence = recipient_presence.strip()
    if not presence:
        raise FleetFileError(
            "FINALMILE_RECIPIENT_PRESENCE is empty: set the backend's presence URL (https://...) or 'always' "
            "(every recipient counts as at home)"
        )
    hub = {"hub_id": hub_id, "world": world,
           "recipient_presence": {"kind": "always"} if presence == "always" else {"kind": "http", "url": presence}}
    return parse_fleet({"hubs": [hub], "vehicles": vehicles}, "FINALMILE_VEHICLES")
