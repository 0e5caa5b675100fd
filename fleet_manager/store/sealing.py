"""Sealing secrets at rest: the locker pickup code travels in the outbox encrypted, never in plain text.

The outbox row of a `diverted_to_locker` notification must carry the code until the webhook has
delivered it to the backend (the only party that may see it), so it is stored sealed with
AES-256-GCM under a key derived from the server secret (`FINALMILE_SERVER_SECRET`) and bound to the
event id; the webhook deliverer unseals it for the request body, and the copy is erased once delivered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
_NONCE_BYTES = 12


class Sealer:
    """Seals and unseals short secrets for one server secret (bytes); `Sealer.ephemeral()` for a key of its own."""

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 16:
            raise ValueError("a sealing secret needs at least 16 bytes")
        key = hmac.new(server_secret, b"finalmile/outbox-sealing/v1", hashlib.sha256).digest()
        self._aead = AESGCM(key)

    @classmethod
    def ephemeral(cls) -> Sealer:
        """A sealer with a random key: what is sealed cannot be unsealed after a restart."""
        return cls(secrets.token_bytes(32))

    def seal(self, plain: str, *, bound_to: str) -> str:
        """`sealed:v1:<base64 nonce+ciphertext>`; only unsealed with the same `bound_to` (the event id)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), bound_to.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, text: str, *, bound_to: str) -> str | None:
        """The plain text, or None when it was sealed under another key (a restart without a server secret)."""
        if not text.startswith(PREFIX):
            return None
        raw = base64.urlsafe_b64decode(text.removeprefix(PREFIX))
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()).decode()
        except InvalidTag:
            logger.error("a sealed value of %s cannot be unsealed (server secret changed?)", bound_to)
            return None


def is_sealed(value: object) -> bool:
    """True for a value produced by `Sealer.seal`."""
    return isinstance(value, str) and value.startswith(PREFIX)
