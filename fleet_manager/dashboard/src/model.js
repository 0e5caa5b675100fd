// Pure view-model functions: API records in, what the page shows out. No DOM, no fetch.

export const LOW_BATTERY_PCT = 25;
export const CRITICAL_BATTERY_PCT = 12;
const ACTIVE_MISSION = new Set(["pending", "running", "paused"]);
const FINAL_ORDER = new Set(["delivered", "picked_up", "cancelled"]);
// Orders the backend or an operator may still cancel (the state machine allows it before departure).
const CANCELLABLE_ORDER = new Set([
  "received",
  "awaiting_customs",
  "ready",
  "planned",
  "assigned",
  "loaded",
  "rescheduled",
  "returned_to_hub",
  "address_review",
  "on_hold",
]);

/** A vehicle record (GET /v1/vehicles item or a telemetry event's data) flattened for display. */
export function vehicleView(record) {
  const state = record.state && typeof record.state === "object" ? record.state : record;
  const stampS = state.stamp_s ?? (record.state_at ? Date.parse(record.state_at) / 1000 : null);
  return {
    id: record.vehicle_id ?? state.vehicle_id,
    kind: record.kind ?? state.kind ?? "drone",
    name: record.name ?? "",
    latitudeDeg: state.latitude_deg ?? null,
    longitudeDeg: state.longitude_deg ?? null,
    altitudeM: state.relative_altitude_m ?? null,
    headingDeg: state.heading_deg ?? 0,
    speedMS: state.ground_speed_m_s ?? 0,
    batteryPct: state.battery_remaining_pct ?? null,
    mode: state.mode ?? "",
    armed: Boolean(state.armed),
    link: state.link ?? (stampS == null ? "connecting" : "connected"),
    missionId: state.mission_id ?? null,
    missionStep: state.mission_step ?? null,
    carried: Array.isArray(state.carried) ? state.carried : null, // a van's cargo: drones and robots aboard
    carriedBy: state.carried_by ?? record.carried_by ?? null,
    parcels: Array.isArray(state.order_ids) ? state.order_ids.length : null,
    charging: typeof state.charging === "boolean" ? state.charging : null,
    stampS,
  };
}

/** "drone-1, robot_1 · 3 parcels": what a van carries (null for a vehicle that carries nothing). */
export function cargoText(vehicle) {
  const parts = [];
  if (vehicle.carried?.length) parts.push(vehicle.carried.join(", "));
  if (vehicle.kind === "van" && vehicle.parcels) parts.push(`${vehicle.parcels} parcel${vehicle.parcels === 1 ? "" : "s"}`);
  return parts.length ? parts.join(" · ") : null;
}

// "home": a drone the plan sent home from its last drop landed at the hub (the van never took it back)
const HANDOFF_EVENTS = { "vehicle.launched": "launch", "vehicle.recovered": "recovery", "vehicle.returned_to_hub": "home" };

/** A van's launch or recovery of a drone/robot (or its flight home to the hub) from a stream event (where, when,
 *  which stop), or null. */
export function handoffPoint(cloudevent) {
  const type = String(cloudevent.type ?? "").replace(/^com\.finalmile\./, "");
  const kind = HANDOFF_EVENTS[type];
  const data = cloudevent.data ?? {};
  if (!kind || data.latitude_deg == null || data.longitude_deg == null) return null;
  const planned =
    kind === "launch" && data.recovery_latitude_deg != null && data.recovery_longitude_deg != null
      ? [data.recovery_latitude_deg, data.recovery_longitude_deg]
      : null;
  return {
    key: `${kind}:${data.vehicle_id}:${data.mission_id ?? cloudevent.id}`,
    kind,
    vehicleId: data.vehicle_id ?? null,
    vanId: data.van_id ?? null,
    missionId: data.mission_id ?? null,
    latitudeDeg: data.latitude_deg,
    longitudeDeg: data.longitude_deg,
    stopOrderId: data[`${kind}_stop_order_id`] ?? null,
    laterStop: Boolean(data.later_stop),
    vanWaited: Boolean(data.van_waited),
    plannedRecovery: planned, // where the van is to take it back (the launch event says)
    timeS: data.at_s ?? cloudevent.time_s ?? (cloudevent.time ? Date.parse(cloudevent.time) / 1000 : null),
  };
}

/** Keep the newest `max` handoff points, one per key (a replayed event does not add a second marker). */
export function addHandoffPoint(points, point, max = 200) {
  return [point, ...points.filter((p) => p.key !== point.key)].slice(0, max);
}

/** Merge a newer telemetry snapshot into a vehicle view (older stamps never overwrite newer ones). */
export function mergeVehicle(current, incoming) {
  if (!current) return incoming;
  if (current.stampS != null && incoming.stampS != null && incoming.stampS < current.stampS) return current;
  return { ...current, ...Object.fromEntries(Object.entries(incoming).filter(([, v]) => v !== null && v !== "")) };
}

