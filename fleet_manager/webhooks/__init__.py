"""Webhooks to the logistics backend: CloudEvents 1.0 over HTTP, signed as Standard Webhooks, fed by the outbox."""

from .cloudevents import sign as sign
from .cloudevents import to_cloudevent as to_cloudevent
from .cloudevents import verify as verify
from .deliverer import WebhookConfig as WebhookConfig
from .deliverer import WebhookDeliverer as WebhookDeliverer
