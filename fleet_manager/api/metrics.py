"""Prometheus metrics of one app (its own registry: no process-global collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The service's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "finalmile_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.http_latency_s = Histogram(
            "finalmile_http_request_duration_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.events = Counter("finalmile_events", "Outbox events seen on the stream", ["type"], registry=self.registry)
        self.webhook_attempts = Counter(
            "finalmile_webhook_attempts", "Webhook delivery attempts", ["outcome"], registry=self.registry
        )
        self.webhook_pending = Gauge(
            "finalmile_webhook_pending", "Webhook events not yet delivered", registry=self.registry
        )
        self.webhook_dead = Gauge(
            "finalmile_webhook_dead_letters", "Dead-lettered webhook events", registry=self.registry
        )
        self.stream_listeners = Gauge("finalmile_stream_listeners", "Open event streams", registry=self.registry)
        self.pickup_refused = Counter(
            "finalmile_locker_codes_refused", "Wrong locker pickup codes", ["locker_id"], registry=self.registry
        )
