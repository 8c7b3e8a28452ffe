"""Incidents (incidents/): intake, correlation, 1+N routing, dispatch queue, deadlines, audit, KPIs."""
