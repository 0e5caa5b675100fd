// The mission dashboard: loads the world, follows the event stream, keeps the panels and the map current,
// and sends operator actions to the Fleet API.

import { ApiError, FleetApi, itemsOf } from "./api.js";
import { PolygonDrawer } from "./draw.js";
import { FleetMap } from "./map.js";
import {
  addHandoffPoint,
  eventAlert,
  eventTopic,
  handoffPoint,
  isTelemetry,
  mergeVehicle,
  routesOf,
  telemetryAlerts,
  vehicleView,
} from "./model.js";
import { bindPanelActions, renderAlerts, renderOrders, renderVehicles, renderZones } from "./panels.js";
import { ColdChainPanel } from "./coldchain.js";
import { ForecastPanel } from "./forecast.js";
import { ReviewQueue } from "./reviews.js";
import { HubOverview } from "./hubs.js";

// Stored telemetry is polled as a floor; telemetry events on the stream move markers in between.
const VEHICLE_POLL_MS = 1000;
// Missions and orders follow the stream; this slow poll only repairs what a dropped stream missed.
const SAFETY_POLL_MS = 15000;
const FORECAST_POLL_MS = 60000; // the forecast changes by the hour; staging events come once per peak
const REFRESH_DEBOUNCE_MS = 250;
const ORDER_PAGE_LIMIT = 500;
const MAX_ORDER_PAGES = 40;
const MISSION_LIMIT = 500;
const MAX_EVENT_ALERTS = 60;
const HUBS_POLL_MS = 5000;
const KEY_STORAGE = "finalmile.apiKey";

const state = {
  world: null,
  vehicles: new Map(),
  vehicleHubs: new Map(), // vehicle id -> its hub (for the hub selector)
  orders: new Map(),
  ordersChangedSince: null,
  missions: [],
  zones: [],
  eventAlerts: [],
  handoffs: [], // vans' launch and recovery points (from the stream)
  clockS: null,
  canOperate: true,
};

let api = null;
let fleetMap = null;
let drawer = null;
let reviews = null;
let coldChain = null;
let hubs = null;
const $ = (selector) => document.querySelector(selector);

function toast(message, kind = "info") {
  const element = $("#toast");
  element.textContent = message;
  element.dataset.kind = kind;
  element.classList.add("toast--shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => element.classList.remove("toast--shown"), kind === "error" ? 8000 : 4000);
}

function reportError(what, error) {
  if (error instanceof ApiError && error.status === 403) {
    state.canOperate = false;
    toast(`${what}: this key may only watch (${error.message})`, "error");
  } else {
    toast(`${what}: ${error.message || error}`, "error");
  }
  console.error(what, error);
}

// ---- the API key: URL fragment #key=..., else this tab's session storage, else ask ----

function keyFromLocation() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const key = params.get("key");
  if (key) {
    sessionStorage.setItem(KEY_STORAGE, key);
    params.delete("key");
    // Keep the key out of the address bar (and out of screenshots and shared links).
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
  return sessionStorage.getItem(KEY_STORAGE);
}

function askKey(message = "") {
  const dialog = $("#key-dialog");
  $("#key-error").textContent = message;
  $("#key-input").value = "";
  return new Promise((resolve) => {
    $("#key-form").addEventListener(
      "submit",
      () => {
        const key = $("#key-input").value.trim();
        sessionStorage.setItem(KEY_STORAGE, key);
        resolve(key);
      },
      { once: true },
    );
    if (!dialog.open) dialog.showModal();
  });
}

async function connect() {
  let key = keyFromLocation();
  let message = "";
  for (;;) {
    if (!key) key = await askKey(message);
    api = new FleetApi({ key });
    try {
      return await api.get("/v1/world");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        sessionStorage.removeItem(KEY_STORAGE);
        key = null;
        message = `The API refused this key (${error.message}).`;
        continue;
      }
      throw error;
    }
  }
}

// ---- refreshing collections (debounced, one request in flight per collection) ----

function debounced(refresh) {
  let timer = null;
  let running = null;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = refresh().catch((error) => console.warn("refresh failed", error));
    await running;
    running = null;
    if (again) {
      again = false;
      schedule();
    }
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(run, REFRESH_DEBOUNCE_MS);
  };
  return schedule;
}

async function loadVehicles() {
  const records = itemsOf(await api.get("/v1/vehicles"));
  const seen = new Set();
  for (const record of records) {
    const view = vehicleView(record);
    seen.add(view.id);
    state.vehicleHubs.set(view.id, record.hub_id);
    state.vehicles.set(view.id, mergeVehicle(state.vehicles.get(view.id), view));
    if (view.stampS != null) state.clockS = Math.max(state.clockS ?? 0, view.stampS);
  }
  for (const id of [...state.vehicles.keys()]) if (!seen.has(id)) state.vehicles.delete(id);
  render();
}

async function loadOrders() {
  // After the first full load only orders changed since the newest change seen are fetched.
  const since = state.ordersChangedSince;
  let cursor = null;
  for (let page = 0; page < MAX_ORDER_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: String(ORDER_PAGE_LIMIT) });
    if (since) query.set("since", since);
    if (cursor) query.set("cursor", cursor);
    const body = await api.get(`/v1/orders?${query}`);
    for (const order of itemsOf(body)) {
      state.orders.set(order.order_id, order);
      if (!state.ordersChangedSince || order.updated_at > state.ordersChangedSince) state.ordersChangedSince = order.updated_at;
    }
    cursor = body?.next_cursor;
    if (!cursor) break;
  }
  renderOrderPanel();
}

async function loadMissions() {
  const query = new URLSearchParams({ limit: String(MISSION_LIMIT) });
  for (const status of ["pending", "running", "paused"]) query.append("status", status);
  state.missions = itemsOf(await api.get(`/v1/missions?${query}`));
  render();
}

async function loadZones() {
  // The world's standing zones come with the world; operators' zones live in the store.
  const standing = state.world?.zones?.features ?? [];
  state.zones = [...standing, ...itemsOf(await api.get("/v1/zones"))];
  fleetMap.showZones(state.zones);
  renderZones(state.zones, { canEdit: state.canOperate });
}

const refresh = {
  vehicles: debounced(loadVehicles),
  orders: debounced(loadOrders),
  missions: debounced(loadMissions),
  zones: debounced(loadZones),
  reviews: debounced(() => reviews?.load() ?? Promise.resolve()),
  conditions: debounced(() => coldChain?.load([...state.orders.values()]) ?? Promise.resolve()),
};

// ---- rendering (coalesced to one frame) ----

let frameRequested = false;
function render() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const vehicles = [...state.vehicles.values()].filter((v) => hubs?.shows(state.vehicleHubs.get(v.id)) ?? true);
    fleetMap.showVehicles(vehicles, state.clockS);
    fleetMap.showRoutes(routesOf(state.missions, state.vehicles));
    fleetMap.showHandoffs(state.handoffs);
    renderVehicles(vehicles, { canCommand: state.canOperate });
    const eventAlerts = state.eventAlerts.filter((a) => !a.vehicleId || (hubs?.shows(state.vehicleHubs.get(a.vehicleId)) ?? true));
    renderAlerts([...telemetryAlerts(vehicles), ...eventAlerts]);
    if (state.clockS) {
      $("#clock").textContent = new Date(state.clockS * 1000).toISOString().slice(11, 19) + " UTC";
    }
  });
}

function renderOrderPanel() {
  const orders = [...state.orders.values()].filter((o) => hubs?.shows(o.hub_id) ?? true);
  renderOrders(orders, { openOnly: $("#orders-open-only").checked, canCancel: state.canOperate });
  refresh.reviews?.();
  refresh.conditions?.();
}

// ---- the event stream ----

