from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from guahao.catalog.models import Campus, Department, Doctor, Fee, Title
from guahao.core import clock
from guahao.scheduling import errors, facts
from guahao.scheduling.models import Period, Pool, Schedule, ScheduleStatus, Session, Slot, SlotState


@transaction.atomic
def schedule_create(
    *,
    department: Department,
    doctor: Doctor | None,
    date: dt.date,
    session: str,
    start: dt.time,
    end: dt.time,
    period_minutes: int = 30,
    slots_per_period: int = 3,
    platform_share_percent: int = 60,
    campus: Campus | None = None,
    location: str = "",
) -> Schedule:
    """A schedule with its periods and numbered slots, split between the onsite and platform pools.

    Within each period the first share of numbers goes to the platform, the rest to the window,
    so both channels have early and late times. Fees are copied from the hospital's fee table for
    the doctor's title, so a later fee change does not alter what was shown when booking.
    """
    if session not in Session.values:
        raise errors.SCHEDULE_INVALID.error(field="session")
    if end <= start or period_minutes <= 0 or slots_per_period <= 0:
        raise errors.SCHEDULE_INVALID.error(field="end")
    if not 0 <= platform_share_percent <= 100:
        raise errors.SCHEDULE_INVALID.error(field="platform_share_percent")
    hospital = department.hospital
    tz = hospital.timezone
    title = doctor.title if doctor else Title.GENERAL
    fee = Fee.objects.filter(hospital=hospital, title=title).first()
    schedule = Schedule.objects.create(
        hospital=hospital,
        campus=campus or department.campus,
        department=department,
        doctor=doctor,
        date=date,
        session=session,
        starts_at=clock.at_local(date, start, tz),
        ends_at=clock.at_local(date, end, tz),
        registration_fee_fen=fee.registration_fee_fen if fee else 0,
        consultation_fee_fen=fee.consultation_fee_fen if fee else 0,
        location=location or department.location,
    )
    platform_per_period = round(slots_per_period * platform_share_percent / 100)
    number = 1
    slots: list[Slot] = []
    cursor = schedule.starts_at
    step = dt.timedelta(minutes=period_minutes)
    while cursor < schedule.ends_at:
        period = Period.objects.create(
            schedule=schedule, starts_at=cursor, ends_at=min(cursor + step, schedule.ends_at)
        )
        for i in range(slots_per_period):
            pool = Pool.PLATFORM if i < platform_per_period else Pool.ONSITE
            slots.append(Slot(schedule=schedule, period=period, number=number, pool=pool))
            number += 1
        cursor += step
    Slot.objects.bulk_create(slots)
    return schedule


def slots_mirror(
    *, schedule: Schedule, free_numbers: list[int], taken_numbers: list[int], known_numbers: list[int]
) -> int:
    """Mirror what the HIS says of platform slots that are not held or booked here: free there is
    free here, taken on another channel (or no longer offered) is ``elsewhere``. Returns how many
    came free. Conditional updates: a slot held or booked here meanwhile is left alone."""
    freed = Slot.objects.filter(schedule=schedule, number__in=free_numbers, state=SlotState.ELSEWHERE).update(
        state=SlotState.FREE
    )
    Slot.objects.filter(schedule=schedule, number__in=taken_numbers, state=SlotState.FREE).update(
        state=SlotState.ELSEWHERE
    )
    Slot.objects.filter(schedule=schedule, pool=Pool.PLATFORM, state=SlotState.FREE).exclude(
        number__in=known_numbers
    ).update(state=SlotState.ELSEWHERE)
    _changed(schedule)
    return freed


def _changed(schedule: Schedule) -> None:
    """The schedule or its slots changed by an update (no signal): what is cached of it goes,
    now and once committed."""

    def forget() -> None:
        facts.facts_changed()
        facts.department_changed(schedule.department_id)

    forget()
    transaction.on_commit(forget)


@dataclass(frozen=True)
class SlotSpec:
    number: int
    period_starts_at: dt.datetime
    period_ends_at: dt.datetime


def _periods_and_slots(schedule: Schedule, specs: list[SlotSpec]) -> int:
    periods = {p.starts_at: p for p in schedule.periods.all()}
    have = set(schedule.slots.values_list("number", flat=True))
    new = []
    for spec in specs:
        if spec.number in have:
            continue
        period = periods.get(spec.period_starts_at)
        if period is None:
            period = Period.objects.create(
                schedule=schedule, starts_at=spec.period_starts_at, ends_at=spec.period_ends_at
            )
            periods[period.starts_at] = period
        new.append(Slot(schedule=schedule, period=period, number=spec.number, pool=Pool.PLATFORM))
    Slot.objects.bulk_create(new)
    return len(new)


@transaction.atomic
def schedule_from_his(
    *,
    department: Department,
    doctor: Doctor | None,
    his_id: str,
    date: dt.date,
    session: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    registration_fee_fen: int,
    consultation_fee_fen: int,
    location: str,
    slots: list[SlotSpec],
) -> tuple[Schedule, bool]:
    """Create or update the local copy of a HIS schedule and its platform slots; (schedule,
    whether anything changed). Only the platform pool is copied: the window's slots are the
    HIS's business. A schedule made here for the same doctor and session is adopted."""
    if session not in Session.values:
        raise errors.SCHEDULE_INVALID.error(field="session")
    hospital = department.hospital
    values = {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "registration_fee_fen": registration_fee_fen,
        "consultation_fee_fen": consultation_fee_fen,
        "location": location or department.location,
    }
    schedule = Schedule.objects.filter(hospital=hospital, his_id=his_id).first()
    if schedule is None and doctor is not None:
        schedule = Schedule.objects.filter(
            department=department, doctor=doctor, date=date, session=session, his_id=""
        ).first()
    changed = False
    if schedule is None:
        schedule = Schedule.objects.create(
            hospital=hospital,
            campus=department.campus,
            department=department,
            doctor=doctor,
            date=date,
            session=session,
            his_id=his_id,
            **values,
        )
        changed = True
    else:
        differing = {k: v for k, v in values.items() if getattr(schedule, k) != v}
        if differing or schedule.his_id != his_id:
            Schedule.objects.filter(pk=schedule.pk).update(his_id=his_id, **differing)
            schedule.refresh_from_db()
            changed = True
    changed = _periods_and_slots(schedule, slots) > 0 or changed
    if changed:
        _changed(schedule)
    return schedule, changed


def schedule_mark_suspended(*, schedule: Schedule, reason: str) -> bool:
    """Open → suspended, once; False if it already was."""
    done = bool(
        Schedule.objects.filter(pk=schedule.pk, status=ScheduleStatus.OPEN).update(
            status=ScheduleStatus.SUSPENDED, suspended_reason=reason[:200]
        )
    )
    if done:
        _changed(schedule)
    return done
