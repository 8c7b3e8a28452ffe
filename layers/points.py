"""Point traces shared by the device, incident and resource layers.

Arrays a live tick patches (colours, sizes, ids) are plain lists; coordinates are numpy so that
plotly ships them as compact base64 ``bdata``. Only circle markers: any other marker symbol
makes MapLibre fetch Maki icons from a CDN (ecosystem-notes §2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layers import palette
from layers.basemap import to_display
from layers.trace import scattermap

STATE_SIZES: dict[str, int] = {"normal": 5, "offline": 6, "warning": 9, "alarm": 13}


def state_series(ids: pd.Series, states: dict[str, str] | pd.Series | None) -> pd.Series:
    """State per device id from the ``om:dev:state`` mapping (unknown → normal)."""
    if states is None or len(states) == 0:
        return pd.Series("normal", index=ids.index)
    mapping = states if isinstance(states, pd.Series) else pd.Series(states, dtype=object)
    out = ids.map(mapping).astype(object)
    return out.where(out.notna(), "normal")


def state_trace(frame: pd.DataFrame, states: pd.Series, meta: str, name: str,
                tile_crs: str = "wgs84", size_scale: float | np.ndarray = 1.0,
                as_lists: bool = False) -> dict:
    """One device trace coloured per point by state; customdata carries the device ids."""
    lons, lats = to_display(frame["lon"].to_numpy(), frame["lat"].to_numpy(), tile_crs)
    st = states.to_numpy()
    colors = [palette.STATE_COLORS.get(s, palette.STATE_COLORS["normal"]) for s in st]
    base = np.array([STATE_SIZES.get(s, 5) for s in st], dtype=float)
    sizes = np.round(base * size_scale, 1).tolist()
    lon = lons.round(5)
    lat = lats.round(5)
    return scattermap(
        lon=lon.tolist() if as_lists else lon, lat=lat.tolist() if as_lists else lat,
        mode="markers", customdata=frame["id"].astype(str).tolist(),
        marker={"color": colors, "size": sizes, "opacity": 0.95},
        hoverinfo="skip", meta=meta, name=name)


def order_worst_last(frame: pd.DataFrame, states: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Draw order: graver states last so an alarm is never hidden under normal dots."""
    rank = states.map(palette.STATE_RANK).fillna(0).to_numpy()
    order = np.argsort(rank, kind="stable")
    return frame.iloc[order], states.iloc[order]
