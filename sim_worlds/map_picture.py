"""Draw a world (terrain, streets, footpaths, buildings, hub, lockers, zones) to a PNG a person can read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never needs a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LightSource
from matplotlib.patches import Polygon as PolygonPatch

from fleet_manager.world import World
from mission_planner.airspace import ZoneKind

_ZONE_STYLE = {
    ZoneKind.NO_FLY: ("#d62728", 0.25),
    ZoneKind.RESTRICTED: ("#ff7f0e", 0.25),
    ZoneKind.OPERATING_AREA: ("#2ca02c", 0.0),
}


def _draw_terrain(ax: Axes, world: World, pixels: int = 700) -> None:
    """Hillshaded elevation (sun from the north-west, 45° up) under the map, with a colour bar in m AMSL."""
    terrain = world.terrain
    if terrain is None:
        return
    area = world.airspace.operating_area()
    min_x, min_y, max_x, max_y = area.bounds if area is not None else terrain.bounds_m
    t_min_x, t_min_y, t_max_x, t_max_y = terrain.bounds_m
    min_x, min_y, max_x, max_y = max(min_x, t_min_x), max(min_y, t_min_y), min(max_x, t_max_x), min(max_y, t_max_y)
    step_m = max(max_x - min_x, max_y - min_y) / pixels
    xs = np.arange(min_x, max_x, step_m)
    ys = np.arange(max_y, min_y, -step_m)  # image rows go south
    grid_x, grid_y = np.meshgrid(xs, ys)
    heights = terrain.elevation_m(grid_x, grid_y)
    shaded = LightSource(azdeg=315, altdeg=45).shade(
        heights, cmap=plt.get_cmap("terrain"), blend_mode="soft", vert_exag=1.0, dx=step_m, dy=step_m,
        vmin=float(heights.min()) - 400.0, vmax=float(heights.max()),
    )
    ax.imshow(shaded, extent=(min_x, max_x, min_y, max_y), origin="upper", zorder=0, alpha=0.85)
    scale = plt.cm.ScalarMappable(cmap="terrain", norm=plt.Normalize(float(heights.min()) - 400.0, heights.max()))
    plt.colorbar(scale, ax=ax, shrink=0.5, pad=0.01, label="ground, m above sea level (SRTM)")


def draw_world(world: World, path: Path, *, size_in: float = 11.0) -> Path:
    """Write the world map to `path` (PNG, local metres east/north of the hub) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(size_in, size_in * 1.25), dpi=110)
    try:
        _draw_terrain(ax, world)
        walk = [
            ((world.walk_graph.nodes[u]["x_m"], world.walk_graph.nodes[u]["y_m"]),
             (world.walk_graph.nodes[v]["x_m"], world.walk_graph.nodes[v]["y_m"]))
            for u, v in world.walk_graph.edges
        ]
        streets = [
            ((world.street_graph.nodes[u]["x_m"], world.street_graph.nodes[u]["y_m"]),
             (world.street_graph.nodes[v]["x_m"], world.street_graph.nodes[v]["y_m"]))
            for u, v in world.street_graph.edges
        ]
        ax.add_collection(LineCollection(walk, colors="#bbbbbb", linewidths=0.4, label="walkways (robots)"))
        ax.add_collection(LineCollection(streets, colors="#444444", linewidths=1.2, label="streets (vans)"))
        for building in world.buildings:
            ax.add_patch(
                PolygonPatch(
                    list(building.footprint.exterior.coords),
                    closed=True,
                    facecolor="#c9b99b" if building.address else "#e3dccd",
                    edgecolor="#8c7b5c",
                    linewidth=0.3,
                )
            )
        for zone in world.airspace.zones:
            color, alpha = _ZONE_STYLE[zone.kind]
            ax.add_patch(
                PolygonPatch(
                    list(zone.polygon.exterior.coords),
                    closed=True,
                    facecolor=color,
                    alpha=alpha if alpha else 1.0,
                    fill=alpha > 0,
                    edgecolor=color,
                    linewidth=1.5,
                    linestyle="--" if zone.kind is ZoneKind.OPERATING_AREA else "-",
                )
            )
            centre = zone.polygon.representative_point()
            if zone.kind is not ZoneKind.OPERATING_AREA:
                label = f"{zone.name}\n{zone.kind.value} {zone.lower_m:g}-{zone.upper_m:g} m"
                ax.annotate(label, (centre.x, centre.y), fontsize=7, ha="center", color=color, weight="bold")
        points = [b.delivery_point for b in world.addresses]
        addressed = [p for b, p in zip(world.addresses, points, strict=True) if p is not None and b.address]
        derived = [p for b, p in zip(world.addresses, points, strict=True) if p is not None and not b.address]
        if addressed or not derived:
            ax.scatter([p.x_m for p in addressed], [p.y_m for p in addressed], s=6, color="#1f77b4", zorder=4,
                       label=f"addresses ({len(addressed)})")
        if derived:
            ax.scatter([p.x_m for p in derived], [p.y_m for p in derived], s=8, color="#1f77b4", marker="D",
                       zorder=4, label=f"delivery points without street address ({len(derived)})")
        ax.scatter([world.hub.x_m], [world.hub.y_m], marker="*", s=380, color="#9467bd", zorder=5,
                   edgecolor="black", label=f"hub: {world.hub.name}")
        ax.scatter([s.x_m for s in world.lockers], [s.y_m for s in world.lockers], marker="s", s=90,
                   color="#17becf", edgecolor="black", zorder=5, label=f"parcel lockers ({len(world.lockers)})")
        for locker in world.lockers:
            ax.annotate(locker.name.split(" (")[0], (locker.x_m, locker.y_m), fontsize=7,
                        xytext=(6, -10), textcoords="offset points")
        ax.autoscale()
        ax.set_aspect("equal")
        ax.set_xlabel("metres east of the hub")
        ax.set_ylabel("metres north of the hub")
        credit = "OSM © OpenStreetMap contributors (ODbL)" + (", terrain SRTM" if world.terrain is not None else "")
        ax.set_title(f"FinalMile world '{world.name}' — {credit}")
        ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
