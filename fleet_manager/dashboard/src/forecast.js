// Demand forecast and pre-positioning: the expected orders of the coming hours (peak hours marked) and the
// vans staged before a peak, as a panel and a map layer (from GET /v1/forecast).

const HOURS = 6;

function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

export class ForecastPanel {
  constructor({ api, fleetMap, hubs }) {
    this.api = api;
    this.hubs = hubs; // the hub overview: its selected hub narrows the forecast (?hub_id=)
    this.fleetMap = fleetMap;
    this.layer = fleetMap.toolLayer();
    this.body = document.querySelector("#forecast tbody");
    this.staging = document.querySelector("#staging");
    this.note = document.querySelector("#forecast-note");
  }

  async load() {
    let forecast;
    try {
      forecast = await this.fetch(this.hubs?.selected);
    } catch (error) {
      if (error?.status !== 404) throw error;
      this.note.textContent = "no demand forecast yet (train one with finalmile learn)";
      this.body.replaceChildren();
      this.staging.replaceChildren();
      this.layer.clearLayers();
      return;
    }
    this.render(forecast);
  }

  /** The forecast of `hub` (every hub served when null); a remembered hub this process no longer serves (422)
   * falls back to every hub. */
  async fetch(hub) {
    const all = `/v1/forecast?hours=${HOURS}`;
    if (!hub) return this.api.get(all);
    try {
      return await this.api.get(`${all}&hub_id=${encodeURIComponent(hub)}`);
    } catch (error) {
      if (error?.status !== 422) throw error;
      return this.api.get(all);
    }
  }

  render(forecast) {
    const peaks = new Set(forecast.peak_hours);
    this.note.textContent = `model ${forecast.model_version} · ${forecast.history_days} days of history`;
    this.body.replaceChildren(...forecast.hours.map((hour) => {
      const row = document.createElement("tr");
      row.dataset.hour = hour.local_hour;
      const top = hour.areas.slice(0, 2).map((a) => `${a.area.replace("cell:", "")} ${a.expected_orders.toFixed(1)}`);
      row.append(cell(`${String(hour.local_hour).padStart(2, "0")}:00`), cell(hour.expected_orders.toFixed(1)),
        cell(peaks.has(hour.local_hour) ? "peak" : "", peaks.has(hour.local_hour) ? "peak" : ""), cell(top.join(", "), "small"));
      return row;
    }));
    const latest = forecast.staging[0];
    this.staging.replaceChildren(...(latest?.points ?? []).map((point) => {
      const item = document.createElement("li");
      item.dataset.vehicleId = point.vehicle_id;
      item.textContent = `${point.vehicle_id} staged for ${String(latest.local_hour).padStart(2, "0")}:00 · ${point.expected_orders.toFixed(1)} orders expected`;
      return item;
    }));
    this.layer.clearLayers();
    const next = forecast.hours.find((hour) => peaks.has(hour.local_hour)) ?? forecast.hours[0];
    for (const area of next?.areas ?? []) {
      this.fleetMap.circleMarker([area.latitude_deg, area.longitude_deg], {
        radius: Math.min(18, 4 + 2 * area.expected_orders), color: "#6d28d9", weight: 1, fillOpacity: 0.15,
        className: "forecast-area", interactive: false,
      }).addTo(this.layer);
    }
    for (const point of latest?.points ?? []) {
      this.fleetMap.circleMarker([point.latitude_deg, point.longitude_deg], {
        radius: 7, color: "#1d4ed8", weight: 3, fillColor: "#fff", fillOpacity: 1, className: "staging-point",
      }).bindTooltip(`staging: ${point.vehicle_id}`).addTo(this.layer);
    }
  }
}
