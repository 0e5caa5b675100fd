// Click-to-add-corners polygon drawing for temporary no-fly zones.
// Clicking the first corner again (or "Finish") closes the ring; Escape or "Cancel" drops it.

const CLOSE_DISTANCE_PX = 12;

export class PolygonDrawer {
  constructor(fleetMap, { onChange }) {
    this.fleetMap = fleetMap;
    this.onChange = onChange;
    this.points = [];
    this.active = false;
    this.layer = null;
    this.onKey = (event) => {
      if (event.key === "Escape") this.cancel();
    };
  }

  start() {
    this.cancel();
    this.active = true;
    this.points = [];
    this.layer = this.fleetMap.toolLayer();
    this.fleetMap.setCursor("crosshair");
    // Markers and zone outlines would swallow a corner clicked on top of them; while drawing they let it through.
    this.fleetMap.map.getContainer().classList.add("map--drawing");
    document.addEventListener("keydown", this.onKey);
    this.onChange(this);
  }

  /** A map click while drawing: add a corner, or close the ring when the first corner is clicked. */
  click(latlng) {
    if (!this.active) return false;
    if (this.points.length >= 3) {
      const map = this.fleetMap.map;
      const first = map.latLngToContainerPoint(this.points[0]);
      if (first.distanceTo(map.latLngToContainerPoint(latlng)) < CLOSE_DISTANCE_PX) {
        this.onChange(this, { closed: true });
        return true;
      }
    }
    this.points.push(latlng);
    this.redraw();
    this.onChange(this);
    return true;
  }

  redraw() {
    this.layer.clearLayers();
    if (this.points.length > 1) {
      const ring = this.points.length > 2 ? [...this.points, this.points[0]] : this.points;
      this.fleetMap
        .polyline(ring, { color: "#c1121f", weight: 2, dashArray: "4 4", className: "draft-zone", interactive: false })
        .addTo(this.layer);
    }
    this.points.forEach((point, index) => {
      this.fleetMap
        .circleMarker(point, {
          radius: index === 0 ? 6 : 4,
          color: "#c1121f",
          fillColor: "#fff",
          fillOpacity: 1,
          weight: 2,
          className: "draft-corner",
          interactive: false,
        })
        .addTo(this.layer);
    });
  }

  /** The closed ring as GeoJSON [longitude, latitude] positions, or null with fewer than 3 corners. */
  ring() {
    if (this.points.length < 3) return null;
    const positions = this.points.map((p) => [Number(p.lng.toFixed(7)), Number(p.lat.toFixed(7))]);
    return [...positions, positions[0]];
  }

  cancel() {
    this.active = false;
    this.points = [];
    this.layer?.remove();
    this.layer = null;
    this.fleetMap.setCursor("");
    this.fleetMap.map.getContainer().classList.remove("map--drawing");
    document.removeEventListener("keydown", this.onKey);
    this.onChange(this);
  }
}
