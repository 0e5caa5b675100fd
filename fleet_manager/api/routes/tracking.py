"""The recipient tracking page: public (no API key), found by an unguessable token, rate-limited.

- `GET /t/{token}`: the page (HTML; its script and map bundle are static files of the dashboard build);
- `GET /v1/track/{token}`: what it shows (`tracking_view`); `.../streets`: the streets around the door for its
  map (no tiles), only while the vehicle is shown;
- `POST /v1/track/{token}/reschedule | redirect-to-locker | leave-at-door`: the recipient's choices, through
  the same store functions as the backend's recipient actions (state machine, audit, events, webhooks),
  refused with 409 and a sentence when no longer possible (`domain.recipient_options`);
- `POST /v1/orders/{order_id}/tracking-link` (backend key): a new link to send to the recipient.

Every public request takes a token from the client address's bucket (FINALMILE_TRACKING_REQUESTS_PER_MINUTE),
an action also one of the order's recipient actions (shared with the backend's path). An unknown, expired or
malformed token is a 404 that looks the same whatever the reason. Nothing here is cached by the browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from fleet_manager.domain import recipient_options
from fleet_manager.domain.errors import Conflict, NotFound
from fleet_manager.domain.orders import Order
from fleet_manager.errors import FinalMileError
from fleet_manager.store import orders as order_store
from fleet_manager.store import tracking as tracking_store
from fleet_manager.world.nearby import streets_near

from .. import tracking_view
from ..deps import Backend, ServiceDep
from ..limits import PathId
from ..rate_limits import RateLimiter
from ..schemas import LeaveAtDoorIn, RescheduleIn
from ..schemas.common import _utc
from ..schemas.tracking import TrackingLinkOut, TrackOut, TrackRedirectIn, TrackStreetsOut
from ..service import FleetService

logger = logging.getLogger(__name__)
router = APIRouter(tags=["recipient tracking"])

MAX_TOKEN_CHARS = 128
MAX_RESCHEDULE_AHEAD_S = 14 * 24 * 3600.0
MAX_WINDOW_S = 8 * 3600.0
STREETS_MARGIN = 1.2  # streets a little beyond the range circle, so the map has no bare rim
NO_STORE = {"Cache-Control": "no-store"}
_GONE = "this tracking link is not valid (it may have expired)"
_NOT_FOUND_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    "<title>Tracking link not valid</title><body><h1>Tracking link not valid</h1>"
    "<p>This tracking link does not work (any more). Check the latest message about your parcel.</p></body></html>"
)


def _limited(request: Request) -> None:
    """One request from this client address (429 with Retry-After past the budget)."""
    limiter: RateLimiter = request.app.state.tracking_limiter
    limiter.check(request.client.host if request.client else "unknown")


Limited = Depends(_limited)


def _tracked(service: FleetService, token: str) -> tracking_store.TrackedOrder:
    """The order of a live token, or NotFound (the same answer for every kind of bad token)."""
    if len(token) > MAX_TOKEN_CHARS:
        token = ""  # still hashed and looked up: a long token costs the same as any other
    with service.database.read() as session:
        found = tracking_store.resolve(session, token=token, hub_ids=service.hub_ids, at_s=service.now(),
                                       after_done_s=service.settings.tracking_after_done_s)
    if found is None:
        raise NotFound(_GONE)
    return found


def _view(service: FleetService, order_id: str, response: Response) -> TrackOut:
    settings = service.settings
    view_settings = tracking_view.ViewSettings(radius_m=settings.tracking_vehicle_radius_m,
                                               refresh_s=settings.tracking_refresh_s)
    with service.database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
        view = tracking_view.build(session, order, settings=view_settings, now_s=service.now())
    response.headers.update(NO_STORE)
    return view


@router.get("/t/{token}", include_in_schema=False, dependencies=[Limited])
def tracking_page(token: str, request: Request, service: ServiceDep) -> HTMLResponse:
    """The tracking page (the same document for every live token; its script reads the token from the URL)."""
    try:
        _tracked(service, token)
    except NotFound:
        return HTMLResponse(_NOT_FOUND_PAGE, status_code=404, headers=NO_STORE)
    page: Path = request.app.state.tracking_page
    if not page.is_file():
        return HTMLResponse("<!doctype html><title>Not built</title><p>The tracking page is not built "
                            "(run <code>make dashboard</code>).</p>", status_code=503, headers=NO_STORE)
    return HTMLResponse(page.read_text(encoding="utf-8"), headers=NO_STORE)


@router.get("/v1/track/{token}", dependencies=[Limited])
def track(token: str, service: ServiceDep, response: Response) -> TrackOut:
    """Status, ETA window, the vehicle when it is near, and the recipient's choices (no API key: the token)."""
    return _view(service, _tracked(service, token).order.order_id, response)


