"""Composition root (app/): configuration, connections, CLI, web screens."""
