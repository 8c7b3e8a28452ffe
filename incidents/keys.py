"""Redis key names of the incidents package (and only here). Every key starts with ``om:inc:``
(``om:{<city>}:inc:`` on a tagged keyspace: Redis Cluster, several cities; ``grid/keyspace.py``).

Layout (see docs/incidents.md):

- ``om:inc:{id}``                 hash: the incident (fields of ``incidents.incident.Incident``)
- ``om:inc:audit:{id}``           stream: append-only audit trail of one incident (E32)
- ``om:inc:q:{center}``           stream: the dispatch queue of one center (consumer group ``ops``)
- ``om:inc:place:{place}``        zset: work items (incident ids / ``id#n`` sub-tasks) at a place;
                                  places are ``q:<center>`` (waits in that center's queue),
                                  ``x:<center>`` (out with handlers, supervised by that center),
                                  ``h:<center|worker>`` (a sub-task with its handler)
- ``om:inc:open``                 zset: open incident id → queue score (priority first, then age)
- ``om:inc:all``                  zset: every incident id → created ts
- ``om:inc:town:{town}``          zset: open incidents of a town's territory (块), queue score
- ``om:inc:involved:{center}``    zset: incidents a center ever owned/handled/reported, and a
                                  town's: every incident of its territory → ts
- ``om:inc:by:{user}``            zset: incidents reported by / assigned to a user
- ``om:inc:geo``                  geo set: open incidents (correlation, nearby)
- ``om:inc:geo:hist``             geo set: every incident (similar past incidents)
- ``om:inc:due``                  zset: the next deadline event of each open incident,
                                  ``id|stage|phase`` → fire time
- ``om:inc:overdue:{center}``     zset: open incident → stage due ts, per owning center
- ``om:inc:idem:{key}``           string: client idempotency key → incident id
- ``om:inc:seq``                  counter for ids
- ``om:inc:emergency``            hash: emergency mode (area GeoJSON, until, by, since)
- ``om:inc:emergency:v``          counter: bumped on every switch (intake guards on it)
- ``om:inc:emergency:log``        stream: emergency mode switched on/off (who, when, why)
- ``om:inc:kpi:{center}:{day}``   hash: KPI counters of a center for a day (UTC+8)
- ``om:inc:kpid:{center}:{day}:{stage}`` list: recent stage durations (s), capped
- ``om:inc:kpidays:{center}``, ``om:inc:kpicenters``  sets: which buckets exist
- ``om:inc:feed``                 stream: incident changes (contract in docs/architecture.md)
- ``om:inc:denied``               stream: refused attempts on unknown incidents
- ``om:inc:recover``              zset: 已恢复 machine cases → when they close as 自动恢复
- ``om:inc:notices``              stream: notices for owners (a person's report joined a machine
                                  case or situation; "N more cases overdue" escalation summaries)
- ``om:inc:notices:read:{user}``   set: the notices (stream ids) a user marked read (已读)
- ``om:inc:esclimit:{center}:{n}`` counter: automatic escalations of a center in window n
- ``om:inc:plans``                hash: 预案 id → its current version number (issue 16)
- ``om:inc:plan:{id}:{n}``        string: version n of a plan (JSON: the plan, who, when, what changed)
- ``om:inc:plan:{id}:log``        stream: a plan's versions (who imported/edited what, when)
- ``om:inc:resp:seq``             counter for response (应急响应) ids
- ``om:inc:resp:{aid}``           hash: one response (plan, version, level, territory, commander, state)
- ``om:inc:resp:{aid}:tasks``     hash: ``level|unit|n`` → a member unit's task (its 上情下达 case id)
- ``om:inc:resp:{aid}:log``       stream: the response's audit (启动, 调级, 接管, 终止 + summary)
- ``om:inc:resp:active``          zset: active responses → activation ts
- ``om:inc:resp:all``             zset: every response → activation ts
- ``om:inc:ex:…``                 the same response keys for 推演 (exercise, X3): a separate
                                  namespace; an exercise's tasks never become cases
- ``om:inc:ex:run:{eid}``         hash: one 推演 run (plan, scenario, town, its response, state);
  ``…:log`` stream: its events in order (the replay); ``…:res`` hash: the COPY of the resource
  register it dispatches from (rid → JSON state); ``…:seq``/``…:all`` its ids (exercise.py)
- ``om:inc:idem:report:system:situation:{family}:{area}:{n}``  string: the open situation of a
                                  family in an area for window n (an idempotency key: one
                                  situation however many intake workers race)
- ``om:inc:duty:shifts:{center}``  hash: shift id → shift JSON (值班值守: center, start, end,
                                  members by duty role) (X34a)
- ``om:inc:duty:starts:{center}``  zset: shift id → start ts (who is on duty at a moment)
- ``om:inc:duty:log:{center}``     stream: roster changes of a center (import, swap, leave,
                                  handover note, acknowledgement), who and when
- ``om:inc:duty:handover:{center}`` hash: shift id → handover JSON (交接班: note, carried items,
                                  acknowledgement)
- ``om:inc:duty:reports:{center}`` zset: pending information reports (信息报送) of a center →
                                  due ts (carried by the handover)
- ``om:inc:notify:outbox``         stream: deliveries to send (consumer group ``notify``)
- ``om:inc:notify:dedup:{day}``    set: ``event|person|channel`` put in the outbox on that day
                                  (epoch day; kept NOTIFY_DEDUP_DAYS + 1 days): at most one
                                  delivery per triple within the window
- ``om:inc:notify:d:{did}``        hash: one delivery (event, person, channel, status, attempts)
- ``om:inc:notify:later``          zset: deferred deliveries (retry backoff, quiet hours, rate
                                  limit) → when to send
- ``om:inc:notify:chain:{event}``  hash: an escalation chain (step, center, acked by)
- ``om:inc:notify:esc``            zset: chain event → when its next step is due
- ``om:inc:notify:audit``          stream: every send attempt, result and acknowledgement
- ``om:inc:notify:failed``         stream: deliveries given up (reason kept for operators)
- ``om:inc:notify:rate:{person}:{n}`` counter: external sends to a person in rate window n
- ``om:inc:notify:contacts``       hash: person id → contact JSON (phone, email, quiet hours)
- ``om:inc:notify:inbox:{user}``   stream: a user's in-app notifications (the screens read it)
- ``om:inc:notify:inbox:seen:{user}`` set: delivery ids already in that inbox (no double entry)
- ``om:inc:cb:{id}``                hash: a case's 回访 record (incidents/callback.py, issue 24)
- ``om:inc:cb:q:{center}``         zset: a center's (``W<cell>``: a grid worker's) 回访待办 → due ts
- ``om:inc:cb:due``, ``om:inc:cb:all`` zsets: callbacks not yet urged → due ts; every record → 结案 ts
- ``om:inc:eval:{id}``, ``om:inc:eval:link:{sha256}`` hashes: a case's 好差评 and its one-time link
- ``om:inc:cti:{call}``, ``om:inc:cti:drafts:{center}`` a 12345 call's draft; a center's open drafts
"""

