// The hub selector and the all-hubs overview (GET /v1/hubs/overview): per hub its leader, vehicles, open
// orders and alerts. Choosing a hub (in the top bar or by clicking its row) narrows the vehicle, order and
// alert panels and the map's vehicles to that hub; "All hubs" shows everything.

const SELECTED_STORAGE = "finalmile.hub";

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export class HubOverview {
  /** `api` is the FleetApi; `onSelect(hubId | null)` after the operator picks a hub (null: all hubs). */
  constructor({ api, onSelect, report }) {
    this.api = api;
    this.onSelect = onSelect;
    this.report = report;
    this.hubs = [];
    this.selected = sessionStorage.getItem(SELECTED_STORAGE) || null;
    this.select = document.querySelector("#hub-select");
    this.body = document.querySelector("#hubs tbody");
    this.select.addEventListener("change", () => this.choose(this.select.value || null));
  }

  /** Whether an item of `hubId` is shown under the current selection. */
  shows(hubId) {
    return this.selected == null || hubId == null || hubId === this.selected;
  }

  choose(hubId) {
    this.selected = hubId;
    if (hubId) sessionStorage.setItem(SELECTED_STORAGE, hubId);
    else sessionStorage.removeItem(SELECTED_STORAGE);
    this.render();
    this.onSelect?.(hubId);
  }

  async load() {
    try {
      this.hubs = (await this.api.get("/v1/hubs/overview")) ?? [];
    } catch (error) {
      this.report("hubs overview", error);
      return;
    }
    if (this.selected && !this.hubs.some((hub) => hub.hub_id === this.selected)) this.selected = null;
    this.render();
  }

  render() {
    const options = [element("option", { value: "", textContent: `All hubs (${this.hubs.length})` })];
    for (const hub of this.hubs) options.push(element("option", { value: hub.hub_id, textContent: hub.hub_id }));
    this.select.replaceChildren(...options);
    this.select.value = this.selected ?? "";
    document.querySelector("#hub-count").textContent = this.hubs.length > 1 ? String(this.hubs.length) : "";
    this.body.replaceChildren(...this.hubs.map((hub) => this.row(hub)));
  }

  row(hub) {
    const critical = hub.alerts.filter((alert) => alert.severity === "critical").length;
    const tr = element("tr", { className: hub.hub_id === this.selected ? "selected" : "" });
    tr.dataset.hubId = hub.hub_id;
    tr.dataset.alerts = String(hub.alerts.length);
    tr.title = hub.alerts.map((alert) => alert.message).join("\n") || "no alerts";
    const alerts = element("td", { className: critical ? "alert-critical" : "", textContent: hub.alerts.length ? String(hub.alerts.length) : "–" });
    alerts.dataset.field = "alerts";
    const cells = [
      ["hub", hub.hub_id],
      ["leader", hub.leader ? `${hub.leader} (#${hub.lease_token})` : "—"],
      ["vehicles", String(hub.vehicles)],
      ["open-orders", String(hub.open_orders)],
    ].map(([field, text]) => {
      const td = element("td", { textContent: text });
      td.dataset.field = field;
      return td;
    });
    tr.append(...cells, alerts);
    tr.addEventListener("click", () => this.choose(hub.hub_id === this.selected ? null : hub.hub_id));
    return tr;
  }
}
