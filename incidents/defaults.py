"""Tunables of the incidents package, with units. The seeds give NO numbers for deadlines,
correlation or escalation ("Escalation: gap" in seed-requirements §1c): every value below is a
**demo default / assumption**, to be replaced by each deployment's own rules (IncidentConfig).
"""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("一般", "较大", "重大", "特别重大")
"""Severity levels, lowest first (一般/较大/重大/特别重大, the national four-level scheme)."""

MAJOR_SEVERITIES: frozenset[str] = frozenset({"重大", "特别重大"})
"""Severities that route straight to the city center (T3). Assumption: 重大 and above."""

STAGE_SECONDS: dict[str, dict[str, int]] = {
    # stage:     一般         较大        重大       特别重大     (seconds; ASSUMPTION)
    "accept":   {"一般": 600,   "较大": 300,   "重大": 120,  "特别重大": 60},
    "register": {"一般": 1800,  "较大": 900,   "重大": 300,  "特别重大": 120},
    "dispatch": {"一般": 1800,  "较大": 900,   "重大": 300,  "特别重大": 120},
    "handle":   {"一般": 86400, "较大": 28800, "重大": 7200, "特别重大": 3600},
    "verify":   {"一般": 14400, "较大": 7200,  "重大": 3600, "特别重大": 1800},
    "close":    {"一般": 3600,  "较大": 1800,  "重大": 900,  "特别重大": 600},
}
"""Stage deadline by stage × severity, in seconds. Demo default / assumption."""

CATEGORY_DEADLINE_FACTOR: dict[str, float] = {
    "03": 0.5,    # 自然灾害: twice as fast (assumption)
    "04": 0.25,   # 消防安全 (assumption)
    "05": 0.5,    # 安全生产 (assumption)
    "0702": 0.5,  # 交通事故 (assumption)
    "1004": 0.25, # 紧急求助 (assumption)
    "12": 2.0,    # 12345 诉求: working-day pace (assumption)
}
"""Multiplier of STAGE_SECONDS by category-code prefix (longest prefix wins). Assumption."""

WARN_BEFORE_FRACTION = 0.2
"""Warn (预警) when this fraction of the stage time is left. Assumption."""

ESCALATE_AFTER_FRACTION = 0.5
"""Escalate one tier (上报) when overdue by this fraction of the stage time. Assumption."""

CORRELATION: dict[str, tuple[float, float]] = {
    # prefix: (radius metres, window seconds)   ASSUMPTION
    "": (150.0, 7200.0),          # default
    "01": (80.0, 86400.0),        # 城市管理: small things, reported again over a day
    "03": (800.0, 21600.0),       # 自然灾害: flooding covers an area
    "04": (500.0, 7200.0),        # 火灾: many callers see one fire
    "0305": (2000.0, 21600.0),    # 森林火灾
    "0501": (1000.0, 7200.0),     # 危化品泄漏
    "06": (1000.0, 21600.0),      # 生态环境
    "08": (500.0, 7200.0),        # 文旅客流
    "11": (50.0, 86400.0),        # 设备故障: same spot
}
"""Correlation radius/time window by category-code prefix (longest wins). Assumption."""

RELATED_CATEGORIES: tuple[frozenset[str], ...] = (
    frozenset({"0301", "0302", "0306"}),          # 防汛排涝 / 道路积水 / 水位超警
    frozenset({"0401", "0305", "0604", "0402"}),  # 火灾 / 森林火灾 / 秸秆焚烧 / 消防隐患
    frozenset({"0202", "0203"}),                  # 治安隐患 / 人员聚集
    frozenset({"0701", "0702"}),                  # 交通拥堵 / 交通事故
    frozenset({"0203", "0801"}),                  # 人员聚集 / 景区客流超限
)
"""Groups of categories that describe the same real-world event. Assumption."""

ROUTING_RULES: tuple[tuple[str, str, bool], ...] = (
    # (category prefix, owner: territory|line|city, automatic dispatch to the line owner)
    ("11", "territory", True),  # 设备故障: town owns, auto-dispatched to 政数局 (admin-marked)
    ("12", "line", False),   # 12345 诉求 → 12345 热线 center
)
"""Routing rules beyond the defaults (territory owner = town). Assumption; admins edit these."""

SIMILAR_RADIUS_M = 1000.0
"""Radius for 'similar past incidents' suggestions (metres). Assumption."""

SIMILAR_LIMIT = 5
"""How many similar past incidents to suggest."""

IDEMPOTENCY_TTL_S = 7 * 86400
"""How long a client idempotency key is remembered (seconds). A mobile draft older than this may
be created again. Assumption."""

ID_BLOCK = 16
"""Case numbers a service object reserves at a time (one INCRBY per block, not one round trip
per report). Numbers stay unique; across processes they interleave, and a stopped process leaves
the rest of its block unused (gaps), as a cached database sequence does. 1 = strictly
consecutive numbers, at one more round trip per report."""

