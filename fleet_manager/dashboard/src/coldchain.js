// Cold-chain parcels: each open one's newest sensor reading, a sparkline of its recent temperatures
// against its range, and its excursions (from GET /v1/orders/{id}/condition).

const SPARK_W = 90;
const SPARK_H = 22;
const MAX_ROWS = 40;
const DONE = new Set(["delivered", "picked_up", "cancelled"]);

/** SVG polyline points for `values` scaled into the sparkline box (with the range band's limits). */
export function sparkPoints(values, low, high) {
  if (values.length === 0) return "";
  const min = Math.min(low, ...values) - 0.5;
  const max = Math.max(high, ...values) + 0.5;
  const step = values.length > 1 ? SPARK_W / (values.length - 1) : 0;
  const y = (v) => (SPARK_H - ((v - min) / (max - min)) * SPARK_H).toFixed(1);
  return values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(" ");
}

function sparkline(condition, range) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", SPARK_W);
  svg.setAttribute("height", SPARK_H);
  svg.setAttribute("class", "sparkline");
  const temps = condition.recent.map((r) => r.temperature_c).filter((t) => t != null);
  const min = Math.min(range.min_temp_c, ...temps) - 0.5;
  const max = Math.max(range.max_temp_c, ...temps) + 0.5;
  const band = document.createElementNS(ns, "rect");
  const top = SPARK_H - ((range.max_temp_c - min) / (max - min)) * SPARK_H;
  const bottom = SPARK_H - ((range.min_temp_c - min) / (max - min)) * SPARK_H;
  band.setAttribute("x", 0);
  band.setAttribute("y", top.toFixed(1));
  band.setAttribute("width", SPARK_W);
  band.setAttribute("height", Math.max(1, bottom - top).toFixed(1));
  band.setAttribute("class", "sparkline-band");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", sparkPoints(temps, range.min_temp_c, range.max_temp_c));
  line.setAttribute("class", "sparkline-line");
  svg.append(band, line);
  return svg;
}

export class ColdChainPanel {
  constructor({ api }) {
    this.api = api;
    this.conditions = new Map(); // order id -> condition
    this.body = document.querySelector("#coldchain tbody");
  }

  /** Refresh the readings of the open cold-chain orders among `orders` (all of them once, then the open ones). */
  async load(orders) {
    const cold = orders.filter((o) => o.handling?.cold_chain && (!DONE.has(o.status) || !this.conditions.has(o.order_id)));
    await Promise.all(cold.slice(0, MAX_ROWS).map(async (order) => {
      this.conditions.set(order.order_id, await this.api.get(`/v1/orders/${encodeURIComponent(order.order_id)}/condition?recent=60`));
    }));
    this.render(orders);
  }

  render(orders) {
    const cold = orders.filter((o) => o.handling?.cold_chain).sort((a, b) => Number(DONE.has(a.status)) - Number(DONE.has(b.status)));
    const rows = cold.slice(0, MAX_ROWS).map((order) => {
      const range = order.handling.cold_chain;
      const condition = this.conditions.get(order.order_id);
      const tr = document.createElement("tr");
      tr.dataset.orderId = order.order_id;
      tr.dataset.status = order.status;
      const latest = condition?.latest;
      const temp = document.createElement("td");
      temp.className = condition?.in_excursion ? "reading reading--excursion" : "reading";
      temp.textContent = latest?.temperature_c != null ? `${latest.temperature_c.toFixed(1)} °C` : "–";
      temp.title = `range ${range.min_temp_c}–${range.max_temp_c} °C, at most ${range.max_minutes_out_of_conditioning} min out` +
        (latest ? `\nhumidity ${latest.humidity_pct ?? "–"} %, shock ${latest.shock_g ?? "–"} g` : "");
      const spark = document.createElement("td");
      if (condition && condition.recent.length) spark.append(sparkline(condition, range));
      const name = document.createElement("td");
      name.textContent = order.reference || order.order_id.slice(0, 8);
      name.title = order.unplannable_reason || order.order_id;
      const status = document.createElement("td");
      status.textContent = order.status.replaceAll("_", " ");
      status.className = `order-status order-status--${order.status}`;
      const excursions = document.createElement("td");
      excursions.textContent = condition?.excursions ? `⚠ ${condition.excursions}` : "";
      tr.append(name, status, temp, spark, excursions);
      return tr;
    });
    this.body.replaceChildren(...rows);
    document.querySelector("#coldchain-count").textContent = cold.length ? String(cold.length) : "";
  }
}
