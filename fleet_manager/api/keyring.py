"""API keys as the server holds them: HMAC key ids, constant-time look-up, and short-lived stream tickets.

A key id is `HMAC-SHA256(server secret, key)` (16 hex characters): stable across restarts, shown in
the audit trail and used as the idempotency scope, and useless for guessing the key without the
server secret (an unsalted hash of a short key could be cracked offline by any viewer). A key is
found by comparing its HMAC with every configured one in constant time.

A stream ticket lets a browser's `EventSource` (which cannot send headers) open the event stream
without putting a key in a URL: `POST /v1/events/stream-tickets` with the key, then
`GET /v1/events/stream?ticket=...` within `ttl_s`. A ticket is signed, names the key id and its
expiry (wall-clock seconds), and works in every process that shares the server secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from fleet_manager.config import Role

_KEY_ID_CONTEXT = b"finalmile/key-id/v1:"
_TICKET_CONTEXT = b"finalmile/stream-ticket/v1:"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stable key id (an HMAC, never the key), its roles, and the locker a locker key opens."""

    key_id: str
    roles: frozenset[Role]
    locker_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        role = "/".join(sorted(r.value for r in self.roles)) if len(self.roles) < len(Role) else "open"
        return f"{role}:{self.key_id}"


ANONYMOUS = Principal("anonymous", frozenset(Role))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyRing:
    """The configured keys of one app (empty: every caller is anonymous with every role, loopback only)."""

    def __init__(
        self,
        keys: Mapping[str, frozenset[Role]],
        *,
        server_secret: bytes,
        locker_keys: Mapping[str, str] | None = None,
        ticket_ttl_s: float = 60.0,
    ) -> None:
        self._secret = server_secret
        self.ticket_ttl_s = ticket_ttl_s
        bindings = dict(locker_keys or {})
        self._entries = [
            (self._digest(key), Principal(self._digest(key).hex()[:16], roles, bindings.get(key)))
            for key, roles in keys.items()
        ]
        self._by_id = {principal.key_id: principal for _, principal in self._entries}

    @property
    def open(self) -> bool:
        """No keys configured."""
        return not self._entries

    def _digest(self, key: str) -> bytes:
        return hmac.new(self._secret, _KEY_ID_CONTEXT + key.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def authenticate(self, key: str) -> Principal | None:
        """The principal of `key`, or None. Compares against every key, whatever matches, in constant time."""
        digest = self._digest(key)
        found: Principal | None = None
        for candidate, principal in self._entries:
            if hmac.compare_digest(candidate, digest):
                found = principal
        return found

    def issue_ticket(self, principal: Principal, *, now_s: float | None = None) -> tuple[str, float]:
        """(ticket, expiry in wall-clock seconds) for `principal`'s stream."""
        expires_s = (time.time() if now_s is None else now_s) + self.ticket_ttl_s
        payload = _b64(json.dumps({"kid": principal.key_id, "exp": round(expires_s, 3)}).encode())
        mac = hmac.new(self._secret, _TICKET_CONTEXT + payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}", expires_s

    def redeem_ticket(self, ticket: str, *, now_s: float | None = None) -> Principal | None:
        """The principal a valid, unexpired ticket stands for (with the key's roles now), else None."""
        payload, _, mac_text = ticket.partition(".")
        try:
            mac = _unb64(mac_text)
            claims = json.loads(_unb64(payload))
            key_id, expires_s = str(claims["kid"]), float(claims["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        expected = hmac.new(self._secret, _TICKET_CONTEXT + payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, mac):
            return None
        if expires_s <= (time.time() if now_s is None else now_s):
            return None
        return self._by_id.get(key_id)
