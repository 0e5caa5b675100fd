"""The MAVLink mission protocol: upload and read back mission and fence items, as MAVSDK's `mission_raw`.

Upload: MISSION_COUNT, answer each MISSION_REQUEST(_INT) with MISSION_ITEM_INT, end at MISSION_ACK.
Download: MISSION_REQUEST_LIST -> MISSION_COUNT, then MISSION_REQUEST_INT per item, then our ACK.
Every step is retried on silence; an error ACK raises `CommandRefused` with the MAV_MISSION_RESULT
and the vehicle's STATUSTEXT. `upload_items` reads the items back and compares them (knowing
ArduCopter's read-back quirks, `item_difference`), uploading once more on a mismatch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import AdapterError, CommandRefused
from .mavlink_codec import FENCE, MISSION, MissionItem, enum_name, item_difference
from .mavlink_link import mavlink
from .mavlink_session import MavlinkSession

logger = logging.getLogger(__name__)

PROTOCOL_MESSAGES = (
    "MISSION_REQUEST",
    "MISSION_REQUEST_INT",
    "MISSION_ACK",
    "MISSION_COUNT",
    "MISSION_ITEM_INT",
    "MISSION_ITEM",
)


class MissionVerifyError(AdapterError):
    """The items read back from the vehicle differ from those uploaded."""


class MissionTransfer:
    """Uploads and downloads of one vehicle's mission items, one transfer at a time."""

    def __init__(self, session: MavlinkSession) -> None:
        self._session = session
        self._lock = asyncio.Lock()
        self._inbox: asyncio.Queue[Any] | None = None

    def on_mission_protocol(self, msg: Any) -> None:
        """Hand a mission-protocol message to the transfer under way (dropped when there is none)."""
        if self._inbox is not None:
            self._inbox.put_nowait(msg)

    async def upload_items(
        self, items: Sequence[MissionItem], mission_type: int, *, call: str = "upload_items()", verify: bool = True
    ) -> None:
        """Upload items of one mission type, then read them back and compare (one retry on a mismatch)."""
        self._session.require_link(call)
        for attempt in range(2):
            async with self._lock:
                try:
                    await self._upload(items, mission_type, call)
                except CommandRefused as exc:
                    # OPERATION_CANCELLED is the vehicle's own upload timeout (8 s without a message from us,
                    # e.g. a stalled link), not a verdict on the items: start the transfer again, once.
                    if exc.result_code != mavlink.MAV_MISSION_OPERATION_CANCELLED or attempt:
                        raise
                    logger.warning("%s: %s cancelled by the vehicle (its upload timeout); uploading again",
                                   self._session.vehicle_id, call)
                    continue
                if not verify:
                    return
                got = await self._download(mission_type, call)
            problem = compare_items(items, got)
            if problem is None:
                return
            logger.warning(
                "%s: %s read-back mismatch (attempt %d): %s", self._session.vehicle_id, call, attempt + 1, problem
            )
        raise MissionVerifyError(self._session.vehicle_id, call, f"read-back differs from upload: {problem}")

    async def download_items(self, mission_type: int, *, call: str = "download_items()") -> list[MissionItem]:
        """Read the vehicle's stored items of one mission type."""
        self._session.require_link(call)
        async with self._lock:
            return await self._download(mission_type, call)

    async def _upload(self, items: Sequence[MissionItem], mission_type: int, call: str) -> None:
        session = self._session
        link = session.link
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._inbox = inbox
        target = session.target_sys()
        count = len(items)
        started_wall = time.monotonic()
        last_sent: int | None = None
        retries = session.timeouts.mission_retries

        def send_count() -> None:
            link.send(link.mav.mission_count_encode(target, session.target_component, count, mission_type))

        def send_item(seq: int) -> None:
            i = items[seq]
            link.send(
                link.mav.mission_item_int_encode(
                    target,
                    session.target_component,
                    seq,
                    i.frame,
                    i.command,
                    0,
                    i.autocontinue,
                    i.param1,
                    i.param2,
                    i.param3,
                    i.param4,
                    i.x,
                    i.y,
                    i.z,
                    mission_type,
                )
            )

        try:
            send_count()
            while True:
                try:
                    msg = await asyncio.wait_for(inbox.get(), session.timeouts.mission_item_wall_s)
                except TimeoutError:
                    retries -= 1
                    if retries < 0:
                        waiting = "first MISSION_REQUEST" if last_sent is None else f"request after item {last_sent}"
                        raise session.timeout(call, f"no {waiting} ({count} items)") from None
                    if last_sent is None:
                        send_count()
                    else:
                        send_item(last_sent)
                    continue
                if getattr(msg, "mission_type", MISSION) != mission_type:
                    continue
                kind = msg.get_type()
                if kind in ("MISSION_REQUEST", "MISSION_REQUEST_INT") and 0 <= msg.seq < count:
                    send_item(msg.seq)
                    last_sent = msg.seq
                    retries = session.timeouts.mission_retries
                elif kind == "MISSION_ACK":
                    if msg.type == mavlink.MAV_MISSION_ACCEPTED:
                        if count == 0 or last_sent == count - 1:
                            return
                        continue  # a late ACK of an earlier transaction
                    text = await session.texts_since(started_wall)
                    result_name = enum_name("MAV_MISSION_RESULT", msg.type)
                    what = "fence" if mission_type == FENCE else "mission"
                    logger.warning("%s: %s refused: %s %s", session.vehicle_id, call, result_name, text)
                    raise CommandRefused(
                        session.vehicle_id,
                        call,
                        f"vehicle refused the {what} ({count} items)",
                        result_code=int(msg.type),
                        result_name=result_name,
                        status_text=text or None,
                    )
        finally:
            self._inbox = None

    async def _download(self, mission_type: int, call: str) -> list[MissionItem]:
        session = self._session
        link = session.link
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._inbox = inbox
        target = session.target_sys()
        try:
            count_msg = await self._exchange(
                inbox,
                lambda: link.send(link.mav.mission_request_list_encode(target, session.target_component, mission_type)),
                lambda m: m.get_type() == "MISSION_COUNT" and getattr(m, "mission_type", 0) == mission_type,
                call,
                "MISSION_COUNT",
            )
            items: list[MissionItem] = []
            for seq in range(int(count_msg.count)):
                msg = await self._exchange(
                    inbox,
                    lambda seq=seq: link.send(  # type: ignore[misc]
                        link.mav.mission_request_int_encode(target, session.target_component, seq, mission_type)
                    ),
                    lambda m, seq=seq: m.get_type() in ("MISSION_ITEM_INT", "MISSION_ITEM") and m.seq == seq,  # type: ignore[misc]
                    call,
                    f"item {seq}",
                )
                items.append(_item_from_message(msg, mission_type))
            accepted = mavlink.MAV_MISSION_ACCEPTED
            link.send(link.mav.mission_ack_encode(target, session.target_component, accepted, mission_type))
            return items
        finally:
            self._inbox = None

    async def _exchange(
        self, inbox: asyncio.Queue[Any], send: Callable[[], Any], wanted: Callable[[Any], bool], call: str, what: str
    ) -> Any:
        session = self._session
        for _ in range(session.timeouts.mission_retries + 1):
            send()
            deadline = time.monotonic() + session.timeouts.mission_item_wall_s
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    msg = await asyncio.wait_for(inbox.get(), remaining)
                except TimeoutError:
                    break
                if wanted(msg):
                    return msg
                if msg.get_type() == "MISSION_ACK" and msg.type != mavlink.MAV_MISSION_ACCEPTED:
                    result_name = enum_name("MAV_MISSION_RESULT", msg.type)
                    raise CommandRefused(
                        session.vehicle_id,
                        call,
                        f"vehicle refused the download of {what}",
                        result_code=int(msg.type),
                        result_name=result_name,
                    )
        raise session.timeout(call, f"no {what} during read-back")


def compare_items(sent: Sequence[MissionItem], got: Sequence[MissionItem]) -> str | None:
    """Why the read-back `got` is not `sent` (None when they are the same mission)."""
    if len(sent) != len(got):
        return f"{len(got)} items read back, {len(sent)} uploaded"
    for a, b in zip(sent, got, strict=True):
        problem = item_difference(a, b)
        if problem:
            return problem
    return None


def _item_from_message(msg: Any, mission_type: int) -> MissionItem:
    is_int = msg.get_type() == "MISSION_ITEM_INT"
    return MissionItem(
        seq=int(msg.seq),
        frame=int(msg.frame),
        command=int(msg.command),
        param1=float(msg.param1),
        param2=float(msg.param2),
        param3=float(msg.param3),
        param4=float(msg.param4),
        x=int(msg.x) if is_int else round(msg.x * 1e7),
        y=int(msg.y) if is_int else round(msg.y * 1e7),
        z=float(msg.z),
        autocontinue=int(msg.autocontinue),
        mission_type=mission_type,
    )