from __future__ import annotations

from grid import keyspace as _ks

QUEUE_GROUP = "ops"
ALARMS_GROUP = "intake"
ARCHIVE_GROUP = "archive"    # consumer group of the record's archiver on FEED (incidents/record)


def incident(incident_id: str) -> str:
    return f"{_ks.city()}inc:{incident_id}"


def audit(incident_id: str) -> str:
    return f"{_ks.city()}inc:audit:{incident_id}"


def queue(center: str) -> str:
    """The dispatch-queue stream of a center (或 a grid worker ``W<cell>``)."""
    return f"{_ks.city()}inc:q:{center}"


def place(place_code: str) -> str:
    return f"{_ks.city()}inc:place:{place_code}"


def town(town_code: str) -> str:
    return f"{_ks.city()}inc:town:{town_code}"


def involved(center: str) -> str:
    return f"{_ks.city()}inc:involved:{center}"


def by_user(user_id: str) -> str:
    return f"{_ks.city()}inc:by:{user_id}"


def notices_read(user_id: str) -> str:
    """The notices (``NOTICES`` stream ids) a user marked read (已读)."""
    return f"{_ks.city()}inc:notices:read:{user_id}"


def overdue(center: str) -> str:
    return f"{_ks.city()}inc:overdue:{center}"


def idem(key: str) -> str:
    return f"{_ks.city()}inc:idem:{key}"


def kpi(scope: str, day: str) -> str:
    return f"{_ks.city()}inc:kpi:{scope}:{day}"


def kpi_durations(scope: str, day: str, stage: str) -> str:
    return f"{_ks.city()}inc:kpid:{scope}:{day}:{stage}"


def kpi_centers() -> str:
    """Set of centers that have KPI counters."""
    return _ks.city() + "inc:kpicenters"


def kpi_days(scope: str) -> str:
    """Set of days (yyyymmdd) for which a scope has KPI buckets."""
    return f"{_ks.city()}inc:kpidays:{scope}"


