"""A TCP relay between the fleet manager and the drone simulator that can drop a drone's radio link.

Each drone's MAVLink URL (`tcp:HOST:PORT`) gets a relay port of its own; the fleet manager dials the
relay, the relay dials the simulator. While a drone's link is cut, every byte either way is
dropped (not queued): the drone flies on and hears nothing, as when its radio is out of range,
and the TCP connection stays open. Restoring the link lets bytes through again. The relay runs
its own event loop in a thread, so the day's loop is not involved in carrying its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType

logger = logging.getLogger(__name__)

_CHUNK = 65_536


class LinkRelay:
    """Relays drone links and cuts them on demand (`cut`, `restore`); a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._cut: dict[int, bool] = {}
        self.dropped_bytes = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link-relay", daemon=True)
        self._servers: list[asyncio.Server] = []
        self._thread.start()

    def __enter__(self) -> LinkRelay:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def relay(self, urls: list[str]) -> list[str]:
        """Start a relay per `tcp:` URL; returns the URLs to dial instead (same order)."""
        relayed = []
        for index, url in enumerate(urls):
            scheme, _, address = url.partition(":")
            if scheme != "tcp":
                raise ValueError(f"link relay carries tcp: links only, got {url!r}")
            upstream_host, _, upstream_port = address.rpartition(":")
            self._cut[index] = False
            future = asyncio.run_coroutine_threadsafe(
                self._serve(index, upstream_host, int(upstream_port)), self._loop)
            relayed.append(f"tcp:{self.host}:{future.result(timeout=10.0)}")
        return relayed

    def cut(self, index: int) -> None:
        """Drop every byte of drone `index`'s link until `restore`."""
        self._cut[index] = True

    def restore(self, index: int) -> None:
        """Let drone `index`'s bytes through again."""
        self._cut[index] = False

    def is_cut(self, index: int) -> bool:
        """Whether drone `index`'s link is cut now."""
        return self._cut.get(index, False)

    def close(self) -> None:
        """Stop every relay and the relay's thread."""
        if not self._loop.is_running():
            return

        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)

    async def _serve(self, index: int, upstream_host: str, upstream_port: int) -> int:
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(upstream_host, upstream_port), 10.0)
            except (TimeoutError, OSError) as exc:
                logger.warning("link relay %d: cannot reach %s:%d: %s", index, upstream_host, upstream_port, exc)
                writer.close()
                return
            pumps = [asyncio.ensure_future(self._pump(index, reader, up_writer)),
                     asyncio.ensure_future(self._pump(index, up_reader, writer))]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                for closing in (writer, up_writer):
                    closing.close()

        server = await asyncio.start_server(client, self.host, 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _pump(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                return
            if self._cut.get(index, False):
                self.dropped_bytes += len(data)
                continue
            writer.write(data)
            await writer.drain()
