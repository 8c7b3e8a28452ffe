"""The unit of work of the incident service (mixed into ``IncidentService``): read (cached), check +
change a copy, commit atomically, retry on a concurrent change (``_mutate``); queue actions and send
them in one round trip (``batch``, ``prefetch``); audit refusals (``_deny``). Features never need
to touch this: they call the service's actions, which come here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from incidents import defaults as D
from incidents.actor import Actor
from incidents.errors import Forbidden, IncidentError, InvalidTransition, KeyReused, NotFound
from incidents.incident import (
    Incident,
)
from incidents.store import (
    Change,
    Commit,
    Stale,
    clone,
)

_MAX_RETRIES = 20

def _idem(kind: str, actor: Actor, key: str | None) -> str | None:
    """A client's idempotency key, kept apart per action and per user: a retry finds its own
    first result, never another user's or another action's (an alarm episode's key is the
    intake's, user SYSTEM, shared by every intake worker)."""
    return f"{kind}:{actor.user_id}:{key}" if key else None


def _unbatched_call(method: Callable) -> Callable:
    """Intake and multi-incident actions run at once even inside ``batch()`` (they branch on
    what the server answers)."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._unbatched():
            return method(self, *args, **kwargs)
    return wrapper


class UnitOfWork:
    """Read-check-commit with retries, batches, refusal audit."""

    def _mutate(self, incident_id: str, actor: Actor, action: str, fn: Callable[[Incident], Any], *,
                reason: str = "", reset_stage: bool = False, idem: str | None = None) -> Incident:
        """Read (cached), check + change with ``fn``, commit atomically; re-read and retry when
        the incident changed meanwhile. A refusal is re-checked on fresh data, then audited.
        Inside ``batch()`` the change is queued instead (and the predicted incident returned)."""
        b = getattr(self._local, "batch", None)
        if b is not None:
            return self._queue(b, incident_id, actor, action, fn, reason, reset_stage, idem)
        fresh = False
        for _ in range(_MAX_RETRIES):
            old, new, task_n = self._check(incident_id, actor, action, fn, fresh=fresh)
            try:
                res = self.store.commit(old, new, actor, action, self.clock(), reason=reason,
                                        task_n=task_n if isinstance(task_n, int) else None,
                                        idem=idem, reset_stage=reset_stage)
            except Stale:
                fresh = True
                continue
            if res.status == "dup":
                # a retry: answered with what the first call made (a concurrent retry of a
                # correlated report may have linked it first); a key of another case: refused
                if res.value != incident_id and action != "correlate":
                    raise KeyReused(idem or "", res.value)
                return self.store.load(res.value)  # type: ignore[return-value]
            return new
        raise Stale(incident_id)

    def _check(self, incident_id: str, actor: Actor, action: str, fn: Callable[[Incident], Any],
               fresh: bool = False, base: Incident | None = None) -> tuple[Incident, Incident, Any]:
        """(old, new, fn's result): ``fn`` applied to a copy; refusals re-checked on fresh data
        (a cached copy may be old), then audited and raised."""
        while True:
            if base is not None:
                old, cached = base, False
            else:
                old, cached = self.store.for_update(incident_id, fresh=fresh)
            if old is None:
                raise NotFound(incident_id)
            new = clone(old)
            try:
                return old, new, fn(new)
            except (Forbidden, InvalidTransition) as exc:
                if cached:
                    fresh = True
                    continue
                now = self.clock()
                if isinstance(exc, Forbidden):
                    self.store.audit_denied(actor, action, exc.reason, incident_id, now)
                raise

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Queue the lifecycle actions called inside (accept, dispatch, handle, verify, close,
        urge, …) and send them in ONE round trip on exit: a console or worker working through a
        queue batch. A long batch is sent in chunks of ~``defaults.BATCH_SEND_EVERY`` while the
        rest is prepared (Redis works in parallel with the caller; replies are read on exit).
        Each action is still checked when called (refusals raise at once) and still runs
        atomically on its own; several actions on one incident are chained so a later
        one never lands if an earlier one did not. Actions the server refused for a concurrent
        change are redone one by one. ``Batch.results`` holds, per queued action, the incident
        or the error. Calls inside return the *predicted* incident. Intake (report,
        assign_task, merge, split) is never batched. Per thread; nested batches join."""
        if getattr(self._local, "batch", None) is not None:
            yield self._local.batch
            return
        b = Batch()
        self._local.batch = b
        try:
            yield b
        finally:
            self._local.batch = None
            self._flush(b)

    def prefetch(self, items: Iterable[Any]) -> int:
        """Read the incidents a queue batch is about in one round trip before working it (with
        ``batch()``: one read + one write round trip per batch instead of one read per incident).
        ``items``: incident ids, or queue entries (``incident_id``/``version``: a cached copy at
        least that new is kept). Returns how many were read. Scope and transitions are still
        checked per action; a copy that turns out old only costs a retry (version check)."""
        wanted: dict[str, int] = {}
        for it in items:
            if isinstance(it, str):
                wanted[it] = 1 << 62        # no version known: always read
            else:
                wanted[it.incident_id] = max(wanted.get(it.incident_id, 0), int(it.version))
        return self.store.prefetch(wanted)

    @contextmanager
    def _unbatched(self) -> Iterator[None]:
        saved = getattr(self._local, "batch", None)
        self._local.batch = None
        try:
            yield
        finally:
            self._local.batch = saved

    def _queue(self, b: Batch, incident_id: str, actor: Actor, action: str, fn: Callable, reason: str,
               reset_stage: bool, idem: str | None) -> Incident:
        prev = b.state.get(incident_id)
        old, new, task_n = self._check(incident_id, actor, action, fn,
                                       base=prev[0] if prev else None)
        change = self.store.prepare(old, new, actor, action, self.clock(), reason=reason,
                                    task_n=task_n if isinstance(task_n, int) else None,
                                    idem=idem, reset_stage=reset_stage,
                                    after_token=prev[1] if prev else None)
        b.items.append(_Queued(incident_id, actor, action, fn, reason, reset_stage, idem, new, change))
        b.state[incident_id] = (new, change.token)
        if len(b.items) - b.sent > D.BATCH_SEND_EVERY:
            self._send_ready(b)
        return new

    def _send_ready(self, b: Batch) -> None:
        """Send the queued changes that no later one can join: all but the trailing run of the
        last incident (its next step, if it comes, shares their script call)."""
        items, end = b.items, len(b.items) - 1
        last = items[end].incident_id
        while end > b.sent and items[end - 1].incident_id == last:
            end -= 1
        if end > b.sent:
            if b.stream is None:
                b.stream = self.store.stream()
            b.stream.send([it.change for it in items[b.sent:end]])
            b.sent = end

    def _flush(self, b: Batch) -> None:
        items, b.items, b.state = b.items, [], {}
        if b.stream is None:      # a small batch: one round trip on the thread's connection
            results = self.store.commit_many([it.change for it in items])
        else:                     # the rest of a streamed one, then every reply
            stream, b.stream, sent, b.sent = b.stream, None, b.sent, 0
            stream.send([it.change for it in items[sent:]])
            results = stream.results()
        redo: set[str] = set()
        for it, res in zip(items, results, strict=True):
            if it.incident_id not in redo and isinstance(res, Commit) and res.status == "ok":
                b.results.append(it.new)
                continue
            redo.add(it.incident_id)   # and every later action on it: they were chained
            try:
                b.results.append(self._mutate(it.incident_id, it.actor, it.action, it.fn,
                                              reason=it.reason, reset_stage=it.reset_stage,
                                              idem=it.idem))
            except IncidentError as exc:
                b.results.append(exc)

    def _ask(self, action: str, actor: Actor, inc: Incident, now: float) -> None:
        """``policy.check`` outside ``_mutate`` (merge, split: several cases): a Forbidden is
        audited as every refusal is."""
        try:
            self.policy.check(action, actor, inc)
        except Forbidden as exc:
            self._deny(actor, action, exc.reason, inc.id, now)

    def _deny(self, actor: Actor, action: str, why: str, incident_id: str | None, now: float):
        self.store.audit_denied(actor, action, why, incident_id, now)
        raise Forbidden(action, actor, why, incident_id)


@dataclass
class Batch:
    """Actions queued by ``IncidentService.batch()``; after the block, ``results`` holds one
    entry per action, in order: the incident after it, or the IncidentError it ended with."""

    items: list = field(default_factory=list)
    state: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    sent: int = 0               # items already sent (a streamed batch: ``_send_ready``)
    stream: Any = None          # its store.CommitStream, once the first chunk is sent

    @property
    def errors(self) -> list[IncidentError]:
        return [r for r in self.results if isinstance(r, Exception)]


@dataclass
class _Queued:
    incident_id: str
    actor: Actor
    action: str
    fn: Callable
    reason: str
    reset_stage: bool
    idem: str | None
    new: Incident
    change: Change
