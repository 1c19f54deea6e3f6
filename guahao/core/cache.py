"""The cache backends (Redis at scale, the process's memory in the embedded default), and reads
one request shares.

The backend is Django's Redis cache with one Redis client per process: Django's own makes a new
client object for every call (about a tenth of a millisecond each, more than the Redis round
trip itself), and the hold path asks the cache several times per request. Keys are not checked
for memcached's limits (Redis has none).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.http import HttpRequest, HttpResponse


class _Client(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _Client
        self.url = server
        # Pub/sub is not per database: the channel names the server's database and our prefix.
        self.changes = f"{self.key_prefix or 'guahao'}:changes:{server.rsplit('/', 1)[-1]}"

    def validate_key(self, key: str) -> None:
        return None

    # A key kept in the processes as well (``keep_locally``) is forgotten by all of them when it
    # is deleted or set here; generations moved on in a pipeline say so themselves (``told``).
    def delete(self, key: Any, version: int | None = None) -> bool:
        deleted = super().delete(key, version=version)
        _tell([key])
        return deleted

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        keys = list(keys)
        super().delete_many(keys, version=version)
        _tell(keys)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        super().set(key, value, timeout=timeout, version=version)
        _tell([key])

    def clear(self) -> None:
        super().clear()
        _tell(["*"])

    def redis(self) -> Any:
        """The Redis client itself, for scripts and pipelines (keys through ``make_key``)."""
        return self._cache.get_client(write=True)  # type: ignore[attr-defined]


@contextlib.contextmanager
def pipeline() -> Iterator[Any | None]:
    """A Redis pipeline sent in one round trip when the block ends; None in the embedded default.
    Scripts go in with ``script``."""
    client = redis()
    if client is None:
        yield None
        return
    pipe = client.pipeline(transaction=False)
    pipe.guahao_scripts = {}
    yield pipe
    results = pipe.execute(raise_on_error=False)
    from redis.exceptions import NoScriptError

    for index, result in enumerate(results):
        if not isinstance(result, Exception):
            continue
        again = pipe.guahao_scripts.get(index)
        if again is None or not isinstance(result, NoScriptError):
            raise result
        again()  # Redis forgot the script (restarted, flushed): loaded and run now, in order


def script(pipe: Any, registered: Any, *, keys: list[str], args: list[Any]) -> None:
    """Run a registered script (``Redis.register_script``) in a ``pipeline`` by its digest.
    redis-py's own way asks Redis whether the script is loaded first, a round trip of its own on
    every pipeline; here a digest Redis does not know is loaded and run once the pipeline has
    been sent (the script's work then follows the pipeline's other commands)."""
    pipe.guahao_scripts[len(pipe)] = lambda: registered(keys=keys, args=args)
    pipe.evalsha(registered.sha, len(keys), *keys, *args)


def redis() -> Any | None:
    """The shared Redis client when the cache is Redis; None in the embedded default."""
    backend = caches["default"]
    return backend.redis() if isinstance(backend, RedisCache) else None


# --- kept in each process, told of every change ----------------------------------------------------
#
# With Redis, a few hot keys (a patient's token, the facts' generation) are kept in each process
# as well, so that most requests of a release's crowd make no round trip at all. Every change of
# such a key is published on one channel after it is written (``_tell``), and forgotten at once
# in the process that made it; a thread per process listens and forgets the key in the others
# (a few milliseconds later). Nothing is kept while that thread is not subscribed (starting,
# reconnecting after Redis went away, which also forgets everything); a value read from Redis
# is not kept if any change was heard while it was being read (it may be the old one); nothing
# is kept longer than ``LOCAL_SECONDS`` whatever is heard. In the embedded default (no Redis)
# the cache is the process's own memory, and changes are told through the database (below).

LOCAL_SECONDS = 30.0
LOCAL_SIZE = 20000
_local_prefixes: list[str] = []
_missing = object()
log = logging.getLogger(__name__)


def keep_locally(prefix: str) -> None:
    """Keys starting with ``prefix`` are kept in each process too (at start-up)."""
    if prefix not in _local_prefixes:
        _local_prefixes.append(prefix)


def _kept_locally(key: str) -> bool:
    return any(key.startswith(p) for p in _local_prefixes)


class _Local:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, tuple[float, bytes]] = {}
        self.heard = 0  # changes heard (and reconnections): a read spanning one keeps nothing
        self.listening = False
        self.pid = 0

    def ensure_listening(self, backend: RedisCache) -> None:
        if self.pid == os.getpid():
            return
        with self.lock:
            if self.pid == os.getpid():
                return
            # A forked process inherits neither the thread nor a right to the parent's values.
            self.pid, self.listening, self.values = os.getpid(), False, {}
            self.heard += 1
        threading.Thread(
            target=self._listen, args=(backend.url, backend.changes), name="guahao-cache-changes", daemon=True
        ).start()

    def get(self, key: str) -> Any:
        entry = self.values.get(key)
        if entry is None or not self.listening:
            return _missing
        if entry[0] <= time.monotonic():
            self.values.pop(key, None)
            return _missing
        return pickle.loads(entry[1])  # noqa: S301 - written by ourselves; a fresh copy per request

    def put(self, key: str, value: Any, heard: int) -> None:
        if value is None or not _kept_locally(key):
            return
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        with self.lock:
            if not self.listening or self.heard != heard:
                return
            if len(self.values) >= LOCAL_SIZE:
                self.values.clear()
            self.values[key] = (time.monotonic() + LOCAL_SECONDS, data)

    def forget(self, keys: list[str]) -> None:
        with self.lock:
            self.heard += 1
            if "*" in keys:
                self.values.clear()
            for key in keys:
                self.values.pop(key, None)

    def _listen(self, url: str, channel: str) -> None:
        import redis as redis_py

        while self.pid == os.getpid():
            try:
                client = redis_py.Redis.from_url(
                    url, socket_timeout=10, socket_connect_timeout=5, client_name=f"guahao-changes-{os.getpid()}"
                )
                pubsub = client.pubsub()
                pubsub.subscribe(channel)
                pinged = last = time.monotonic()
                while self.pid == os.getpid():
                    message = pubsub.get_message(timeout=1.0)
                    now = time.monotonic()
                    if message is not None:
                        last = now
                        if message["type"] == "subscribe":
                            with self.lock:
                                self.values.clear()
                                self.heard += 1
                                self.listening = True
                        elif message["type"] == "message":
                            self.forget(message["data"].decode().split("\n"))
                    if now - pinged >= 5:
                        pubsub.ping()
                        pinged = now
                    if now - last > 15:  # not even the pings come back: the connection is gone
                        raise ConnectionError("no answer from Redis")
            except Exception as exc:  # noqa: BLE001 - keep nothing, then listen again
                log.warning("cache changes: %r; keeping nothing until listening again", exc)
            with self.lock:
                self.listening = False
                self.values.clear()
                self.heard += 1
            time.sleep(1)


_local = _Local()


# --- written a moment later -----------------------------------------------------------------------
#
# What a change tells the caches after its transaction committed (a generation moved on, the gate
# noting a hold's expiry) need not hold up the answer: with Redis it is written by a thread of this
# process a moment later (``soon``), and what several requests asked for in the meantime goes in
# one pipeline, each key once. Under a release's crowd that is one round trip to Redis, and one
# message to every process's listener, for several holds instead of one each. A moment is
# ``SOON_SECONDS`` (for the writes of more requests to go along) and the round trip; what this
# process reads of a key still waiting (``_shared_get_many``) waits for it to be written first, so
# a process always sees its own changes. A failed write is tried again every half second; a
# process that ends writes what waits (not one that is killed: that key then stays as it was
# until its next change, or its entry's time runs out). Without Redis it is written at once.


SOON_SECONDS = 0.01


class _Soon:
    def __init__(self) -> None:
        self.ready = threading.Condition()
        self.waiting: dict[str, tuple[float, Callable[[Any], None]]] = {}
        self.sending: dict[str, int] = {}  # keys being written now → how many writers have them
        self.pid = 0

    def add(self, key: str, write: Callable[[Any], None], order: float) -> None:
        with self.ready:
            if self.pid != os.getpid():  # a forked process inherits no thread
                self.pid, self.waiting, self.sending = os.getpid(), {}, {}
                threading.Thread(target=self._run, name="guahao-cache-soon", daemon=True).start()
            waiting = self.waiting.get(key)
            if waiting is None or order < waiting[0]:
                self.waiting[key] = (order, write)
            self.ready.notify_all()

    def send(self) -> None:
        """Write what waits, in one pipeline."""
        with self.ready:
            batch, self.waiting = self.waiting, {}
            for key in batch:
                self.sending[key] = self.sending.get(key, 0) + 1
        if not batch:
            return
        try:
            with pipeline() as pipe:
                for _, write in batch.values():
                    write(pipe)
        except Exception:
            with self.ready:  # written later
                for key, failed in batch.items():
                    waiting = self.waiting.get(key)
                    if waiting is None or failed[0] < waiting[0]:
                        self.waiting[key] = failed
            raise
        finally:
            with self.ready:
                for key in batch:
                    self.sending[key] -= 1
                    if not self.sending[key]:
                        del self.sending[key]
                self.ready.notify_all()

    def settle(self, keys: list[str]) -> None:
        """Any of ``keys`` still to be written by this process is written before it returns."""
        if not any(k in self.waiting or k in self.sending for k in keys):
            return
        if any(k in self.waiting for k in keys):
            try:
                self.send()
            except Exception:  # noqa: BLE001 - the read that follows meets the same failure
                log.warning("could not write what the cache was told", exc_info=True)
                return
        with self.ready:
            self.ready.wait_for(lambda: not any(k in self.sending for k in keys), timeout=1.0)

    def _run(self) -> None:
        failing = False
        while self.pid == os.getpid():
            with self.ready:
                self.ready.wait_for(lambda: bool(self.waiting))
            time.sleep(SOON_SECONDS)  # what more requests ask for meanwhile goes along
            try:
                self.send()
            except Exception:  # noqa: BLE001 - Redis away: tried again in a moment
                if not failing:  # once per outage, not twice a second
                    log.warning("could not write what the cache was told; trying again", exc_info=True)
                failing = True
                time.sleep(0.5)
            else:
                if failing:
                    log.warning("the cache was told what waited")
                failing = False

    def at_exit(self) -> None:
        if self.pid == os.getpid():
            self.settle([*self.waiting, *self.sending])


_soon = _Soon()


def soon_written() -> None:
    """What this process was told to write soon is written now: a process about to end (it also
    happens at a normal exit)."""
    _soon.at_exit()


atexit.register(soon_written)


def _forked() -> None:
    """A process forked while the writer held its lock would wait on it for ever: the child starts
    afresh (what waited is the parent's to write)."""
    global _soon
    _soon = _Soon()


os.register_at_fork(after_in_child=_forked)


def soon(key: str, write: Callable[[Any], None], *, order: float = 0.0) -> None:
    """``write(pipe)`` a moment from now, in a pipeline sent by this process's own thread (with
    Redis); at once with ``None`` for the pipe in the embedded default. Of the writes asked for
    one ``key`` while they wait, the one with the smallest ``order`` is sent, once: ask only
    for writes that are the same whenever they run (a generation moved on) or of which the
    least stands for all (the earliest expiry). Readers of ``key`` through this module in this
    process wait until it is written."""
    if not isinstance(caches["default"], RedisCache):
        write(None)
        return
    _soon.add(key, write, order)


# --- the embedded default: told through the database -----------------------------------------------
#
# Without Redis each process's cache is its own memory (``LocalCache``). Deleting a key that every
# process keeps (``keep_locally``: a logout, an account changed) writes a row of
# ``core.CacheChange`` in the deleting transaction; each process reads the rows added since it last
# looked, at most every ``FEED_SECONDS``, before it reads such a key, and forgets their keys. So a
# process that looked a moment ago may keep those keys long (``feed_current``), as it does beside
# Redis. A process that has not looked for ``FEED_IDLE_SECONDS`` (the rows are deleted after an
# hour), or could not, forgets everything it kept. A value read while a change was heard
# (``feed_mark``) is kept only briefly. SQLite alone: its writers are serialised, so the rows appear
# in the order of their ids; PostgreSQL without Redis keeps such keys only briefly.

FEED_SECONDS = 0.5
FEED_IDLE_SECONDS = 60.0
FEED_KEEP = 3600  # seconds a change is kept for the processes to read


class LocalCache(LocMemCache):
    """The embedded default's cache: this process's memory; deleting a key every process keeps
    tells the others (through the database)."""

    def delete(self, key: Any, version: int | None = None) -> bool:
        deleted = super().delete(key, version=version)
        _feed.tell([key])
        return deleted

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        keys = list(keys)
        super().delete_many(keys, version=version)
        _feed.tell(keys)


class _Feed:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: int | None = None  # the last change read
        self.looked = float("-inf")  # monotonic time of the last look
        self.heard = 0  # looks that found changes (or forgot everything)

    @staticmethod
    def usable() -> bool:
        from django.db import connection

        return isinstance(caches["default"], LocalCache) and connection.vendor == "sqlite"

    def tell(self, keys: list[str]) -> None:
        keys = [str(k) for k in keys if _kept_locally(str(k))]
        if keys and self.usable():
            from guahao.core import clock
            from guahao.core.models import CacheChange

            CacheChange.objects.create(keys="\n".join(keys), at=clock.now())

    def catch_up(self) -> bool:
        """Forget what other processes changed since the last look (at most every
        ``FEED_SECONDS``); whether this process is current within that."""
        if not self.usable():
            return False
        if time.monotonic() - self.looked < FEED_SECONDS:
            return True
        from django.db import DatabaseError

        from guahao.core.models import CacheChange

        backend = caches["default"]
        with self.lock:
            now = time.monotonic()
            if now - self.looked < FEED_SECONDS:
                return True
            try:
                if self.seen is None or now - self.looked > FEED_IDLE_SECONDS:
                    self._forget_all(backend)
                    self.seen = CacheChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
                else:
                    rows = list(CacheChange.objects.filter(id__gt=self.seen).order_by("id").values_list("id", "keys"))
                    if rows:
                        self.heard += 1
                        LocMemCache.delete_many(backend, [k for _, keys in rows for k in keys.split("\n")])
                        self.seen = rows[-1][0]
            except DatabaseError:
                self.seen = None
                self.looked = float("-inf")
                self._forget_all(backend)
                return False
            self.looked = now
            return True

    def _forget_all(self, backend: Any) -> None:
        self.heard += 1
        LocMemCache.clear(backend)


_feed = _Feed()


def feed_mark() -> int:
    """Where this process's hearing of changes stands: pass it to ``feed_current``."""
    return _feed.heard


def feed_current(mark: int | None = None) -> bool:
    """Whether keys kept in each process may be kept long here: beside Redis (its channel tells
    every change), or in the embedded default while this process reads the changes of the others
    and (``mark``: from before the value was read) heard none since the value was read."""
    if isinstance(caches["default"], RedisCache):
        return True
    return _feed.catch_up() and (mark is None or mark == _feed.heard)


def feed_forget_old() -> int:
    """Changes every process has read long since are deleted (a periodic job)."""
    import datetime as dt

    from guahao.core import clock
    from guahao.core.models import CacheChange

    deleted, _ = CacheChange.objects.filter(at__lt=clock.now() - dt.timedelta(seconds=FEED_KEEP)).delete()
    return deleted


def _tell(keys: list[str], pipe: Any = None) -> None:
    """``keys`` (of ``keep_locally``; ``"*"``: all) changed in Redis: forget them here at once
    and tell the other processes (in the caller's ``pipe`` when given)."""
    keys = [k for k in keys if k == "*" or _kept_locally(str(k))]
    if not keys:
        return
    _local.forget(keys)
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    (pipe if pipe is not None else backend.redis()).publish(backend.changes, "\n".join(keys))


def told(key: str, pipe: Any) -> None:
    """A generation ``key`` moved on in ``pipe``: the processes that keep it forget it."""
    _tell([key], pipe)


def _shared_get_many(keys: list[str]) -> dict[str, Any]:
    """``cache.get_many``, answered from this process where it keeps the keys."""
    backend = caches["default"]
    _soon.settle(keys)
    if not isinstance(backend, RedisCache) or not _local_prefixes:
        if isinstance(backend, LocalCache):
            _feed.catch_up()
        return cache.get_many(keys)
    _local.ensure_listening(backend)
    found: dict[str, Any] = {}
    missing = []
    for key in keys:
        value = _local.get(key) if _kept_locally(key) else _missing
        if value is _missing:
            missing.append(key)
        else:
            found[key] = value
    if missing:
        heard = _local.heard
        got = cache.get_many(missing)
        for key in missing:
            _local.put(key, got.get(key), heard)
        found.update(got)
    return found


# --- reads shared by one request ------------------------------------------------------------------
#
# A few keys (generations that every change moves on) are read by most requests. They are read
# with the request's first read of the cache, in the same round trip, and kept for the rest of
# the request. Outside a request (jobs, commands) nothing is kept for the request; what the
# process keeps (above) is used either way.

_reads: ContextVar[dict[str, Any] | None] = ContextVar("guahao_request_reads", default=None)
_along: list[str] = []


def read_along(key: str) -> None:
    """``key`` is read with a request's first read (at start-up)."""
    if key not in _along:
        _along.append(key)


def read_first(key: str) -> Any:
    """``cache.get(key)``, fetching the keys of ``read_along`` in the same round trip."""
    kept = _reads.get()
    if kept is None or not _along:
        return _shared_get_many([key]).get(key)
    wanted = [key, *(k for k in _along if k not in kept)]
    found = _shared_get_many(wanted)
    for k in wanted[1:]:
        kept[k] = found.get(k)
    return found.get(key)


def read(key: str, default: Any = None) -> Any:
    """``cache.get(key)``, once per request for the keys of ``read_along``."""
    kept = _reads.get()
    if kept is None or key not in _along:
        value = _shared_get_many([key]).get(key)
        return default if value is None else value
    if key not in kept:
        kept[key] = _shared_get_many([key]).get(key)
    value = kept[key]
    return default if value is None else value


def forget(key: str) -> None:
    """The key changed: this request reads it again."""
    kept = _reads.get()
    if kept is not None:
        kept.pop(key, None)


class RequestReads:
    """Middleware: each request starts with nothing kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _reads.set({})
        try:
            return self.get_response(request)
        finally:
            _reads.reset(token)


# --- counters over a window (the risk signals) ------------------------------------------------------

_local_counts: dict[str, tuple[float, set[str]]] = {}
_local_lock = threading.Lock()


def counts_add(entries: list[tuple[str, str, int]]) -> list[int]:
    """For each (key, member, seconds): add ``member`` to the set under ``key`` (kept ``seconds``
    from its first member) and return how many distinct members it holds; one round trip in
    Redis. A member "" counts each call once (a tally). In the embedded default the counts are
    this process's own."""
    client = redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for key, member, seconds in entries:
            made = cache.make_key(f"counts:{key}")
            pipe.sadd(made, member or secrets.token_hex(8))
            pipe.expire(made, seconds, nx=True)
            pipe.scard(made)
        answers = pipe.execute()
        return [int(answers[i * 3 + 2]) for i in range(len(entries))]
    now = time.monotonic()
    found = []
    with _local_lock:
        if len(_local_counts) > 20000:
            _local_counts.clear()
        for key, member, seconds in entries:
            until, members = _local_counts.get(key, (0.0, set()))
            if until <= now:
                until, members = now + seconds, set()
            members.add(member or secrets.token_hex(8))
            _local_counts[key] = (until, members)
            found.append(len(members))
    return found


def counts_reset() -> None:
    """Forget this process's counts (tests)."""
    with _local_lock:
        _local_counts.clear()
