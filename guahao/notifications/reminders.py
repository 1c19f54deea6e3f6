"""Reminders before a visit: the day before at the hospital's reminder time (seed 001, 004: "the
day before, with the approximate time"), and ``GUAHAO_REMINDER_HOURS_BEFORE`` hours before.

The periodic job may run late, twice, or on two workers at once: a registration is reminded
once per kind, kept by the database (one message per registration, kind and channel). A
registration booked after its reminder's time gets none (its confirmation said it all), and a
reminder is never sent after the visit began.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet

from guahao.booking.models import Registration, RegistrationStatus
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.notifications import services
from guahao.notifications.models import HospitalChannels, Message

DAY_BEFORE = "reminder.day_before"
HOURS_BEFORE = "reminder.hours_before"


def _not_reminded(kind: str) -> Exists:
    return Exists(Message.objects.filter(registration=OuterRef("pk"), kind=kind))


def _remind(registration: Registration, kind: str, **facts: object) -> bool:
    try:
        with transaction.atomic():
            rows = services.notice(
                account_id=registration.account_id,
                kind=kind,
                key=f"{kind}:{registration.pk}",
                hospital_id=registration.hospital_id,
                facts=services.visit_facts(registration) | facts,
                registration_id=registration.pk,
                expires_at=registration.period.starts_at,
            )
    except IntegrityError:  # reminded meanwhile by another worker
        return False
    return bool(rows)


def _booked() -> QuerySet[Registration]:
    return Registration.objects.filter(status=RegistrationStatus.BOOKED).select_related(
        "hospital", "department", "doctor", "schedule__hospital", "period"
    )


def reminders_day_before(*, limit: int = 1000) -> int:
    """Every hospital whose reminder time has come today: tomorrow's registrations."""
    if settings.REMINDER_DAY_BEFORE_AT is None:
        return 0
    now = clock.now()
    own = dict(HospitalChannels.objects.exclude(reminder_time=None).values_list("hospital_id", "reminder_time"))
    sent = 0
    for hospital in Hospital.objects.filter(is_active=True):
        at = own.get(hospital.pk) or settings.REMINDER_DAY_BEFORE_AT
        today = clock.local_today(hospital.timezone)
        remind_at = clock.at_local(today, at, hospital.timezone)
        if now < remind_at:
            continue
        due = (
            _booked()
            .filter(hospital=hospital, visit_date=today + dt.timedelta(days=1), booked_at__lt=remind_at)
            .filter(period__starts_at__gt=now)
            .exclude(_not_reminded(DAY_BEFORE))
        )
        for registration in due[:limit]:
            sent += _remind(registration, DAY_BEFORE)
    return sent


def reminders_hours_before(*, limit: int = 1000) -> int:
    hours = settings.REMINDER_HOURS_BEFORE
    if not hours:
        return 0
    now = clock.now()
    ahead = dt.timedelta(hours=hours)
    due = (
        _booked()
        .filter(period__starts_at__gt=now, period__starts_at__lte=now + ahead)
        .exclude(_not_reminded(HOURS_BEFORE))
    )
    sent = 0
    for registration in due[:limit]:
        if registration.booked_at >= registration.period.starts_at - ahead:
            continue  # booked within the last hours: the confirmation is the reminder
        sent += _remind(registration, HOURS_BEFORE, hours=hours)
    return sent


def reminders_send_due() -> dict[str, int]:
    """The periodic job."""
    return {"day_before": reminders_day_before(), "hours_before": reminders_hours_before()}
