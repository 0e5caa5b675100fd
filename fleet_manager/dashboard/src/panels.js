// The side panels: vehicles, orders, zones and alerts tables. Rendering only; actions are delegated
// to the callbacks given to `bindPanelActions`.

import morphdom from "morphdom";

import { cargoText, countBy, orderIsCancellable, orderIsFinal, sortOrders } from "./model.js";

const MAX_ORDER_ROWS = 200;
const MAX_ALERTS = 40;

function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label, action, id, { title = "", disabled = false } = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.id = id;
  b.title = title;
  b.disabled = disabled;
  b.className = "small-button";
  return b;
}

/**
 * Put `rows` in `container`, updating the elements already there (matched by `data-key`) in place.
 *
 * The tables are redrawn on every telemetry frame. Replacing their elements lost clicks: a button
 * swapped for a new one between the press and the release gets no click (found by the browser test,
 * an operator's Pause that did nothing on a busy dashboard).
 */
function patchChildren(container, rows) {
  const next = container.cloneNode(false);
  next.append(...rows);
  morphdom(container, next, {
    childrenOnly: true,
    getNodeKey: (node) => node.dataset?.key ?? node.id,
  });
}

function batteryText(pct) {
  return pct == null ? "–" : `${Math.round(pct)} %`;
}

export function renderVehicles(vehicles, { canCommand }) {
  const body = document.querySelector("#vehicles tbody");
  const rows = [];
  for (const v of [...vehicles].sort((a, b) => a.id.localeCompare(b.id))) {
    const tr = document.createElement("tr");
    tr.dataset.key = v.id;
    tr.dataset.vehicleId = v.id;
    tr.dataset.kind = v.kind;
    const name = cell(`${v.id}`, "vehicle-name");
    name.title = `${v.kind}${v.name ? " · " + v.name : ""}`;
    name.prepend(Object.assign(document.createElement("span"), { className: `kind-dot kind-dot--${v.kind}` }));
    const cargo = cargoText(v);
    if (cargo) name.append(Object.assign(document.createElement("span"), { className: "cargo", textContent: ` · ${cargo}` }));
    if (v.carriedBy) name.title += ` · rides on ${v.carriedBy}`;
    tr.append(
      name,
      cell(v.mode || "–", "mode"),
      cell(batteryText(v.batteryPct) + (v.charging ? " ⚡" : ""), v.batteryPct != null && v.batteryPct < 25 ? "battery low" : "battery"),
      cell(v.link || "–", `link link--${v.link}`),
    );
    const actions = document.createElement("td");
    actions.className = "actions";
    const paused = /pause|brake|hold|loiter/i.test(v.mode);
    actions.append(
      button(paused ? "Resume" : "Pause", paused ? "resume" : "pause", v.id, { disabled: !canCommand }),
      button("Return", "return", v.id, { disabled: !canCommand, title: "return to the hub / launch point" }),
    );
    if (v.kind === "drone") actions.append(button("Land", "land", v.id, { disabled: !canCommand, title: "land here" }));
    tr.append(actions);
    rows.push(tr);
  }
  patchChildren(body, rows);
  document.querySelector("#vehicle-count").textContent = String(vehicles.length);
}

export function renderOrders(orders, { openOnly, canCancel }) {
  const body = document.querySelector("#orders tbody");
  const shown = sortOrders(openOnly ? orders.filter((o) => !orderIsFinal(o)) : orders).slice(0, MAX_ORDER_ROWS);
  patchChildren(
    body,
    shown.map((order) => {
      const tr = document.createElement("tr");
      tr.dataset.key = order.order_id;
      tr.dataset.orderId = order.order_id;
      tr.dataset.status = order.status;
      const id = cell(order.reference || order.order_id.slice(0, 8), "order-id");
      id.title = `${order.order_id}\n${order.destination?.street ?? ""}`;
      const action = document.createElement("td");
      if (orderIsCancellable(order)) action.append(button("Cancel", "cancel-order", order.order_id, { disabled: !canCancel }));
      const status = cell(order.status.replaceAll("_", " "), `order-status order-status--${order.status}`);
      if (order.unplannable_reason) {
        status.title = order.unplannable_reason; // why the planner cannot plan it (e.g. a cold-chain limit)
        status.classList.add("unplannable");
      }
      tr.append(id, status, cell(order.mode ?? "–"), cell(order.vehicle_id ?? "–"), action);
      return tr;
    }),
  );
  const counts = countBy(orders, "status");
  const delivered = (counts.get("delivered") ?? 0) + (counts.get("delivered_to_locker") ?? 0) + (counts.get("picked_up") ?? 0);
  const open = orders.filter((o) => !orderIsFinal(o)).length;
  document.querySelector("#order-counts").textContent = `${orders.length} total · ${open} open · ${delivered} delivered`;
}

export function renderZones(features, { canEdit }) {
  const list = document.querySelector("#zones");
  patchChildren(
    list,
    features.map((feature) => {
      const p = feature.properties ?? {};
      const li = document.createElement("li");
      li.dataset.key = p.id;
      li.dataset.zoneId = p.id;
      li.dataset.kind = p.kind;
      const label = document.createElement("span");
      label.className = `zone-label zone-label--${p.kind}`;
      label.textContent = `${p.name || p.id}`;
      label.title = `${p.kind} · ${p.lower_m ?? 0}–${p.upper_m} m${p.reason ? "\n" + p.reason : ""}`;
      li.append(label);
      if (p.source === "world") {
        li.dataset.source = "world";
      } else {
        li.append(button("Remove", "delete-zone", p.id, { disabled: !canEdit }));
      }
      return li;
    }),
  );
}

export function renderAlerts(alerts) {
  const list = document.querySelector("#alerts");
  const shown = alerts.slice(0, MAX_ALERTS);
  if (shown.length === 0) {
    const none = document.createElement("li");
    none.className = "muted";
    none.textContent = "none";
    list.replaceChildren(none);
  } else {
    list.replaceChildren(
      ...shown.map((alert) => {
        const li = document.createElement("li");
        li.className = `alert alert--${alert.severity}`;
        li.dataset.kind = alert.kind;
        if (alert.vehicleId) li.dataset.vehicleId = alert.vehicleId;
        const kind = document.createElement("b");
        kind.textContent = alert.kind;
        li.append(kind, document.createTextNode(` ${alert.message}`));
        return li;
      }),
    );
  }
  const critical = alerts.filter((a) => a.severity === "critical").length;
  const badge = document.querySelector("#alert-count");
  badge.textContent = alerts.length ? String(alerts.length) : "";
  badge.classList.toggle("badge--critical", critical > 0);
}

/** One click handler for every action button in the side panels. */
export function bindPanelActions(handlers) {
  document.querySelector(".side").addEventListener("click", async (event) => {
    const target = event.target.closest("button[data-action]");
    if (!target || target.disabled) return;
    const handler = handlers[target.dataset.action];
    if (!handler) return;
    target.disabled = true;
    try {
      await handler(target.dataset.id);
    } finally {
      target.disabled = false;
    }
  });
  document.querySelector("#vehicles tbody").addEventListener("dblclick", (event) => {
    const row = event.target.closest("tr[data-vehicle-id]");
    if (row) handlers.focus?.(row.dataset.vehicleId);
  });
}
