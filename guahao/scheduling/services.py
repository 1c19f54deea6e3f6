from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Q, Value, When
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital, Title
from guahao.core import clock, outbox
from guahao.core.audit import audit_record
from guahao.core.problems import Problem
from guahao.scheduling import errors, facts, locks
from guahao.scheduling.models import (
    CalendarDay,
    Period,
    Pool,
    PoolReturn,
    Schedule,
    ScheduleEvent,
    ScheduleStatus,
    ScheduleTemplate,
    Session,
    Slot,
    SlotState,
)
from guahao.scheduling.rules import Rules, pool_return_at, rules_for, rules_for_schedule

log = logging.getLogger(__name__)


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
    phone_share_percent: int | None = None,
    campus: Campus | None = None,
    location: str = "",
    fee_title: str = "",
    template: ScheduleTemplate | None = None,
) -> Schedule:
    """A schedule with its periods and numbered slots, split between the platform, phone desk
    and onsite pools.

    Within each period the first share of numbers goes to the platform, the next to the phone
    desk (``phone_share_percent``; None: the rules' share, 0 unless a rule set gives one, and no
    more than the platform's share leaves), the
    rest to the window, so every channel has early and late times. Fees are copied from the
    hospital's fee table for the doctor's title, so a later fee change does not alter what was
    shown when booking.
    """
    if session not in Session.values:
        raise errors.SCHEDULE_INVALID.error(field="session")
    if end <= start or period_minutes <= 0 or slots_per_period <= 0:
        raise errors.SCHEDULE_INVALID.error(field="end")
    if not 0 <= platform_share_percent <= 100:
        raise errors.SCHEDULE_INVALID.error(field="platform_share_percent")
    if doctor is not None and doctor.hospital_id != department.hospital_id:
        raise errors.SCHEDULE_INVALID.error(field="doctor")
    if phone_share_percent is None:  # the rules', less if this clinic gives more online
        phone_share_percent = min(
            rules_for(
                hospital=department.hospital, department=department, doctor_id=doctor.pk if doctor else None
            ).phone_share_percent,
            max(0, 100 - platform_share_percent),
        )
    if not 0 <= phone_share_percent <= 100 or platform_share_percent + phone_share_percent > 100:
        raise errors.SCHEDULE_INVALID.error(field="phone_share_percent")
    platform_per_period, phone_per_period = _split(slots_per_period, platform_share_percent, phone_share_percent)
    hospital = department.hospital
    tz = hospital.timezone
    title = fee_title or (doctor.title if doctor else Title.GENERAL)
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
        template=template,
        phone_pool=phone_per_period > 0,
    )
    number = 1
    slots: list[Slot] = []
    cursor = schedule.starts_at
    step = dt.timedelta(minutes=period_minutes)
    while cursor < schedule.ends_at:
        period = Period.objects.create(
            schedule=schedule, starts_at=cursor, ends_at=min(cursor + step, schedule.ends_at)
        )
        for i in range(slots_per_period):
            pool = _pool_of_place(i, platform_per_period, phone_per_period)
            slots.append(Slot(schedule=schedule, period=period, number=number, pool=pool))
            number += 1
        cursor += step
    Slot.objects.bulk_create(slots)
    return schedule


def _split(count: int, platform_percent: int, phone_percent: int) -> tuple[int, int]:
    """How many of ``count`` numbers go online and how many to the phone desk (the rest to
    the window); the two rounded shares never add up to more than ``count``."""
    platform = round(count * platform_percent / 100)
    return platform, min(round(count * phone_percent / 100), count - platform)


def _pool_of_place(i: int, platform: int, phone: int) -> str:
    """The pool of the ``i``-th new number: the platform's first, then the phone desk's."""
    if i < platform:
        return Pool.PLATFORM
    return Pool.PHONE if i < platform + phone else Pool.ONSITE


# --- slots given back, and the waitlist's claim on them ----------------------------------------------


def freed_state() -> Case:
    """What a platform slot given back becomes, decided in the statement that gives it back:
    free, or kept for the waitlist while anyone is on its clinic's waitlist."""
    waiting = Schedule.objects.filter(pk=OuterRef("schedule_id"), waitlist_active__gt=0)
    return Case(
        When(Q(pool=Pool.PLATFORM) & Exists(waiting), then=Value(SlotState.RESERVED)),
        default=Value(SlotState.FREE),
    )