def escalation_limit(center: str, window: int) -> str:
    """Counter of a center's automatic escalations in rate window ``window``."""
    return f"{_ks.city()}inc:esclimit:{center}:{window}"


# --- duty roster (值班值守, incidents/duty.py) and notifications (incidents/notify/) -----------

NOTIFY_GROUP = "notify"
NOTIFY_FEED_GROUP = "notify"     # the notifier's consumer group on FEED (new work → on-duty)


def duty_shifts(center: str) -> str:
    return f"{_ks.city()}inc:duty:shifts:{center}"


def duty_starts(center: str) -> str:
    return f"{_ks.city()}inc:duty:starts:{center}"


def duty_log(center: str) -> str:
    return f"{_ks.city()}inc:duty:log:{center}"


def duty_handover(center: str) -> str:
    return f"{_ks.city()}inc:duty:handover:{center}"


def duty_reports(center: str) -> str:
    return f"{_ks.city()}inc:duty:reports:{center}"


def notify_dedup(day: int) -> str:
    """The dedup set of the triples queued on epoch day ``day``."""
    return f"{_ks.city()}inc:notify:dedup:{day}"


def notify_delivery(did: str) -> str:
    return f"{_ks.city()}inc:notify:d:{did}"


def notify_chain(event: str) -> str:
    return f"{_ks.city()}inc:notify:chain:{event}"


def notify_rate(person: str, window: int) -> str:
    return f"{_ks.city()}inc:notify:rate:{person}:{window}"


def notify_inbox(user_id: str) -> str:
    return f"{_ks.city()}inc:notify:inbox:{user_id}"


def notify_inbox_seen(user_id: str) -> str:
    return f"{_ks.city()}inc:notify:inbox:seen:{user_id}"


# --- 预案 and 应急响应 (issue 16) -----------------------------------------------------------------


def plan_version(plan_id: str, n: int) -> str:
    return f"{_ks.city()}inc:plan:{plan_id}:{n}"


def plan_log(plan_id: str) -> str:
    return f"{_ks.city()}inc:plan:{plan_id}:log"


def response_ns(exercise: bool) -> str:
    """The prefix of response keys: real (``om:inc:resp:``) or 推演 (``om:inc:ex:resp:``)."""
    return _ks.city() + ("inc:ex:resp:" if exercise else "inc:resp:")


def response(aid: str, exercise: bool = False) -> str:
    return f"{response_ns(exercise)}{aid}"


def response_tasks(aid: str, exercise: bool = False) -> str:
    return f"{response_ns(exercise)}{aid}:tasks"


def response_log(aid: str, exercise: bool = False) -> str:
    return f"{response_ns(exercise)}{aid}:log"


def responses_active(exercise: bool = False) -> str:
    return f"{response_ns(exercise)}active"


def responses_all(exercise: bool = False) -> str:
    return f"{response_ns(exercise)}all"


def response_seq(exercise: bool = False) -> str:
    return f"{response_ns(exercise)}seq"


# --- 推演 runs (incidents/emergency/exercise.py, issue 16, X3): never the real keys -------------


def exercise(eid: str) -> str:
    """hash: one 推演 run (plan, scenario, town, its exercise response, state, the picture)."""
    return f"{_ks.city()}inc:ex:run:{eid}"


def exercise_log(eid: str) -> str:
    """stream: the run's events in order (copy, alarms, suggestion, activation, dispatch, end)."""
    return f"{_ks.city()}inc:ex:run:{eid}:log"


def exercise_resources(eid: str) -> str:
    """hash: the run's copy of the resource register (rid → JSON {state, avail, usable})."""
    return f"{_ks.city()}inc:ex:run:{eid}:res"


# --- 信息报送 (首报/续报/终报, incidents/reports_upward.py, issue 17) ----------------------------


def report_up(rid: str) -> str:
    """hash: one information report (kind, incident, center, fields, status, approval)."""
    return f"{_ks.city()}inc:upreport:{rid}"


def reports_up_of(incident_id: str) -> str:
    """zset: an incident's information reports → created ts."""
    return f"{_ks.city()}inc:upreport:of:{incident_id}"


# --- 上报省平台 exchange (incidents/exchange.py, issue 18; T30–T36, SEC42–SEC46) ----------------
EXCHANGE_GROUP = "exchange"                 # the rules' consumer group on FEED and REPORTS_UP_OUTBOX


def exchange_item(key: str) -> str:
    """hash: one outbound item (key, incident, seq, kind, payload, state, attempts, next_ts, reason)."""
    return f"{_ks.city()}inc:xchg:item:{key}"


