// The address review queue: orders whose typed address did not resolve with confidence. The operator
// picks one of the resolver's alternatives (shown on the map) or clicks the right door on the map.

const MAX_REVIEWS = 50;

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export class ReviewQueue {
  /** `api` is the FleetApi; `fleetMap` the FleetMap; `onDecided(order)` after a decision; `report(what, error)`. */
  constructor({ api, fleetMap, onDecided, report, toast }) {
    this.api = api;
    this.fleetMap = fleetMap;
    this.onDecided = onDecided;
    this.report = report;
    this.toast = toast;
    this.reviews = [];
    this.picking = null; // the order id whose door the next map click sets
    this.layer = fleetMap.toolLayer();
    this.list = document.querySelector("#reviews");
  }

  async load() {
    this.reviews = (await this.api.get("/v1/address-reviews")) ?? [];
    this.render();
  }

  /** A building clicked while picking: that building (its drop point) if the address index knows it, else the
   * clicked point. The map's own click follows and finds nothing left to pick. */
  buildingClick(buildingId, latlng) {
    if (!this.picking || !buildingId) return;
    const orderId = this.picking;
    this.picking = null;
    this.fleetMap.setCursor("");
    this.decide(orderId, { building_id: buildingId, reason: "building picked on the map" }, {
      fallback: { latitude_deg: latlng.lat, longitude_deg: latlng.lng, reason: "picked on the map (unaddressed building)" },
    });
  }

  /** A map click while picking: the point becomes the order's drop point. Returns true when it was used. */
  mapClick(latlng) {
    if (!this.picking) return false;
    const orderId = this.picking;
    this.picking = null;
    this.fleetMap.setCursor("");
    this.decide(orderId, { latitude_deg: latlng.lat, longitude_deg: latlng.lng, reason: "picked on the map" });
    return true;
  }

  async decide(orderId, body, { fallback = null } = {}) {
    try {
      let order;
      try {
        order = await this.api.post(`/v1/orders/${encodeURIComponent(orderId)}/address`, body);
      } catch (error) {
        if (!fallback || error?.status !== 422) throw error;
        order = await this.api.post(`/v1/orders/${encodeURIComponent(orderId)}/address`, fallback);
      }
      this.toast(`address of ${order.reference || orderId} confirmed: ${order.destination?.street ?? "point on the map"}`);
      this.onDecided?.(order);
      await this.load();
    } catch (error) {
      this.report(`address of ${orderId}`, error);
    }
  }

  render() {
    this.layer.clearLayers();
    const shown = this.reviews.slice(0, MAX_REVIEWS);
    document.querySelector("#review-count").textContent = this.reviews.length ? String(this.reviews.length) : "";
    if (shown.length === 0) {
      this.list.replaceChildren(element("li", { className: "muted", textContent: "none" }));
      return;
    }
    this.list.replaceChildren(...shown.map((review) => this.item(review)));
  }

  item(review) {
    const li = element("li", { className: "review" });
    li.dataset.orderId = review.order_id;
    const head = element("div", {}, element("b", { textContent: `“${review.text}”` }),
      element("span", { className: "muted small", textContent: ` ${review.reference || review.order_id.slice(0, 8)} · ${review.status.replaceAll("_", " ")} · ${(review.confidence * 100).toFixed(0)} %` }));
    const why = element("div", { className: "muted small", textContent: review.reason });
    const choices = element("div", { className: "review-choices" });
    review.alternatives.forEach((alt, index) => {
      const pick = element("button", { type: "button", className: "small-button", textContent: `${alt.address} (${(alt.confidence * 100).toFixed(0)} %)` });
      pick.dataset.action = "pick-building";
      pick.dataset.id = review.order_id;
      pick.dataset.building = alt.building_id ?? alt.address_id;
      pick.addEventListener("click", () => this.decide(review.order_id, { building_id: pick.dataset.building, reason: "picked from the alternatives" }));
      choices.append(pick);
      const marker = this.fleetMap.circleMarker([alt.latitude_deg, alt.longitude_deg], { radius: 7, color: "#b35900", weight: 2, fillOpacity: 0.5 });
      marker.bindTooltip(`${index + 1}. ${alt.address} — “${review.text}”`);
      marker.on("click", () => pick.click());
      marker.addTo(this.layer);
    });
    const onMap = element("button", { type: "button", className: "small-button secondary", textContent: "Pick on map" });
    onMap.dataset.action = "pick-on-map";
    onMap.addEventListener("click", () => {
      this.picking = review.order_id;
      this.fleetMap.setCursor("crosshair");
      this.toast(`click the door of “${review.text}” on the map`);
    });
    choices.append(onMap);
    li.append(head, why, choices);
    return li;
  }
}
