// The live map: the world's own streets and buildings (no tiles), zones, hub, lockers, vehicles and routes.

import * as L from "leaflet/dist/leaflet-src.esm.js";

import { cargoText } from "./model.js";

const ROUTE_COLORS = { drone: "#7b2cbf", robot: "#0a7f5a", van: "#1d4ed8" };
const ZONE_STYLES = {
  no_fly: { color: "#c1121f", weight: 2, fillColor: "#e63946", fillOpacity: 0.18 },
  restricted: { color: "#d97706", weight: 2, fillColor: "#f59e0b", fillOpacity: 0.15 },
  operating_area: { color: "#2563eb", weight: 1.5, dashArray: "6 6", fill: false },
};
const HANDOFF_GLYPHS = { launch: "▲", recovery: "▼", home: "⌂" };
const STALE_AFTER_S = 10; // a vehicle whose newest telemetry is older than this is drawn faded

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function siteIcon(kind, label) {
  return L.divIcon({
    className: `site site--${kind}`,
    html: `<span class="site__glyph">${kind === "hub" ? "H" : "L"}</span>`,
    iconSize: [22, 22],
    iconAnchor: [11, 11],
    tooltipAnchor: [12, 0],
    title: label,
  });
}

const VEHICLE_GLYPHS = {
  // An arrow pointing north; the marker rotates it to the heading.
  drone: '<path d="M12 2 L19 20 L12 16 L5 20 Z"/>',
  robot: '<path d="M12 3 L18 19 L12 15 L6 19 Z"/><circle cx="12" cy="12" r="2.5" fill="#fff"/>',
  van: '<rect x="7" y="3" width="10" height="18" rx="2"/><rect x="8.5" y="4.5" width="7" height="4" fill="#fff"/>',
};

function vehicleIcon(vehicle) {
  const glyph = VEHICLE_GLYPHS[vehicle.kind] ?? VEHICLE_GLYPHS.drone;
  return L.divIcon({
    className: "vehicle-marker",
    html:
      `<div class="vehicle vehicle--${escapeHtml(vehicle.kind)}" data-vehicle-id="${escapeHtml(vehicle.id)}">` +
      `<svg class="vehicle__arrow" viewBox="0 0 24 24" width="26" height="26">${glyph}</svg>` +
      `<span class="vehicle__label"></span></div>`,
    iconSize: [26, 26],
    iconAnchor: [13, 13],
  });
}

export class FleetMap {
  constructor(element, { onVehicleClick, onMapClick, onBuildingClick }) {
    this.map = L.map(element, { preferCanvas: true, zoomSnap: 0.25, minZoom: 13, maxZoom: 20 });
    this.svg = L.svg({ padding: 0.5 });
    this.vehicleMarkers = new Map();
    this.routeLines = new Map();
    this.zoneLayers = new Map();
    this.handoffLayers = new Map();
    this.onVehicleClick = onVehicleClick;
    this.onBuildingClick = onBuildingClick; // (building_id, latlng): fired before the map's own click
    this.map.on("click", (event) => onMapClick?.(event.latlng));
    this.map.createPane("zones").style.zIndex = 410;
    this.map.createPane("routes").style.zIndex = 420;
  }

  /** Draw the world document from GET /v1/world and fit the view to it. */
  showWorld(world) {
    const { south_deg, west_deg, north_deg, east_deg } = world.bounds;
    const bounds = L.latLngBounds([south_deg, west_deg], [north_deg, east_deg]);
    this.map.fitBounds(bounds, { padding: [10, 10] });
    this.map.setMaxBounds(bounds.pad(0.5));
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution(escapeHtml(world.attribution));
    L.geoJSON(world.walkways, { style: { color: "#c9c3b3", weight: 1, opacity: 0.9 }, interactive: false }).addTo(
      this.map,
    );
    L.geoJSON(world.streets, { style: { color: "#ffffff", weight: 4, opacity: 1 }, interactive: false }).addTo(this.map);
    L.geoJSON(world.streets, { style: { color: "#9aa1a9", weight: 1, opacity: 1 }, interactive: false }).addTo(this.map);
    L.geoJSON(world.buildings, {
      style: (feature) => ({
        color: "#8d8679",
        weight: 0.6,
        fillColor: feature.properties.address ? "#d9cfbf" : "#e4ded3",
        fillOpacity: 1,
      }),
      onEachFeature: (feature, layer) => {
        const p = feature.properties;
        const title = p.address || p.name || p.building_id;
        layer.bindTooltip(`${escapeHtml(title)} · ${p.height_m} m`, { sticky: true });
        layer.on("click", (event) => this.onBuildingClick?.(p.building_id, event.latlng));
      },
    }).addTo(this.map);
    L.marker([world.hub.latitude_deg, world.hub.longitude_deg], { icon: siteIcon("hub", world.hub.name) })
      .bindTooltip(escapeHtml(world.hub.name))
      .addTo(this.map);
    for (const locker of world.lockers) {
      L.marker([locker.latitude_deg, locker.longitude_deg], { icon: siteIcon("locker", locker.name) })
        .bindTooltip(escapeHtml(locker.name))
        .addTo(this.map);
    }
  }

