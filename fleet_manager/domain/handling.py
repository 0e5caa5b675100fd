"""Handling classes of a parcel: cold chain (temperature range, time out of conditioning) and fragile (shock).

Stored on the order as JSON (`Handling.to_json`), validated where it enters (the API schema); the
planner reads the limits (`max_out_s`, `max_shock_g`), the condition monitor the ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ColdChain:
    """A parcel kept between `min_temp_c` and `max_temp_c`, out of conditioning at most the given minutes."""

    min_temp_c: float
    max_temp_c: float
    max_minutes_out_of_conditioning: float  # from leaving the hub's cold store to hand-over
    max_humidity_pct: float | None = None
    warm_allowance_min: float | None = None  # minutes above the range allowed in total; None: the server's default


@dataclass(frozen=True)
class Fragile:
    """A parcel that must not take a shock above `max_shock_g`."""

    max_shock_g: float


@dataclass(frozen=True)
class Handling:
    """The handling classes of one parcel (either, both or none)."""

    cold_chain: ColdChain | None = None
    fragile: Fragile | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Handling:
        """From the stored JSON ({} -> no handling class)."""
        data = data or {}
        cold, fragile = data.get("cold_chain"), data.get("fragile")
        return cls(ColdChain(**cold) if cold else None, Fragile(**fragile) if fragile else None)

    def to_json(self) -> dict[str, Any]:
        """As stored on the order and shown by the API."""
        data: dict[str, Any] = {}
        if self.cold_chain is not None:
            data["cold_chain"] = dict(vars(self.cold_chain))
        if self.fragile is not None:
            data["fragile"] = dict(vars(self.fragile))
        return data

    @property
    def max_out_s(self) -> float | None:
        """The cold-chain limit in seconds (None for other parcels)."""
        return None if self.cold_chain is None else self.cold_chain.max_minutes_out_of_conditioning * 60.0

    @property
    def max_shock_g(self) -> float | None:
        """The shock limit (None when not fragile)."""
        return None if self.fragile is None else self.fragile.max_shock_g

    def excursion(self, *, temperature_c: float | None, humidity_pct: float | None,
                  shock_g: float | None) -> list[str]:
        """What a sensor reading breaks, one phrase per limit ([] when it is within them)."""
        broken: list[str] = []
        cold = self.cold_chain
        if cold is not None and temperature_c is not None:
            if temperature_c > cold.max_temp_c:
                broken.append(f"temperature {temperature_c:.1f} °C above {cold.max_temp_c:g} °C")
            elif temperature_c < cold.min_temp_c:
                broken.append(f"temperature {temperature_c:.1f} °C below {cold.min_temp_c:g} °C")
        if cold is not None and cold.max_humidity_pct is not None and humidity_pct is not None \
                and humidity_pct > cold.max_humidity_pct:
            broken.append(f"humidity {humidity_pct:.0f} % above {cold.max_humidity_pct:g} %")
        if self.fragile is not None and shock_g is not None and shock_g > self.fragile.max_shock_g:
            broken.append(f"shock {shock_g:.1f} g above {self.fragile.max_shock_g:g} g")
        return broken
