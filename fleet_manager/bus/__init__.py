"""The bus between fleet-manager processes: NATS JetStream (the outbox relayed as one stream)."""

from .jetstream_relay import OutboxRelay as OutboxRelay
from .jetstream_relay import RelayConfig as RelayConfig
from .jetstream_relay import event_subject as event_subject
