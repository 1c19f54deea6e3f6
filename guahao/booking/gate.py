"""The booking gate: a count of the free platform slots of each schedule, asked before any
database work, so that a crowd at release time reaches the database only as often as there are
slots to give.

A hold first takes a ticket (``take``: one atomic step that lowers the count if it is above
zero). No ticket: the schedule is sold out, answered with the alternatives kept beside it and
no database work. A ticket: the hold goes on to the database, which alone decides (the slot is
taken by a conditional update, never by the gate); a hold refused for another reason gives its
ticket back (``give``).

The count is (re)loaded from the database (``load``): when it is unknown (first ask, expired),
when the two disagree (a ticket that found no slot), whenever a slot is given back (a hold
released or expired, a registration cancelled, a slot freed by the HIS: ``slot_freed``), and
by the periodic job (``rebuild``) for every schedule still to come. A load counts in the
database and then stores the count only if no slot was given back meanwhile (a generation
number per schedule), so a slow load never hides a slot a faster one saw. A count that is too
high only sends a few more requests to the database; one that is too low is never kept longer
than the next give-back, the next hold expiry (a sold-out count lives until the earliest live
hold of the schedule runs out) or the next periodic rebuild.

With ``REDIS_URL`` the counts are in Redis (Lua scripts, shared by every web process).
Without it they are in-process and live ``LOCAL_SECONDS``: other processes change the same
database, so each process re-reads it that often.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q

from guahao.core import cache as request_cache
from guahao.core import clock, ratelimit
from guahao.scheduling.models import Pool, Schedule, ScheduleStatus, Slot, SlotState

TAKEN, SOLD_OUT, UNKNOWN, RATE_LIMITED = 1, 0, -1, -2
SHARED_SECONDS = 600
LOCAL_SECONDS = 2
ALTERNATIVES_SECONDS = 10

# KEYS: count, earliest expiry of a live hold (epoch seconds), the asker's attempts counter.
# ARGV: now (epoch seconds), attempts allowed per window (0: no limit), window (seconds).
# The attempt is counted first (a client over its limit is refused whatever is left); a
# sold-out count whose earliest hold has run out is not believed: that slot is free but for
# the sweep, and the database path expires it.
TAKE = """
if tonumber(ARGV[2]) > 0 then
  local a = redis.call('INCR', KEYS[3])
  if a == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]) + 1) end
  if a > tonumber(ARGV[2]) then return -2 end
end
local n = redis.call('GET', KEYS[1])
if not n then return -1 end
if tonumber(n) <= 0 then
  local e = redis.call('GET', KEYS[2])
  if e and tonumber(e) <= tonumber(ARGV[1]) then return -1 end
  return 0
end
redis.call('DECR', KEYS[1])
return 1
"""
PEEK = """
local n = redis.call('GET', KEYS[1])
if not n then return -1 end
if tonumber(n) <= 0 then
  local e = redis.call('GET', KEYS[2])
  if e and tonumber(e) <= tonumber(ARGV[1]) then return -1 end
end
return tonumber(n)
"""
GIVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCR', KEYS[1]) end
return 1
"""
# KEYS: count, expiry. ARGV: expiry (epoch seconds).
HELD = """
local e = redis.call('GET', KEYS[2])
if not e or tonumber(e) > tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'EX', 86400) end
return 1
"""
# KEYS: count, generation, expiry. ARGV: the count, the generation read before counting,
# seconds to keep it, the earliest expiry of a live hold ('' for none).
LOAD = """
local g = redis.call('GET', KEYS[2]) or '0'
if g ~= ARGV[2] then redis.call('DEL', KEYS[1]) return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[4] == '' then redis.call('DEL', KEYS[3]) else redis.call('SET', KEYS[3], ARGV[4], 'EX', 86400) end
return 1
"""


@dataclass(frozen=True)
class Attempts:
    """A client's attempts, counted in the same step as the ticket: ``limit`` per ``window``."""

    key: str
    limit: int
    window: int

    def bucket(self, now: float) -> str:
        return f"guahao:rl:{self.key}:{int(now) // self.window}"


