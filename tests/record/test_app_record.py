"""The record wired into a process (app.record, issue 20): with ONEMAP_PG_URL set, the schema is
brought to head, the archiver runs in a thread and the service reads through the record; with
neither a URL nor PostgreSQL, history is off and said so."""

from __future__ import annotations

import time

import psycopg

from app.config import Settings
from app.context import AppContext
from app.record import HISTORY_OFF, ensure_pg, start_record
from app.runtime import Runtime
from incidents import keys


def test_start_record_archives_and_reads_through(redis_service, redis_client, record_url,
                                                 demo_city_dir, who, here):
    settings = Settings(pg_url=record_url, redis_url=redis_service.url, city_dir=demo_city_dir)
    ctx = AppContext(settings, redis_service.url)
    runtime = Runtime()
    try:
        said = start_record(ctx, runtime)
        assert "archiving" in said
        inc = ctx.incidents.report(who.worker, "0107", here.lon, here.lat, correlate=False)
        deadline = time.monotonic() + 30
        with psycopg.connect(record_url, autocommit=True) as c:
            while c.execute("SELECT count(*) FROM incidents WHERE id = %s", (inc.id,)
                            ).fetchone()[0] == 0:
                assert time.monotonic() < deadline, "the archiver thread never archived it"
                time.sleep(0.05)
        redis_client.delete(keys.incident(inc.id))
        ctx.incidents.store.forget(inc.id)
        assert ctx.incidents.get(inc.id, who.town).id == inc.id     # from the record
    finally:
        runtime.stop()


def test_no_url_and_no_postgres_means_history_off(monkeypatch, tmp_path):  # noqa: ANN001
    import app.pg  # noqa: PLC0415

    monkeypatch.setattr(app.pg, "available", lambda: False)
    url, said = ensure_pg(Settings(data_dir=tmp_path), Runtime())
    assert url is None and said == HISTORY_OFF
