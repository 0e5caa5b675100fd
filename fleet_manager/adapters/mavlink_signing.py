"""MAVLink 2 message signing for one vehicle link: the secret key, signing outgoing frames, checking incoming.

The key is 32 bytes (`SigningKey.from_hex`); it never appears in a repr, a log line or an error
message. Signing itself is pymavlink's (`MAVLink.signing`, `check_signature`), per the MAVLink
signing spec: SHA-256 over key + frame, a 48-bit timestamp in 10 µs units since 2015-01-01 that
never goes backwards per (link id, system, component).

ArduPilot's procedure: the ground station sends SETUP_SIGNING (key + initial timestamp) over a
trusted link (USB; on SITL, SERIAL0), after which the autopilot signs every frame on every link and
rejects unsigned ones everywhere but on SERIAL0. `SigningState.expect_setup()` accepts the vehicle's
unsigned frames until its first correctly signed one; from then on (and from the start when the
vehicle already has the key) unsigned and badly signed frames are dropped and counted.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from mission_planner.errors import FinalMileError

MAVLINK_SIGNED = 0x01  # incompat_flags bit of a signed MAVLink 2 frame
_EPOCH_2015_S = 1420070400
KEY_BYTES = 32


class SigningKeyError(FinalMileError, ValueError):
    """A signing key is malformed (the message never contains the key)."""


@dataclass(frozen=True)
class SigningKey:
    """A MAVLink 2 signing secret (32 bytes) and the link id this ground station signs with."""

    secret: bytes = field(repr=False)
    link_id: int = 0

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise SigningKeyError(f"a MAVLink signing key is {KEY_BYTES} bytes, got {len(self.secret)}")
        if not 0 <= self.link_id <= 255:
            raise SigningKeyError(f"signing link_id must be 0..255, got {self.link_id}")

    @classmethod
    def from_hex(cls, text: str, link_id: int = 0) -> SigningKey:
        """The key from 64 hex digits; SigningKeyError (without the text) when it is not that."""
        cleaned = text.strip()
        if len(cleaned) != 2 * KEY_BYTES:
            raise SigningKeyError(f"a MAVLink signing key is {2 * KEY_BYTES} hex digits, got {len(cleaned)} characters")
        try:
            return cls(bytes.fromhex(cleaned), link_id)
        except ValueError:
            raise SigningKeyError(f"a MAVLink signing key is {2 * KEY_BYTES} hex digits; it has other characters") \
                from None

    @classmethod
    def from_passphrase(cls, passphrase: str, link_id: int = 0) -> SigningKey:
        """SHA-256 of a passphrase: the key MAVProxy's `signing setup PASSPHRASE` installs."""
        return cls(hashlib.sha256(passphrase.encode()).digest(), link_id)

    @property
    def fingerprint(self) -> str:
        """8 hex digits that identify the key in logs without revealing it."""
        return hashlib.sha256(b"finalmile-key-id" + self.secret).hexdigest()[:8]


def signing_timestamp(now_s: float | None = None) -> int:
    """Now as a MAVLink signing timestamp (10 µs units since 2015-01-01 00:00 UTC)."""
    now_s = time.time() if now_s is None else now_s
    return int(max(0.0, now_s - _EPOCH_2015_S) * 100_000)


class SigningState:
    """Signing on one link: pymavlink signs outgoing frames; `accept` checks each incoming one."""

    def __init__(self, mav: Any, key: SigningKey) -> None:
        self.key = key
        self._mav = mav
        mav.signing.secret_key = key.secret
        mav.signing.link_id = key.link_id
        mav.signing.timestamp = signing_timestamp()
        mav.signing.sign_outgoing = True
        self.required = True  # drop unsigned frames from the vehicle
        self.verified = False  # a correctly signed frame from the vehicle has arrived

    def expect_setup(self) -> None:
        """The vehicle does not have the key yet: accept its unsigned frames until its first signed one."""
        self.required = False
        self.verified = False

    def accept(self, message: Any, stats: Any) -> bool:
        """Whether to hand `message` on; counts what it drops in `stats` (unsigned / bad signature)."""
        header = getattr(message, "_header", None)
        signed = header is not None and bool(header.incompat_flags & MAVLINK_SIGNED)
        if signed:
            if self._mav.check_signature(message.get_msgbuf(), message.get_srcSystem(), message.get_srcComponent()):
                if not self.verified:
                    self.verified = True
                    self.required = True
                return True
            stats.bad_signature_dropped += 1
            return False
        if not self.required:
            return True
        stats.unsigned_dropped += 1
        return False

    def setup_message(self, target_system: int, target_component: int) -> Any:
        """SETUP_SIGNING carrying the key and our current timestamp (send it only over a trusted link)."""
        return self._mav.setup_signing_encode(
            target_system, target_component, list(self.key.secret), signing_timestamp()
        )
