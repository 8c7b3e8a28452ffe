"""The hub: ONE Redis reader per web process, fanning incident and alarm changes out to every
open screen (issue 15, "Live under load").

One asyncio task XREAD-BLOCKs ``om:inc:feed``, ``om:alarms`` (the wall's) and the emergency
switch's log (every screen's banner) after its cursor and, for each
batch, works out who may be told: each incident of the batch is read once (one pipelined round
trip) and ``incidents.scope.can_read`` (the same predicate the service asks on every read) is
asked once per distinct Actor among the subscribers. A client is told the ids it may read and
nothing else, so a town's console never learns another town's case ids (S1/S2). A center that
could read a case before this change and cannot now (transferred away) is told that *something*
changed, without the id, so its queue drops the row at once.

A client's notices are coalesced (one pending notice per client, merged) and paced
(``Client.gap_s``): a storm of a thousand feed entries in a second is a handful of events per
screen, each of which makes the screen re-read once. Nothing here ever blocks on a slow client.

Redis going away (a restart) does not end any stream: the reader backs off and reconnects with
its cursor; the clients keep their connections (pings continue) and are told of what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from incidents import feed as incident_feed
from incidents import keys as ik
from incidents import scope
from incidents.actor import Actor
from incidents.incident import Incident
from sensors import keys as sk

log = logging.getLogger(__name__)

BLOCK_MS = 5000            # one XREAD waits this long at most (then loops: stop flag, health)
READ_COUNT = 1000          # most entries one XREAD takes from each stream
MAX_IDS = 50               # ids named in one notice; past this a client just re-reads
REPLAY_MAX = 2000          # feed entries a reconnecting client (Last-Event-ID) is checked against
AUDIENCE_MEMORY = 20000    # incidents whose last audience is remembered (told when it leaves)
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)   # reconnect delays after Redis went away
READ_SLACK_S = 10.0        # a reply may come this long after the block ends (a busy server)

GAPS_S = {"console": 0.2, "wall": 0.5, "m": 1.0}
"""Least time between two events to one client, per screen (s): bounds a screen's re-reads in a
storm; a change still shows within about a second (aim: p95 < 1 s)."""


def _later(a: str, b: str) -> str:
    """The later of two stream ids ('' = none)."""
    if not a:
        return b
    if not b:
        return a
    pa, pb = (tuple(int(x) for x in s.split("-")) for s in (a, b))
    return a if pa >= pb else b


@dataclass
class Notice:
    """What one client is about to be told (merged until sent)."""

    feed: str = ""                        # the hub's feed cursor when this was merged
    alarms: str = ""                      # the hub's alarm cursor (wall only)
    ids: list[str] = field(default_factory=list)   # incidents this client may read that changed
    more: bool = False                    # changes without ids (left its scope / over MAX_IDS)
    em: bool = False                      # 应急模式 switched on or off (every screen's banner)

    def merge(self, other: Notice) -> None:
        self.feed = _later(self.feed, other.feed)
        self.alarms = _later(self.alarms, other.alarms)
        for i in other.ids:
            if i not in self.ids:
                self.ids.append(i)
        if len(self.ids) > MAX_IDS:
            self.ids, self.more = self.ids[-MAX_IDS:], True
        self.more = self.more or other.more
        self.em = self.em or other.em

    def payload(self) -> dict:
        out: dict = {"f": self.feed, "ids": self.ids}
        if self.alarms:
            out["a"] = self.alarms
        if self.more:
            out["more"] = True
        if self.em:
            out["em"] = True
        return out


@dataclass(eq=False)
class Client:
    """One open stream: who, which screen, and its pending notice."""

    actor: Actor
    screen: str
    gap_s: float = 0.2
    pending: Notice | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def wants_alarms(self) -> bool:
        return self.screen == "wall"

    def tell(self, notice: Notice) -> None:
        if self.pending is None:
            self.pending = notice
        else:
            self.pending.merge(notice)
        self.wake.set()

    async def next(self, timeout: float) -> Notice | None:
        """The next notice (after waiting at most ``timeout`` s), or None."""
        if self.pending is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
        self.wake.clear()
        out, self.pending = self.pending, None
        return out


class Hub:
    """The process's one reader of the change streams and its subscribers."""

    def __init__(self, redis_url: str, load_many: Callable[[list[str]], list[Incident]]) -> None:
        """``load_many``: the incident store's batch read (sync; run in a worker thread)."""
        self.redis_url = redis_url
        self.load_many = load_many
        self.clients: set[Client] = set()
        self.cursor = {ik.FEED: "", sk.ALARMS: "", ik.EMERGENCY_LOG: ""}
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._audience: OrderedDict[str, frozenset[Actor]] = OrderedDict()
        self.closing = False
        self._task: asyncio.Task | None = None
        self._r: aredis.Redis | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="live-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._r is not None:
            await self._r.aclose()

    def close_all(self) -> None:
        """End every open stream now (a server stopping in-process: the demo, tests), so the
        server's graceful shutdown finds none left to cancel. Call in the hub's loop."""
        self.closing = True
        for c in self.clients:
            c.wake.set()

    def subscribe(self, actor: Actor, screen: str) -> Client:
        c = Client(actor, screen, GAPS_S.get(screen, 0.5))
        self.clients.add(c)
        return c

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    def cursor_feed(self) -> str:
        """Told up to here in the feed (the id a new stream starts from)."""
        return self.cursor[ik.FEED]

    def cursor_alarms(self) -> str:
        return self.cursor[sk.ALARMS]

    # --- the reader ----------------------------------------------------------------------------
    async def _top(self, r: aredis.Redis, stream: str) -> str:
        got = await r.xrevrange(stream, count=1)
        return got[0][0] if got else "0-0"

    async def run(self) -> None:
        # the read timeout outlasts XREAD BLOCK: redis-py 8 defaults every socket to 5 s, which
        # an idle feed's 5 s block hit each time ("Redis unreachable", a reconnect, a backoff)
        from app.context import connect_async  # noqa: PLC0415 (a cluster's client for its URL)

        self._r = r = connect_async(self.redis_url, decode_responses=True,
                                    socket_connect_timeout=5, socket_keepalive=True,
                                    socket_timeout=BLOCK_MS / 1000 + READ_SLACK_S)
        failures = 0
        while True:
            try:
                for s in self.cursor:
                    if not self.cursor[s]:
                        self.cursor[s] = await self._top(r, s)
                if not self.connected.is_set():
                    self.connected.set()
                got = await r.xread(dict(self.cursor), count=READ_COUNT, block=BLOCK_MS)
                failures = 0
                if got:
                    await self.dispatch(got)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("live: Redis unreachable (%s); reconnecting", exc)
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
            except Exception:  # a bug must not end every screen's push: log it, carry on
                log.exception("live: a batch failed")
                await asyncio.sleep(1.0)

    async def dispatch(self, got: list) -> None:
        """One XREAD batch → the notices of every client."""
        feed_ids: list[str] = []
        alarm_moved = em = False
        for stream, entries in got:
            if not entries:
                continue
            self.cursor[stream] = entries[-1][0]
            if stream == ik.FEED:
                feed_ids += [incident_feed.fields(f).get("id", "") for _eid, f in entries]
            elif stream == sk.ALARMS:
                alarm_moved = True
            else:
                em = True
        if not self.clients:
            return
        feed_ids = list(dict.fromkeys(i for i in feed_ids if i))
        told = await self.audiences(feed_ids) if feed_ids else {}
        fcur, acur = self.cursor[ik.FEED], self.cursor[sk.ALARMS]
        for c in list(self.clients):
            ids = told.get(c.actor, ([], False))
            if c.wants_alarms and (alarm_moved or feed_ids or em):
                c.tell(Notice(fcur, acur, ids[0], ids[1], em))
            elif ids[0] or ids[1] or em:
                c.tell(Notice(fcur, "", ids[0], ids[1], em))

    async def audiences(self, incident_ids: list[str]) -> dict[Actor, tuple[list[str], bool]]:
        """Per distinct subscribed Actor: (ids it may read now, whether a case left its scope)."""
        actors = {c.actor for c in self.clients}
        incs = await asyncio.to_thread(self.load_many, incident_ids)
        out: dict[Actor, tuple[list[str], bool]] = {a: ([], False) for a in actors}
        for inc in incs:
            now = frozenset(a for a in actors if scope.can_read(a, inc) is None)
            before = self._audience.pop(inc.id, frozenset())
            self._audience[inc.id] = now
            for a in now:
                out[a][0].append(inc.id)
            for a in before - now:
                if a in out:
                    out[a] = (out[a][0], True)
        while len(self._audience) > AUDIENCE_MEMORY:
            self._audience.popitem(last=False)
        return out

    async def since(self, actor: Actor, wants_alarms: bool, last_event_id: str) -> Notice | None:
        """What a reconnecting client (``Last-Event-ID``) missed: the feed after its id, filtered
        by its scope; None when nothing of its concern moved."""
        feed_id, _, alarm_id = last_event_id.partition("~")
        r = self._r
        if r is None or not self.connected.is_set():
            return None
        try:
            entries = await r.xrange(ik.FEED, min=f"({feed_id}", max="+", count=REPLAY_MAX)
            alarms = (await r.xrange(sk.ALARMS, min=f"({alarm_id}", max="+", count=1)
                      if wants_alarms and alarm_id else [])
        except (RedisConnectionError, RedisTimeoutError, OSError, ValueError):
            return Notice(self.cursor[ik.FEED], self.cursor[sk.ALARMS] if wants_alarms else "", [], True)
        if not entries and not alarms:
            return None
        ids = list(dict.fromkeys(incident_feed.fields(f).get("id", "") for _e, f in entries))
        incs = await asyncio.to_thread(self.load_many, [i for i in ids if i])
        mine = [i.id for i in incs if scope.can_read(actor, i) is None]
        if not mine and not alarms and len(entries) < REPLAY_MAX:
            return None
        n = Notice(entries[-1][0] if entries else feed_id,
                   alarms[-1][0] if alarms else (alarm_id if wants_alarms else ""), [], False)
        n.merge(Notice(ids=mine, more=len(entries) >= REPLAY_MAX))
        return n



def event_id(notice: Notice) -> str:
    """The SSE ``id:`` of a notice: ``<feed id>`` or ``<feed id>~<alarm id>``."""
    return notice.feed + (f"~{notice.alarms}" if notice.alarms else "")
