"""One NATS connection per process, shared by the parts that use the bus (event stream, command routing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fleet_manager.errors import ConfigError

logger = logging.getLogger(__name__)


class BusLink:
    """Holds the connection while `run()` runs (reconnecting for ever); `client()` waits for it."""

    def __init__(self, url: str, *, name: str) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise ConfigError(f"FINALMILE_NATS_URL must be nats:// or tls://, got {url!r}")
        self.url = url
        self.name = name
        self._client: Any = None
        self._ready = asyncio.Event()

    async def run(self) -> None:
        """Connect and keep the link until cancelled (the client reconnects by itself after a NATS restart)."""
        import nats  # inside: only a process configured with FINALMILE_NATS_URL needs the client

        async def on_disconnected() -> None:
            logger.warning("%s: NATS connection lost; reconnecting", self.name)

        client = await nats.connect(self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                    disconnected_cb=on_disconnected, name=self.name)
        try:
            self._client = client
            self._ready.set()
            await asyncio.Event().wait()
        finally:
            self._ready.clear()
            self._client = None
            with contextlib.suppress(Exception):
                await client.close()

    async def client(self, timeout_s: float) -> Any:
        """The connected client; TimeoutError when there is none within `timeout_s`."""
        await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self._client
