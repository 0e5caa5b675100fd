"""Request and response bodies of the Fleet API (pydantic); times are RFC 3339 UTC at the interface.

One module per resource family; everything is importable from here, as the routes do.
"""

from .common import MapKey, MapValue, Strict, to_time
from .fleet import (
    CommandIn,
    CommandOut,
    LockerIn,
    LockerOut,
    MissionOut,
    PickupIn,
    PickupOut,
    UnlockIn,
    VehicleIn,
    VehicleOut,
)
from .orders import (
    AddressDecisionIn,
    AddressIn,
    AddressReviewOut,
    AddressTextIn,
    BatchItemOut,
    BatchOrderIn,
    CancelIn,
    ColdChainIn,
    ConditionOut,
    ConditionReadingOut,
    CustomsForecastOut,
    DeliveryReviewIn,
    EtaOut,
    FragileIn,
    HandlingIn,
    LeaveAtDoorIn,
    NotificationOut,
    OrderBatchIn,
    OrderBatchOut,
    OrderCreate,
    OrderEventOut,
    OrderList,
    OrderOut,
    RecipientIn,
    RedirectIn,
    RescheduleIn,
    StatusChangeIn,
)
from .service import EventOut, Health, JobOut, Readiness, TrafficReportIn, TrafficReportOut, VehiclesReady
from .zones import MAX_INPUT_VERTICES, GeometryIn, ZoneCreated, ZoneFeatureIn, ZonePropertiesIn, ZoneWindowIn

__all__ = [
    "MAX_INPUT_VERTICES", "AddressDecisionIn", "AddressIn", "AddressReviewOut", "AddressTextIn", "BatchItemOut",
    "BatchOrderIn", "CancelIn", "ColdChainIn", "CommandIn", "CommandOut", "ConditionOut", "ConditionReadingOut",
    "CustomsForecastOut", "DeliveryReviewIn", "EtaOut", "EventOut", "FragileIn", "GeometryIn", "HandlingIn",
    "Health", "JobOut",
    "LeaveAtDoorIn", "LockerIn", "LockerOut", "MapKey", "MapValue", "MissionOut", "NotificationOut", "OrderBatchIn",
    "OrderBatchOut", "OrderCreate", "OrderEventOut", "OrderList", "OrderOut", "PickupIn", "PickupOut", "Readiness",
    "RecipientIn", "RedirectIn", "RescheduleIn", "StatusChangeIn", "Strict", "TrafficReportIn", "TrafficReportOut",
    "UnlockIn", "VehicleIn", "VehicleOut", "VehiclesReady", "ZoneCreated", "ZoneFeatureIn", "ZonePropertiesIn",
    "ZoneWindowIn", "to_time",
]