def exchange_queue(incident_id: str) -> str:
    """list: an incident's undelivered item keys, oldest first (the head is the one in flight)."""
    return f"{_ks.city()}inc:xchg:q:{incident_id}"


def exchange_nonce(key_id: str, nonce: str) -> str:
    """string (with TTL): an inbound request's nonce, seen once within the timestamp window."""
    return f"{_ks.city()}inc:xchg:nonce:{key_id}:{nonce}"


# --- 12345: 回访 and 好差评 (incidents/callback.py, incidents/evaluation.py, issue 24) -------------
CALLBACK_GROUP = "callback"                  # the callback desk's consumer group on FEED


def callback(incident_id: str) -> str:
    """hash: a case's 回访 record (center, cell, closed_ts, due_ts, status, done_ts, score, …)."""
    return f"{_ks.city()}inc:cb:{incident_id}"


def callback_queue(center: str) -> str:
    """zset: a center's 回访待办 (case id → due ts); ``W<cell>``: a grid worker's cell."""
    return f"{_ks.city()}inc:cb:q:{center}"


def evaluation_link(token_hash: str) -> str:
    """hash: a 好差评 link (case id, expires, used): by the SHA-256 of its token."""
    return f"{_ks.city()}inc:eval:link:{token_hash}"


def evaluation(incident_id: str) -> str:
    """hash: a case's citizen evaluation (score, comment, ts); also its link's state (sent)."""
    return f"{_ks.city()}inc:eval:{incident_id}"


def cti_call(call_id: str) -> str:
    """hash: an incoming 12345 call from the CTI (number, recording, center, draft state)."""
    return f"{_ks.city()}inc:cti:{call_id}"


def cti_drafts(center: str) -> str:
    """zset: a center's open call drafts (call id → ts)."""
    return f"{_ks.city()}inc:cti:drafts:{center}"

# The constant names, spelled at each access under the current city (grid/keyspace.py):
# ``keys.OPEN`` is ``om:inc:open`` untagged, ``om:{<city>}:inc:open`` tagged.
_CITY_NAMES = {
    "PREFIX": "inc:",
    "SEQ": "inc:seq",
    "OPEN": "inc:open",
    "ALL": "inc:all",
    "GEO": "inc:geo",
    "GEO_HIST": "inc:geo:hist",
    "DUE": "inc:due",
    "FEED": "inc:feed",
    "EMERGENCY": "inc:emergency",
    "EMERGENCY_LOG": "inc:emergency:log",
    "EMERGENCY_VERSION": "inc:emergency:v",
    "DENIED": "inc:denied",
    "RECOVER": "inc:recover",
    "NOTICES": "inc:notices",
    "ALARMS": "alarms",  # owned by sensors; named in docs/architecture.md
    "NOTIFY_OUTBOX": "inc:notify:outbox",
    "NOTIFY_LATER": "inc:notify:later",
    "NOTIFY_ESC": "inc:notify:esc",
    "NOTIFY_AUDIT": "inc:notify:audit",
    "NOTIFY_FAILED": "inc:notify:failed",
    "NOTIFY_CONTACTS": "inc:notify:contacts",
    "PLANS": "inc:plans",
    "EXERCISE_SEQ": "inc:ex:run:seq",
    "EXERCISES": "inc:ex:run:all",  # zset: exercise id → start ts
    "REPORTS_UP_DUE": "inc:upreport:due",  # zset: report id → due ts (drafts not yet sent)
    "REPORTS_UP_OUTBOX": "inc:upreport:outbox",  # stream: approved reports "sent" to the upper platform
    "EXCHANGE_READY": "inc:xchg:ready",  # zset: incident id → next attempt ts of its queue's head
    "EXCHANGE_ITEMS": "inc:xchg:items",  # zset: item key → created ts (every item, newest listed)
    "EXCHANGE_STATS": "inc:xchg:stats",  # hash: enqueued, delivered, failures, gave_up, backlog, inbound…
    "EXCHANGE_SEQ": "inc:xchg:seq",  # hash: incident id → last item seq (order per incident)
    "EXCHANGE_LAST_STATE": "inc:xchg:laststate",  # hash: incident id → last state sent up
    "CALLBACK_DUE": "inc:cb:due",  # zset: case id → 回访 due ts (not yet urged)
    "CALLBACK_ALL": "inc:cb:all",  # zset: case id → 结案 ts (every case called back or due)
}
__getattr__ = _ks.lazy_names(globals(), _CITY_NAMES)
