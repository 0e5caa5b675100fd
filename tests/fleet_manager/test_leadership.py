"""Hub leadership with fencing, in one process over the real store (SQLite and PostgreSQL).

"Two processes" are two `Database` handles (two engines) on the same database, each with its own
`HubFence`. A takeover is forced by expiring the lease row, as the standby would see it once the
leader stops renewing; the kill -9 and SIGSTOP cases with real processes are in test_leadership_processes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update
from test_dispatcher import FakeVehicle, Recipients, _create, _order

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.config import Settings
from fleet_manager.dispatcher import DispatcherConfig
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.errors import CommandFenced, ConfigError, NotConnected, StaleLeader
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.fleet_file import parse_fleet
from fleet_manager.leadership import HubFence, HubLeadership, guard_commands
from fleet_manager.operator_commands import AdapterCommander
from fleet_manager.runtime import Runtime, build_hub
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import leases, outbox
from fleet_manager.store.db import Database, upgrade
from fleet_manager.store.models import HubLeaseRow, OutboxRow
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock

TTL_S = 600.0  # takeovers are forced (`_expire`): the lease must never lapse on a loaded machine


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


@pytest.fixture
def other(database: Database) -> Iterator[Database]:
    """A second handle on the same database, as a second process would have."""
    handle = Database(database.url.render_as_string(hide_password=False))
    yield handle
    handle.dispose()


def _expire(database: Database, hub_id: str) -> None:
    """What a standby sees once the leader stopped renewing for a lease time."""
    with database.transaction() as session:
        session.execute(update(HubLeaseRow).where(HubLeaseRow.hub_id == hub_id).values(expires_at_s=0.0))


def _take(database: Database, fence: HubFence) -> int:
    """Take the hub's lease for `fence` (as HubLeadership.step does); returns the token."""
    asked_at = time.monotonic()
    with database.transaction() as session:
        taken = leases.try_acquire(session, hub_id=fence.hub_id, holder=fence.holder, ttl_s=TTL_S)
    assert taken is not None, f"{fence.holder} could not take {fence.hub_id}"
    fence.granted(taken.token, asked_at=asked_at, ttl_s=TTL_S)
    return taken.token


def test_one_holder_at_a_time_and_the_token_only_grows(database: Database, other: Database, hub_id: str) -> None:
    """While a lease is in force nobody else gets it; after expiry the next holder gets token + 1, and the
    old holder can neither renew nor release it any more."""
    with database.transaction() as session:
        first = leases.try_acquire(session, hub_id=hub_id, holder="a", ttl_s=TTL_S)
    with other.transaction() as session:
        assert leases.try_acquire(session, hub_id=hub_id, holder="b", ttl_s=TTL_S) is None
    assert first is not None and first.token == 1 and first.expires_at_s > first.acquired_at_s
    with database.transaction() as session:
        renewed = leases.renew(session, hub_id=hub_id, holder="a", token=1, ttl_s=TTL_S)
    assert renewed is not None and renewed.expires_at_s >= first.expires_at_s
    _expire(database, hub_id)
    with other.transaction() as session:
        second = leases.try_acquire(session, hub_id=hub_id, holder="b", ttl_s=TTL_S)
    assert second is not None and second.token == 2 and second.holder == "b"
    with database.transaction() as session:
        assert leases.renew(session, hub_id=hub_id, holder="a", token=1, ttl_s=TTL_S) is None
        assert not leases.release(session, hub_id=hub_id, holder="a", token=1)
    with other.read() as session:
        assert leases.current(session, hub_id=hub_id) == second


def test_a_deposed_leaders_writes_are_refused_and_nothing_is_written(
    database: Database, other: Database, hub_id: str
) -> None:
    """Leader A writes through its fenced handle; after B takes over, A (still believing it leads: its local
    lease is fresh) is refused with StaleLeader naming both tokens, and its event is not in the store."""
    fence_a, fence_b = HubFence(hub_id, "a"), HubFence(hub_id, "b")
    fenced_a = database.fenced(fence_a)
    with pytest.raises(StaleLeader, match="no lease"), fenced_a.transaction():
        pass
    _take(database, fence_a)

    def append(session: object, subject: str) -> None:
        outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed",  # type: ignore[arg-type]
                            subject=subject, data={}, at_s=0.0)

    with fenced_a.transaction() as session:
        append(session, f"{hub_id}/before")
    _expire(other, hub_id)
    assert _take(other, fence_b) == 2
    assert fence_a.leading  # A has not noticed: only the token can stop it
    with pytest.raises(StaleLeader, match=r"token 1 .* token 2") as refused, fenced_a.transaction() as session:
        append(session, f"{hub_id}/late")
    assert (refused.value.token, refused.value.newest_token) == (1, 2)
    with other.fenced(fence_b).transaction() as session:
        append(session, f"{hub_id}/new-leader")
    with database.read() as session:
        subjects = set(session.scalars(select(OutboxRow.subject).where(OutboxRow.hub_id == hub_id)))
    assert subjects == {f"{hub_id}/before", f"{hub_id}/new-leader"}


def test_a_lapsed_local_lease_refuses_without_asking_the_store() -> None:
    """A leader that was stopped longer than its lease (monotonic time ran on) refuses on its own."""
    now = [100.0]
    fence = HubFence("hub-x", "a", monotonic=lambda: now[0])
    fence.granted(7, asked_at=100.0, ttl_s=10.0)
    fence.check_local()
    now[0] += 10.0
    with pytest.raises(StaleLeader, match="lapsed") as refused:
        fence.check_local()
    assert refused.value.token == 7 and not fence.leading


