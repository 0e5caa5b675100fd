"""Store and domain errors; each maps to one HTTP status in the API."""

from __future__ import annotations

from fleet_manager.errors import StoreError


class NotFound(StoreError):
    """No such order, vehicle, zone, mission, locker or event (for this hub)."""


class Conflict(StoreError):
    """The request contradicts the current state (duplicate id, too late to change, concurrent update)."""


class IllegalTransition(Conflict):
    """An order status change that the state machine does not allow."""

    def __init__(self, order_id: str, current: str, target: str, why: str = "") -> None:
        self.order_id = order_id
        self.current = current
        self.target = target
        super().__init__(f"order {order_id!r}: illegal transition {current} -> {target}" + (f" ({why})" if why else ""))


class IdempotencyMismatch(StoreError):
    """An Idempotency-Key was reused with a different request body."""


class PickupRefused(StoreError):
    """A locker pickup code was wrong; carries how many attempts are left."""

    def __init__(self, message: str, *, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(message)


class CompartmentLocked(StoreError):
    """Too many wrong pickup codes: the compartment is locked until an operator resets it."""
