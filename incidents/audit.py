"""Audit trail (留痕, E32): one append-only stream per incident, read as a timeline.

Entries are written only by ``store.Store.commit`` (one per change, in the same atomic script)
and ``Store.audit_denied`` (refused attempts, ``action = denied:<action>``). Each entry is one
field ``e``: a JSON object (ts, actor, name, role, center, action, reason, task, state,
from_state, v, before, after); entries of the older one-field-per-key layout still read.

The trail is hash-chained (SEC9, SEC21; docs/security.md): each entry also carries ``c`` (a
change) or ``d`` (a refusal) = ``seq|digest``, and ``verify_trails`` (``onemap audit verify``)
names any entry altered or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import redis

from incidents import chain, keys


def timeline(r: redis.Redis, incident_id: str) -> list[dict]:
    """Oldest first: ts (float), actor, name, role, center, action, reason, task, from_state,
    state, v, before/after (dicts), entry (stream id)."""
    return [entry(entry_id, f) for entry_id, f in r.xrange(keys.audit(incident_id))]


def entry(entry_id: str, fields: dict) -> dict:
    """One audit stream entry as a dict (see ``timeline``)."""
    if "e" in fields:
        d = orjson.loads(fields["e"])
    else:   # the older layout: one stream field per key, before/after as JSON strings
        d = dict(fields)
        for k in ("before", "after"):
            d[k] = orjson.loads(d.get(k) or "{}")
    d["entry"] = entry_id
    d["ts"] = float(d.get("ts") or 0)
    return d


# --- the hash chain (SEC9, SEC21) ------------------------------------------------------------
# Each trail holds two chains in its one stream: the changes (field ``c``), written inside the
# atomic change script under the incident's version guard, and the refusals (field ``d``),
# appended by ``append_denial`` outside it (a refusal changes no version, so it cannot share the
# changes' guard). Each chained entry carries ``seq|digest``; the chain heads sit in the
# incident hash (``_ah`` changes, ``_dh`` refusals), moved in the same atomic step as the entry.
CHANGE = "c"
"""Stream field of a change entry: ``seq|digest`` (docs/security.md)."""
DENIAL = "d"
"""Stream field of a refusal entry: ``seq|digest``."""
CHANGE_HEAD = "_ah"
"""Incident hash field: ``seq|digest`` of the newest change entry."""
DENIAL_HEAD = "_dh"
"""Incident hash field: ``seq|digest`` of the newest refusal entry."""
DIGESTS = chain.DIGESTS
"""Selectable digests (``[incidents] audit_digest``; ``incidents.chain``, shared with the
security audit)."""


def link(prev: str, seq: int, content: bytes, digest: str = "sha256") -> str:
    """The digest of one chained entry: H(previous digest | seq | the entry's ``e`` bytes)
    (``incidents.chain.link``). The content is hashed as stored (orjson's UTF-8)."""
    return chain.link(prev, seq, content, digest)


def next_link(head: str, content: bytes, digest: str = "sha256") -> str:
    """``seq|digest`` of the entry that follows ``head`` (``''``: the first one)."""
    seq, _, prev = head.partition("|")
    n = int(seq) + 1 if seq else 1
    return f"{n}|{chain.link(prev, n, content, digest)}"


# Append one refusal if the refusal chain's head is still the one it was hashed onto; else answer
# the current head (the caller hashes again). -1: no such incident (the caller writes the global
# refusal stream). KEYS: incident hash, its audit stream. ARGV: expected head, new head, e.
_DENY_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, ''} end
local head = redis.call('HGET', KEYS[1], ARGV[4]) or ''
if head ~= ARGV[1] then return {0, head} end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], ARGV[5], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[4], ARGV[2])
return {1, ''}
"""
_DENY_TRIES = 100


def append_denial(r: redis.Redis, incident_id: str, content: bytes,
                  digest: str = "sha256") -> bool:
    """拒绝留痕: append a refused attempt to an incident's trail on its refusal chain (optimistic:
    two web workers refusing at once re-hash, never fork the chain). False when the incident
    does not exist (nothing written)."""
    script = r.register_script(_DENY_LUA)
    k, stream = keys.incident(incident_id), keys.audit(incident_id)
    head = r.hget(k, DENIAL_HEAD) or ""
    for _ in range(_DENY_TRIES):
        new = next_link(head, content, digest)
        ok, cur = script(keys=[k, stream], args=[head, new, content, DENIAL_HEAD, DENIAL])
        if ok == 1:
            return True
        if ok == -1:
            return False
        head = cur or ""
    raise RuntimeError(f"audit {incident_id}: the refusal chain head kept moving")


@dataclass
class TrailReport:
    """What ``verify_trails`` found: incidents and entries checked, unchained entries written
    before the chain existed, and the problems as (incident id, entry id, what)."""

    incidents: int = 0
    checked: int = 0
    legacy: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_trail(rows: list, change_head: str, denial_head: str) -> tuple[int, int, list]:
    """Check one trail's stream rows [(entry id, fields)] against the heads kept in its incident
    hash: (entries checked, unchained older entries, [(entry id, what)]). An entry whose content
    no longer matches its digest was altered; a ``seq`` that skips follows removed entries; a
    head ahead of its chain's last entry means the newest entries were removed."""
    walks = {CHANGE: chain.Walk(), DENIAL: chain.Walk()}
    legacy = 0
    problems: list[tuple[str, str]] = []
    last_id = "(start)"
    for entry_id, f in rows:
        last_id = entry_id
        which = CHANGE if CHANGE in f else DENIAL if DENIAL in f else ""
        if not which:
            # older than the chain when nothing chained came before it, else altered
            if walks[CHANGE].checked + walks[DENIAL].checked == 0:
                legacy += 1
            else:
                problems.append((entry_id, "链字段缺失 chain fields missing (entry altered)"))
            continue
        w = walks[which]
        got_s, _, value = f[which].partition("|")
        n = len(w.problems)
        try:
            seq = int(got_s)
        except ValueError:
            seq = -1
        # each digest names its algorithm (bare hex: SHA-256): a changed setting still verifies
        matches = chain.link(w.prev, seq, f.get("e", "").encode(),
                             chain.digest_of(value)) == value
        w.step(entry_id, got_s, value, matches or seq != w.seq + 1)
        problems += w.problems[n:]
    for which, head in ((CHANGE, change_head), (DENIAL, denial_head)):
        w = walks[which]
        w.last_id = last_id
        n = len(w.problems)
        w.finish(head or "", "处置链 changes" if which == CHANGE else "拒绝链 refusals")
        problems += w.problems[n:]
    return walks[CHANGE].checked + walks[DENIAL].checked, legacy, problems


def verify_trails(r: redis.Redis, ids: list[str] | None = None, page: int = 200) -> TrailReport:
    """Check the audit trail of every incident ever opened (``keys.ALL``), or of ``ids``: one
    round trip per ``page`` incidents."""
    rep = TrailReport()
    if ids is None:
        ids = [i for i, _ in r.zscan_iter(keys.ALL, count=1000)]
    for n in range(0, len(ids), page):
        chunk = ids[n:n + page]
        p = r.pipeline(transaction=False)
        for i in chunk:
            p.xrange(keys.audit(i))
            p.hmget(keys.incident(i), CHANGE_HEAD, DENIAL_HEAD)
        res = p.execute()
        for j, i in enumerate(chunk):
            rows, (ch, dh) = res[2 * j], res[2 * j + 1]
            checked, legacy, problems = check_trail(rows, ch or "", dh or "")
            rep.incidents += 1
            rep.checked += checked
            rep.legacy += legacy
            rep.problems += [(i, e, what) for e, what in problems]
    return rep