async def test_deposed_dispatcher_plans_nothing_and_its_commands_never_reach_the_vehicle(
    database: Database, other: Database, world: World, hub_id: str
) -> None:
    """The hub's services on a fenced store with a fenced drone: as leader the order is flown; after a
    takeover the old leader's next planning cycle is refused by the token (the order stays ready, the drone
    gets no second mission) and an operator command raises CommandFenced without reaching the drone."""
    fence_a, fence_b = HubFence(hub_id, "a"), HubFence(hub_id, "b")
    _take(database, fence_a)
    fenced_a = database.fenced(fence_a)
    drone = FakeVehicle("drone-1", VehicleKind.DRONE, world.hub.latitude_deg, world.hub.longitude_deg)
    guard_commands(drone, fence_a, database)
    fleet = Fleet()
    fleet.add(hub_id, drone, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0,
                                         cruise_altitude_m=60.0, reserve_pct=25.0),
              home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    clock = Clock(start_s=1_749_704_400.0, speedup=1.0)
    hub = build_hub(hub_id=hub_id, database=fenced_a, fleet=fleet, world=world, clock=clock, recipients=Recipients(),
                    dispatcher_config=DispatcherConfig(hub_id=hub_id, lookahead_s=math.inf))
    first = _create(database, world, "lead-1", hub_id=hub_id)
    await hub.dispatcher.start()
    assert len(await hub.dispatcher.cycle()) == 1
    deadline = time.monotonic() + 60.0  # generous: the box is shared; the fake drone flies at once
    while hub.missions.running:
        assert time.monotonic() < deadline, "the first mission did not finish"
        await asyncio.sleep(0.02)
    assert _order(database, first).status is OrderStatus.DELIVERED and len(drone.missions) == 1
    await drone.pause()
    assert drone.commands == ["pause"]

    _expire(other, hub_id)
    _take(other, fence_b)
    late = _create(database, world, "lead-2", hub_id=hub_id)  # the API tier files it; the new leader will plan it
    with pytest.raises(StaleLeader):
        await hub.dispatcher.cycle()
    assert _order(database, late).status is OrderStatus.READY
    assert len(drone.missions) == 1
    with pytest.raises(CommandFenced, match="token 1"):
        await drone.return_home()
    assert drone.commands == ["pause"]
    await hub.missions.stop()
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(HubLeaseRow).where(
            HubLeaseRow.hub_id == hub_id, HubLeaseRow.holder == "b", HubLeaseRow.token == 2)) == 1


async def test_leadership_takes_over_after_the_leader_stops_renewing(
    database: Database, other: Database, hub_id: str
) -> None:
    """Two HubLeadership loops (two engines): one leads and serves; when its loop dies without releasing
    (as on kill -9), the standby's next rounds take the hub with the next token and serve it."""
    served: list[tuple[str, int]] = []

    def serve_as(name: str):  # type: ignore[no-untyped-def]
        async def serve(fence: HubFence) -> None:
            served.append((name, fence.token or 0))
            await asyncio.Event().wait()
        return serve

    leader = HubLeadership(database=database, hub_id=hub_id, holder="a", serve_hub=serve_as("a"), ttl_s=1.0)
    standby = HubLeadership(database=other, hub_id=hub_id, holder="b", serve_hub=serve_as("b"), ttl_s=1.0)
    assert await leader.step() and not await standby.step()
    await asyncio.sleep(0)
    assert served == [("a", 1)]
    # The leader dies: no more rounds, no release. The standby keeps trying until the lease runs out.
    for _ in range(100):
        if await standby.step():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0)
    assert served == [("a", 1), ("b", 2)] and standby.fence.token == 2
    assert not await leader.step() and leader.fence.token is None  # it learns it was deposed
    await leader._stop_serving()
    await standby._stop_serving()


async def test_serving_several_hubs_needs_them_named_and_known(tmp_path: Path) -> None:
    """A fleet file with two hubs: without FINALMILE_HUBS the runtime refuses (naming --hubs); a hub not in the
    file is refused by name; FINALMILE_HUBS names a hub once."""
    url = upgrade(f"sqlite:///{tmp_path / 'fm.db'}")
    fleet = parse_fleet({"hubs": [{"hub_id": hub_id, "recipient_presence": {"kind": "always"}}
                                  for hub_id in ("hub-a", "hub-b")]}, "test fleet")
    with pytest.raises(ConfigError, match="--hubs"):
        await Runtime.start(Settings(database_url=url), fleet)
    with pytest.raises(ConfigError, match="hub-c not in the fleet file"):
        await Runtime.start(Settings(database_url=url, hubs="hub-a,hub-c"), fleet)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="twice"):
        Settings(hubs="hub-a,hub-a")  # type: ignore[arg-type]
    assert Settings(hubs=" hub-a, hub-b ").hub_ids == ("hub-a", "hub-b")  # type: ignore[arg-type]


async def test_a_command_for_a_vehicle_led_elsewhere_names_the_lease(database: Database, hub_id: str) -> None:
    """A process that does not lead the vehicle's hub refuses an operator command with a typed error naming
    the hub's lease (instead of an unknown-vehicle crash)."""
    with database.transaction() as session:
        fleet_store.upsert_vehicle(session, vehicle_id=f"{hub_id}-drone", hub_id=hub_id, kind=VehicleKind.DRONE,
                                   at_s=0.0, name="drone", adapter_url="tcp:127.0.0.1:5760")
        command = fleet_store.request_command(session, vehicle_id=f"{hub_id}-drone",
                                              command=fleet_store.CommandKind.PAUSE, requested_by="op",
                                              reason="test", at_s=0.0)
    with pytest.raises(NotConnected, match="lease"):
        await AdapterCommander(Fleet()).execute(command)
