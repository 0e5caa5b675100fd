"""Start-up reconciliation: every mission the store says is in flight is matched with its vehicle.

After a crash (kill -9) or a failover to another process, the store still has missions `pending`
or `running` whose vehicles went on without us. Before the first planning cycle each of them is
asked of its vehicle (`MissionAdoption.adopt_mission`: the MAVLink drone's stored items,
MISSION_CURRENT, mode and armed state) and then

    RUNNING .... adopted: a runner follows it to its end as if this process had started it;
    ENDED ...... settled: parcels released on the way are handed over, the rest brought back;
    ABSENT ..... pending: re-queued (the parcels never left the hub); running: the drops before the
                 step last recorded in the store are handed over, the parcels after it go to
                 `needs_review` (an operator confirms; verdict `review`), the mission is settled;

MAVLink drones, vans and Nav2 robots report their missions (a van: the mission id and step in its state;
a robot: its navigator's goal status, whose goal ids name the leg, or, once that expired, the legs and
release decisions the runner recorded in the mission's details with the robot's pose); a robot whose last
leg ended at a drop whose release was decided cannot tell whether the compartment opened: that parcel goes
to `needs_review` (`unsure_steps`). A drop the vehicle shows released (a drone past its gripper item) whose
release was recorded (`releasing_step`, written before the drone is told to descend) is delivered on that
record: the recipient is not asked again, whether it is handed over here or when the adopted drone reports it.
A vehicle that cannot (no adoption capability) and a van whose sortie launches
drones or robots (their choreography is not rebuilt) is recalled and its mission settled FAILED
with the reason; one that cannot be asked now (no link) stays out of service with
its mission unsettled, so it is never given new orders while its old ones may still be aboard.
Parcels are never lost (each ends delivered, or ready again with a reason) and never sent twice
(a mission the vehicle still runs is followed, never uploaded again).

The scale-out failover calls `reconcile_in_flight` with the hub services it takes over.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from .adapters.base import (
    AdoptionReport,
    HeldMission,
    HomeSetting,
    Mission,
    MissionAdoption,
    MissionOutcome,
    RecordedLegAdoption,
    StepKind,
    VehicleKind,
)
from .domain.errors import NotFound
from .domain.orders import DeliveryMode, OrderStatus
from .errors import AdapterError
from .fleet import LINK_DOWN, Fleet, FleetError, FleetVehicle
from .mission_control import MissionControl
from .mission_runner import RunningMission
from .missions import delivery_steps, mission_from_json
from .order_lifecycle import OrderLifecycle
from .store import fleet as fleet_store
from .store import orders as order_store
from .store.db import Database

logger = logging.getLogger(__name__)

IN_FLIGHT = (fleet_store.MissionStatus.PENDING, fleet_store.MissionStatus.RUNNING, fleet_store.MissionStatus.PAUSED)
_ABOARD = frozenset({OrderStatus.LOADED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF,
                     OrderStatus.DIVERTED_TO_LOCKER})
UNSETTLED_PREFIX = "unsettled mission after restart"  # FleetVehicle.out_of_service of a vehicle not reachable


@dataclass(frozen=True)
class MissionReconciliation:
    """One stored in-flight mission and what became of it."""

    mission_id: str
    vehicle_id: str
    verdict: str  # adopted | settled | requeued | review | unsettled
    reason: str
    order_ids: tuple[str, ...] = ()
    outcome: str | None = None


@dataclass
class ReconciliationReport:
    """Every in-flight mission of a hub at start-up, and what became of it."""

    hub_id: str
    missions: list[MissionReconciliation] = field(default_factory=list)

    def by_verdict(self, verdict: str) -> list[MissionReconciliation]:
        """The missions that got `verdict`."""
        return [m for m in self.missions if m.verdict == verdict]


async def reconcile_in_flight(
    *, database: Database, hub_id: str, fleet: Fleet, missions: MissionControl, lifecycle: OrderLifecycle,
) -> ReconciliationReport:
    """Match each mission the store has in flight for `hub_id` with its vehicle; adopt, settle or re-queue it.

    Call before the hub's first planning cycle (its vehicles are not planned while a mission of
    theirs is adopted or unsettled). Returns what was done, mission by mission.
    """
    records = await database.read_async(
        lambda s: fleet_store.list_missions(s, hub_ids=[hub_id], statuses=IN_FLIGHT, limit=100_000))
    report = ReconciliationReport(hub_id)
    newest: dict[str, fleet_store.MissionRecord] = {}
    for record in sorted(records, key=lambda r: r.created_at_s):
        older = newest.get(record.vehicle_id)
        if older is not None:  # a vehicle runs one mission: an older one still open was superseded
            report.missions.append(await _settle(lifecycle, missions, fleet, older, MissionOutcome.CANCELED,
                                                 "superseded by a newer mission of the same vehicle", ()))
        newest[record.vehicle_id] = record
    for record in newest.values():
        followed = missions.running_mission(record.vehicle_id)
        if followed is not None and followed.mission.mission_id == record.mission_id:
            continue  # a runner of this process follows it already (a restarted dispatcher job)
        vehicle = _vehicle(fleet, record.vehicle_id)
        if vehicle is not None and vehicle.out_of_service.startswith(LINK_DOWN):
            report.missions.append(_hold(fleet, record, vehicle.out_of_service))
            continue  # asked again once its link is up
        try:
            outcome = await _reconcile_one(lifecycle, missions, fleet, record)
        except Exception as exc:  # one mission must not stop the others (nor the start-up)
            logger.exception("reconciling mission %s failed", record.mission_id)
            outcome = _hold(fleet, record, f"reconciliation failed: {exc}")
        report.missions.append(outcome)
        if outcome.verdict != "unsettled" and vehicle is not None and vehicle.out_of_service.startswith(
                UNSETTLED_PREFIX):
            vehicle.out_of_service = ""  # matched now: the vehicle may take work again
        logger.info("mission %s on %s: %s (%s)", outcome.mission_id, outcome.vehicle_id, outcome.verdict,
                    outcome.reason)
    return report


async def _reconcile_one(
    lifecycle: OrderLifecycle, missions: MissionControl, fleet: Fleet, record: fleet_store.MissionRecord,
) -> MissionReconciliation:
    try:
        vehicle = fleet.get(record.vehicle_id)
    except FleetError:
        return await _settle(lifecycle, missions, fleet, record, MissionOutcome.FAILED,
                             f"vehicle {record.vehicle_id} is no longer in the fleet", ())
    adapter = vehicle.adapter
    mission = mission_from_json(record.mission_id, record.steps,
                                cruise_speed_m_s=record.details.get("cruise_speed_m_s"))
    # A van adopted mid-route would leave the drones and robots it carries without their launch and recovery
    # (the choreography is not rebuilt): such a sortie is recalled and settled as before.
    carries = vehicle.kind is VehicleKind.VAN and any(step.kind is StepKind.WAIT for step in mission.steps)
    if not isinstance(adapter, MissionAdoption) or carries:
        with contextlib.suppress(AdapterError):
            await adapter.return_home()
        if record.status is fleet_store.MissionStatus.PENDING:
            return await _requeue(lifecycle, record, f"{vehicle.kind.value} cannot report its mission after a restart")
        return await _settle(lifecycle, missions, fleet, record, MissionOutcome.FAILED,
                             f"{vehicle.kind.value} missions cannot be adopted after a restart; vehicle recalled", ())
    try:
        if isinstance(adapter, HomeSetting):  # a RETURN it goes on with leads to the hub, not to where it is now
            await adapter.set_home(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        seen = await adapter.adopt_mission(mission)
        if isinstance(adapter, RecordedLegAdoption) and record.status is not fleet_store.MissionStatus.PENDING:
            seen = await _from_the_record(adapter, mission, record, seen)
    except AdapterError as exc:
        return _hold(fleet, record, f"vehicle cannot be asked: {exc}")
    if seen.held is HeldMission.RUNNING:
        return await _adopt(lifecycle, missions, fleet, record, seen)
    if seen.held is HeldMission.ABSENT and record.status is not fleet_store.MissionStatus.PENDING:
        return await _absent_after_departure(lifecycle, missions, fleet, record, mission, seen.detail)
    if seen.unsure_steps:
        return await _settle_unsure(lifecycle, missions, fleet, record, mission, seen)
    if seen.held is HeldMission.ABSENT or (seen.steps_completed == 0 and not seen.handed_over_steps):
        return await _requeue(lifecycle, record, seen.detail)
    return await _settle(lifecycle, missions, fleet, record, seen.outcome or MissionOutcome.FAILED, seen.detail,
                         seen.handed_over_steps)


async def _from_the_record(
    adapter: RecordedLegAdoption, mission: Mission, record: fleet_store.MissionRecord, seen: AdoptionReport,
) -> AdoptionReport:
    """The store's record of the legs sent and the release decided, where the robot's own report falls short:
    its goal expired (ABSENT: a Nav2 goal is listed for seconds after it ends), or it ended at a door that waits
    for the fleet manager's decision and none was recorded (the compartment never opened)."""
    leg, releasing = record.details.get("leg_sent"), record.details.get("releasing_step")
    releasing = releasing if isinstance(releasing, int) else None
    if seen.held is HeldMission.ABSENT and isinstance(leg, int):
        return await adapter.adopt_recorded_leg(mission, leg, releasing_step=releasing)
    held_at = [step for step in seen.unsure_steps if 0 <= step < len(mission.steps)]
    if held_at and all(mission.steps[step].confirm_release and step != releasing for step in held_at):
        return await adapter.adopt_recorded_leg(mission, held_at[-1], releasing_step=releasing)
    return seen


