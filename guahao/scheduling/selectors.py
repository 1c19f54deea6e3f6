"""Reads of schedules and availability as a patient sees them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from guahao.catalog.models import Department
from guahao.core import clock
from guahao.scheduling import facts
from guahao.scheduling.models import Period, Pool, Schedule, ScheduleStatus, SlotState
from guahao.scheduling.rules import Rules, release_at, rules_for, rules_for_schedule

FREE_ONLINE = Q(slots__pool=Pool.PLATFORM, slots__state=SlotState.FREE)


class Availability:
    AVAILABLE = "available"
    FULL = "full"
    NOT_RELEASED = "not_released"
    SUSPENDED = "suspended"


@dataclass
class ScheduleView:
    schedule: Schedule
    available: int
    status: str
    release_at: dt.datetime


def with_available(qs: QuerySet[Schedule]) -> QuerySet[Schedule]:
    return qs.annotate(free_online=Count("slots", filter=FREE_ONLINE))


def schedule_status(schedule: Schedule, *, free: int, rules: Rules, now: dt.datetime) -> str:
    if schedule.status == ScheduleStatus.SUSPENDED:
        return Availability.SUSPENDED
    if now < release_at(schedule, rules):
        return Availability.NOT_RELEASED
    return Availability.AVAILABLE if free > 0 else Availability.FULL


def view_of(schedule: Schedule, *, free: int, rules: Rules, now: dt.datetime) -> ScheduleView:
    status = schedule_status(schedule, free=free, rules=rules, now=now)
    shown = free if status == Availability.AVAILABLE else 0
    return ScheduleView(schedule, shown, status, release_at(schedule, rules))


def department_availability(
    *, department: Department, start: dt.date, days: int
) -> list[tuple[dt.date, list[ScheduleView]]]:
    """Per day, the department's schedules that have not ended, with what a patient may book.

    Slots of a schedule that is not released yet are not counted as available: a patient sees
    the day and when it opens.
    """
    return availability_cached(department=department, start=start, days=days, variant="views", build=lambda x: x)


T = TypeVar("T")


def availability_cached(
    *,
    department: Department,
    start: dt.date,
    days: int,
    variant: str,
    build: Callable[[list[tuple[dt.date, list[ScheduleView]]]], T],
) -> T:
    """``build`` of the department's availability, cached: an entry is current while neither a
    slot or schedule of the department changed (``facts.department_changed``) nor any rule or
    catalog entry (``facts.facts_changed``), and no longer than the first moment it would read
    differently by itself (a schedule released or over). ``variant`` names what ``build`` makes
    (e.g. the API's answer in one language).

    Each process keeps the entries it read or made (a crowd watching one strip is answered from
    memory, with one small read of the two generations), and makes a missing one once however
    many ask for it at the same moment; the shared cache passes them between processes."""
    now = clock.now()
    gens = facts.availability_generations(department.pk)
    key = f"availability:{department.pk}:{start}:{days}:{variant}"
    entry = _shown.get(key)
    if entry is not None and entry[0] == gens and entry[1] > now:
        return entry[2]  # type: ignore[no-any-return]
    with _making_lock:
        making = _making.setdefault(key, threading.Lock())
    with making:
        entry = _shown.get(key)
        if entry is not None and entry[0] == gens and entry[1] > now:
            return entry[2]  # type: ignore[no-any-return]
        entry = cache.get(key)
        if entry is None or entry[0] != gens or entry[1] <= now:
            found = _department_availability(department=department, start=start, days=days, now=now)
            value = build(found)
            turns = [v.release_at for _, views in found for v in views if v.release_at > now]
            turns += [v.schedule.ends_at for _, views in found for v in views]
            until = min([now + dt.timedelta(seconds=facts.ttl()), *turns])
            entry = (gens, until, value)
            cache.set(key, entry, timeout=facts.ttl())
        if len(_shown) > 2000:
            _shown.clear()
        _shown[key] = entry
    return entry[2]  # type: ignore[no-any-return]


# key → (generations, until, value): the entries this process read or made
_shown: dict[str, tuple[tuple[int, int], dt.datetime, Any]] = {}
_making: dict[str, threading.Lock] = {}
_making_lock = threading.Lock()


def reset() -> None:
    """Forget the entries this process keeps (tests: a cleared cache starts the generations again)."""
    _shown.clear()


def leaf_department(department_id: int) -> Department | None:
    """A department patients book at (with its hospital), or None: kept per process until the
    catalog changes, so a strip read by a crowd asks the database nothing."""

    def load() -> Department | None:
        found = Department.objects.select_related("hospital", "parent__parent").filter(pk=department_id).first()
        if found is None or Department.objects.filter(parent=found).exists():
            return None
        return found

    return facts.remembered("leaf-department", department_id, load)


def _department_availability(
    *, department: Department, start: dt.date, days: int, now: dt.datetime
) -> list[tuple[dt.date, list[ScheduleView]]]:
    end = start + dt.timedelta(days=days - 1)
    schedules = with_available(
        Schedule.objects.filter(department=department, date__range=(start, end), ends_at__gt=now)
        .select_related("doctor", "hospital", "department", "department__parent__parent")
        .order_by("date", "starts_at", "doctor_id")
    )
    rules_cache: dict[int | None, Rules] = {}
    by_day: dict[dt.date, list[ScheduleView]] = {start + dt.timedelta(days=i): [] for i in range(days)}
    for s in schedules:
        if s.doctor_id not in rules_cache:
            rules_cache[s.doctor_id] = rules_for(hospital=s.hospital, department=s.department, doctor_id=s.doctor_id)
        free: int = s.free_online  # type: ignore[attr-defined]
        by_day[s.date].append(view_of(s, free=free, rules=rules_cache[s.doctor_id], now=now))
    return list(by_day.items())


def day_status(views: list[ScheduleView]) -> tuple[int, str]:
    """A day's total and its status: available if any schedule is, else the most telling one."""
    total = sum(v.available for v in views)
    statuses = {v.status for v in views}
    for status in (Availability.AVAILABLE, Availability.FULL, Availability.NOT_RELEASED, Availability.SUSPENDED):
        if status in statuses:
            return total, status
    return 0, Availability.FULL


@dataclass(frozen=True)
class NextSlots:
    """What a search result says of a department's or a doctor's coming clinics."""

    status: str  # an Availability value, or "none" (no clinic in the days looked at)
    day: dt.date | None  # the first day with free slots; else the first day of that status
    available: int  # free online slots that day


def next_slots(by_day: list[tuple[dt.date, list[ScheduleView]]], *, doctor_id: int | None = None) -> NextSlots:
    """The first day with free slots of ``by_day`` (one doctor's clinics, if given); failing
    that, the most hopeful of the rest: not released yet (it opens later), full, suspended."""
    first: dict[str, dt.date] = {}
    for day, views in by_day:
        shown = [v for v in views if doctor_id is None or v.schedule.doctor_id == doctor_id]
        if not shown:
            continue
        total, status = day_status(shown)
        if status == Availability.AVAILABLE:
            return NextSlots(status, day, total)
        first.setdefault(status, day)
    for status in (Availability.NOT_RELEASED, Availability.FULL, Availability.SUSPENDED):
        if status in first:
            return NextSlots(status, first[status], 0)
    return NextSlots("none", None, 0)


def schedule_detail(schedule: Schedule) -> tuple[ScheduleView, list[tuple[Period, int]]]:
    rules = rules_for_schedule(schedule)
    periods = list(
        Period.objects.filter(schedule=schedule).annotate(
            free_online=Count("slots", filter=Q(slots__pool=Pool.PLATFORM, slots__state=SlotState.FREE))
        )
    )
    now = clock.now()
    left = {p.pk: p.free_online if p.ends_at > now else 0 for p in periods}  # a period over is not booked
    view = view_of(schedule, free=sum(left.values()), rules=rules, now=now)
    open_ = view.status == Availability.AVAILABLE
    return view, [(p, left[p.pk] if open_ else 0) for p in periods]
