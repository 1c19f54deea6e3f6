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
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from guahao.core import cache as request_cache
from guahao.scheduling.models import Period, RuleSet, Schedule
from guahao.scheduling.rules import Rules, rules_for_schedule

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


def _bump(key: str) -> None:
    """Move a generation on: one step in Redis (an absent key counts from 0, as its readers do)."""
    client = request_cache.redis()
    if client is not None:
        client.incr(cache.make_key(key))
        return
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)


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
    return int(request_cache.read(GEN, 0))


request_cache.read_along(GEN)


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


def reset() -> None:
    """Forget what this process read (tests: a cleared cache starts the generations again)."""
    _memo.clear()


def department_generation(department_id: int) -> int:
    return int(cache.get(f"facts:department:{department_id}", 0))


def department_changed(department_id: int) -> None:
    """A slot of one of the department's schedules changed hands, or a schedule changed: its
    cached availability is stale."""
    _bump(f"facts:department:{department_id}")


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