def _vehicle(fleet: Fleet, vehicle_id: str) -> FleetVehicle | None:
    try:
        return fleet.get(vehicle_id)
    except FleetError:
        return None


def _mode(record: fleet_store.MissionRecord) -> DeliveryMode:
    return DeliveryMode(record.details.get("mode") or DeliveryMode.DRONE.value)


async def _aboard(lifecycle: OrderLifecycle, record: fleet_store.MissionRecord) -> list[str]:
    """The mission's orders still on the vehicle (not handed over, not settled)."""
    def read(session: Session) -> list[str]:
        aboard = []
        for order_id in record.order_ids:
            try:
                order = order_store.get_order(session, order_id=order_id)
            except NotFound:  # an order erased meanwhile (retention) is simply not aboard
                continue
            if order.status in _ABOARD:
                aboard.append(order_id)
        return aboard

    return await lifecycle.database.read_async(read)


async def _departed(lifecycle: OrderLifecycle, record: fleet_store.MissionRecord, aboard: list[str]) -> None:
    """A mission stored pending that the vehicle did fly: record the departure it never got."""
    if record.status is fleet_store.MissionStatus.PENDING:
        await lifecycle.depart(mission_id=record.mission_id, vehicle_id=record.vehicle_id, mode=_mode(record),
                               order_ids=aboard, eta_s={})


