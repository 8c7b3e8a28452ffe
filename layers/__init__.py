"""Map layers (layers/): domain data → plotly traces with legends; themes (专题)."""