/** The remaining planned path of each active mission: [vehicle position, next step targets...]. */
export function routesOf(missions, vehiclesById) {
  const routes = [];
  for (const mission of missions) {
    if (!ACTIVE_MISSION.has(mission.status)) continue;
    const vehicle = vehiclesById.get(mission.vehicle_id);
    const fromStep = vehicle && vehicle.missionId === mission.mission_id && vehicle.missionStep != null ? vehicle.missionStep : 0;
    const points = [];
    if (vehicle?.latitudeDeg != null) points.push([vehicle.latitudeDeg, vehicle.longitudeDeg]);
    mission.steps.slice(fromStep).forEach((step) => {
      if (step.latitude_deg != null && step.longitude_deg != null) points.push([step.latitude_deg, step.longitude_deg]);
    });
    routes.push({
      missionId: mission.mission_id,
      vehicleId: mission.vehicle_id,
      kind: vehicle?.kind ?? "drone",
      status: mission.status,
      points,
    });
  }
  return routes;
}

/** Alerts that follow from the vehicles' own telemetry: low battery and lost link. */
export function telemetryAlerts(vehicles) {
  const alerts = [];
  for (const v of vehicles) {
    if (v.batteryPct != null && v.batteryPct < LOW_BATTERY_PCT) {
      alerts.push({
        key: `battery:${v.id}`,
        severity: v.batteryPct < CRITICAL_BATTERY_PCT ? "critical" : "warning",
        kind: "low battery",
        vehicleId: v.id,
        message: `${v.id} battery at ${Math.round(v.batteryPct)} %`,
      });
    }
    if (v.link === "lost") {
      alerts.push({ key: `link:${v.id}`, severity: "critical", kind: "lost link", vehicleId: v.id, message: `${v.id}: no telemetry` });
    }
  }
  return alerts;
}

/** An alert from a stream event (geofence, battery, link, command failures), or null for routine events. */
export function eventAlert(cloudevent) {
  const type = String(cloudevent.type ?? "").replace(/^com\.finalmile\./, "");
  const data = cloudevent.data ?? {};
  const vehicleId = data.vehicle_id ?? (String(cloudevent.subject ?? "").match(/^vehicles\/([^/]+)/) || [])[1] ?? null;
  const text = data.message ?? data.reason ?? data.error ?? (Array.isArray(data.broken) ? `${data.reference || data.order_id}: ${data.broken.join("; ")}${data.held ? " (held at the hub)" : ""}` : "");
  let kind = null;
  let severity = "warning";
  if (/geofence/.test(type)) {
    kind = "geofence";
    severity = "critical";
  } else if (/battery/.test(type)) kind = "low battery";
  else if (/link/.test(type)) {
    kind = "lost link";
    severity = /restored|regained/.test(type) ? "info" : "critical";
  } else if (/alert/.test(type)) kind = data.kind ?? "alert";
  else if (type === "vehicle.command_failed") kind = "command failed";
  else if (type === "parcel.condition_excursion") {
    kind = "cold chain";
    severity = "critical";
  } else if (type === "order.unplannable") kind = "unplannable";
  else if (type === "order.address_review_required") {
    kind = "address review";
    severity = "info";
  }
  else if (type === "mission.failed") kind = "mission failed";
  else if (type === "vehicle.rerouted") {
    kind = "traffic re-route"; // a van took a new route around reported traffic (data.reason says why)
    severity = "info";
  }
  if (!kind) return null;
  return {
    key: `${type}:${cloudevent.id ?? Math.random()}`,
    severity: data.severity ?? severity,
    kind,
    vehicleId,
    message: `${vehicleId ? vehicleId + ": " : ""}${text || type}`,
    timeS: cloudevent.time_s ?? (cloudevent.time ? Date.parse(cloudevent.time) / 1000 : null),
  };
}

/** Which collection an event changes, so the page refreshes just that one. */
export function eventTopic(type) {
  const short = String(type ?? "").replace(/^com\.finalmile\./, "");
  if (short.startsWith("order.") || short.startsWith("notification.") || short.startsWith("locker.")) return "orders";
  if (short.startsWith("zone.")) return "zones";
  if (short.startsWith("mission.")) return "missions";
  if (short.startsWith("parcel.")) return "orders";
  if (short.startsWith("vehicle.")) return "vehicles";
  return null;
}

export function isTelemetry(cloudevent) {
  const type = String(cloudevent.type ?? "").replace(/^com\.finalmile\./, "");
  if (type in HANDOFF_EVENTS) return false; // the van's position at a stop, not the carried vehicle's telemetry
  const data = cloudevent.data ?? {};
  return data.latitude_deg != null && data.longitude_deg != null && (data.vehicle_id != null || cloudevent.subject);
}

export function orderIsFinal(order) {
  return FINAL_ORDER.has(order.status);
}

export function orderIsCancellable(order) {
  return CANCELLABLE_ORDER.has(order.status);
}

/** Orders for the table: open ones first (newest change first), then finished ones. */
export function sortOrders(orders) {
  return [...orders].sort((a, b) => {
    const finalA = orderIsFinal(a) ? 1 : 0;
    const finalB = orderIsFinal(b) ? 1 : 0;
    if (finalA !== finalB) return finalA - finalB;
    return String(b.updated_at).localeCompare(String(a.updated_at));
  });
}

export function countBy(items, field) {
  const counts = new Map();
  for (const item of items) counts.set(item[field], (counts.get(item[field]) ?? 0) + 1);
  return counts;
}