def slot_freed(*, schedule_id: int, why: str) -> None:
    """Tell the apps above that a slot of the schedule may be free (call in the transaction)."""
    outbox.event_emit("slot.freed", schedule_id=schedule_id, why=why)


def waitlist_enter(*, schedule_id: int, places: int) -> bool:
    """One more patient on the clinic's waitlist, if it has a place left (the conditional
    update is what keeps the places: two patients never take the last one). Call inside the
    joining transaction."""
    return bool(
        Schedule.objects.filter(pk=schedule_id, waitlist_active__lt=places).update(
            waitlist_active=F("waitlist_active") + 1
        )
    )


def waitlist_leave(*, schedule_id: int) -> None:
    """One patient less on the clinic's waitlist (they booked, left, or their entry ended)."""
    Schedule.objects.filter(pk=schedule_id, waitlist_active__gt=0).update(waitlist_active=F("waitlist_active") - 1)


def slots_unreserve(*, schedule_id: int) -> int:
    """Nobody left to offer them to: the slots kept for the waitlist are free for anyone."""
    return Slot.objects.filter(schedule_id=schedule_id, state=SlotState.RESERVED).update(state=SlotState.FREE)


def slots_mirror(
    *, schedule: Schedule, free_numbers: list[int], taken_numbers: list[int], known_numbers: list[int]
) -> int:
    """Mirror what the HIS says of platform slots that are not held or booked here: free there is
    free here, taken on another channel (or no longer offered) is ``elsewhere``. Returns how many
    came free. Conditional updates: a slot held or booked here meanwhile is left alone."""
    freed = Slot.objects.filter(schedule=schedule, number__in=free_numbers, state=SlotState.ELSEWHERE).update(
        state=freed_state()
    )
    if freed:
        slot_freed(schedule_id=schedule.pk, why="his")
    # A slot kept for the waitlist is as free as a free one: another channel may have taken it.
    untaken = [SlotState.FREE, SlotState.RESERVED]
    Slot.objects.filter(schedule=schedule, number__in=taken_numbers, state__in=untaken).update(
        state=SlotState.ELSEWHERE
    )
    Slot.objects.filter(schedule=schedule, pool=Pool.PLATFORM, state__in=untaken).exclude(
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


def _periods_moved(schedule: Schedule, specs: list[SlotSpec]) -> int:
    """The half-hours of slots we have, moved where the HIS now has them (a clinic moved an hour
    later at the hospital): each period row moves whole, so the registrations on it read the new
    time. A period whose slots the HIS now splits between times is left as it is. How many moved."""
    old = {p.pk: p for p in schedule.periods.all()}
    of_slot = dict(schedule.slots.values_list("number", "period_id"))
    wanted: dict[int, set[tuple[dt.datetime, dt.datetime]]] = {}
    for spec in specs:
        if spec.number in of_slot:
            wanted.setdefault(of_slot[spec.number], set()).add((spec.period_starts_at, spec.period_ends_at))
    moves = [
        (old[pk], *next(iter(times)))
        for pk, times in wanted.items()
        if len(times) == 1 and next(iter(times)) != (old[pk].starts_at, old[pk].ends_at)
    ]
    # Later ones first when moving later, earlier ones first when moving earlier: no two periods
    # of the clinic share a start on the way (a constraint).
    moves.sort(
        key=lambda m: (0, -m[0].starts_at.timestamp()) if m[1] > m[0].starts_at else (1, m[0].starts_at.timestamp())
    )
    moved = 0
    for period, start, end in moves:
        try:
            with transaction.atomic():
                moved += Period.objects.filter(pk=period.pk).update(starts_at=start, ends_at=end)
        except IntegrityError:
            log.warning("schedule %s: period %s cannot move to %s (another starts then)", schedule.pk, period.pk, start)
    return moved


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
    changed = _periods_moved(schedule, slots) + _periods_and_slots(schedule, slots) > 0 or changed
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
        outbox.event_emit("schedule.suspended", schedule_id=schedule.pk, reason=reason[:200])
    return done


# --- staff work on one schedule --------------------------------------------------------------------


def _event(schedule: Schedule, kind: str, actor: str, reason: str = "", **data: object) -> ScheduleEvent:
    """A staff change of the schedule, recorded; what is cached of the schedule (its facts, the
    department's availability) goes with it."""
    _changed(schedule)
    event = ScheduleEvent.objects.create(
        schedule=schedule, at=clock.now(), kind=kind, actor=actor, reason=reason[:200], data=data
    )
    if actor not in ("", "system", "his"):  # a staff member's change: in the audit log too
        audit_record(
            actor=actor,
            action=f"schedule.{kind}",
            target_type="schedule",
            target_id=schedule.pk,
            target=f"{schedule.date} {schedule.get_session_display()} #{schedule.pk}",
            hospital_id=schedule.hospital_id,
            before={"value": data["before"]} if "before" in data else {},
            after={k: v for k, v in data.items() if k != "before"},
            reason=reason,
        )
    return event


def schedule_capacity(schedule: Schedule) -> int:
    """Every number of the schedule still offered (free, held, booked or taken elsewhere)."""
    return schedule.slots.exclude(state=SlotState.WITHDRAWN).count()


def _new_slots(schedule: Schedule, count: int, *, platform: int, extra: bool, phone: int = 0) -> list[Slot]:
    """``count`` new numbers after the last one, in the schedule's last period (a 加号 is seen
    after the booked ones); the first ``platform`` of them online, the next ``phone`` the phone
    desk's. Call with the schedule locked."""
    period = schedule.periods.order_by("-starts_at").first()
    if period is None:
        period = Period.objects.create(schedule=schedule, starts_at=schedule.starts_at, ends_at=schedule.ends_at)
    last = schedule.slots.aggregate(n=Max("number"))["n"] or 0
    # Patients waiting for the clinic are offered new online numbers before anyone else.
    state = SlotState.RESERVED if schedule.waitlist_active else SlotState.FREE
    slots = [
        Slot(
            schedule=schedule,
            period=period,
            number=last + 1 + i,
            pool=_pool_of_place(i, platform, phone),
            state=state if i < platform else SlotState.FREE,
            extra=extra,
        )
        for i in range(count)
    ]
    return Slot.objects.bulk_create(slots)


def _open_for_changes(schedule: Schedule) -> None:
    if schedule.status != ScheduleStatus.OPEN or schedule.ends_at <= clock.now():
        raise errors.SCHEDULE_CLOSED.error()


def schedule_capacity_set(*, schedule: Schedule, capacity: int, actor: str) -> tuple[int, int]:
    """Staff set how many numbers the clinic has; (before, after). New numbers are split between
    the pools by the rules' share; fewer withdraws free numbers from the last one down, and a
    number held or booked is never withdrawn, so the capacity never goes below them: the
    conditional update (``… WHERE state = 'free'``) decides against a patient taking it at the
    same moment, and the whole change is refused if too few numbers are free."""
    if capacity < 0 or capacity > 1000:
        raise errors.SCHEDULE_INVALID.error(field="capacity")
    with transaction.atomic():
        locked = locks.lock_schedule(schedule.pk)
        _open_for_changes(locked)
        before = schedule_capacity(locked)
        if capacity > before:
            rules = rules_for_schedule(locked)
            added = capacity - before
            # The phone desk's share of the new numbers if the clinic has one (or the rules now
            # give one, as a new clinic would get it).
            phone_percent = rules.phone_share_percent
            if rules.platform_share_percent + phone_percent > 100:
                phone_percent = 100 - rules.platform_share_percent
            platform, phone = _split(added, rules.platform_share_percent, phone_percent)
            _new_slots(locked, added, platform=platform, phone=phone, extra=False)
            if phone and not locked.phone_pool:
                Schedule.objects.filter(pk=locked.pk).update(phone_pool=True)
                _changed(locked)
            slot_freed(schedule_id=locked.pk, why="capacity")
        withdrawn = 0
        while withdrawn < before - capacity:
            free = list(
                locked.slots.filter(state__in=[SlotState.FREE, SlotState.RESERVED])
                .order_by("-number")
                .values_list("pk", flat=True)[: before - capacity - withdrawn]
            )
            if not free:
                raise errors.CAPACITY_BELOW_BOOKED.error(
                    detail=errors.CAPACITY_BELOW_BOOKED.title, field="capacity", taken=before - withdrawn - len(free)
                )
            withdrawn += Slot.objects.filter(pk__in=free, state__in=[SlotState.FREE, SlotState.RESERVED]).update(
                state=SlotState.WITHDRAWN
            )
        if capacity != before:
            _event(locked, "capacity_changed", actor, before=before, after=capacity)
    return before, capacity


def schedule_extra_slots_add(*, schedule: Schedule, count: int, reason: str, actor: str) -> list[Slot]:
    """加号: ``count`` extra numbers, online and free at once, with the reason in the schedule's
    audit trail."""
    if not 1 <= count <= 50:
        raise errors.SCHEDULE_INVALID.error(field="count")
    if not reason.strip():
        raise errors.SCHEDULE_INVALID.error(field="reason")
    with transaction.atomic():
        locked = locks.lock_schedule(schedule.pk)
        _open_for_changes(locked)
        slots = _new_slots(locked, count, platform=count, extra=True)
        slot_freed(schedule_id=locked.pk, why="extra_slots")
        _event(
            locked, "extra_slots_added", actor, reason=reason.strip(), count=count, numbers=[s.number for s in slots]
        )
    return slots


def schedule_relief_slot_add(*, schedule: Schedule, reason: str, actor: str) -> Slot:
    """A relief slot (救济): one extra number after the last, held at once for the patient it is
    given to (never free, so nobody else can take it), in the schedule's audit trail. Call inside
    the transaction that books it."""
    locked = locks.lock_schedule(schedule.pk)
    _open_for_changes(locked)
    slot = _new_slots(locked, 1, platform=0, extra=True)[0]
    Slot.objects.filter(pk=slot.pk, state=SlotState.FREE).update(state=SlotState.HELD)
    slot.state = SlotState.HELD
    _event(locked, "relief_slot_added", actor, reason=reason.strip(), numbers=[slot.number])
    return slot


def _overlapping(
    *, hospital_id: int, doctor_id: int | None, department_id: int, location: str, starts_at, ends_at
) -> Q | None:  # type: ignore[no-untyped-def]
    """The clinics that cannot run at the same time as one at [starts_at, ends_at): the same
    doctor anywhere in the hospital; for a general clinic, the same room of the department."""
    at_once = Q(hospital_id=hospital_id, status=ScheduleStatus.OPEN, starts_at__lt=ends_at, ends_at__gt=starts_at)
    if doctor_id is not None:
        return at_once & Q(doctor_id=doctor_id)
    if location:
        return at_once & Q(department_id=department_id, doctor__isnull=True, location=location)
    return None


def clinic_refusal(
    *, department: Department, doctor: Doctor | None, date: dt.date, start: dt.time, end: dt.time, location: str
) -> Problem | None:
    """Why a clinic made by hand cannot be: it would be over already (a day gone, or hours
    passed today on the hospital's clock), or its doctor (for a general clinic, its room) is in
    another clinic then, as a move refuses. None when it can."""
    tz = department.hospital.timezone
    starts_at, ends_at = clock.at_local(date, start, tz), clock.at_local(date, end, tz)
    if ends_at <= clock.now():
        if date < clock.local_today(tz):
            return errors.SCHEDULE_INVALID.error(field="date", detail=_("This day is over."))
        return errors.SCHEDULE_INVALID.error(field="end", detail=_("These hours are over today."))
    clash = _overlapping(
        hospital_id=department.hospital_id,
        doctor_id=doctor.pk if doctor else None,
        department_id=department.pk,
        location=location or department.location,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    if clash is not None and Schedule.objects.filter(clash).exists():
        return errors.SCHEDULE_CLASH.error(field="start")
    return None


def schedule_move(
    *,
    schedule: Schedule,
    actor: str,
    start: dt.time | None = None,
    end: dt.time | None = None,
    location: str | None = None,
    reason: str = "",
) -> dict[str, list[str]]:
    """Move a clinic to other hours of its day or to another room; its periods keep their order
    and share of the session. Returns what changed ({field: [before, after]}); refuses a time at
    which the doctor (or, for a general clinic, the room) is already in another clinic. Call
    inside a transaction when patients are to be told in the same one."""
    tz = schedule.hospital.timezone
    local_start = schedule.starts_at.astimezone(ZoneInfo(tz)).time()
    local_end = schedule.ends_at.astimezone(ZoneInfo(tz)).time()
    new_start, new_end = start or local_start, end or local_end
    if new_end <= new_start:
        raise errors.SCHEDULE_INVALID.error(field="end" if end else "start")
    if location is not None and len(location) > 100:
        raise errors.SCHEDULE_INVALID.error(field="location")
    starts_at = clock.at_local(schedule.date, new_start, tz)
    ends_at = clock.at_local(schedule.date, new_end, tz)
    new_location = schedule.location if location is None else location.strip()
    changes: dict[str, list[str]] = {}
    if starts_at != schedule.starts_at or ends_at != schedule.ends_at:
        changes["time"] = [f"{local_start:%H:%M}-{local_end:%H:%M}", f"{new_start:%H:%M}-{new_end:%H:%M}"]
    if new_location != schedule.location:
        changes["location"] = [schedule.location, new_location]
    if not changes:
        return changes
    with transaction.atomic():
        locked = locks.lock_schedule(schedule.pk)
        _open_for_changes(locked)
        clash = _overlapping(
            hospital_id=locked.hospital_id,
            doctor_id=locked.doctor_id,
            department_id=locked.department_id,
            location=new_location,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        if clash is not None and Schedule.objects.filter(clash).exclude(pk=locked.pk).exists():
            raise errors.SCHEDULE_CLASH.error(field="start")
        if "time" in changes:
            old_length = locked.ends_at - locked.starts_at
            scale = (ends_at - starts_at) / old_length
            periods = list(locked.periods.all())
            # Out of the way first, so no two periods ever share a start (unique) mid-move.
            locked.periods.update(starts_at=F("starts_at") + dt.timedelta(days=3650))
            for period in periods:
                Period.objects.filter(pk=period.pk).update(
                    starts_at=starts_at + (period.starts_at - locked.starts_at) * scale,
                    ends_at=starts_at + (period.ends_at - locked.starts_at) * scale,
                )
        Schedule.objects.filter(pk=locked.pk).update(starts_at=starts_at, ends_at=ends_at, location=new_location)
        _event(locked, "moved", actor, reason=reason, **changes)
    schedule.refresh_from_db()
    return changes


def schedule_reopen(*, schedule: Schedule, actor: str, reason: str = "") -> Schedule:
    """A suspended clinic is held after all: it opens again (its registrations stay cancelled;
    their numbers are free again)."""
    with transaction.atomic():
        if not Schedule.objects.filter(pk=schedule.pk, status=ScheduleStatus.SUSPENDED).update(
            status=ScheduleStatus.OPEN, suspended_reason=""
        ):
            raise errors.SCHEDULE_NOT_SUSPENDED.error()
        slot_freed(schedule_id=schedule.pk, why="reopened")
        _event(schedule, "reopened", actor, reason=reason)
    schedule.refresh_from_db()
    return schedule


def schedule_record(*, schedule: Schedule, kind: str, actor: str, reason: str = "", **data: object) -> None:
    """An entry in the schedule's audit trail for a change made by another app's service."""
    _event(schedule, kind, actor, reason=reason, **data)


# --- weekly templates ------------------------------------------------------------------------------

TEMPLATE_FIELDS = [
    "department",
    "doctor",
    "weekday",
    "session",
    "start",
    "end",
    "period_minutes",
    "slots_per_period",
    "platform_share_percent",
    "fee_title",
    "campus",
    "location",
    "valid_from",
    "valid_until",
    "is_active",
]


def _template_check(t: ScheduleTemplate) -> None:
    def bad(field: str, detail: str | Promise | None = None) -> None:
        raise errors.TEMPLATE_INVALID.error(field=field, detail=f"{field}: {detail or errors.TEMPLATE_INVALID.title}")

    if t.department.hospital_id != t.hospital_id:
        bad("department_id")
    if t.doctor is not None and t.doctor.hospital_id != t.hospital_id:
        bad("doctor_id")
    if t.campus is not None and t.campus.hospital_id != t.hospital_id:
        bad("campus_id")
    if t.weekday not in range(7):
        bad("weekday")
    if t.session not in Session.values:
        bad("session")
    if t.end <= t.start:
        bad("end", _("must be after start"))
    if not 5 <= t.period_minutes <= 240:
        bad("period_minutes")
    if not 1 <= t.slots_per_period <= 100:
        bad("slots_per_period")
    if t.platform_share_percent is not None and not 0 <= t.platform_share_percent <= 100:
        bad("platform_share_percent")
    if t.fee_title and t.fee_title not in Title.values:
        bad("fee_title")
    if t.valid_until is not None and t.valid_until < t.valid_from:
        bad("valid_until", _("must not be before valid_from"))
    if len(t.location) > 100:
        bad("location")


def template_create(*, hospital: Hospital, **fields: object) -> ScheduleTemplate:
    """A weekly clinic of ``hospital``; ``fields`` are the template's (TEMPLATE_FIELDS)."""
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise errors.TEMPLATE_INVALID.error(field=sorted(unknown)[0])
    template = ScheduleTemplate(hospital=hospital, **fields)
    _template_check(template)
    template.save()
    return template


def template_update(*, template: ScheduleTemplate, **changes: object) -> ScheduleTemplate:
    """Change a template; what it already generated stays as it is."""
    unknown = set(changes) - set(TEMPLATE_FIELDS)
    if unknown:
        raise errors.TEMPLATE_INVALID.error(field=sorted(unknown)[0])
    fresh = ScheduleTemplate.objects.get(pk=template.pk)
    for name, value in changes.items():
        setattr(fresh, name, value)
    _template_check(fresh)
    fresh.save()
    return fresh


def template_delete(*, template: ScheduleTemplate) -> None:
    """The template goes; the schedules it generated stay."""
    template.delete()


# --- generation ------------------------------------------------------------------------------------

CREATE, EXISTS, DIFFERS, CLASH, CLOSED_DAY = "create", "exists", "differs", "clash", "closed"


@dataclass
class Planned:
    """One clinic a template gives on one day, and what generation does with it."""

    template: ScheduleTemplate
    date: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    location: str
    outcome: str = CREATE
    detail: str = ""
    schedule_id: int | None = None
    differences: dict[str, list] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        tz = self.template.hospital.timezone
        t = self.template
        return {
            "template_id": t.pk,
            "schedule_id": self.schedule_id,
            "date": self.date.isoformat(),
            "session": t.session,
            "start": self.starts_at.astimezone(ZoneInfo(tz)).strftime("%H:%M"),
            "end": self.ends_at.astimezone(ZoneInfo(tz)).strftime("%H:%M"),
            "department_id": t.department_id,
            "department": t.department.name,
            "doctor_id": t.doctor_id,
            "doctor": t.doctor.name if t.doctor else "",
            "capacity": self.capacity,
            "location": self.location,
            "outcome": self.outcome,
            "detail": self.detail,
            "differences": self.differences,
        }


@dataclass
class Generation:
    created: list[Planned]
    skipped: list[Planned]
    clashes: list[Planned]
    dry_run: bool


def _existing_for(p: Planned) -> Schedule | None:
    t = p.template
    same = Schedule.objects.filter(template=t, date=p.date).first()
    if same is None:
        same = Schedule.objects.filter(
            department=t.department, doctor=t.doctor, date=p.date, session=t.session, his_id=""
        ).first()
    return same


def _compare(p: Planned, schedule: Schedule) -> dict[str, list]:
    tz = ZoneInfo(p.template.hospital.timezone)
    differences: dict[str, list] = {}
    have = (schedule.starts_at.astimezone(tz).strftime("%H:%M"), schedule.ends_at.astimezone(tz).strftime("%H:%M"))
    want = (p.starts_at.astimezone(tz).strftime("%H:%M"), p.ends_at.astimezone(tz).strftime("%H:%M"))
    if have != want:
        differences["time"] = ["-".join(have), "-".join(want)]
    if schedule.location != p.location:
        differences["location"] = [schedule.location, p.location]
    capacity = schedule_capacity(schedule)
    if capacity != p.capacity:
        differences["capacity"] = [capacity, p.capacity]
    if schedule.status != ScheduleStatus.OPEN:
        differences["status"] = [schedule.status, ScheduleStatus.OPEN]
    return differences


def schedules_plan(
    *,
    hospital: Hospital,
    start: dt.date,
    days: int,
    department: Department | None = None,
    doctor: Doctor | None = None,
) -> list[Planned]:
    """What the hospital's active templates give from ``start`` for ``days`` days (never a clinic
    already over in the hospital): each clinic to create, or why not — it exists (the same, or
    differing), the day is a holiday or closure, or it clashes with another clinic of the same
    doctor (or room) at the same time."""
    tz = hospital.timezone
    first = max(start, clock.local_today(tz))
    last = start + dt.timedelta(days=days - 1)
    templates = ScheduleTemplate.objects.filter(hospital=hospital, is_active=True, valid_from__lte=last).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=first)
    )
    if department is not None:
        templates = templates.filter(department=department)
    if doctor is not None:
        templates = templates.filter(doctor=doctor)
    templates = templates.select_related("hospital", "department", "doctor").order_by("weekday", "start", "pk")
    closed = {
        (c.date, c.department_id): c.name
        for c in CalendarDay.objects.filter(hospital=hospital, date__range=(first, last))
    }
    planned: list[Planned] = []
    now = clock.now()
    day = first
    while day <= last:
        for t in templates:
            if t.weekday != day.weekday() or not t.valid_from <= day <= (t.valid_until or day):
                continue
            p = Planned(
                template=t,
                date=day,
                starts_at=clock.at_local(day, t.start, tz),
                ends_at=clock.at_local(day, t.end, tz),
                capacity=t.capacity,
                location=t.location or t.department.location,
            )
            if p.ends_at <= now:
                continue  # over already: nobody could come
            planned.append(p)
            holiday = closed.get((day, None)) or closed.get((day, t.department_id))
            if holiday:
                p.outcome, p.detail = CLOSED_DAY, holiday
                continue
            existing = _existing_for(p)
            if existing is not None:
                p.schedule_id = existing.pk
                p.differences = _compare(p, existing)
                p.outcome = DIFFERS if p.differences else EXISTS
                continue
            overlap = _overlapping(
                hospital_id=hospital.pk,
                doctor_id=t.doctor_id,
                department_id=t.department_id,
                location=p.location,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
            )
            if overlap is not None:
                other = Schedule.objects.filter(overlap).select_related("department").first()
                if other is not None:
                    p.outcome, p.schedule_id = CLASH, other.pk
                    p.detail = f"{other.department.name} {other.date} {other.get_session_display()}"
                    continue
            twin = next((q for q in planned[:-1] if q.outcome == CREATE and _clash(q, p)), None)
            if twin is not None:
                p.outcome = CLASH
                p.detail = str(twin.template)
        day += dt.timedelta(days=1)
    return planned


def _clash(a: Planned, b: Planned) -> bool:
    if a.date != b.date or not (a.starts_at < b.ends_at and b.starts_at < a.ends_at):
        return False
    ta, tb = a.template, b.template
    if ta.doctor_id is not None:
        return ta.doctor_id == tb.doctor_id
    return tb.doctor_id is None and ta.department_id == tb.department_id and a.location == b.location != ""


def schedule_from_template(*, planned: Planned, share: int, phone: int | None = None) -> Schedule | None:
    """Create one planned clinic; None if it exists meanwhile (another run made it)."""
    t = planned.template
    try:
        with transaction.atomic():
            return schedule_create(
                department=t.department,
                doctor=t.doctor,
                date=planned.date,
                session=t.session,
                start=t.start,
                end=t.end,
                period_minutes=t.period_minutes,
                slots_per_period=t.slots_per_period,
                platform_share_percent=share,
                phone_share_percent=phone,
                campus=t.campus,
                location=t.location,
                fee_title=t.fee_title,
                template=t,
            )
    except IntegrityError:
        return None


def schedules_generate(
    *,
    hospital: Hospital,
    start: dt.date,
    days: int,
    actor: str,
    department: Department | None = None,
    doctor: Doctor | None = None,
    dry_run: bool = False,
) -> Generation:
    """Generate (or, ``dry_run``, preview) the clinics of the hospital's templates: each in its
    own short transaction, so a run that stops halfway is finished by the next one. Running it
    again creates nothing twice (the template and day are unique)."""
    if not 1 <= days <= 12 * 7:
        raise errors.SCHEDULE_INVALID.error(field="weeks")
    planned = schedules_plan(hospital=hospital, start=start, days=days, department=department, doctor=doctor)
    created: list[Planned] = []
    skipped: list[Planned] = []
    clashes: list[Planned] = []
    shares: dict[int, Rules] = {}
    for p in planned:
        if p.outcome == CLASH:
            clashes.append(p)
            continue
        if p.outcome != CREATE:
            skipped.append(p)
            continue
        if not dry_run:
            t = p.template
            if t.pk not in shares:
                shares[t.pk] = rules_for(hospital=hospital, department=t.department, doctor_id=t.doctor_id)
            share = t.platform_share_percent
            if share is None:
                share = shares[t.pk].platform_share_percent
            # The phone desk's share is the rules'; a template giving more online leaves it less.
            phone = min(shares[t.pk].phone_share_percent, 100 - share)
            made = schedule_from_template(planned=p, share=share, phone=phone)
            if made is None:
                p.outcome = EXISTS
                skipped.append(p)
                continue
            p.schedule_id = made.pk
            _event(made, "generated", actor, template=t.pk)
        created.append(p)
    return Generation(created=created, skipped=skipped, clashes=clashes, dry_run=dry_run)


def schedules_generate_due(*, hospital: Hospital, actor: str = "system") -> Generation:
    """The nightly run: every day up to the last one in the release window (today and the days
    ahead the hospital's rules open), so the day entering the window has its clinics before it
    is released."""
    today = clock.local_today(hospital.timezone)
    ahead = rules_for(hospital=hospital).days_ahead
    return schedules_generate(hospital=hospital, start=today, days=ahead + 1, actor=actor)


# --- pools -----------------------------------------------------------------------------------------


def pools_return_due() -> int:
    """At the rules' cutoff (the day before the clinic), the free slots of one pool go to the
    other, once per schedule: unused online numbers to the window, or the other way if the
    hospital chose it. Only clinics the platform owns (a HIS keeps its own pools). Returns how
    many slots moved."""
    now = clock.now()
    moved = 0
    for hospital in Hospital.objects.filter(is_active=True):
        tomorrow = clock.local_today(hospital.timezone) + dt.timedelta(days=1)
        due = Schedule.objects.filter(
            hospital=hospital,
            his_id="",
            status=ScheduleStatus.OPEN,
            pool_returned_at__isnull=True,
            date__lte=tomorrow,
            ends_at__gt=now,
        ).select_related("hospital", "department")
        for schedule in due:
            rules = rules_for_schedule(schedule)
            at = pool_return_at(schedule, rules)
            if at is None or now < at:
                continue
            source, target = (
                (Pool.PLATFORM, Pool.ONSITE)
                if rules.pool_return == PoolReturn.TO_ONSITE
                else (Pool.ONSITE, Pool.PLATFORM)
            )
            with transaction.atomic():
                if not Schedule.objects.filter(pk=schedule.pk, pool_returned_at__isnull=True).update(
                    pool_returned_at=now
                ):
                    continue  # another worker did it
                n = Slot.objects.filter(schedule=schedule, pool=source, state=SlotState.FREE).update(pool=target)
                # The phone desk's unused share goes online whichever way the rest goes: the
                # patients of the app (and the phone desk, which books there too) take it.
                by_phone = Slot.objects.filter(schedule=schedule, pool=Pool.PHONE, state=SlotState.FREE).update(
                    pool=Pool.PLATFORM
                )
                if (n and target == Pool.PLATFORM) or by_phone:
                    slot_freed(schedule_id=schedule.pk, why="pool_returned")
                if by_phone:
                    _event(schedule, "pool_returned", "system", moved=n, to=target, from_phone=by_phone)
                else:
                    _event(schedule, "pool_returned", "system", moved=n, to=target)
            moved += n + by_phone
    return moved