QUEUE_MAXLEN = 100_000
"""Approximate cap of each center's queue stream (entries); the place zsets are the truth."""

FEED_MAXLEN = 10_000
"""Approximate cap of ``om:inc:feed`` (contract in docs/architecture.md)."""

AUDIT_MAXLEN = 0
"""Audit streams are never trimmed (append-only, E32). 0 = no cap."""

RETENTION_DAYS = 7.0
"""保留期: a closed or voided case leaves Redis this long after its last change, once the record
(PostgreSQL, issue 20) has confirmed it (``incidents.record.retention``). Without a record it
never leaves. Assumption."""

KPI_DURATIONS_KEPT = 2000
"""Recent stage durations kept per center × day × stage for percentiles."""

KPI_DAY_OFFSET_S = 8 * 3600
"""KPI days are China Standard Time days (UTC+8)."""

RECLAIM_IDLE_MS = 30_000
"""A queue entry held this long by a consumer that did not ack is reclaimed (XAUTOCLAIM)."""

DEADLINE_POLL_S = 1.0
"""How often the deadline worker looks for due deadlines (seconds)."""

ALARM_BLOCK_MS = 500
"""How long the alarm intake blocks on XREADGROUP (milliseconds)."""

BATCH_SEND_EVERY: int = 32
"""A batch (``IncidentService.batch``) sends its prepared changes in chunks of about this many
while it prepares the rest, so Redis runs them in parallel with the client (a backlog of a
thousand steps no longer makes the client wait for all of them at the end). Measured, not
assumed: bench/README.md."""

MERGE_RADIUS_M = 500.0
"""合并: open cases within this distance are offered to be folded into the one on screen.
Demo default (an operator merges what the correlation window did not join)."""

# --- situations, recovery and machine deadlines (issue 15, "the bad day") ----------------------

SITUATION_FAMILIES: dict[str, dict] = {
    # family: categories (prefixes) whose alarms and machine cases describe ONE real event in one
    # area, the area ("town": same town; "radius": within radius_m of the situation), the window
    # (s since the situation's last source), a label and city_towns (town areas: this many towns
    # with a situation of the family within the window fold into one city situation; 0 never). ASSUMPTION (a deployment's [incidents]
    # situations table replaces these).
    "flood": {"label": "内涝/汛情", "categories": ["0301", "0302", "0304", "0306"],
              "area": "town", "radius_m": 3000.0, "window_s": 6 * 3600.0,
              # weather is city-wide: rain over 3 towns within the window is one city situation
              # (全市态势), not one per town each escalated to the city (issue 15, make demo)
              "city_towns": 3},
    "fire": {"label": "火情", "categories": ["0401", "0402"],
             "area": "radius", "radius_m": 500.0, "window_s": 2 * 3600.0},
    "outage": {"label": "设备故障", "categories": ["11"],
               "area": "town", "radius_m": 5000.0, "window_s": 2 * 3600.0},
}
"""Situation (态势/事件群) families. Assumption."""

MACHINE_CHANNELS: frozenset[str] = frozenset({"iot", "video_ai", "device_fault"})
"""Channels whose reports are alarms (a machine case): situations, recovery, machine deadlines."""

HUMAN_CHANNELS: frozenset[str] = frozenset({"grid_worker", "hotline", "walk_in", "api", "external"})
"""Channels of a person's report: correlated into a situation, never swallowed (its owner is told)."""

CHANNEL_MIN_STAGE_SECONDS: dict[str, dict[str, int]] = {
    # channel: stage → the least time it gets (s), whatever its severity and category factor.
    # A machine case at 重大 would get 2 min × 0.5 to accept: every one overdue at once in a
    # storm. ASSUMPTION.
    "iot": {"accept": 900, "register": 1800, "dispatch": 1800},
    "video_ai": {"accept": 900, "register": 1800, "dispatch": 1800},
    "device_fault": {"accept": 3600, "register": 3600, "dispatch": 3600},
}
"""Floors of the pre-dispatch deadlines of machine channels, in seconds. Assumption."""

RECOVERY_QUIET_S = 900.0
"""A machine case whose every source has cleared (已恢复) and that no person touched closes as
自动恢复 after this quiet period (s). Assumption."""

ESCALATION_LIMIT = 5
"""Automatic escalations (上报 by the deadline worker) per center per ``ESCALATION_WINDOW_S``; the
rest wait (re-armed) and are summarised in one notice ("N more cases overdue"). Assumption."""

ESCALATION_WINDOW_S = 600.0
"""The window of ``ESCALATION_LIMIT`` (s). Assumption."""

NOTICES_MAXLEN = 10_000
"""Approximate cap of ``om:inc:notices`` (new human sources, escalation summaries)."""

# --- duty roster and notifications (issue 17: 值班值守, escalation until acknowledged) ------------

DUTY_MAX_SHIFT_S = 48 * 3600
"""The longest shift a roster may hold (seconds): bounds the look-back of ``on_duty``. Assumption."""

