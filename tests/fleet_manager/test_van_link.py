"""The van adapter's read loop survives a bad line from the driver app (issue 19, item 6)."""

from __future__ import annotations

import asyncio
import json

import pytest

from fleet_manager.adapters.van_adapter import VanAdapter

pytestmark = pytest.mark.timeout(60)


def _state(stamp_s: float) -> dict[str, object]:
    return {"type": "state", "stamp_s": stamp_s, "latitude_deg": 60.17, "longitude_deg": 24.94, "mode": "IDLE"}


async def test_a_malformed_van_line_is_logged_and_skipped() -> None:
    """Not JSON, not an object, a missing field, a bad number: each is skipped and the next state still arrives."""
    bad_lines = [b"{not json\n", b"[1, 2]\n", b'{"type": "state"}\n',
                 json.dumps({**_state(1.0), "latitude_deg": "north"}).encode() + b"\n",
                 b'{"type": "result", "mission_id": "m", "outcome": "exploded"}\n']
    sent_good = asyncio.Event()

    async def driver_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # hello
        writer.write(json.dumps({"type": "welcome", "vehicle_id": "van-1", "home": [60.17, 24.94]}).encode() + b"\n")
        for line in bad_lines:
            writer.write(line)
        writer.write(json.dumps(_state(2.0)).encode() + b"\n")
        await writer.drain()
        sent_good.set()
        await reader.read()  # keep the link open until the adapter closes it

    server = await asyncio.start_server(driver_app, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=20.0)
        await adapter.wait_ready(timeout_s=20.0)
        await asyncio.wait_for(sent_good.wait(), 20.0)
        state = adapter.latest_state()
        assert state is not None and state.stamp_s == 2.0
        assert adapter.malformed_lines == len(bad_lines)
    finally:
        await adapter.close()
        server.close()
        await server.wait_closed()
