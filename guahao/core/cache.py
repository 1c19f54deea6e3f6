"""The cache backend at scale, and reads one request shares.

The backend is Django's Redis cache with one Redis client per process: Django's own makes a new
client object for every call (about a tenth of a millisecond each, more than the Redis round
trip itself), and the hold path asks the cache several times per request. Keys are not checked
for memcached's limits (Redis has none).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache, caches
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

    def validate_key(self, key: str) -> None:
        return None

    def redis(self) -> Any:
        """The Redis client itself, for scripts and pipelines (keys through ``make_key``)."""
        return self._cache.get_client(write=True)  # type: ignore[attr-defined]


@contextlib.contextmanager
def pipeline() -> Iterator[Any | None]:
    """A Redis pipeline sent in one round trip when the block ends; None in the embedded default."""
    client = redis()
    if client is None:
        yield None
        return
    pipe = client.pipeline(transaction=False)
    yield pipe
    pipe.execute()


def redis() -> Any | None:
    """The shared Redis client when the cache is Redis; None in the embedded default."""
    backend = caches["default"]
    return backend.redis() if isinstance(backend, RedisCache) else None


# --- reads shared by one request ------------------------------------------------------------------
#
# A few keys (generations that every change moves on) are read by most requests. They are read
# with the request's first read of the cache, in the same round trip, and kept for the rest of
# the request. Outside a request (jobs, commands) nothing is kept.

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
        return cache.get(key)
    wanted = [key, *(k for k in _along if k not in kept)]
    found = cache.get_many(wanted)
    for k in wanted[1:]:
        kept[k] = found.get(k)
    return found.get(key)


def read(key: str, default: Any = None) -> Any:
    """``cache.get(key)``, once per request for the keys of ``read_along``."""
    kept = _reads.get()
    if kept is None or key not in _along:
        return cache.get(key, default)
    if key not in kept:
        kept[key] = cache.get(key)
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