@router.get("/v1/track/{token}/streets", dependencies=[Limited])
def track_streets(token: str, service: ServiceDep, response: Response) -> TrackStreetsOut:
    """The streets around the door for the map, only while the vehicle is shown on it (409 before)."""
    view = _view(service, _tracked(service, token).order.order_id, response)
    if view.vehicle is None:
        raise Conflict("The map appears when the vehicle is close to you.")
    door = view.vehicle.destination
    try:
        segments = streets_near(service.settings.world, door.latitude_deg, door.longitude_deg,
                                view.vehicle.radius_m * STREETS_MARGIN)
    except (FinalMileError, OSError):
        logger.exception("streets of world %r could not be loaded for a tracking page", service.settings.world)
        segments = ()
    response.headers["Cache-Control"] = "private, max-age=600"
    return TrackStreetsOut(streets=[list(segment) for segment in segments])


def _act(service: FleetService, token: str, response: Response, refusal: Callable[[Order], str],
         change: Callable[[Session, Order, str], object]) -> TrackOut:
    """One recipient action: the order's budget, the rule (409 with the reason), the store change, the new view."""
    tracked = _tracked(service, token)
    order = tracked.order
    service.recipient_limiter.check(order.order_id)
    refused = refusal(order)
    if refused:
        raise Conflict(refused[0].upper() + refused[1:] + ".")
    with service.write() as session:
        change(session, order, f"recipient:{tracked.token_id}")
    return _view(service, order.order_id, response)


@router.post("/v1/track/{token}/reschedule", dependencies=[Limited])
def track_reschedule(token: str, body: RescheduleIn, service: ServiceDep, response: Response) -> TrackOut:
    """Deliver in a new window (until the parcel is on a vehicle; again after a failed attempt)."""
    now_s = service.now()
    start_s, end_s = body.window_start.timestamp(), body.window_end.timestamp()

    def reschedule(session: Session, order: Order, actor: str) -> object:
        if start_s < now_s or start_s > now_s + MAX_RESCHEDULE_AHEAD_S or not 0 < end_s - start_s <= MAX_WINDOW_S:
            raise Conflict("Pick a window that starts in the next 14 days and lasts at most 8 hours.")
        return order_store.reschedule_order(session, order_id=order.order_id, window_start_s=start_s,
                                            window_end_s=end_s, actor=actor, at_s=now_s)

    return _act(service, token, response, lambda order: recipient_options.reschedule_refusal(order.status),
                reschedule)


@router.post("/v1/track/{token}/redirect-to-locker", dependencies=[Limited])
def track_redirect(token: str, body: TrackRedirectIn, service: ServiceDep, response: Response) -> TrackOut:
    """Send the parcel to one of the lockers offered (a cold-chain parcel: conditioned lockers only)."""
    return _act(service, token, response, recipient_options.redirect_refusal, lambda session, order, actor: (
        order_store.redirect_to_locker(session, order_id=order.order_id, locker_id=body.locker_id, actor=actor,
                                       at_s=service.now(), hub_id=order.hub_id,
                                       code_ttl_s=service.settings.locker_code_ttl_s)))


@router.post("/v1/track/{token}/leave-at-door", dependencies=[Limited])
def track_leave_at_door(token: str, body: LeaveAtDoorIn, service: ServiceDep, response: Response) -> TrackOut:
    """Allow (or withdraw) leaving the parcel at the door, where the sender allows it."""
    return _act(service, token, response, recipient_options.leave_at_door_refusal, lambda session, order, actor: (
        order_store.set_leave_at_door(session, order_id=order.order_id, leave_at_door=body.leave_at_door,
                                      actor=actor, at_s=service.now())))


@router.post("/v1/orders/{order_id}/tracking-link", tags=["orders"])
def tracking_link(order_id: PathId, service: ServiceDep, _caller: Backend,
                  response: Response) -> TrackingLinkOut:
    """A new tracking link for the recipient (each call makes another; the newest ten of an order work)."""
    with service.write() as session:
        url, expires_at_s = tracking_store.issue_link(session, order_id=order_id, hub_ids=service.hub_ids,
                                                      at_s=service.now())
    response.headers.update(NO_STORE)
    return TrackingLinkOut(order_id=order_id, url=url, expires_at=_utc(expires_at_s))

