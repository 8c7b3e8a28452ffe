"""City model (grid/): territory tree, centers, lookup, import/export, coordinates."""
