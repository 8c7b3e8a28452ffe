"""The security audit in the record (SEC9, issue 20): every entry of the hash-chained stream
(``app.security.audit``) once in ``security_audit``, keyed by its stream id, chain fields kept;
given again, nothing doubles."""

from __future__ import annotations

import psycopg

from app import keys as app_keys
from app import security
from app.pg import connector
from incidents.record.stream import SecurityAuditCopier


def test_security_audit_is_copied_once_with_its_chain(redis_client, record_url):
    for k in range(5):
        security.audit(redis_client, "login_failed", user=f"u{k}", reason="密码错误")
    copier = SecurityAuditCopier(redis_client, connector(record_url), app_keys.SECURITY_AUDIT,
                                 batch=2)
    assert copier.drain() == 5
    redis_client.xgroup_setid(app_keys.SECURITY_AUDIT, copier.group, "0")   # all again
    assert SecurityAuditCopier(redis_client, connector(record_url), app_keys.SECURITY_AUDIT,
                               consumer="other").drain() == 5
    stream = redis_client.xrange(app_keys.SECURITY_AUDIT)
    with psycopg.connect(record_url) as c:
        got = c.execute("SELECT stream_id, actor, action, outcome, entry->>'hash' "
                        "FROM security_audit ORDER BY ts, stream_id").fetchall()
    assert got == [(eid, f["user"], "login_failed", "密码错误", f["hash"]) for eid, f in stream]
