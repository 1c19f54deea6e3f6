"""Statistics of registrations for the console and the staff API, each one SQL aggregate.

Every series is computed by the database (``GROUP BY`` over the hospital's registrations of a
range of visit days, read through the ``(hospital, visit_date)`` index), never by loading rows:
``bench/stats.py`` measures them at a million registrations. Counts are of registrations by
their visit day; "cancelled" includes those refunded since; rates are fractions (0.25), computed
here from the counts so every reader shows the same figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, DateField, Exists, F, Func, Max, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import ExtractIsoWeekDay

from guahao.booking.models import Hold, HoldStatus, Registration, RegistrationStatus, ReliefGrant
from guahao.catalog.models import Department
from guahao.scheduling.models import Pool, Schedule, Slot, SlotState
from guahao.scheduling.rules import release_at, rules_table

CANCELLED = [RegistrationStatus.CANCELLED, RegistrationStatus.REFUNDING, RegistrationStatus.REFUNDED]
CAME = [RegistrationStatus.CHECKED_IN, RegistrationStatus.VISITED]
# Age at the visit, in the bands the seeds compare (65+ most reliable, teenagers least).
AGE_BANDS = [(0, 12, "0-12"), (13, 17, "13-17"), (18, 39, "18-39"), (40, 64, "40-64"), (65, 200, "65+")]


@dataclass(frozen=True)
class StatsFilter:
    """What a statistics page or request asks for. ``hospital_ids``: the staff member's scope
    (None: every hospital); ``department_id``: that department and the ones below it."""

    date_from: dt.date
    date_to: dt.date
    hospital_ids: frozenset[int] | None = None
    department_id: int | None = None

    def days(self) -> list[dt.date]:
        n = (self.date_to - self.date_from).days + 1
        return [self.date_from + dt.timedelta(days=i) for i in range(max(n, 0))]


def department_and_below(department_id: int) -> list[int]:
    ids, level = [department_id], [department_id]
    while level:  # three levels at most: at most three queries
        level = list(Department.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        ids += level
    return ids


def registrations_in(f: StatsFilter) -> QuerySet[Registration]:
    """The registrations counted: a registration moved to another slot (改约) is counted once,
    as the one it became."""
    qs = Registration.objects.filter(visit_date__gte=f.date_from, visit_date__lte=f.date_to).exclude(
        status=RegistrationStatus.MOVED
    )
    if f.hospital_ids is not None:
        qs = qs.filter(hospital_id__in=f.hospital_ids)
    if f.department_id is not None:
        qs = qs.filter(department_id__in=department_and_below(f.department_id))
    return qs


def _counts() -> dict[str, Any]:
    # Counted on the status (never null): the counts read the (hospital, visit_date) index alone.
    return {
        "booked": Count("*"),
        "cancelled": Count("status", filter=Q(status__in=CANCELLED)),
        "no_show": Count("status", filter=Q(status=RegistrationStatus.NO_SHOW)),
        "came": Count("status", filter=Q(status__in=CAME)),
    }


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    """A row's counts with its no-show rate: no-shows of the registrations not cancelled."""
    kept = row["booked"] - row["cancelled"]
    row["no_show_rate"] = round(row["no_show"] / kept, 4) if kept else 0.0
    row["cancel_rate"] = round(row["cancelled"] / row["booked"], 4) if row["booked"] else 0.0
    return row


def _group(qs: QuerySet, *keys: str, **named: Any) -> list[dict[str, Any]]:
    return [_rates(dict(r)) for r in qs.annotate(**named).values(*keys, *named).annotate(**_counts()).order_by(*keys)]


def totals(f: StatsFilter) -> dict[str, Any]:
    """The counts of the range, with ``relief``: how many of the booked were relief slots given
    by staff (救济), counted apart so a full clinic's extra patients are seen as such."""
    row = _rates(registrations_in(f).aggregate(**_counts()))
    row["relief"] = ReliefGrant.objects.filter(registration__in=registrations_in(f)).count()
    return row


def by_channel(f: StatsFilter) -> list[dict[str, Any]]:
    """Per booking channel (app, wechat, window, phone, kiosk, sms, partner:…), the channels seen."""
    return [r | {"key": r.pop("channel")} for r in _group(registrations_in(f), "channel")]


