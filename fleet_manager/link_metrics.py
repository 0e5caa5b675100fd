"""Prometheus view of the vehicles' MAVLink links: frames dropped (signing, foreign sender), per vehicle and reason.

A collector read at scrape time from each adapter's `link_stats` (MAVLink adapters have them), so
nothing is copied on every frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from .fleet import Fleet


class LinkMetrics(Collector):
    """`finalmile_mavlink_rejected_frames_total{vehicle_id, reason}`: unsigned / bad_signature / foreign_sender."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[Any]:
        """One counter sample per MAVLink vehicle and reason."""
        family = CounterMetricFamily("finalmile_mavlink_rejected_frames",
                                     "Frames claiming a vehicle dropped by MAVLink 2 signing or UDP sender pinning",
                                     labels=["vehicle_id", "reason"])
        for vehicle in self._fleet:
            stats = getattr(vehicle.adapter, "link_stats", None)
            if stats is None:
                continue
            family.add_metric([vehicle.vehicle_id, "unsigned"], stats.unsigned_dropped)
            family.add_metric([vehicle.vehicle_id, "bad_signature"], stats.bad_signature_dropped)
            family.add_metric([vehicle.vehicle_id, "foreign_sender"], stats.foreign_dropped)
        yield family


def register_link_metrics(registry: CollectorRegistry, fleet: Fleet) -> None:
    """Expose the fleet's MAVLink link counters on `registry` (the app's /metrics)."""
    registry.register(LinkMetrics(fleet))