class _Store(Protocol):
    def take(self, schedule_id: int, now: float, attempts: Attempts | None = None) -> int: ...
    def give(self, schedule_id: int) -> None: ...
    def held(self, schedule_id: int, expires: float, pipe: Any = None) -> None: ...
    def generation(self, schedule_id: int) -> int: ...
    def next_generation(self, schedule_id: int) -> None: ...
    def store(self, schedule_id: int, count: int, generation: int, seconds: int, expiry: float | None) -> bool: ...
    def peek(self, schedule_id: int, now: float) -> int | None: ...
    def forget(self, schedule_id: int) -> None: ...


class _RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._take = self.client.register_script(TAKE)
        self._peek = self.client.register_script(PEEK)
        self._give = self.client.register_script(GIVE)
        self._held = self.client.register_script(HELD)
        self._load = self.client.register_script(LOAD)

    @staticmethod
    def _keys(schedule_id: int) -> list[str]:
        return [f"guahao:gate:{schedule_id}", f"guahao:gate:gen:{schedule_id}", f"guahao:gate:exp:{schedule_id}"]

    def take(self, schedule_id: int, now: float, attempts: Attempts | None = None) -> int:
        count, _, expiry = self._keys(schedule_id)
        if attempts is None:
            return int(self._take(keys=[count, expiry, count], args=[now, 0, 0]))
        keys = [count, expiry, attempts.bucket(now)]
        return int(self._take(keys=keys, args=[now, attempts.limit, attempts.window]))

    def peek(self, schedule_id: int, now: float) -> int | None:
        count, _, expiry = self._keys(schedule_id)
        got = int(self._peek(keys=[count, expiry], args=[now]))
        return None if got < 0 else got

    def give(self, schedule_id: int) -> None:
        self._give(keys=self._keys(schedule_id)[:1])

    def held(self, schedule_id: int, expires: float, pipe: Any = None) -> None:
        count, _, expiry = self._keys(schedule_id)
        if pipe is None:
            self._held(keys=[count, expiry], args=[expires])
        else:
            request_cache.script(pipe, self._held, keys=[count, expiry], args=[expires])

    def generation(self, schedule_id: int) -> int:
        return int(self.client.get(self._keys(schedule_id)[1]) or 0)

    def next_generation(self, schedule_id: int) -> None:
        key = self._keys(schedule_id)[1]
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 86400)
        pipe.execute()

    def store(self, schedule_id: int, count: int, generation: int, seconds: int, expiry: float | None) -> bool:
        args = [count, generation, max(1, seconds), "" if expiry is None else expiry]
        return bool(self._load(keys=self._keys(schedule_id), args=args))

    def forget(self, schedule_id: int) -> None:
        self.client.delete(self._keys(schedule_id)[0])


class _LocalStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[int, tuple[int, float]] = {}
        self.generations: dict[int, int] = {}
        self.expiries: dict[int, float] = {}

    def _live(self, schedule_id: int, now: float | None = None) -> int | None:
        entry = self.counts.get(schedule_id)
        if entry is None or entry[1] <= time.monotonic():
            self.counts.pop(schedule_id, None)
            return None
        if entry[0] <= 0 and now is not None and self.expiries.get(schedule_id, now + 1) <= now:
            return None
        return entry[0]

    def take(self, schedule_id: int, now: float, attempts: Attempts | None = None) -> int:
        if attempts is not None and not ratelimit.allow(
            attempts.key, limit=attempts.limit, window_seconds=attempts.window
        ):
            return RATE_LIMITED
        with self.lock:
            n = self._live(schedule_id, now)
            if n is None:
                return UNKNOWN
            if n <= 0:
                return SOLD_OUT
            self.counts[schedule_id] = (n - 1, self.counts[schedule_id][1])
            return TAKEN

    def peek(self, schedule_id: int, now: float) -> int | None:
        with self.lock:
            return self._live(schedule_id, now)

    def give(self, schedule_id: int) -> None:
        with self.lock:
            n = self._live(schedule_id)
            if n is not None:
                self.counts[schedule_id] = (n + 1, self.counts[schedule_id][1])

    def held(self, schedule_id: int, expires: float, pipe: Any = None) -> None:
        with self.lock:
            if self.expiries.get(schedule_id, expires + 1) > expires:
                self.expiries[schedule_id] = expires

    def generation(self, schedule_id: int) -> int:
        with self.lock:
            return self.generations.get(schedule_id, 0)

    def next_generation(self, schedule_id: int) -> None:
        with self.lock:
            self.generations[schedule_id] = self.generations.get(schedule_id, 0) + 1

    def store(self, schedule_id: int, count: int, generation: int, seconds: int, expiry: float | None) -> bool:
        with self.lock:
            if self.generations.get(schedule_id, 0) != generation:
                self.counts.pop(schedule_id, None)
                return False
            self.counts[schedule_id] = (count, time.monotonic() + min(seconds, LOCAL_SECONDS))
            if expiry is None:
                self.expiries.pop(schedule_id, None)
            else:
                self.expiries[schedule_id] = expiry
            return True

    def forget(self, schedule_id: int) -> None:
        with self.lock:
            self.counts.pop(schedule_id, None)

    def clear(self) -> None:
        with self.lock:
            self.counts.clear()
            self.generations.clear()
            self.expiries.clear()