def by_day(f: StatsFilter) -> list[dict[str, Any]]:
    """Every day of the range, days without registrations as zeros."""
    found = {r["visit_date"]: r for r in _group(registrations_in(f), "visit_date")}
    empty = {"booked": 0, "cancelled": 0, "no_show": 0, "came": 0, "no_show_rate": 0.0, "cancel_rate": 0.0}
    return [{"key": d.isoformat(), **{k: found.get(d, empty)[k] for k in empty}} for d in f.days()]


def by_department(f: StatsFilter) -> list[dict[str, Any]]:
    rows = _group(registrations_in(f), "department_id", "department__name")
    return [{"key": r.pop("department__name"), "id": r.pop("department_id"), **r} for r in rows]


def by_doctor(f: StatsFilter) -> list[dict[str, Any]]:
    """``key`` None: the general clinic (no doctor)."""
    rows = _group(registrations_in(f), "doctor_id", "doctor__name")
    return [{"key": r.pop("doctor__name"), "id": r.pop("doctor_id"), **r} for r in rows]


def by_weekday(f: StatsFilter) -> list[dict[str, Any]]:
    """ISO weekdays 1 (Monday) to 7, each present."""
    found = {r["weekday"]: r for r in _group(registrations_in(f), weekday=ExtractIsoWeekDay("visit_date"))}
    empty = {"booked": 0, "cancelled": 0, "no_show": 0, "came": 0, "no_show_rate": 0.0, "cancel_rate": 0.0}
    return [{"key": day, **{k: found.get(day, empty)[k] for k in empty}} for day in range(1, 8)]


class YearsBefore(Func):
    """The date ``years`` whole years before a date column, in SQL (so an age band is a
    comparison of the birth date with it, not arithmetic on every row). 29 February goes to
    28 February on PostgreSQL and to 1 March on SQLite."""

    output_field = DateField()

    def __init__(self, expression: Any, years: int) -> None:
        super().__init__(expression)
        self.years = int(years)

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:  # type: ignore[override]  # PostgreSQL
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql}) - make_interval(years => {self.years}))::date", params

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '-{self.years} years')", params


def by_age(f: StatsFilter) -> list[dict[str, Any]]:
    """By the patient's age on the visit day: younger than the next band's lower bound means born
    after the visit day that many years back."""
    whens = [
        When(patient__birth_date__gt=YearsBefore(F("visit_date"), AGE_BANDS[i + 1][0]), then=Value(label))
        for i, (_low, _high, label) in enumerate(AGE_BANDS[:-1])
    ]
    band = Case(*whens, default=Value(AGE_BANDS[-1][2]))
    found = {r["band"]: r for r in _group(registrations_in(f), band=band)}
    empty = {"booked": 0, "cancelled": 0, "no_show": 0, "came": 0, "no_show_rate": 0.0, "cancel_rate": 0.0}
    return [{"key": label, **{k: found.get(label, empty)[k] for k in empty}} for _l, _h, label in AGE_BANDS]


def _schedules(f: StatsFilter) -> QuerySet[Schedule]:
    qs = Schedule.objects.filter(date__gte=f.date_from, date__lte=f.date_to)
    if f.hospital_ids is not None:
        qs = qs.filter(hospital_id__in=f.hospital_ids)
    if f.department_id is not None:
        qs = qs.filter(department_id__in=department_and_below(f.department_id))
    return qs


TAKEN = [SlotState.HELD, SlotState.BOOKED, SlotState.ELSEWHERE]


def fill_rates(f: StatsFilter, limit: int = 500) -> dict[str, Any]:
    """Each clinic's numbers taken (held, booked here or taken at the window) of its numbers
    offered, and the whole range's."""
    # Counting the slots' states (never null) reads the slot index (schedule, pool, state, number) alone.
    counted = {
        "capacity": Count("slots__state", filter=~Q(slots__state=SlotState.WITHDRAWN)),
        "taken": Count("slots__state", filter=Q(slots__state__in=TAKEN)),
    }
    overall = _schedules(f).aggregate(**counted)
    rows = (
        _schedules(f)
        .values("pk", "date", "session", "department__name", "doctor__name")
        .annotate(**counted)
        .order_by("date", "session", "department__name", "pk")[:limit]
    )
    clinics = [
        {
            "id": r["pk"],
            "date": r["date"].isoformat(),
            "session": r["session"],
            "department": r["department__name"],
            "doctor": r["doctor__name"],
            "capacity": r["capacity"],
            "taken": r["taken"],
            "fill_rate": round(r["taken"] / r["capacity"], 4) if r["capacity"] else 0.0,
        }
        for r in rows
    ]
    capacity, taken = overall["capacity"] or 0, overall["taken"] or 0
    return {
        "capacity": capacity,
        "taken": taken,
        "fill_rate": round(taken / capacity, 4) if capacity else 0.0,
        "clinics": clinics,
    }


