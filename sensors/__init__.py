"""Sensing (sensors/): device registry, MQTT ingest, rules and alarms, device health, simulator."""