_store: _Store | None = None
_store_url: str | None = None


def store() -> _Store:
    """Redis when REDIS_URL is set, in-process otherwise (made again when the setting changes)."""
    global _store, _store_url
    url = settings.REDIS_URL or ""
    if _store is None or _store_url != url:
        _store = _RedisStore(url) if url else _LocalStore()
        _store_url = url
    return _store


def _free(schedule_ids: list[int], now: dt.datetime) -> dict[int, int]:
    """Free platform slots of open schedules in periods not over yet, per schedule."""
    rows = (
        Slot.objects.filter(
            schedule_id__in=schedule_ids,
            schedule__status=ScheduleStatus.OPEN,
            pool=Pool.PLATFORM,
            state=SlotState.FREE,
            period__ends_at__gt=now,
        )
        .values("schedule_id")
        .annotate(n=Count("pk"))
    )
    return {r["schedule_id"]: r["n"] for r in rows}


def _earliest_expiry(schedule_ids: list[int], now: dt.datetime) -> dict[int, dt.datetime]:
    from guahao.booking.models import Hold, HoldStatus

    rows = (
        Hold.objects.filter(schedule_id__in=schedule_ids, status=HoldStatus.HELD)
        .values("schedule_id")
        .annotate(first=Min("expires_at"))
    )
    return {r["schedule_id"]: r["first"] for r in rows}


def _seconds(count: int, expiry: dt.datetime | None, now: dt.datetime) -> int:
    """How long a count is kept: a sold-out count only until the first live hold may run out."""
    seconds = SHARED_SECONDS
    if count <= 0 and expiry is not None:
        seconds = min(seconds, max(1, int((expiry - now).total_seconds()) + 1))
    return seconds


def load(schedule_id: int) -> bool:
    """Count the schedule's free slots in the database and keep the count (unless a slot was
    given back while counting). True when it was kept."""
    _seen_sold_out.pop(schedule_id, None)
    gate = store()
    generation = gate.generation(schedule_id)
    now = clock.now()
    count = _free([schedule_id], now).get(schedule_id, 0)
    expiry = _earliest_expiry([schedule_id], now).get(schedule_id)
    if count <= 0 and expiry is not None and expiry <= now:
        # A hold ran out and was not swept yet: its slot is free in all but name. Keep no
        # count, so the next hold goes to the database, which expires it and takes the slot.
        gate.forget(schedule_id)
        return False
    return gate.store(schedule_id, count, generation, _seconds(count, expiry, now), _epoch(expiry))


def _epoch(at: dt.datetime | None) -> float | None:
    return None if at is None else at.timestamp()


# schedule id → monotonic deadline: the gate said "sold out" a moment ago in this process. The
# crowd turned away in that moment is answered without asking the gate again; a slot given back
# in this process forgets it at once, one given back elsewhere is offered here that much later.
_seen_sold_out: dict[int, float] = {}
SOLD_OUT_SEEN_SECONDS = 0.25


def _sold_out_seen(schedule_id: int) -> bool:
    until = _seen_sold_out.get(schedule_id)
    return until is not None and until > time.monotonic()


def seen_sold_out(schedule_id: int) -> bool:
    """The gate said "sold out" for the schedule in this process a moment ago (a quarter of a
    second), and no slot was given back here since."""
    return _sold_out_seen(schedule_id)