def by_pool(f: StatsFilter) -> list[dict[str, Any]]:
    """The range's numbers per pool (online, the phone desk's share, the window's): offered,
    taken and free now. A pool's numbers are counted where they are now (the pool return moves
    unused ones)."""
    rows = (
        Slot.objects.filter(schedule__in=_schedules(f))
        .exclude(state=SlotState.WITHDRAWN)
        .values("pool")
        .annotate(
            capacity=Count("state"),
            taken=Count("state", filter=Q(state__in=TAKEN)),
            free=Count("state", filter=Q(state=SlotState.FREE)),
        )
    )
    found = {r["pool"]: r for r in rows}
    return [
        {"key": pool, "capacity": r["capacity"], "taken": r["taken"], "free": r["free"]}
        for pool in (Pool.PLATFORM, Pool.PHONE, Pool.ONSITE)
        if (r := found.get(pool)) is not None
    ]


def sell_outs(f: StatsFilter, limit: int = 500) -> list[dict[str, Any]]:
    """How fast each release sold out: for each clinic of the range whose online numbers are
    all gone, the time from its release to the hold that took the last of them."""
    online = Slot.objects.filter(schedule_id=OuterRef("pk"), pool=Pool.PLATFORM).exclude(state=SlotState.WITHDRAWN)
    # Two index probes per clinic (slot_free_lookup): some online number, and none free.
    sold_out = (
        _schedules(f)
        .filter(Exists(online), ~Exists(online.filter(state=SlotState.FREE)))
        .order_by("date", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    ids = list(sold_out)
    # For those clinics only: the last online number's booking, and how many there were.
    last = dict(
        Hold.objects.filter(schedule_id__in=ids, status=HoldStatus.CONFIRMED)
        .values("schedule_id")
        .annotate(at=Max("created_at"))
        .values_list("schedule_id", "at")
    )
    online_counts = dict(
        Slot.objects.filter(schedule_id__in=ids, pool=Pool.PLATFORM)
        .exclude(state=SlotState.WITHDRAWN)
        .values("schedule_id")
        .annotate(n=Count("state"))
        .values_list("schedule_id", "n")
    )
    rows = (
        Schedule.objects.filter(pk__in=[i for i in ids if i in last])
        .select_related("hospital", "department", "doctor")
        .order_by("date", "pk")
    )
    tables: dict[int, Any] = {}  # per hospital: its rules, read once
    out = []
    for s in rows:
        if s.hospital_id not in tables:
            tables[s.hospital_id] = rules_table(s.hospital)
        tz = ZoneInfo(s.hospital.timezone)
        opened = release_at(s, tables[s.hospital_id](s.department_id, s.doctor_id)).astimezone(tz)
        sold: dt.datetime = last[s.pk].astimezone(tz)
        out.append(
            {
                "id": s.pk,
                "date": s.date.isoformat(),
                "session": s.session,
                "department": s.department.name,
                "doctor": s.doctor.name if s.doctor else None,
                "released_at": opened.isoformat(),
                "sold_out_at": sold.isoformat(),
                "seconds": max(int((sold - opened).total_seconds()), 0),
                "online": online_counts.get(s.pk, 0),
            }
        )
    return out


def figures_of_day(*, hospital_ids: Iterable[int] | None, day: dt.date) -> dict[str, int]:
    """The dashboard's figures of registrations for one visit day, so far."""
    qs = Registration.objects.filter(visit_date=day).exclude(status=RegistrationStatus.MOVED)
    if hospital_ids is not None:
        qs = qs.filter(hospital_id__in=list(hospital_ids))
    return qs.aggregate(
        booked=Count("status", filter=~Q(status__in=CANCELLED)),
        checked_in=Count("status", filter=Q(status__in=CAME)),
        no_show=Count("status", filter=Q(status=RegistrationStatus.NO_SHOW)),
        cancelled=Count("status", filter=Q(status__in=CANCELLED)),
    )
