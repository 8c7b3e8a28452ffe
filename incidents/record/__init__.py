"""The record (档案, issue 20): PostgreSQL + PostGIS as the system of record, Redis for what is
live. ``rows`` maps an incident to its table rows and back, ``archiver`` copies what changes
(at least once, idempotent, in order per incident), ``reader`` finds an incident by id in the
archive when Redis no longer holds it. The schema is the Alembic history in ``migrations/``.

Connections are opened by ``app/`` (``app.pg``) and handed in: nothing here reads settings.
"""