async def _hand_over_released(
    lifecycle: OrderLifecycle, record: fleet_store.MissionRecord, running: RunningMission, steps: tuple[int, ...],
) -> None:
    """Parcels that left the vehicle while nobody listened: handed over now (delivered or attempt failed).

    A drop whose release the old process recorded deciding was answered then (the recipient takes it): it is
    delivered without asking again, since the recipient may well have gone in since the parcel was let go."""
    by_step = delivery_steps(running.mission)
    state = running.vehicle.state()
    for index in steps:
        order_id = by_step.get(index)
        if order_id in running.aboard:
            running.resolved.add(order_id)
            await lifecycle.hand_over(order_id=order_id, vehicle_id=record.vehicle_id,
                                      latitude_deg=state.latitude_deg if state else None,
                                      longitude_deg=state.longitude_deg if state else None,
                                      present=True if order_id in running.release_decided else None)


def _running(fleet: Fleet, record: fleet_store.MissionRecord, aboard: list[str]) -> RunningMission:
    vehicle = fleet.get(record.vehicle_id)
    mission = mission_from_json(record.mission_id, record.steps,
                                cruise_speed_m_s=record.details.get("cruise_speed_m_s"))
    running = RunningMission.from_details(vehicle, mission, _mode(record), aboard, record.details)
    releasing = record.details.get("releasing_step")
    decided = delivery_steps(mission).get(releasing) if isinstance(releasing, int) else None
    # `mission_runner._decide_drop` records it before the vehicle is told to let go
    if decided is not None and decided in aboard:
        running.release_decided.add(decided)
    return running


async def _adopt(
    lifecycle: OrderLifecycle, missions: MissionControl, fleet: Fleet, record: fleet_store.MissionRecord,
    seen: AdoptionReport,
) -> MissionReconciliation:
    aboard = await _aboard(lifecycle, record)
    await _departed(lifecycle, record, aboard)
    running = _running(fleet, record, aboard)
    await _hand_over_released(lifecycle, record, running, seen.handed_over_steps)
    missions.adopt(running)
    return MissionReconciliation(record.mission_id, record.vehicle_id, "adopted", seen.detail, tuple(aboard))


async def _settle(
    lifecycle: OrderLifecycle, missions: MissionControl, fleet: Fleet, record: fleet_store.MissionRecord,
    outcome: MissionOutcome, reason: str, handed_over_steps: tuple[int, ...],
) -> MissionReconciliation:
    """The mission is over: released parcels handed over, the rest brought back and planned again."""
    aboard = await _aboard(lifecycle, record)
    if record.vehicle_id not in {v.vehicle_id for v in fleet}:
        await lifecycle.settle(mission_id=record.mission_id, outcome=outcome, aboard=aboard, why=reason)
        return MissionReconciliation(record.mission_id, record.vehicle_id, "settled", reason, tuple(aboard),
                                     outcome.value)
    await _departed(lifecycle, record, aboard)
    running = _running(fleet, record, aboard)
    await _hand_over_released(lifecycle, record, running, handed_over_steps)
    await missions.settle(running, outcome, why=reason)
    return MissionReconciliation(record.mission_id, record.vehicle_id, "settled", reason, tuple(aboard),
                                 outcome.value)


