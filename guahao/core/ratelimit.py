"""Fixed-window counters: in Redis at scale; without it, in the cache of the process, or — for
the limits that must hold across the embedded default's several web processes (``shared``: login
and code paths) — in the database.

Rate limits protect the service; they are not what keeps a rule (the database does that), so a
counter lost with a restarted process only lets a few more requests through.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from guahao.core import clock
from guahao.core.models import RateCount


def allow(key: str, *, limit: int, window_seconds: int, shared: bool = False) -> bool:
    """Count one hit on ``key``; False once ``limit`` hits fell in the current window."""
    if not settings.RATELIMIT_ENABLED:
        return True
    bucket = int(clock.now().timestamp()) // window_seconds
    if shared and not settings.REDIS_URL:
        return _count_in_database(key, bucket, window_seconds) <= limit
    cache_key = f"rl:{key}:{bucket}"
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds + 1)
        return True
    return count <= limit


def _count_in_database(key: str, bucket: int, window_seconds: int) -> int:
    """One statement, so parallel hits from any process each get their own count."""
    table = connection.ops.quote_name(RateCount._meta.db_table)
    expires = dt.datetime.fromtimestamp((bucket + 1) * window_seconds, tz=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, bucket, count, expires_at) VALUES (%s, %s, 1, %s) "  # noqa: S608 - our table
            f"ON CONFLICT (name, bucket) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key[:200], bucket, expires],
        )
        return int(cursor.fetchone()[0])


def forget_old() -> int:
    """Windows that ended are forgotten (a periodic job)."""
    deleted, _ = RateCount.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted
