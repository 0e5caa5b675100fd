// The recipient tracking page: status, ETA window, the vehicle once it is near, and the recipient's choices.
// No API key: the token in the page's own URL (/t/<token>) is the only credential. Only Leaflet's core is
// bundled (no tiles: the map shows the door, the vehicle and the range circle on a plain background).

import * as L from "leaflet/dist/leaflet-src.esm.js";

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const api = (suffix = "") => new URL(`../v1/track/${encodeURIComponent(token)}${suffix}`, location.href);
const $ = (id) => document.getElementById(id);
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });

let map = null;
let vehicleMarker = null;
let homeMarker = null;
let rangeCircle = null;
let refreshTimer = null;
let busy = false;

function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.dataset.kind = kind;
}

async function call(url, init = {}) {
  const response = await fetch(url, { cache: "no-store", ...init });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `request failed (${response.status})`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function setTime(element, iso) {
  element.dateTime = iso;
  element.textContent = timeFormat.format(new Date(iso));
}

function renderMap(vehicle) {
  const card = $("map-card");
  if (!vehicle) {
    card.hidden = true;
    document.body.dataset.vehicle = "hidden";
    return;
  }
  card.hidden = false;
  const home = [vehicle.destination.latitude_deg, vehicle.destination.longitude_deg];
  const here = [vehicle.position.latitude_deg, vehicle.position.longitude_deg];
  if (!map) {
    // Once, without animation: the whole range circle in view (the recipient may zoom afterwards).
    map = L.map("map", { attributionControl: false, zoomSnap: 0.25 });
    map.fitBounds(L.latLng(home).toBounds(vehicle.radius_m * 2.2), { animate: false });
    const icon = (className) => L.divIcon({ className, iconSize: [16, 16], iconAnchor: [8, 8] });
    homeMarker = L.marker(home, { icon: icon("home-marker"), title: "your address", keyboard: false }).addTo(map);
    rangeCircle = L.circle(home, { radius: vehicle.radius_m, color: "#0a7f5a", weight: 1, fillOpacity: 0.05 }).addTo(map);
    vehicleMarker = L.marker(here, { icon: icon("vehicle-marker"), title: "your parcel", keyboard: false }).addTo(map);
    drawStreets();
  }
  homeMarker.setLatLng(home);
  rangeCircle.setLatLng(home).setRadius(vehicle.radius_m);
  vehicleMarker.setLatLng(here);
  $("distance").textContent = `About ${Math.round(vehicle.distance_m)} m away`;
  document.body.dataset.vehicle = "shown";
}

async function drawStreets() {
  try {
    const { streets } = await call(api("/streets"));
    L.polyline(streets, { color: "#9aa5b8", weight: 2, interactive: false }).addTo(map).bringToBack();
    document.body.dataset.streets = String(streets.length);
  } catch {
    document.body.dataset.streets = "0"; // the map still works without them
  }
}

function renderOption(id, option) {
  const box = $(id);
  box.dataset.available = String(option.available);
  box.querySelector(".reason").textContent = option.available ? "" : option.reason;
}

function fill(select, items, label) {
  const keep = select.value;
  select.replaceChildren(...items.map((item) => new Option(label(item), item.value)));
  if (items.some((item) => item.value === keep)) select.value = keep;
}

function render(view) {
  $("reference").textContent = view.reference ? `Order ${view.reference}` : "";
  $("status-text").textContent = view.status_text;
  $("street").textContent = view.street;
  const eta = $("eta");
  eta.hidden = !view.eta;
  if (view.eta) {
    setTime($("eta-from"), view.eta.earliest);
    setTime($("eta-to"), view.eta.latest);
  }
  $("window").hidden = !view.window || !!view.eta;
  if (view.window) {
    $("window-text").textContent =
      `${dayFormat.format(new Date(view.window.start))} – ${timeFormat.format(new Date(view.window.end))}`;
  }
  $("on-the-way").hidden = !view.on_the_way || !!view.vehicle;
  renderMap(view.vehicle);
  $("locker-card").hidden = !view.locker;
  if (view.locker) $("locker-text").textContent = `${view.locker.name}, ${view.locker.address}`;

  const { reschedule, redirect_to_locker: redirect, leave_at_door: door } = view.options;
  renderOption("opt-reschedule", reschedule);
  fill($("slot"), reschedule.slots.map((s) => ({ ...s, value: `${s.start}|${s.end}` })),
    (s) => `${dayFormat.format(new Date(s.start))} – ${timeFormat.format(new Date(s.end))}`);
  renderOption("opt-redirect", redirect);
  fill($("locker"), redirect.lockers.map((l) => ({ ...l, value: l.locker_id })),
    (l) => `${l.name} (${(l.distance_m / 1000).toFixed(1)} km)`);
  renderOption("opt-door", door);
  $("door-btn").textContent = door.chosen ? "Do not leave it at my door" : "Leave it at my door";
  $("door-btn").dataset.chosen = String(door.chosen);
  $("options").hidden = false;
  document.body.dataset.status = view.status;
  document.body.dataset.ready = "true";
}

async function refresh() {
  clearTimeout(refreshTimer);
  let next = 15;
  try {
    const view = await call(api());
    render(view);
    next = view.refresh_s;
  } catch (error) {
    if (error.status === 404) {
      $("status-text").textContent = "This tracking link does not work (any more).";
      $("options").hidden = true;
      $("map-card").hidden = true;
      document.body.dataset.ready = "true";
      return; // a dead link stays dead: stop asking
    }
    say(error.status === 429 ? error.message : "Could not update just now; trying again.");
  }
  refreshTimer = setTimeout(refresh, next * 1000);
}

async function act(path, body, done) {
  if (busy) return;
  busy = true;
  document.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    const view = await call(api(path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    render(view);
    say(done, "ok");
  } catch (error) {
    say(error.message);
  } finally {
    busy = false;
    document.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

$("reschedule-btn").addEventListener("click", () => {
  const [start, end] = $("slot").value.split("|");
  if (start && end) act("/reschedule", { window_start: start, window_end: end }, "Your new delivery window is saved.");
});
$("redirect-btn").addEventListener("click", () => {
  const lockerId = $("locker").value;
  if (lockerId) act("/redirect-to-locker", { locker_id: lockerId }, "Your parcel will go to the locker.");
});
$("door-btn").addEventListener("click", () => {
  const leave = $("door-btn").dataset.chosen !== "true";
  act("/leave-at-door", { leave_at_door: leave }, leave ? "We will leave it at your door." : "We will not leave it at your door.");
});

refresh();