  /** Replace the zone layers with the given GeoJSON Features (drawn as SVG so each is an element). */
  showZones(features) {
    const seen = new Set();
    for (const feature of features) {
      const id = feature.properties?.id ?? feature.id;
      const kind = feature.properties?.kind ?? "no_fly";
      seen.add(id);
      this.zoneLayers.get(id)?.remove();
      const layer = L.geoJSON(feature, {
        pane: "zones",
        renderer: this.svg,
        style: { ...(ZONE_STYLES[kind] ?? ZONE_STYLES.no_fly), className: `zone zone--${kind}` },
      });
      const p = feature.properties ?? {};
      layer.bindTooltip(
        `<b>${escapeHtml(p.name || id)}</b><br>${escapeHtml(kind)} · ${p.lower_m ?? 0}–${p.upper_m ?? "?"} m` +
          (p.reason ? `<br>${escapeHtml(p.reason)}` : ""),
        { sticky: true },
      );
      layer.addTo(this.map);
      this.zoneLayers.set(id, layer);
    }
    for (const [id, layer] of this.zoneLayers) {
      if (!seen.has(id)) {
        layer.remove();
        this.zoneLayers.delete(id);
      }
    }
  }

  /** Move, rotate and label every vehicle marker; remove markers of vehicles no longer listed. */
  showVehicles(vehicles, nowS) {
    const seen = new Set();
    const aboard = new Set(vehicles.flatMap((v) => v.carried ?? []));
    for (const vehicle of vehicles) {
      if (vehicle.latitudeDeg == null || vehicle.longitudeDeg == null) continue;
      seen.add(vehicle.id);
      let marker = this.vehicleMarkers.get(vehicle.id);
      if (!marker) {
        marker = L.marker([vehicle.latitudeDeg, vehicle.longitudeDeg], {
          icon: vehicleIcon(vehicle),
          zIndexOffset: 1000,
          keyboard: false,
        })
          .on("click", () => this.onVehicleClick?.(vehicle.id))
          .bindTooltip("", { direction: "top", offset: [0, -12] })
          .addTo(this.map);
        this.vehicleMarkers.set(vehicle.id, marker);
      }
      marker.setLatLng([vehicle.latitudeDeg, vehicle.longitudeDeg]);
      const element = marker.getElement()?.querySelector(".vehicle");
      if (element) {
        element.style.setProperty("--heading", `${vehicle.headingDeg ?? 0}deg`);
        element.dataset.mode = vehicle.mode || "";
        element.dataset.link = vehicle.link || "";
        element.classList.toggle("vehicle--stale", nowS != null && vehicle.stampS != null && nowS - vehicle.stampS > STALE_AFTER_S);
        element.classList.toggle("vehicle--lost", vehicle.link === "lost");
        element.classList.toggle("vehicle--low", vehicle.batteryPct != null && vehicle.batteryPct < 25);
        const battery = vehicle.batteryPct == null ? "" : ` ${Math.round(vehicle.batteryPct)}%`;
        element.querySelector(".vehicle__label").textContent = `${vehicle.id}${battery}`;
      }
      const cargo = cargoText(vehicle);
      if (element) {
        element.dataset.carried = (vehicle.carried ?? []).join(" ");
        element.classList.toggle("vehicle--riding", aboard.has(vehicle.id)); // in a van's bay: drawn small
      }
      marker.setTooltipContent(
        `<b>${escapeHtml(vehicle.id)}</b> (${escapeHtml(vehicle.kind)})<br>` +
          (cargo ? `carries ${escapeHtml(cargo)}<br>` : "") +
          (vehicle.carriedBy
            ? `${aboard.has(vehicle.id) ? "aboard" : "launched from"} ${escapeHtml(vehicle.carriedBy)}` +
              `${vehicle.charging ? " · charging" : ""}<br>`
            : "") +
          `mode ${escapeHtml(vehicle.mode || "?")} · link ${escapeHtml(vehicle.link || "?")}<br>` +
          `battery ${vehicle.batteryPct == null ? "?" : Math.round(vehicle.batteryPct) + " %"} · ` +
          `heading ${Math.round(vehicle.headingDeg ?? 0)}° · ${(vehicle.speedMS ?? 0).toFixed(1)} m/s` +
          (vehicle.kind === "drone" ? ` · ${Math.round(vehicle.altitudeM ?? 0)} m` : ""),
      );
    }
    for (const [id, marker] of this.vehicleMarkers) {
      if (!seen.has(id)) {
        marker.remove();
        this.vehicleMarkers.delete(id);
      }
    }
  }

