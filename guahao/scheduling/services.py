from __future__ import annotations

import datetime as dt

from django.db import transaction

from guahao.catalog.models import Campus, Department, Doctor, Fee, Title
from guahao.core import clock
from guahao.scheduling import errors
from guahao.scheduling.models import Period, Pool, Schedule, Session, Slot


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
