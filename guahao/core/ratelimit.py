"""Fixed-window counters in the cache (in-process, or Redis at scale).

Rate limits protect the service; they are not what keeps a rule (the database does that), so a
counter lost with a restarted process only lets a few more requests through.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from guahao.core import clock


def allow(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit on ``key``; False once ``limit`` hits fell in the current window."""
    if not settings.RATELIMIT_ENABLED:
        return True
    bucket = int(clock.now().timestamp()) // window_seconds
    cache_key = f"rl:{key}:{bucket}"
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds + 1)
        return True
    return count <= limit
