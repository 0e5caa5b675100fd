"""Is the recipient there to take the parcel? Asked when a vehicle reaches the drop point.

In production the backend's recipient app answers (door-step confirmation, code entry at the
robot); the fleet manager asks it over HTTP: `GET {base_url}/recipients/{reference}/presence`
-> `{"present": true|false}`. An order marked leave-at-door needs nobody.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote

import httpx

from .domain.orders import Order

logger = logging.getLogger(__name__)


class RecipientCheck(Protocol):
    """Answers whether the recipient of an order takes the parcel now."""

    async def is_present(self, order: Order) -> bool:
        """True when someone takes the parcel."""
        ...


class HttpRecipientCheck:
    """Asks the backend's recipient endpoint; an unreachable backend counts as 'not at home' (safe side)."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers or {})

    async def is_present(self, order: Order) -> bool:
        """GET the presence answer for the order's reference."""
        url = f"{self.base_url}/recipients/{quote(order.reference or order.order_id, safe='')}/presence"
        try:
            response = await self._client.get(url, params={"order_id": order.order_id})
            response.raise_for_status()
            return bool(response.json().get("present"))
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("recipient check for %s failed (%s): treating as not at home", order.order_id, exc)
            return False

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


class AlwaysPresent:
    """Every recipient is at home (unit tests, demos without recipients)."""

    async def is_present(self, order: Order) -> bool:
        """Always True."""
        return True
