"""One chain module for both audit trails (SEC9, SEC21; issue 19): the security audit chains
with SM3 (国密) when ``[incidents] audit_digest = "sm3"`` (the incident trails' setting), a chain
whose digest changed on the way verifies, and ``onemap audit verify`` still finds an edit."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app import keys, security
from incidents import chain


@pytest.fixture
def verify(redis_service, monkeypatch):
    from app.cli import main  # noqa: PLC0415

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    return lambda *args: CliRunner().invoke(main, ["audit", *args])


@pytest.fixture
def sm3_context(redis_service, tmp_path, monkeypatch):
    """An AppContext whose settings select SM3; the process-wide digest is put back after."""
    from app.config import Settings  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415

    monkeypatch.setattr(security, "AUDIT_DIGEST", security.AUDIT_DIGEST)
    return AppContext(Settings(secret_key="s" * 64, data_dir=tmp_path,
                               incidents={"audit_digest": "sm3"}), redis_service.url)


def test_the_security_audit_chains_with_sm3_when_selected(redis_client, sm3_context, verify,
                                                          monkeypatch):
    # two SHA-256 entries, then the setting changes to SM3 (the context is built), two more
    monkeypatch.setattr(security, "AUDIT_DIGEST", "sha256")
    for i in range(2):
        security.audit(redis_client, "login", user=f"u{i}", role="city_operator")
    security.set_audit_digest(sm3_context.settings.incident_config.audit_digest)
    assert security.AUDIT_DIGEST == "sm3"
    ids = [security.audit(redis_client, "login", user=f"v{i}", role="admin") for i in range(2)]
    rows = redis_client.xrange(keys.SECURITY_AUDIT)
    hashes = [f["hash"] for _, f in rows]
    assert not any(h.startswith("sm3:") for h in hashes[:2])
    assert all(h.startswith("sm3:") and len(h) == 4 + 64 for h in hashes[2:])
    # the same primitive hashes both trails: the link is SM3 of prev ‖ canonical entry
    f = rows[2][1]
    assert f["hash"] == chain.chain_hash(f["prev"], security.canonical(f), "sm3")
    r = verify("verify", "--security")
    assert r.exit_code == 0, r.output
    assert "4 entries checked" in r.output
    # an insider edits an SM3 entry: named as altered
    # (a stream has no in-place edit: it is rebuilt with the same ids)
    redis_client.delete(keys.SECURITY_AUDIT)
    for i, f in rows:
        redis_client.xadd(keys.SECURITY_AUDIT, {**f, "user": "mallory"} if i == ids[0] else f, id=i)
    r = verify("verify", "--security")
    assert r.exit_code == 1 and f"broken at entry {ids[0]}" in r.output and "altered" in r.output


def test_an_unknown_digest_is_refused(monkeypatch):
    monkeypatch.setattr(security, "AUDIT_DIGEST", security.AUDIT_DIGEST)
    with pytest.raises(ValueError, match="审计摘要算法"):
        security.set_audit_digest("md5")
