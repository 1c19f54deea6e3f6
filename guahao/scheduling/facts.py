"""What the hold path and the availability pages read again and again, cached.

A schedule with its hospital and department tree, the rules in force for it and its periods
(``schedule_facts``); and a generation number per department that every change of one of its
schedules' slots moves on (``department_changed``), which availability reads are keyed by.

Every change forgets: a save or delete of a schedule, period, rule set, hospital, department
or doctor moves the facts' generation on (signals, connected in ``apps.py``), and the services
that change rows with an update call ``facts_changed`` themselves. With Redis the cache is
shared by every process, so a change is seen by all at once; in the embedded default each
process has its own, and entries live ``LOCAL_SECONDS`` only, which bounds what another
process may still show. The database stays the authority: a slot is only ever taken from an
open schedule by the conditional update (``booking.locks``).

Each process also keeps the facts it has read, unpickled, beside the generation they were read
at (``_memo``): a request then asks the shared cache for one number, not for the schedule.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from guahao.core import cache as request_cache
from guahao.scheduling.models import Period, RuleSet, Schedule
from guahao.scheduling.rules import Rules, rules_for_schedule

T = TypeVar("T")
SHARED_SECONDS = 300
LOCAL_SECONDS = 2
GEN = "facts:gen"


def ttl() -> int:
    return SHARED_SECONDS if settings.REDIS_URL else LOCAL_SECONDS


@dataclasses.dataclass(frozen=True)
class Facts:
    schedule: Schedule  # with hospital and department (three levels up) loaded
    rules: Rules
    periods: dict[int, Period]


# A generation that is missing (never moved, or the cache was emptied: Redis keeps nothing on
# disk) starts from a random value, never from 0: a process that kept something beside an earlier
# generation must not find that number current again.
def _start() -> int:
    return secrets.randbits(62)


def _bump(key: str, pipe: Any = None) -> None:
    """Move a generation on: one round trip in Redis (none of its own in a caller's ``pipe``)."""
    if pipe is not None:
        made = cache.make_key(key)
        pipe.set(made, _start(), nx=True)
        pipe.incr(made)
        request_cache.told(key, pipe)
        return
    client = request_cache.redis()
    if client is not None:
        with request_cache.pipeline() as pipe:
            _bump(key, pipe)
        return
    cache.add(key, _start(), timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # emptied in between
        cache.set(key, _start(), timeout=None)


def _started(key: str, value: object) -> int:
    """The generation read, or a fresh one when the key was missing."""
    if value is not None:
        return int(value)  # type: ignore[call-overload]
    cache.add(key, _start(), timeout=None)
    request_cache.forget(key)
    return int(cache.get(key))


def facts_changed() -> None:
    """Forget every cached schedule's facts (a schedule, its rules or its catalog changed)."""
    _bump(GEN)
    request_cache.forget(GEN)


# schedule id → (generation, monotonic deadline, facts), in this process
_memo: dict[int, tuple[int, float, Facts]] = {}
MEMO_SIZE = 5000


def generation() -> int:
    """The facts' generation now (every change moves it on); read once per request, with the
    request's first read of the cache (the patient's token)."""
    return _started(GEN, request_cache.read(GEN))


request_cache.read_along(GEN)
request_cache.keep_locally(GEN)
request_cache.keep_locally("facts:department:")


def schedule_facts(schedule_id: int, *, gen: int | None = None) -> Facts | None:
    """The schedule's facts, from this process's memo or the cache when they are current; None
    if there is none. ``gen``: the generation, when the caller has just read it."""
    if gen is None:
        gen = generation()
    now = time.monotonic()
    memo = _memo.get(schedule_id)
    if memo is not None and memo[0] == gen and memo[1] > now:
        return memo[2]
    key = f"facts:schedule:{schedule_id}"
    entry = cache.get(key)
    if entry is not None and entry[0] == gen:
        facts: Facts = entry[1]
    else:
        schedule = (
            Schedule.objects.select_related("hospital", "department__parent__parent", "doctor")
            .filter(pk=schedule_id)
            .first()
        )
        if schedule is None:
            return None
        facts = Facts(
            schedule=schedule,
            rules=rules_for_schedule(schedule),
            periods={p.pk: p for p in Period.objects.filter(schedule_id=schedule_id)},
        )
        cache.set(key, (gen, facts), timeout=ttl())
    if len(_memo) >= MEMO_SIZE:
        _memo.clear()
    # Shared (Redis): the generation tells every change at once. In-process: another process's
    # change is not seen here, so what was read is kept no longer than the cache keeps it.
    _memo[schedule_id] = (gen, now + (SHARED_SECONDS if settings.REDIS_URL else LOCAL_SECONDS), facts)
    return facts


# (namespace, key) → (generation, monotonic deadline, value), in this process
_kept: dict[tuple[str, object], tuple[int, float, Any]] = {}


def remembered(namespace: str, key: object, load: Callable[[], T]) -> T:
    """What ``load`` returns, kept in this process until the facts' generation moves on (every
    change of a schedule, rule, catalog entry or HIS connection moves it). In the embedded
    default (no shared cache) another process's change is not seen here, so a value is kept no
    longer than ``LOCAL_SECONDS`` there."""
    gen = generation()
    now = time.monotonic()
    kept = _kept.get((namespace, key))
    if kept is not None and kept[0] == gen and kept[1] > now:
        return kept[2]  # type: ignore[no-any-return]
    value = load()
    if len(_kept) >= MEMO_SIZE:
        _kept.clear()
    _kept[(namespace, key)] = (gen, now + (SHARED_SECONDS if settings.REDIS_URL else LOCAL_SECONDS), value)
    return value


def reset() -> None:
    """Forget what this process read (tests: a cleared cache starts the generations again)."""
    _memo.clear()
    _kept.clear()


def _department_key(department_id: int) -> str:
    return f"facts:department:{department_id}"


def department_generation(department_id: int) -> int:
    key = _department_key(department_id)
    return _started(key, cache.get(key))


def availability_generations(department_id: int) -> tuple[int, int]:
    """(the department's generation, the facts' generation): what a department's availability
    read is current for, in one read of the cache."""
    key = _department_key(department_id)
    return _started(key, request_cache.read_first(key)), generation()


def department_changed(department_id: int, pipe: Any = None) -> None:
    """A slot of one of the department's schedules changed hands, or a schedule changed: its
    cached availability is stale."""
    _bump(_department_key(department_id), pipe)


def department_changed_soon(department_id: int) -> None:
    """``department_changed``, written a moment later with Redis (``core.cache.soon``): the
    tells of a crowd's holds go together, and the answer does not wait for them."""
    key = _department_key(department_id)
    request_cache.soon(key, lambda pipe: _bump(key, pipe))


def _on_change(sender: type, instance: Any, **_: object) -> None:
    department_id = getattr(instance, "department_id", None) if sender is Schedule else None

    def forget() -> None:
        facts_changed()
        if department_id:
            department_changed(department_id)

    # Now, and again once the change is committed: a reader between the two may have cached
    # what it saw before the commit.
    forget()
    transaction.on_commit(forget)


def connect_signals() -> None:
    from guahao.catalog.models import Department, Doctor, Hospital

    for model in (Schedule, Period, RuleSet, Hospital, Department, Doctor):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"facts-save-{model.__name__}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"facts-delete-{model.__name__}")