function onStreamEvent(sse) {
  let cloudevent;
  try {
    cloudevent = JSON.parse(sse.data);
  } catch {
    return; // not a CloudEvent (comments are filtered by the parser already)
  }
  const timeS = cloudevent.time_s ?? (cloudevent.time ? Date.parse(cloudevent.time) / 1000 : null);
  if (timeS != null && Number.isFinite(timeS)) state.clockS = Math.max(state.clockS ?? 0, timeS);
  if (isTelemetry(cloudevent)) {
    const data = { ...cloudevent.data };
    data.vehicle_id ??= String(cloudevent.subject).replace(/^vehicles\//, "");
    const view = vehicleView(data);
    state.vehicles.set(view.id, mergeVehicle(state.vehicles.get(view.id), view));
    render();
  }
  const handoff = handoffPoint(cloudevent);
  if (handoff) {
    state.handoffs = addHandoffPoint(state.handoffs, handoff);
    render();
  }
  const alert = eventAlert(cloudevent);
  if (alert) {
    state.eventAlerts = [alert, ...state.eventAlerts].slice(0, MAX_EVENT_ALERTS);
    render();
  }
  const type = String(cloudevent.type ?? sse.type);
  if (type.endsWith("vehicle.command_accepted")) toast(`${cloudevent.data?.command ?? "command"} accepted by ${cloudevent.data?.vehicle_id ?? "vehicle"}`);
  const topic = eventTopic(type);
  if (topic && !isTelemetry(cloudevent)) refresh[topic]();
  if (topic === "missions") refresh.vehicles();
}

function onStreamStatus(status, detail) {
  const element = $("#stream-status");
  element.dataset.status = status;
  element.textContent = { live: "live", reconnecting: "reconnecting…", unauthorized: "key refused" }[status] ?? status;
  element.title = detail || "live event stream";
  if (status === "live") {
    // Whatever happened while the stream was down is fetched again.
    Object.values(refresh).forEach((schedule) => schedule());
  }
}

// ---- operator actions ----

async function commandVehicle(vehicleId, command) {
  try {
    const result = await api.post(`/v1/vehicles/${encodeURIComponent(vehicleId)}/commands`, {
      command,
      reason: "operator via dashboard",
    });
    toast(`${command} ${vehicleId}: ${result?.detail || result?.status || "sent"}`);
    refresh.vehicles();
  } catch (error) {
    reportError(`${command} ${vehicleId}`, error);
  }
}

async function cancelOrder(orderId) {
  const order = state.orders.get(orderId);
  const label = order?.reference || orderId;
  if (!window.confirm(`Cancel order ${label}?`)) return;
  try {
    const updated = await api.post(`/v1/orders/${encodeURIComponent(orderId)}/cancel`, { reason: "cancelled by operator" });
    state.orders.set(updated.order_id, updated);
    renderOrderPanel();
    toast(`order ${label} cancelled`);
  } catch (error) {
    reportError(`cancel ${label}`, error);
  }
}

async function deleteZone(zoneId) {
  if (!window.confirm(`Remove zone ${zoneId}? Drones may fly there again.`)) return;
  try {
    await api.delete(`/v1/zones/${encodeURIComponent(zoneId)}`);
    toast(`zone ${zoneId} removed`);
    refresh.zones();
  } catch (error) {
    reportError(`remove zone ${zoneId}`, error);
  }
}

function newZoneId() {
  const stamp = new Date().toISOString().replace(/[-:TZ]/g, "").slice(0, 14);
  return `temp-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

async function submitZone() {
  const ring = drawer.ring();
  if (!ring) {
    toast("a zone needs at least 3 corners", "error");
    return;
  }
  const zoneId = newZoneId();
  const feature = {
    type: "Feature",
    properties: {
      id: zoneId,
      kind: "no_fly",
      lower_m: 0,
      upper_m: Number($("#zone-ceiling").value) || 120,
      name: $("#zone-name").value.trim() || "Temporary no-fly zone",
      reason: $("#zone-reason").value.trim() || "Operator closed the area",
    },
    geometry: { type: "Polygon", coordinates: [ring] },
  };
  $("#draw-finish").disabled = true;
  try {
    const created = await api.post("/v1/zones", feature);
    drawer.cancel();
    toast(`no-fly zone ${created?.zone_id ?? zoneId} created${created?.area_m2 ? ` (${Math.round(created.area_m2)} m²)` : ""}; re-planning`);
    refresh.zones();
  } catch (error) {
    reportError("create zone", error);
    $("#draw-finish").disabled = false;
  }
}

function onDrawChange(tool, { closed = false } = {}) {
  $("#draw-panel").hidden = !tool.active;
  $("#draw-zone").classList.toggle("active", tool.active);
  const corners = tool.points.length;
  $("#draw-hint").textContent =
    corners < 3
      ? `Click the map to add corners: ${corners} of at least 3.`
      : `${corners} corners. Click the first corner or “Create zone” to close it; Esc cancels.`;
  $("#draw-finish").disabled = corners < 3;
  if (closed) submitZone();
}

// ---- start ----

async function main() {
  fleetMap = new FleetMap($("#map"), {
    onVehicleClick: (id) => document.querySelector(`#vehicles tr[data-vehicle-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "nearest" }),
    onMapClick: (latlng) => reviews?.mapClick(latlng) || drawer?.click(latlng),
    onBuildingClick: (buildingId, latlng) => reviews?.buildingClick(buildingId, latlng),
  });
  drawer = new PolygonDrawer(fleetMap, { onChange: onDrawChange });
  $("#draw-zone").addEventListener("click", () => (drawer.active ? drawer.cancel() : drawer.start()));
  $("#draw-finish").addEventListener("click", submitZone);
  $("#draw-cancel").addEventListener("click", () => drawer.cancel());
  $("#orders-open-only").addEventListener("change", renderOrderPanel);
  $("#change-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    location.reload();
  });
  bindPanelActions({
    pause: (id) => commandVehicle(id, "pause"),
    resume: (id) => commandVehicle(id, "resume"),
    return: (id) => commandVehicle(id, "return"),
    land: (id) => commandVehicle(id, "land"),
    "cancel-order": cancelOrder,
    "delete-zone": deleteZone,
    focus: (id) => fleetMap.focusVehicle(id),
  });

  state.world = await connect();
  reviews = new ReviewQueue({
    api,
    fleetMap,
    report: reportError,
    toast,
    onDecided: (order) => {
      state.orders.set(order.order_id, order);
      renderOrderPanel();
    },
  });
  coldChain = new ColdChainPanel({ api });
  hubs = new HubOverview({
    api,
    report: (what, error) => console.warn(what, error),
    onSelect: () => {
      render();
      renderOrderPanel();
      loadForecast(); // the selected hub's share of the forecast (all hubs served when none is selected)
    },
  });
  const forecast = new ForecastPanel({ api, fleetMap, hubs });
  const loadForecast = () => forecast.load().catch((error) => reportError("forecast", error));
  loadForecast();
  setInterval(loadForecast, FORECAST_POLL_MS);
  $("#key-dialog").open && $("#key-dialog").close();
  $("#world-name").textContent = state.world.name;
  fleetMap.showWorld(state.world);
  // A handle for the browser console (and the browser test) to read the map's projection.
  window.finalmileMap = fleetMap.map;
  document.body.dataset.world = state.world.name;

  await Promise.all([loadZones(), loadVehicles(), loadMissions(), loadOrders(), hubs.load()]).catch((error) => reportError("loading", error));
  document.body.dataset.ready = "true";

  const stop = new AbortController();
  window.addEventListener("pagehide", () => stop.abort());
  api.followEvents("/v1/events/stream", { onEvent: onStreamEvent, onStatus: onStreamStatus, signal: stop.signal });
  setInterval(() => refresh.vehicles(), VEHICLE_POLL_MS);
  setInterval(() => hubs.load(), HUBS_POLL_MS);
  setInterval(() => {
    refresh.missions();
    refresh.orders();
    refresh.zones();
  }, SAFETY_POLL_MS);
}

main().catch((error) => {
  reportError("dashboard failed to start", error);
  $("#stream-status").dataset.status = "failed";
  $("#stream-status").textContent = "failed";
});
