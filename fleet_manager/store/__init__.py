"""Persistence of the fleet manager: SQLAlchemy 2 models, Alembic migrations, keyword-only store functions.

Every function takes a `Session` first (the caller owns the transaction via `Database.transaction()`),
then keyword-only arguments. All runtime rows are keyed by `hub_id`.
"""

from .db import Database as Database
from .fleet import CommandKind as CommandKind
from .fleet import CommandStatus as CommandStatus
from .fleet import MissionRecord as MissionRecord
from .fleet import MissionStatus as MissionStatus
from .fleet import Vehicle as Vehicle
from .fleet import VehicleCommand as VehicleCommand
from .lockers import Locker as Locker
from .lockers import PickupCheck as PickupCheck
from .orders import NewOrder as NewOrder
from .orders import OrderPage as OrderPage
from .outbox import OutboxEvent as OutboxEvent