  /** Draw each active mission's remaining path (its steps with positions) as a dashed line. */
  showRoutes(routes) {
    const seen = new Set();
    for (const route of routes) {
      if (route.points.length < 2) continue;
      seen.add(route.missionId);
      const existing = this.routeLines.get(route.missionId);
      const style = {
        pane: "routes",
        renderer: this.svg,
        color: ROUTE_COLORS[route.kind] ?? "#444",
        weight: 2.5,
        opacity: 0.85,
        dashArray: "5 5",
        className: `route route--${route.kind}`,
        interactive: false,
      };
      if (existing) {
        existing.setLatLngs(route.points);
      } else {
        const line = L.polyline(route.points, style).addTo(this.map);
        line.getElement()?.setAttribute("data-vehicle-id", route.vehicleId);
        line.getElement()?.setAttribute("data-mission-id", route.missionId);
        this.routeLines.set(route.missionId, line);
      }
    }
    for (const [id, line] of this.routeLines) {
      if (!seen.has(id)) {
        line.remove();
        this.routeLines.delete(id);
      }
    }
  }

  /** Mark where vans launched (▲) and recovered (▼) their drones/robots (⌂: a drone flew home to the hub instead),
   *  with a dashed line from each launch to the point the vehicle is to be taken back at, until it is. */
  showHandoffs(points) {
    const seen = new Set();
    const recovered = new Set(points.filter((p) => p.kind !== "launch").map((p) => p.missionId));
    for (const point of points) {
      seen.add(point.key);
      if (this.handoffLayers.has(point.key)) {
        if (point.kind === "launch" && recovered.has(point.missionId)) this.handoffLayers.get(point.key).line?.remove();
        continue;
      }
      const marker = L.marker([point.latitudeDeg, point.longitudeDeg], {
        icon: L.divIcon({
          className: `handoff handoff--${point.kind}`,
          html:
            `<span class="handoff__glyph" data-vehicle-id="${escapeHtml(point.vehicleId)}" ` +
            `data-kind="${point.kind}">${HANDOFF_GLYPHS[point.kind]}</span>`,
          iconSize: [18, 18],
          iconAnchor: [9, 9],
        }),
        keyboard: false,
      })
        .bindTooltip(
          (point.kind === "home"
            ? `<b>${escapeHtml(point.vehicleId)}</b> flew home to the hub (launched by ${escapeHtml(point.vanId)})`
            : `<b>${escapeHtml(point.vanId)}</b> ${point.kind === "launch" ? "launched" : "recovered"} ` +
              `<b>${escapeHtml(point.vehicleId)}</b>`) +
            (point.stopOrderId ? `<br>stop of ${escapeHtml(point.stopOrderId.slice(0, 8))}` : "") +
            (point.kind === "recovery" ? `<br>${point.laterStop ? "at a later stop" : "at its launch stop"}` +
              (point.vanWaited ? " · the van waited" : "") : ""),
        )
        .addTo(this.map);
      let line = null;
      if (point.plannedRecovery && !recovered.has(point.missionId)) {
        line = L.polyline([[point.latitudeDeg, point.longitudeDeg], point.plannedRecovery], {
          pane: "routes",
          renderer: this.svg,
          color: "#b45309",
          weight: 1.5,
          dashArray: "2 6",
          className: "handoff-link",
          interactive: false,
        }).addTo(this.map);
      }
      this.handoffLayers.set(point.key, { marker, line });
    }
    for (const [key, layers] of this.handoffLayers) {
      if (!seen.has(key)) {
        layers.marker.remove();
        layers.line?.remove();
        this.handoffLayers.delete(key);
      }
    }
  }

  focusVehicle(vehicleId) {
    const marker = this.vehicleMarkers.get(vehicleId);
    if (marker) this.map.panTo(marker.getLatLng());
  }

  /** A temporary layer group for tools (the zone drawer) to draw into. */
  toolLayer() {
    return L.layerGroup().addTo(this.map);
  }

  polyline(points, options) {
    return L.polyline(points, { renderer: this.svg, ...options });
  }

  circleMarker(point, options) {
    return L.circleMarker(point, { renderer: this.svg, ...options });
  }

  setCursor(cursor) {
    this.map.getContainer().style.cursor = cursor;
  }
}
