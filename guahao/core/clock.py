"""The one place code reads the time, so tests can move it.

Production reads the system clock; tests shift it with ``travel`` (a context manager) or
``advance``. All times are aware UTC datetimes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + _offset


def advance(delta: dt.timedelta) -> None:
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)


@contextlib.contextmanager
def travel(to: dt.datetime) -> Iterator[None]:
    """Run the block as if the clock read ``to`` when it started (time keeps moving)."""
    global _offset
    saved = _offset
    _offset = to - dt.datetime.now(dt.UTC)
    try:
        yield
    finally:
        _offset = saved


def local_now(tz: str) -> dt.datetime:
    return now().astimezone(ZoneInfo(tz))


def local_today(tz: str) -> dt.date:
    return local_now(tz).date()


def at_local(day: dt.date, time: dt.time, tz: str) -> dt.datetime:
    """The UTC instant of a wall-clock time in a hospital's time zone."""
    return dt.datetime.combine(day, time, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
