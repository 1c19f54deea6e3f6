"""The booking gate: turns away requests for a schedule known to be sold out before they reach
the database.

It only ever refuses early; it never grants. The database decides every hold, so a stale gate
can at worst refuse for a few seconds a slot that just came free, and it is rebuilt from the
database: a claim that finds no slot closes it, a slot given back opens it, and every mark
expires after ``TTL`` seconds. It lives in the Django cache: in-process in the embedded
default, Redis (shared by all web processes) when REDIS_URL is set.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

TTL = 3


def _key(schedule_id: int) -> str:
    return f"gate:sold-out:{schedule_id}"


def sold_out(schedule_id: int) -> list[dict[str, Any]] | None:
    """None while the schedule may have slots; when it is closed, the alternatives to offer."""
    value = cache.get(_key(schedule_id))
    return None if value is None else list(value)


def mark_sold_out(schedule_id: int, alternatives: list[dict[str, Any]]) -> None:
    """Close the gate for ``TTL`` seconds, remembering what to offer the next ones turned away."""
    cache.set(_key(schedule_id), alternatives, timeout=TTL)


def reopen(schedule_id: int) -> None:
    cache.delete(_key(schedule_id))
