"""Plain-dict plotly traces: the wall builds figures without plotly's validators (which cost
~1 s per page for 10k per-point colours) and ships coordinates as compact typed arrays."""

from __future__ import annotations

import numpy as np
from _plotly_utils.utils import to_typed_array_spec


def coords(values) -> dict | list:  # noqa: ANN001
    """Coordinates as a float32 typed array (≈1 m at these longitudes) or a list when patched."""
    if isinstance(values, list):
        return values
    return to_typed_array_spec(np.asarray(values, dtype=np.float32))


def scattermap(**kw) -> dict:
    """``go.Scattermap`` as a dict (lon/lat numpy → typed arrays, lists kept as lists)."""
    for k in ("lon", "lat"):
        if k in kw:
            kw[k] = coords(kw[k])
    return {"type": "scattermap", **kw}


def choroplethmap(**kw) -> dict:
    """``go.Choroplethmap`` as a dict."""
    return {"type": "choroplethmap", **kw}
