"""ED-269 import: restrictions, units, circles, schedules, and errors that name the zone."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.errors import AirspaceError
from mission_planner.geodesy import LocalFrame

FRAME = LocalFrame.at(60.1715, 24.9381)

DOCUMENT: dict[str, Any] = {
    "title": "Test zones",
    "features": [
        {
            "identifier": "HEL-CATHEDRAL",
            "country": "FIN",
            "name": "Cathedral",
            "type": "COMMON",
            "restriction": "PROHIBITED",
            "reason": ["SENSITIVE"],
            "applicability": [{"permanent": "YES"}],
            "geometry": [
                {
                    "uomDimensions": "FT",
                    "lowerLimit": 0,
                    "lowerVerticalReference": "AGL",
                    "upperLimit": 400,
                    "upperVerticalReference": "AGL",
                    "horizontalProjection": {
                        "type": "Polygon",
                        "coordinates": [
                            [[24.951, 60.169], [24.953, 60.169], [24.953, 60.170], [24.951, 60.170], [24.951, 60.169]]
                        ],
                    },
                }
            ],
        },
        {
            "identifier": "HEL-STAGE",
            "name": "Concert stage",
            "restriction": "REQ_AUTHORISATION",
            "extendedProperties": {"allowedOperators": ["events-co"]},
            "applicability": [{"schedule": [{"day": ["SAT", "SUN"], "startTime": "16:00", "endTime": "22:00"}]}],
            "geometry": [
                {
                    "uomDimensions": "M",
                    "lowerLimit": 0,
                    "upperLimit": 80,
                    "horizontalProjection": {"type": "Circle", "center": [24.940, 60.172], "radius": 150},
                }
            ],
        },
        {
            "identifier": "HEL-OPEN",
            "restriction": "NO_RESTRICTION",
            "geometry": [
                {"upperLimit": 120, "horizontalProjection": {"type": "Circle", "center": [24.94, 60.17], "radius": 10}}
            ],
        },
    ],
}


def test_ed269_zones_become_no_fly_and_restricted_zones() -> None:
    """PROHIBITED -> no_fly (400 ft = 121.92 m), REQ_AUTHORISATION -> restricted; NO_RESTRICTION is skipped."""
    space = Airspace.from_ed269(DOCUMENT, FRAME)
    cathedral, stage = space.zones
    assert (cathedral.zone_id, cathedral.kind, cathedral.upper_m) == ("HEL-CATHEDRAL", ZoneKind.NO_FLY, 121.92)
    assert cathedral.time_windows == ()
    assert stage.kind is ZoneKind.RESTRICTED and stage.allowed_operators == {"events-co"}
    assert stage.polygon.area == pytest.approx(3.14159 * 150**2, rel=0.01)
    x_m, y_m = FRAME.to_local(60.172, 24.940)
    assert stage.polygon.centroid.distance(type(stage.polygon.centroid)(x_m, y_m)) < 1.0


def test_ed269_schedule_is_active_on_weekend_evenings_only() -> None:
    """The stage zone is active Saturday 18:00 UTC, not Friday 18:00 UTC, not Saturday 10:00 UTC."""
    stage = Airspace.from_ed269(DOCUMENT, FRAME).zones[1]
    saturday_evening = dt.datetime(2025, 6, 7, 18, 0, tzinfo=dt.UTC)
    assert stage.active_at(saturday_evening)
    assert not stage.active_at(saturday_evening - dt.timedelta(days=1))
    assert not stage.active_at(saturday_evening.replace(hour=10))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("restriction",), "MAYBE", "unknown restriction"),
        (("geometry", 0, "upperVerticalReference"), "AMSL", "only AGL"),
        (("geometry", 0, "lowerLimit"), 500, "altitude band"),
        (("geometry", 0, "horizontalProjection", "type"), "Hexagon", "not Polygon or Circle"),
        (("applicability",), [{"permanent": "NO"}], "invalid applicability"),
    ],
)
def test_bad_ed269_zone_is_refused_naming_it(path: tuple[Any, ...], value: Any, message: str) -> None:
    """Each malformed field gives an AirspaceError naming HEL-CATHEDRAL and the problem."""
    document = copy.deepcopy(DOCUMENT)
    target: Any = document["features"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(AirspaceError, match=rf"HEL-CATHEDRAL.*{message}"):
        Airspace.from_ed269(document, FRAME)


def test_unparseable_ed269_document_is_refused() -> None:
    """Not an object with a features list -> AirspaceError."""
    with pytest.raises(AirspaceError, match="features"):
        Airspace.from_ed269({"title": "x"}, FRAME)