NOTIFY_ACK_MINUTES: dict[str, dict[str, float]] = {
    # category prefix: {severity: minutes to acknowledge before the next person}   ASSUMPTION
    "":   {"一般": 30.0, "较大": 15.0, "重大": 10.0, "特别重大": 5.0},
    "03": {"一般": 15.0, "较大": 10.0, "重大": 5.0, "特别重大": 3.0},   # 自然灾害
    "04": {"一般": 10.0, "较大": 5.0, "重大": 3.0, "特别重大": 2.0},    # 消防安全
}
"""Escalation (升级): a priority notification not acknowledged within this many minutes goes to
the next person of the chain. By category prefix (longest wins) × severity. Demo default."""

NOTIFY_CHAIN: tuple[str, ...] = ("officer", "chief", "leader", "upper")
"""The escalation chain: step 0 the on-duty 值班员, then 值班长, 带班领导, the upper center's watch
(its 值班长 and 带班领导). Assumption (值班长 → 带班领导 → 上级值班, issue 17)."""

NOTIFY_PRIORITY_SEVERITIES: frozenset[str] = frozenset({"较大", "重大", "特别重大"})
"""A case of these severities (or priority 1) is a priority notification: copied to the leader on
duty, escalated until acknowledged, never held by quiet hours or rate limits. Assumption."""

NOTIFY_CHANNELS: dict[str, tuple[str, ...]] = {
    "一般": ("inapp",), "较大": ("inapp", "email"),
    "重大": ("inapp", "email", "sms"), "特别重大": ("inapp", "email", "sms"),
}
"""Channels a new-work notification goes out on, by severity. Assumption."""

NOTIFY_QUIET_HOURS: tuple[int, int] = (22, 7)
"""Quiet hours (UTC+8, [start, end) hours): non-priority SMS/e-mail wait until they end; in-app
always goes. A person's contact may set their own. Assumption."""

NOTIFY_RATE_LIMIT: tuple[int, float] = (10, 600.0)
"""Per person: at most this many non-priority external (SMS/e-mail) sends per window (s); more
wait for the next window (none is dropped). Assumption."""

NOTIFY_RETRY_S: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0)
"""Backoff of the outbox between attempts of a failing channel (s); after the last, the delivery
is given up and kept in the failed stream with its reason. Assumption."""

NOTIFY_RECLAIM_IDLE_MS = 60_000
"""An outbox entry held this long by a notifier that did not ack (killed) is taken over."""

NOTIFY_DEDUP_DAYS = 7
"""A triple (event, person, channel) queued again within this many days creates nothing (the
dedup sets are per day and expire after it). Re-reads of the feed and escalation retries come
within minutes. Assumption."""

NOTIFY_KEEP_S = 30 * 86400
"""A finished delivery's record (sent, failed, skipped) and an ended chain are kept this long
(seconds); the audit stream keeps its own history. Assumption."""

# --- 信息报送 (information reports upward, issue 17) ----------------------------------------------
REPORT_UP_SEVERITIES: frozenset[str] = frozenset({"较大", "重大", "特别重大"})
"""Cases of these severities are reported upward (首报/续报/终报): 较大 and above. Demo default
(configurable: ``UpwardReports(severities=...)``)."""
REPORT_UP_FIRST_DUE_S: dict[str, float] = {"较大": 3600.0, "重大": 1800.0, "特别重大": 1800.0}
"""首报 due this long after acceptance (受理): 30 minutes for 重大/特别重大, an hour for 较大.
Demo default, labelled as such on the screens."""
REPORT_UP_UPDATE_DUE_S = 3600.0
"""A 续报 asked for is due within an hour. Demo default."""
REPORT_UP_FINAL_DUE_S = 3600.0
"""终报 due an hour after closure (结案). Demo default."""

# --- 12345: 回访 and 好差评 (issue 24: E4, E10, E35, E36, E52) --------------------------------------
CALLBACK_WORKING_DAYS = 2
"""回访 is due by the end (24:00, UTC+8) of the Nth working day after 结案 (按时反馈回访, E4):
weekends are skipped, and a deployment's 法定节假日/调休 lists (``[hotline]``). Demo default."""
CALLBACK_CHANNELS: tuple[str, ...] = ("hotline", "walk_in")
"""The channels whose cases are called back after 结案: the public's own reports (12345, 来访)."""
EVALUATION_TTL_S = 7 * 86400.0
"""A citizen's 好差评 link works this long after it is sent (seconds), once. Demo default."""
RATE_TARGETS: dict[str, tuple[float, bool]] = {
    "callback_rate": (1.0, True), "callback_on_time_rate": (1.0, True),
    "evaluation_rate": (0.6, False), "satisfied_rate": (0.9, False), "response_rate": (1.0, True)}
"""Each 12345 rate's target and whether it is binding (约束性, True) or expected (预期性): 100 %
callback and response (E52: 处理率/响应率 100 %); the evaluation and satisfaction targets are
demo assumptions, set per deployment in ``[hotline] targets``."""
