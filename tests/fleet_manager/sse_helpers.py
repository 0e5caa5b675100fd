"""An SSE client in a thread for tests: collects (id, event, data) from a live `GET /v1/events/stream`."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from fm_helpers import wait_until


@dataclass(frozen=True)
class SseEvent:
    """One event as the client received it."""

    event_id: int | None
    event: str
    data: dict[str, Any]


@dataclass
class SseReader:
    """Reads `url` (the stream) with `headers` until closed; `events` grows as they arrive."""

    url: str
    headers: dict[str, str]
    events: list[SseEvent] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _client: httpx.Client | None = None
    error: BaseException | None = None

    def __enter__(self) -> SseReader:
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._thread.start()
        if not self.connected.wait(30):
            raise AssertionError(f"the stream {self.url} did not open within 30 s ({self.error!r})")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()  # ends the blocked read in the thread
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _read(self) -> None:
        # No read timeout: an idle stream is normal; __exit__ closes the client, and callers wait with timeouts.
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                if response.status_code != 200:
                    raise AssertionError(f"stream answered {response.status_code}: {response.read()!r}")
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.connected.set()  # the server's "connected" comment
                    elif line == "":
                        if "data" in fields:
                            self.events.append(SseEvent(int(fields["id"]) if fields.get("id") else None,
                                                        fields.get("event", "message"), json.loads(fields["data"])))
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except BaseException as exc:  # reported by wait_for / __enter__ (not when closed on purpose)
            if not self._stop.is_set():
                self.error = exc
            self.connected.set()

    def wait_for(self, predicate: Any, *, timeout_s: float, what: str) -> list[SseEvent]:
        """Wait until `predicate(events)` is true; returns the events then."""
        def ready() -> bool:
            if self.error is not None:
                raise AssertionError(f"the stream {self.url} failed: {self.error!r}")
            return bool(predicate(list(self.events)))

        wait_until(ready, timeout_s=timeout_s, what=what, interval_s=0.2)
        return list(self.events)