async def _absent_after_departure(
    lifecycle: OrderLifecycle, missions: MissionControl, fleet: Fleet, record: fleet_store.MissionRecord,
    mission: Mission, detail: str,
) -> MissionReconciliation:
    """The vehicle flew the mission but no longer holds it (rebooted, or given another): its own report of
    which step it had reached is gone, so the last telemetry this service recorded is the evidence.

    A drop before the step last recorded happened: handed over. Any other parcel aboard may or may not
    have left the vehicle after that record: it goes to `needs_review` for an operator to confirm,
    never out again on its own (that could deliver it twice).
    """
    reached = await _recorded_step(lifecycle, record)
    by_step = delivery_steps(mission)
    handed = tuple(step for step in by_step if reached is not None and step < reached)
    aboard = await _aboard(lifecycle, record)
    unsure = [order_id for step, order_id in by_step.items() if step not in handed and order_id in aboard]
    where = "no telemetry of it was recorded" if reached is None else f"last recorded at step {reached}"
    why = f"{record.vehicle_id} no longer holds mission {record.mission_id} ({detail}); {where}"
    if unsure:
        await lifecycle.needs_review(order_ids=unsure, vehicle_id=record.vehicle_id,
                                     why=f"{why}: whether it was handed over is unknown")
    settled = await _settle(lifecycle, missions, fleet, record, MissionOutcome.FAILED, why, handed)
    verdict = "review" if unsure else "settled"
    return MissionReconciliation(record.mission_id, record.vehicle_id, verdict, why, tuple(unsure) or settled.order_ids,
                                 settled.outcome)


async def _settle_unsure(
    lifecycle: OrderLifecycle, missions: MissionControl, fleet: Fleet, record: fleet_store.MissionRecord,
    mission: Mission, seen: AdoptionReport,
) -> MissionReconciliation:
    """The vehicle ended at a drop it cannot vouch for: that parcel goes to `needs_review`, never out again."""
    by_step = delivery_steps(mission)
    aboard = await _aboard(lifecycle, record)
    unsure = [by_step[step] for step in seen.unsure_steps if by_step.get(step) in aboard]
    why = f"{record.vehicle_id}: {seen.detail}"
    if unsure:
        await lifecycle.needs_review(order_ids=unsure, vehicle_id=record.vehicle_id,
                                     why=f"{why}: whether it was handed over is unknown")
    settled = await _settle(lifecycle, missions, fleet, record, seen.outcome or MissionOutcome.FAILED, why,
                            seen.handed_over_steps)
    return MissionReconciliation(record.mission_id, record.vehicle_id, "review" if unsure else "settled", why,
                                 tuple(unsure) or settled.order_ids, settled.outcome)


async def _recorded_step(lifecycle: OrderLifecycle, record: fleet_store.MissionRecord) -> int | None:
    """The mission step the vehicle's last stored telemetry shows for this mission, None without one."""
    def read(session: Session) -> int | None:
        try:
            state = fleet_store.get_vehicle(session, vehicle_id=record.vehicle_id).state
        except NotFound:
            return None
        step = state.get("mission_step")
        if state.get("mission_id") != record.mission_id or not isinstance(step, int):
            return None
        return step

    return await lifecycle.database.read_async(read)


async def _requeue(
    lifecycle: OrderLifecycle, record: fleet_store.MissionRecord, reason: str,
) -> MissionReconciliation:
    """The vehicle never flew the mission (or no longer holds it): it failed, its orders are ready again."""
    aboard = await _aboard(lifecycle, record)
    await lifecycle.settle(mission_id=record.mission_id, outcome=MissionOutcome.FAILED, aboard=aboard,
                           why=f"not flown after the restart: {reason}")
    return MissionReconciliation(record.mission_id, record.vehicle_id, "requeued", reason, tuple(aboard))


def _hold(fleet: Fleet, record: fleet_store.MissionRecord, reason: str) -> MissionReconciliation:
    """The vehicle cannot be asked now: it gets no work until its link is up and the mission is matched."""
    vehicle = _vehicle(fleet, record.vehicle_id)
    if vehicle is not None and not vehicle.out_of_service.startswith(LINK_DOWN):
        vehicle.out_of_service = f"{UNSETTLED_PREFIX}: {record.mission_id}: {reason}"[:300]
    logger.error("%s: mission %s left unsettled: %s", record.vehicle_id, record.mission_id, reason)
    return MissionReconciliation(record.mission_id, record.vehicle_id, "unsettled", reason)
