"""Domain model of the fleet manager: orders, their state machine, recipient notifications."""

from .errors import CompartmentLocked as CompartmentLocked
from .errors import Conflict as Conflict
from .errors import IdempotencyMismatch as IdempotencyMismatch
from .errors import IllegalTransition as IllegalTransition
from .errors import NotFound as NotFound
from .errors import PickupRefused as PickupRefused
from .orders import Address as Address
from .orders import DeliveryMode as DeliveryMode
from .orders import Order as Order
from .orders import OrderEvent as OrderEvent
from .orders import OrderStatus as OrderStatus
from .orders import Recipient as Recipient
from .state_machine import TRANSITIONS as TRANSITIONS
from .state_machine import Transition as Transition
from .state_machine import allowed_targets as allowed_targets
from .state_machine import check_transition as check_transition