def take(schedule_id: int, attempts: Attempts | None = None) -> int:
    """TAKEN (a ticket: go on to the database), SOLD_OUT, RATE_LIMITED (``attempts`` over its
    limit: nothing taken), or UNKNOWN (the count could not be loaded: go on to the database
    without a ticket)."""
    if _sold_out_seen(schedule_id):
        return SOLD_OUT
    gate = store()
    got = gate.take(schedule_id, clock.now().timestamp(), attempts)
    if got == UNKNOWN:
        load(schedule_id)
        got = gate.take(schedule_id, clock.now().timestamp())  # the attempt was counted already
    if got == SOLD_OUT:
        if len(_seen_sold_out) > 5000:
            _seen_sold_out.clear()
        _seen_sold_out[schedule_id] = time.monotonic() + SOLD_OUT_SEEN_SECONDS
    return got


def held(schedule_id: int, expires_at: dt.datetime) -> None:
    """A hold was made (after commit): a sold-out count is believed until it may run out.
    Written a moment later with Redis (``core.cache.soon``: the holds of a crowd go together,
    the earliest expiry of those waiting standing for them all)."""
    expires = expires_at.timestamp()
    request_cache.soon(f"gate:held:{schedule_id}", lambda pipe: store().held(schedule_id, expires, pipe), order=expires)


def give(schedule_id: int) -> None:
    """A ticket not used: its hold was refused for another reason than the slots."""
    _seen_sold_out.pop(schedule_id, None)
    store().give(schedule_id)


def disagrees(schedule_id: int) -> None:
    """A ticket found no slot in the database: the count was wrong; load it again."""
    load(schedule_id)


def slot_freed(schedule_id: int) -> None:
    """A slot was given back (after commit): any load under way is stale; load afresh."""
    _seen_sold_out.pop(schedule_id, None)
    gate = store()
    gate.next_generation(schedule_id)
    load(schedule_id)
    cache.delete(_alternatives_key(schedule_id))
    _offered.pop(schedule_id, None)


def free(schedule_id: int) -> int | None:
    """What the gate believes is free, without taking anything (None: not loaded)."""
    return store().peek(schedule_id, clock.now().timestamp())


def sold_out(schedule_id: int) -> bool:
    return _sold_out_seen(schedule_id) or free(schedule_id) == 0


def rebuild(*, days: int = 60) -> int:
    """The periodic check: load the count of every open schedule not over yet, from the
    database, in one query. Returns how many schedules were loaded."""
    gate = store()
    now = clock.now()
    ids = list(
        Schedule.objects.filter(
            Q(status=ScheduleStatus.OPEN), ends_at__gt=now, starts_at__lt=now + dt.timedelta(days=days + 1)
        ).values_list("pk", flat=True)
    )
    loaded = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        generations = {i: gate.generation(i) for i in chunk}
        counts = _free(chunk, now)
        expiries = _earliest_expiry(chunk, now)
        for i in chunk:
            count, expiry = counts.get(i, 0), expiries.get(i)
            if count <= 0 and expiry is not None and expiry <= now:
                gate.forget(i)  # the next hold expires it (see load)
                continue
            kept = gate.store(i, count, generations[i], _seconds(count, expiry, now), _epoch(expiry))
            if kept and count > 0:
                _seen_sold_out.pop(i, None)
            loaded += kept
    return loaded


def _alternatives_key(schedule_id: int) -> str:
    return f"gate:alternatives:{schedule_id}"


# schedule id → (monotonic deadline, alternatives), in this process: the crowd turned away is
# answered without asking the cache either.
_offered: dict[int, tuple[float, list[dict[str, Any]]]] = {}


def alternatives_kept(schedule_id: int) -> list[dict[str, Any]] | None:
    """The alternatives offered to those turned away from a sold-out schedule, if kept."""
    now = time.monotonic()
    local = _offered.get(schedule_id)
    if local is not None and local[0] > now:
        return local[1]
    value = cache.get(_alternatives_key(schedule_id))
    if value is None:
        return None
    offered = list(value)
    _offered[schedule_id] = (now + LOCAL_SECONDS, offered)
    return offered


def alternatives_keep(schedule_id: int, offered: list[dict[str, Any]]) -> None:
    cache.set(_alternatives_key(schedule_id), offered, timeout=ALTERNATIVES_SECONDS)
    if len(_offered) > 5000:
        _offered.clear()
    _offered[schedule_id] = (time.monotonic() + LOCAL_SECONDS, offered)


def reset() -> None:
    """Forget every in-process count (tests)."""
    _offered.clear()
    _seen_sold_out.clear()
    if isinstance(_store, _LocalStore):
        _store.clear()
