"""Reads of the booking domain that need care: ownership, and alternatives for a full schedule."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, Q, QuerySet

from guahao.accounts.models import Account, Patient
from guahao.booking import errors
from guahao.booking.models import (
    RATEABLE_REGISTRATION,
    Hold,
    HoldStatus,
    Rating,
    RatingStatus,
    Registration,
    RegistrationStatus,
)
from guahao.catalog.models import Doctor, Hospital
from guahao.core import clock
from guahao.core.errors import NOT_FOUND
from guahao.scheduling.models import Period, Pool, Schedule, ScheduleStatus, Slot, SlotState
from guahao.scheduling.rules import Rules, cancel_deadline, release_at, rules_for, rules_for_schedule
from guahao.scheduling.selectors import with_available

ONSITE_CHANNELS = ("window", "kiosk")


PHONE_CHANNEL = "phone"


def pool_of(channel: str) -> str:
    """The pool a channel books from when a clinic has no phone desk share: the window and
    kiosks the onsite pool, the others online."""
    return Pool.ONSITE if channel in ONSITE_CHANNELS else Pool.PLATFORM


def pools_of(channel: str, schedule: Schedule) -> tuple[str, str | None]:
    """The pool a hold takes its slot from first, and the one it falls back on (None: none).
    The phone desk takes its own share of a clinic that has one (``Schedule.phone_pool``, read
    from the schedule's facts: no query), then the platform pool like any online channel; no
    other channel ever takes the phone desk's share."""
    if channel == PHONE_CHANNEL and schedule.phone_pool:
        return Pool.PHONE, Pool.PLATFORM
    return pool_of(channel), None


def access_patient(*, account: Account, patient_id: int | str) -> Patient:
    """The account's own patient; anyone else's is reported as unknown, never as forbidden."""
    patient = Patient.objects.filter(pk=_int(patient_id), account=account, removed_at__isnull=True).first()
    if patient is None:
        raise NOT_FOUND.error(field="patient_id")
    return patient


def patient_booked_ahead(patient_id: int, now: dt.datetime) -> str | None:
    """What of booking still needs the patient: a registration whose time has not passed, or a
    live hold (the guard ``accounts`` asks before a patient is removed)."""
    if Registration.objects.filter(
        patient_id=patient_id,
        status__in=[RegistrationStatus.BOOKED, RegistrationStatus.CHECKED_IN],
        period__ends_at__gt=now,
    ).exists():
        return "registration"
    if Hold.objects.filter(patient_id=patient_id, status=HoldStatus.HELD, expires_at__gt=now).exists():
        return "hold"
    return None


def access_hold(*, account: Account, hold_id: int | str) -> Hold:
    hold = (
        Hold.objects.select_related("schedule__hospital", "period", "slot", "patient")
        .filter(pk=_int(hold_id), account=account)
        .first()
    )
    if hold is None:
        raise NOT_FOUND.error()
    return hold


def live_holds_of(account: Account) -> QuerySet[Hold]:
    """The account's holds still to be confirmed (or paid) before they run out, the first to run
    out first: what a patient who left the hold's page, or whose answer was lost, goes on with."""
    return (
        Hold.objects.filter(account=account, status=HoldStatus.HELD, expires_at__gt=clock.now())
        .select_related("schedule__hospital", "schedule__doctor", "department", "period", "slot", "patient")
        .order_by("expires_at", "pk")
    )


def hold_in_the_way(*, account: Account, patient_id: int, schedule: Schedule, refused: str) -> Hold | None:
    """The account's own live hold that a new hold for ``patient_id`` on ``schedule`` was refused
    for, when the refusal (its code) is a limit: the same person's in that department that day
    first (a hold whose answer was lost in a release's crowd, asked for again, is refused so: the
    patient goes on with it), else, for the limit of live holds, the live hold that runs out first.
    None when what stands in the way is a registration, or another account's hold."""
    if refused not in (errors.HOLD_LIMIT.code, errors.ONE_PER_DEPARTMENT.code):
        return None
    live = live_holds_of(account)
    person = Patient.objects.filter(pk=patient_id, account=account).values_list("id_number_hash", flat=True).first()
    same = None
    if person:
        same = (
            live.filter(person_hash=person, department_id=schedule.department_id, visit_date=schedule.date)
            .order_by("pk")
            .first()
        )
    if same is None and refused == errors.HOLD_LIMIT.code:
        return live.first()
    return same


def registrations_of(account: Account) -> QuerySet[Registration]:
    return Registration.objects.filter(account=account).select_related(
        "hospital", "department", "doctor", "patient", "period", "schedule__hospital", "schedule__campus", "rating"
    )


def patient_cancel_window(registration: Registration) -> tuple[dt.datetime, bool]:
    """The last moment the patient may cancel online, and whether it is still open now."""
    deadline = cancel_deadline(registration.schedule, rules_for_schedule(registration.schedule))
    return deadline, registration.status == RegistrationStatus.BOOKED and clock.now() < deadline


def doctors_seen(*, account: Account, hospital: Hospital, limit: int = 10) -> list[Doctor]:
    """Doctors the account's patients saw at the hospital (checked in or visited), last seen
    first (a follow-up visit usually goes to the same doctor); not one only booked, cancelled,
    moved away from or missed."""
    seen: dict[int, Doctor] = {}
    booked = (
        registrations_of(account)
        .filter(
            hospital=hospital,
            doctor__isnull=False,
            status__in=[RegistrationStatus.CHECKED_IN, RegistrationStatus.VISITED],
        )
        .order_by("-visit_date")
    )
    for r in booked.select_related("doctor__department")[:100]:
        if r.doctor is not None and r.doctor.is_active:
            seen.setdefault(r.doctor.pk, r.doctor)
    return list(seen.values())[:limit]


def access_registration(*, account: Account, registration_id: int | str) -> Registration:
    registration = registrations_of(account).filter(pk=_int(registration_id)).first()
    if registration is None:
        raise NOT_FOUND.error()
    return registration


def _int(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _bookable(qs: QuerySet[Schedule], now: dt.datetime, limit: int, exclude: set[int]) -> list[Schedule]:
    """Schedules of ``qs`` that are open, released, not over, and have a free online slot."""
    out: list[Schedule] = []
    rules: dict[tuple[int, int | None], Rules] = {}
    open_ = with_available(qs.filter(status=ScheduleStatus.OPEN, ends_at__gt=now).exclude(pk__in=exclude))
    for s in open_.filter(free_online__gt=0)[:200]:  # type: ignore[misc]
        key = (s.department_id, s.doctor_id)
        if key not in rules:
            rules[key] = rules_for(hospital=s.hospital, department=s.department, doctor_id=s.doctor_id)
        if now >= release_at(s, rules[key]):
            out.append(s)
            if len(out) >= limit:
                break
    return out


def alternatives(*, schedule: Schedule, period: Period | None, limit: int = 5) -> list[dict[str, Any]]:
    """What to offer a patient refused a slot, nearest first: other periods of the same
    schedule, other doctors (or the general clinic) of the department that day, the same doctor
    on other days, the department's general clinic on other days, then any doctor of the
    department on any day it is bookable: never empty while anything in the department is free
    within the release window. At most ``limit``; times in the hospital's time zone."""
    now = clock.now()
    found: list[dict[str, Any]] = []
    if period is not None:
        free_periods = (
            Slot.objects.filter(schedule=schedule, pool=Pool.PLATFORM, state=SlotState.FREE, period__ends_at__gt=now)
            .exclude(period=period)
            .values_list("period_id", flat=True)
            .distinct()
        )
        for p in Period.objects.filter(pk__in=list(free_periods)).order_by("starts_at")[:limit]:
            found.append(_alternative("period", schedule, p))
    offered = {schedule.pk}
    related = Schedule.objects.select_related("doctor", "hospital", "department__parent__parent")
    department = related.filter(department_id=schedule.department_id)
    upcoming = department.filter(date__gte=clock.local_today(schedule.hospital.timezone)).order_by("date", "starts_at")
    steps: list[tuple[str, QuerySet[Schedule]]] = [
        ("doctor", department.filter(date=schedule.date).order_by("starts_at"))
    ]
    if schedule.doctor_id:
        steps.append(("day", upcoming.filter(doctor_id=schedule.doctor_id)))
    steps += [("general", upcoming.filter(doctor__isnull=True)), ("department", upcoming)]
    for kind, qs in steps:
        if len(found) >= limit:
            break
        for s in _bookable(qs, now, limit - len(found), offered):
            offered.add(s.pk)
            found.append(_alternative(kind, s))
    return found[:limit]


def _alternative(kind: str, schedule: Schedule, period: Period | None = None) -> dict[str, Any]:
    doctor = schedule.doctor
    tz = ZoneInfo(schedule.hospital.timezone)
    return {
        "kind": kind,
        "schedule_id": str(schedule.pk),
        "period_id": str(period.pk) if period else None,
        "date": schedule.date.isoformat(),
        "session": schedule.session,
        "starts_at": (period or schedule).starts_at.astimezone(tz).isoformat(),
        "doctor": {"id": str(doctor.pk), "name": doctor.name, "name_en": doctor.name_en, "title": doctor.title}
        if doctor
        else None,
    }


# --- staff reads (the console's orders, the staff API) -------------------------------------------


def registrations_find(qs: QuerySet[Registration], term: str) -> QuerySet[Registration]:
    """Registrations found by what a patient tells the desk: the full ID number (looked up by
    its keyed hash, never stored or compared in clear), a phone number (the account's or the
    patient's), the registration number, or the patient's name."""
    from django.db.models import Q

    from guahao.accounts import idcard, phones

    term = (term or "").strip().replace(" ", "")
    if not term:
        return qs
    parsed = idcard.parse(term)
    if parsed is not None:
        return qs.filter(person_hash__in=idcard.lookup_hashes(parsed.number))
    # A mobile number as it is written down (138-0013-8000, +86 138 0013 8000, and 86 before the
    # 11 digits where an address read the "+" as a space), read as the patients' own forms read it.
    phone = _mobile(term)
    if phone is not None:
        return qs.filter(phones.matching(phone, "account__phone_hash") | phones.matching(phone, "patient__phone_hash"))
    # A passport or permit number (its document unsaid) may also be what was typed.
    documents = Q(person_hash__in=idcard.other_document_hashes(term))
    if term.isdigit():
        return qs.filter(Q(registration_number__startswith=term) | documents)
    return qs.filter(Q(patient__name__icontains=term) | documents)


def _mobile(term: str) -> str | None:
    """``term`` as a mainland mobile number's 11 digits, or None when it is not one."""
    from guahao.accounts.services import phone_normalize
    from guahao.core.problems import Problem

    try:
        return phone_normalize(term)
    except Problem:
        return None


def registration_events(registration: Registration) -> QuerySet[Any]:
    """The booking events of one order, its hold's included, oldest first."""
    from django.db.models import Q

    from guahao.booking.models import BookingEvent

    return BookingEvent.objects.filter(Q(hold_id=registration.hold_id) | Q(registration=registration)).order_by(
        "at", "id"
    )


def reschedule_choices(registration: Registration, days: int = 14) -> QuerySet[Schedule]:
    """The clinics a registration may be moved to: its department's open ones of the coming
    ``days`` that have not ended, with a free slot in the pool it was booked from (``free``),
    but the one it is booked at; soonest first."""
    today = clock.local_today(registration.hospital.timezone)
    pools = [pool_of(registration.channel)] + ([Pool.PHONE] if registration.channel == PHONE_CHANNEL else [])
    free = Q(slots__state=SlotState.FREE, slots__pool__in=pools)
    return (
        Schedule.objects.filter(
            department_id=registration.department_id,
            status=ScheduleStatus.OPEN,
            date__gte=today,
            date__lt=today + dt.timedelta(days=days),
            ends_at__gt=clock.now(),
        )
        .exclude(pk=registration.schedule_id)
        .annotate(free=Count("slots", filter=free))
        .filter(free__gt=0)
        .order_by("starts_at", "pk")
    )


# --- ratings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownRating:
    patient: str  # masked: "张*"
    score: int
    comment: str
    at: dt.datetime


@dataclass(frozen=True)
class RatingSummary:
    average: float | None  # one decimal; None before the first published rating
    count: int
    recent: list[ShownRating] = field(default_factory=list)


def masked_name(name: str) -> str:
    """A patient's name as others see it: the family name and a star for the rest ("张*")."""
    name = name.strip()
    return f"{name[:1]}{'*' * max(1, len(name) - 1)}" if name else "*"


def _published() -> QuerySet[Rating]:
    return Rating.objects.filter(status=RatingStatus.PUBLISHED)


def doctor_ratings(*, doctor_id: int, recent: int = 5) -> RatingSummary:
    """The doctor's published ratings: the average, how many, and the latest comments."""
    rows = _published().filter(doctor_id=doctor_id)
    totals = rows.aggregate(average=Avg("score"), count=Count("id"))
    latest = rows.exclude(comment="").select_related("patient").order_by("-decided_at", "-pk")[:recent]
    return RatingSummary(
        average=round(totals["average"], 1) if totals["average"] is not None else None,
        count=totals["count"],
        recent=[ShownRating(masked_name(r.patient.name), r.score, r.comment, r.created_at) for r in latest],
    )


def doctors_ratings(doctor_ids: list[int]) -> dict[int, RatingSummary]:
    """Average and count of published ratings of several doctors in one query (search results)."""
    found = (
        _published().filter(doctor_id__in=doctor_ids).values("doctor_id").annotate(average=Avg("score"), n=Count("id"))
    )
    return {r["doctor_id"]: RatingSummary(round(r["average"], 1), r["n"]) for r in found}


def registration_rateable(registration: Registration) -> bool:
    """The patient may rate this registration's doctor now (seen, and not rated yet)."""
    return (
        registration.doctor_id is not None
        and registration.status in RATEABLE_REGISTRATION
        and not Rating.objects.filter(registration=registration).exists()
    )


def rating_of(registration: Registration) -> Rating | None:
    return Rating.objects.filter(registration=registration).first()
