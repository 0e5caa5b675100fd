"""RC input as ArduCopter sees it in SITL: the simulated sticks, RC_CHANNELS_OVERRIDE from the GCS, the throttle.

SITL's simulated receiver holds roll/pitch/yaw centred (1500), throttle low (1000), channels 5-8 at
1800/1000/1000/1800 (observed). A ground station overrides channels with RC_CHANNELS_OVERRIDE, which
ArduPilot accepts only from MAV_GCS_SYSID, and each override lapses RC_OVERRIDE_TIME seconds after
the last one (MAVProxy's `rc 3 1500` resends at 10 Hz). The throttle counts as zero at or below
RC3_MIN + RC3_DZ. In AUTO, ArduCopter starts the take-off only once it is "auto armed": armed with
the throttle raised, or after a GUIDED take-off command (AUTO_OPTIONS bit 1 waives the throttle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SITL_STICKS = (1500, 1500, 1000, 1500, 1800, 1000, 1000, 1800)
CHANNELS = 18
_IGNORE = 65535


@dataclass
class RcInput:
    """Stick positions and the GCS's overrides (pulse widths, µs), in simulated seconds."""

    overrides: dict[int, tuple[int, float]] = field(default_factory=dict)  # channel -> (pwm, time set)

    def override(self, message: Any, now_s: float) -> None:
        """Apply RC_CHANNELS_OVERRIDE: 0 releases a channel 1-8, 65535 (or 0 for 9-18) leaves it as it is."""
        for channel in range(1, CHANNELS + 1):
            value = int(getattr(message, f"chan{channel}_raw", _IGNORE))
            if value == _IGNORE or (channel > 8 and value == 0):
                continue
            if value == 0:
                self.overrides.pop(channel, None)
            else:
                self.overrides[channel] = (value, now_s)

    def pwm(self, channel: int, now_s: float, timeout_s: float) -> int:
        """The channel's pulse width now (an override older than `timeout_s` has lapsed; timeout < 0: never)."""
        held = self.overrides.get(channel)
        if held is not None and (timeout_s < 0 or now_s - held[1] <= timeout_s):
            return held[0]
        return SITL_STICKS[channel - 1] if channel <= len(SITL_STICKS) else 0

    def channels(self, now_s: float, timeout_s: float) -> list[int]:
        """All 18 channels (RC_CHANNELS)."""
        return [self.pwm(channel, now_s, timeout_s) for channel in range(1, CHANNELS + 1)]
