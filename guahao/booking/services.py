"""Every write of the booking lifecycle: hold, release, expire, confirm, cancel, check in.

Each transition is one transaction that changes the state with a conditional update (so a
second, concurrent attempt changes nothing) and writes a ``BookingEvent``. Limits are checked
under the account and person locks of ``locks.py``; slots are taken by a conditional update.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from guahao.accounts.models import Account, Patient
from guahao.accounts.staff import staff_keys_set_by
from guahao.booking import errors, gate, locks, risk, selectors
from guahao.booking.models import (
    RATEABLE_REGISTRATION,
    ActorType,
    BlacklistEntry,
    BlacklistReason,
    BookingEvent,
    Hold,
    HoldStatus,
    Rating,
    RatingStatus,
    Registration,
    RegistrationStatus,
    ReliefGrant,
    ReliefStatus,
)
from guahao.booking.ports import wired
from guahao.booking.selectors import pools_of
from guahao.catalog import restrictions
from guahao.core import clock, outbox
from guahao.core.audit import audit_record
from guahao.core.errors import NOT_FOUND, RATE_LIMITED
from guahao.core.problems import Problem
from guahao.scheduling import facts
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import (
    LateCancelCounts,
    MedicalRecordMode,
    Period,
    Pool,
    RiskAction,
    Schedule,
    ScheduleStatus,
    Slot,
    SlotState,
)
from guahao.scheduling.rules import Rules, lottery_window, release_at, rules_for_schedule, waitlist_deadline

QR_SALT = "guahao.checkin"


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""

    @classmethod
    def patient(cls, account: Account) -> Actor:
        return cls(ActorType.PATIENT, str(account.pk))

    @classmethod
    def staff(cls, user) -> Actor:  # type: ignore[no-untyped-def]
        return cls(ActorType.STAFF, user.get_username())


SYSTEM = Actor(ActorType.SYSTEM, "")


def event_record(
    *,
    actor: Actor,
    kind: str,
    hold: Hold | None = None,
    registration: Registration | None = None,
    from_status: str = "",
    to_status: str = "",
    **data: object,
) -> None:
    BookingEvent.objects.create(
        hold=hold,
        registration=registration,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor_type=actor.type,
        actor_id=actor.id,
        at=clock.now(),
        data=data,
    )
    if actor.type == ActorType.STAFF:
        row: Hold | Registration | None = registration or hold
        assert row is not None
        audit_record(
            actor=actor.id,
            action=kind,
            target_type="registration" if registration is not None else "hold",
            target_id=row.pk,
            target=registration.registration_number if registration is not None else f"#{row.pk}",
            hospital_id=row.hospital_id,
            before={"status": from_status} if from_status else {},
            after={"status": to_status} if to_status else {},
            reason=str(data.get("reason", "")),
        )


# --- holds ---------------------------------------------------------------------------------------


def _check_bookable(*, schedule: Schedule, period: Period | None, rules: Rules, now: dt.datetime) -> None:
    if schedule.status == ScheduleStatus.SUSPENDED:
        raise errors.SCHEDULE_SUSPENDED.error()
    if now < release_at(schedule, rules):
        opens = release_at(schedule, rules).astimezone(ZoneInfo(schedule.hospital.timezone))
        raise errors.SCHEDULE_NOT_RELEASED.error(release_at=opens.isoformat())
    if schedule.ends_at <= now:
        raise errors.SCHEDULE_ENDED.error()
    window = lottery_window(schedule, rules)
    if window is not None and schedule.lottery_drawn_at is None:
        # A lottery release: no slot goes to the race until the draw among those who asked.
        if now < window[1]:
            draw_at = window[1].astimezone(ZoneInfo(schedule.hospital.timezone))
            raise errors.LOTTERY_OPEN.error(draw_at=draw_at.isoformat())
        raise errors.LOTTERY_DRAWING.error()
    if period is not None:
        if period.schedule_id != schedule.pk:
            raise errors.PERIOD_MISMATCH.error(field="period_id")
        if period.ends_at <= now:
            raise errors.SCHEDULE_ENDED.error(field="period_id")


def _barred(reason: str, until: dt.datetime) -> Problem:
    return errors.BLACKLISTED.error(detail=errors.BLACKLISTED.title, reason=reason, until=until.isoformat())


def _check_record(*, patient: Patient, schedule: Schedule, rules: Rules, now: dt.datetime) -> None:
    """A hospital that keeps medical records online: a barred person is refused first (asking
    the HIS for the record of someone who may not book is wasted), then the record is found or
    made. At a hospital whose records are made at the visit there is nothing to ask."""
    mode = rules.medical_record_mode
    if mode == MedicalRecordMode.AT_VISIT:
        return
    entry = blacklist_active(hospital_id=schedule.hospital_id, person_hash=patient.id_number_hash, now=now)
    if entry is not None:
        raise _barred(entry.reason, entry.ends_at)
    record = wired.records.record_ensure(patient=patient, hospital_id=schedule.hospital_id, mode=mode)
    if mode == MedicalRecordMode.REQUIRED and record is None:
        raise errors.RECORD_REQUIRED.error()


def _check_patient_fits(*, patient: Patient, schedule: Schedule) -> None:
    """A department that sees only one sex or an age range (obstetrics, paediatrics): the
    patient as they will be on the visit day. Checked before any slot is touched."""
    refused = patient_refusal(patient=patient, schedule=schedule)
    if refused is not None:
        raise refused


def patient_refusal(*, patient: Patient, schedule: Schedule) -> Problem | None:
    """The department's refusal of this patient for this clinic, or None (for pages that show it
    before a slot is picked)."""
    rule = restrictions.restriction_of(schedule.department)
    if not rule:
        return None
    broken = restrictions.refusal(rule, gender=patient.gender, birth_date=patient.birth_date, day=schedule.date)
    if broken is None:
        return None
    sees = restrictions.sentence(schedule.department)
    if broken == "sex":
        return errors.DEPARTMENT_SEX.error(detail=sees, field="patient_id", rule=rule.sex)
    age = restrictions.age_on(patient.birth_date, schedule.date)
    detail = _("%(sees)s The patient will be %(age)d on the visit day.") % {"sees": sees, "age": age}
    return errors.DEPARTMENT_AGE.error(
        detail=detail, field="patient_id", age_from=rule.age_from, age_under=rule.age_under
    )


def _terms(
    *,
    account_id: int,
    patient_id: int,
    schedule: Schedule,
    period: Period | None,
    rules: Rules,
    now: dt.datetime,
    his_lock: tuple[str, int] | None = None,
    channel: str = "app",
) -> locks.HoldTerms:
    first, fallback = pools_of(channel, schedule)
    return locks.HoldTerms(
        account_id=account_id,
        patient_id=patient_id,
        hospital_id=schedule.hospital_id,
        department_id=schedule.department_id,
        schedule_id=schedule.pk,
        visit_date=schedule.date,
        registration_fee_fen=schedule.registration_fee_fen,
        consultation_fee_fen=schedule.consultation_fee_fen,
        payment_required=rules.payment_required,
        now=now,
        expires_at=now + dt.timedelta(minutes=rules.hold_minutes),
        max_live=rules.max_active_holds,
        max_department=rules.max_per_patient_department_day,
        max_hospital=rules.max_per_account_hospital_day,
        period_id=period.pk if period is not None and his_lock is None else None,
        number=his_lock[1] if his_lock else None,
        his_lock_ref=his_lock[0] if his_lock else "",
        channel=channel,
        pool=first,
        fallback=fallback,
    )


def _refuse_by_rule(taken: locks.Taken, rules: Rules) -> None:
    """The rule that refused, checked in the seeds' order: the patient, the bar, then the limits."""
    if taken.person_hash is None or taken.counts is None:
        raise NOT_FOUND.error(field="patient_id")
    counts = taken.counts
    if counts.barred_reason is not None and counts.barred_until is not None:
        raise _barred(counts.barred_reason, counts.barred_until)
    if counts.live_holds >= rules.max_active_holds:
        raise errors.HOLD_LIMIT.error(limit=rules.max_active_holds)
    if counts.in_department >= rules.max_per_patient_department_day:
        raise errors.ONE_PER_DEPARTMENT.error(limit=rules.max_per_patient_department_day)
    if counts.at_hospital >= rules.max_per_account_hospital_day:
        raise errors.ACCOUNT_DAILY_LIMIT.error(limit=rules.max_per_account_hospital_day)


def _hold_write(terms: locks.HoldTerms, *, schedule: Schedule, rules: Rules) -> Hold | None:
    """The limits, the slot and the hold: one transaction (``locks.hold_take``). None when no
    slot was free; a refusal by a rule raises it."""
    taken = locks.hold_take(terms)
    if taken.hold_id is None:
        _refuse_by_rule(taken, rules)
        return None
    assert taken.slot_id is not None and taken.period_id is not None and taken.number is not None
    assert taken.person_hash is not None
    hold = Hold(
        pk=taken.hold_id,
        account_id=terms.account_id,
        patient_id=terms.patient_id,
        person_hash=taken.person_hash,
        hospital_id=terms.hospital_id,
        department_id=terms.department_id,
        schedule=schedule,
        period_id=taken.period_id,
        slot_id=taken.slot_id,
        visit_date=terms.visit_date,
        status=HoldStatus.HELD,
        registration_fee_fen=terms.registration_fee_fen,
        consultation_fee_fen=terms.consultation_fee_fen,
        payment_required=terms.payment_required,
        created_at=terms.now,
        expires_at=terms.expires_at,
        his_lock_ref=terms.his_lock_ref,
        channel=terms.channel,
    )
    hold.slot = Slot(
        pk=taken.slot_id,
        schedule_id=schedule.pk,
        period_id=taken.period_id,
        number=taken.number,
        pool=taken.pool or terms.pool,
        state=SlotState.HELD,
    )
    _now_and_after_commit(lambda: _hold_made(hold))
    return hold


def _now_and_after_commit(tell: Callable[[], None]) -> None:
    """Tell the gate and the caches now and, inside a caller's transaction, once more when it
    commits (what another process counted in between did not see the change yet)."""
    tell()
    if connection.in_atomic_block:
        transaction.on_commit(tell)


def _hold_made(hold: Hold) -> None:
    # Both written a moment later with Redis, several holds' in one round trip: the answer does
    # not wait for them (this process's own availability reads wait for the department's).
    gate.held(hold.schedule_id, hold.expires_at)
    facts.department_changed_soon(hold.department_id)
    outbox.kick()  # the hold's outbox event


HOLD_ATTEMPTS = 30  # a minute per account, API and web alike


def hold_attempts(account: Account) -> gate.Attempts | None:
    """The account's hold attempts (30 a minute), counted by the gate in the same step as the
    ticket: a script hammering the release is slowed down before it reaches the slots."""
    if not settings.RATELIMIT_ENABLED:
        return None
    return gate.Attempts(key=f"hold-account:{account.pk}", limit=HOLD_ATTEMPTS, window=60)


def _sold_out(schedule: Schedule, period: Period | None, rules: Rules | None = None) -> Problem:
    """The refusal of a schedule with nothing free, with the alternatives (kept a few seconds
    beside the gate, so the crowd turned away is answered without the database) and, where the
    clinic has a waitlist still open, where to join it (its places are checked on joining)."""
    offered = gate.alternatives_kept(schedule.pk) if period is None else None
    if offered is None:
        offered = selectors.alternatives(schedule=schedule, period=period)
        if period is None:
            gate.alternatives_keep(schedule.pk, offered)
    extra: dict[str, Any] = {}
    if rules is not None and rules.waitlist_places > 0:
        closes = waitlist_deadline(schedule, rules)
        if clock.now() < closes:
            tz = ZoneInfo(schedule.hospital.timezone)
            extra["waitlist"] = {"schedule_id": str(schedule.pk), "closes_at": closes.astimezone(tz).isoformat()}
    return errors.SLOT_UNAVAILABLE.error(alternatives=offered, **extra)


# What ``_check_bookable`` refuses whoever asks (a lottery's first moments send each to its draw).
_CLOSED = (errors.SCHEDULE_SUSPENDED.code, errors.SCHEDULE_NOT_RELEASED.code, errors.SCHEDULE_ENDED.code)


def refused_for_everyone(*, schedule: Schedule, rules: Rules) -> str | None:
    """The code of the refusal any online hold on the whole schedule gets now, known from this
    process's memory alone; None when the answer depends on who asks or on the database. Closed
    (suspended, not released yet, over), or sold out: the gate said so a moment ago here
    (``gate.seen_sold_out``) and no suspicion check stands before it. The API answers such a
    hold from a kept copy of that refusal, before it reads anything of the patient (the static
    sold-out page of seed 003)."""
    try:
        _check_bookable(schedule=schedule, period=None, rules=rules, now=clock.now())
    except Problem as refused:
        return refused.code if refused.code in _CLOSED else None
    if rules.risk_action == RiskAction.OFF and gate.seen_sold_out(schedule.pk):
        return errors.SLOT_UNAVAILABLE.code
    return None


def hold_refuse_early(*, schedule: Schedule, period: Period | None = None, rules: Rules | None = None) -> None:
    """Refuse, from what is cached alone, a hold that cannot be given: suspended, not released,
    over, or sold out (the gate, without taking a ticket). For callers that record something
    before holding (an Idempotency-Key): a refusal for everyone then records nothing."""
    rules = rules or rules_for_schedule(schedule)
    _check_bookable(schedule=schedule, period=period, rules=rules, now=clock.now())
    if gate.sold_out(schedule.pk):
        raise _sold_out(schedule, period, rules)


def hold_asks_his(*, schedule: Schedule, channel: str = "app") -> bool:
    """Whether a hold of ``channel`` on ``schedule`` asks the hospital's HIS for its slot (a
    realtime HIS and the online pool): such a hold is never made inside a transaction."""
    return pools_of(channel, schedule)[0] == Pool.PLATFORM and _his_asked(schedule)


def _his_asked(schedule: Schedule) -> bool:
    """An online hold of ``schedule`` asks its hospital's HIS (a realtime one) for the slot."""
    return bool(schedule.his_id) and wired.his.realtime(schedule.hospital_id)


def hold_create(
    *,
    account: Account,
    patient: Patient | int,
    schedule: Schedule,
    period: Period | None = None,
    rules: Rules | None = None,
    client: risk.Client = risk.NOBODY,
    channel: str = "app",
    actor: Actor | None = None,
) -> Hold:
    """Hold the first free slot of the channel's pool (``selectors.pools_of``) of the schedule (or of one period).
    ``actor``: staff holding on the patient's behalf (the window, the phone desk): the hold's
    event names them and the audit log keeps it.

    ``patient``: the account's patient, or the id of one (found with the hold itself: another
    account's is unknown, 404). Refusals name the rule, in the seeds' order; a full schedule is
    refused with ``alternatives``; what is refused for everyone (suspended, not released, over,
    sold out, too many attempts) is answered from the caches alone, before anything of the
    patient is read. ``rules``: the schedule's, when the caller has them (``scheduling.facts``).
    """
    now = clock.now()
    if rules is None:
        rules = rules_for_schedule(schedule)
    _check_bookable(schedule=schedule, period=period, rules=rules, now=now)
    patient_id = patient if isinstance(patient, int) else patient.pk
    if rules.risk_action != RiskAction.OFF:
        reasons, action = risk.suspicions(
            account=account, patient_id=patient_id, schedule=schedule, rules=rules, client=client, asked="hold"
        )
        if action:
            raise errors.RISK_SUSPECTED.error(reasons=reasons, action=action)
    # The gate counts the online pool; the window's and kiosks' few holds go to the database, and
    # so do the phone desk's of a clinic with its own share (taken from it first: the gate's
    # count is too high at worst when one falls back online, which only sends a hold on to the
    # database, where the conditional update decides).
    online = pools_of(channel, schedule)[0] == Pool.PLATFORM
    ticket = gate.take(schedule.pk, hold_attempts(account)) if online else gate.UNKNOWN
    if ticket == gate.RATE_LIMITED:
        raise RATE_LIMITED.error()
    if ticket == gate.SOLD_OUT:
        raise _sold_out(schedule, period, rules)
    hold = None
    refused = True  # by a rule, or by a failure: the ticket goes back as it was
    try:
        # Whom the department sees, then the medical record: both need the patient read (only
        # where the department restricts, or records are kept online).
        if restrictions.restriction_of(schedule.department):
            if isinstance(patient, int):
                patient = selectors.access_patient(account=account, patient_id=patient)
            _check_patient_fits(patient=patient, schedule=schedule)
        if rules.medical_record_mode != MedicalRecordMode.AT_VISIT:
            if isinstance(patient, int):
                patient = selectors.access_patient(account=account, patient_id=patient)
            _check_record(patient=patient, schedule=schedule, rules=rules, now=now)
        if online and _his_asked(schedule):
            hold = _hold_create_realtime(
                account=account, patient_id=patient_id, schedule=schedule, period=period, rules=rules
            )
        else:
            terms = _terms(
                account_id=account.pk,
                patient_id=patient_id,
                schedule=schedule,
                period=period,
                rules=rules,
                now=now,
                channel=channel,
            )
            if actor is not None:
                terms = dataclasses.replace(terms, actor_type=actor.type, actor_id=actor.id)
            hold = _hold_write(terms, schedule=schedule, rules=rules)
            if hold is None and holds_expire(schedule=schedule):
                # Holds that ran out but were not swept yet gave their slots back: try once more.
                hold = _hold_write(terms, schedule=schedule, rules=rules)
        refused = False
    finally:
        if hold is None and ticket == gate.TAKEN:
            if refused:
                gate.give(schedule.pk)
            elif period is None:
                gate.disagrees(schedule.pk)  # the gate said free; the database had nothing
            else:
                gate.give(schedule.pk)  # that period was full; others may not be
    if hold is None:
        if period is None:
            schedule = _fresh(schedule)
            _check_bookable(schedule=schedule, period=period, rules=rules, now=now)
        raise _sold_out(schedule, period, rules)
    if actor is not None and actor.type == ActorType.STAFF:
        audit_record(
            actor=actor.id,
            action="hold.created",
            target_type="hold",
            target_id=hold.pk,
            target=f"#{hold.pk}",
            hospital_id=hold.hospital_id,
            after={"status": HoldStatus.HELD, "channel": channel, "slot_number": hold.slot.number},
        )
    return hold


OFFER_MINUTES_IN_PERIOD = 5  # how long an offer made in a period already begun is held at most


def hold_offer(
    *,
    account_id: int,
    patient_id: int,
    schedule: Schedule,
    rules: Rules,
    minutes: int,
    payment_required: bool,
    his_lock: tuple[str, int] | None = None,
) -> Hold | None:
    """A hold the waitlist makes for a patient waiting for the schedule: the slot may be one
    kept for the waitlist; it lasts ``minutes`` (the offer's confirm window); the same bar and
    limits as any hold, but the account's count of live holds (an offer is not a patient's
    second try). ``his_lock``: at a realtime HIS hospital, the lock the HIS gave for it (taken
    here, its release taken back). Refusals name the rule; None when no slot is left. Call
    inside the offer's transaction."""
    now = clock.now()
    if his_lock is not None:  # this hold keeps the HIS lock: no release if we crash later
        wired.write_backs.lock_kept(hospital_id=schedule.hospital_id, ref=his_lock[0])
    terms = dataclasses.replace(
        _terms(
            account_id=account_id,
            patient_id=patient_id,
            schedule=schedule,
            period=None,
            rules=rules,
            now=now,
            his_lock=his_lock,
        ),
        expires_at=now + dt.timedelta(minutes=minutes),
        payment_required=payment_required,
        max_live=1_000_000,
        reserved=True,
        actor_type=ActorType.SYSTEM,
        actor_id="waitlist",
    )
    hold = _hold_write(terms, schedule=schedule, rules=rules)
    if hold is not None:
        # An offer is never held past the start of the visit it offers (a day-long confirm window
        # offered the evening before ran into the morning's clinic): at the latest until the
        # slot's period begins, or a few minutes into a period already begun.
        period = Period.objects.get(pk=hold.period_id)
        latest = max(period.starts_at, min(period.ends_at, now + dt.timedelta(minutes=OFFER_MINUTES_IN_PERIOD)))
        if hold.expires_at > latest:
            Hold.objects.filter(pk=hold.pk).update(expires_at=latest)
            hold.expires_at = latest
    return hold


def hold_rules_check(*, account: Account, patient: Patient, schedule: Schedule, rules: Rules) -> None:
    """Refuse, naming the rule, a patient who could not hold a slot of the schedule now (the bar,
    the limits per department and per hospital, the medical record): what joining a waitlist
    checks. A patient's live holds elsewhere do not count here."""
    now = clock.now()
    _check_patient_fits(patient=patient, schedule=schedule)
    _check_record(patient=patient, schedule=schedule, rules=rules, now=now)
    terms = _terms(account_id=account.pk, patient_id=patient.pk, schedule=schedule, period=None, rules=rules, now=now)
    counted = locks.counts_of(dataclasses.replace(terms, max_live=1_000_000))
    if counted.counts is None or not locks.allowed(counted.counts, dataclasses.replace(terms, max_live=1_000_000)):
        _refuse_by_rule(counted, dataclasses.replace(rules, max_active_holds=1_000_000))


def _fresh(schedule: Schedule) -> Schedule:
    """The schedule as the database has it now (a cached copy may not know it was suspended)."""
    current = Schedule.objects.select_related("hospital").filter(pk=schedule.pk).first()
    if current is not None and current.status != schedule.status:
        facts.facts_changed()
        return current
    return schedule


def _hold_create_realtime(
    *,
    account: Account,
    patient_id: int,
    schedule: Schedule,
    period: Period | None,
    rules: Rules,
) -> Hold | None:
    """A hold at a realtime HIS hospital: the HIS lock decides which slot, if any.

    The limits are checked before asking the HIS (no lock is taken for a patient who may not
    have it) and again, under the locks, when the hold is written; a lock we end up not using
    is released. None when the HIS has no slot for it.
    """
    terms = _terms(
        account_id=account.pk, patient_id=patient_id, schedule=schedule, period=period, rules=rules, now=clock.now()
    )
    counted = locks.counts_of(terms)
    if not (counted.counts is not None and locks.allowed(counted.counts, terms)):
        _refuse_by_rule(counted, rules)
    wired.his.reread(schedule)
    his_lock = wired.his.lock(schedule=schedule, period=period, minutes=rules.hold_minutes)
    if his_lock is None:
        return None
    hold = None
    try:
        terms = _terms(
            account_id=account.pk,
            patient_id=patient_id,
            schedule=schedule,
            period=period,
            rules=rules,
            now=clock.now(),
            his_lock=his_lock,
        )
        with transaction.atomic():
            # This hold keeps the HIS lock: no release if we crash later.
            wired.write_backs.lock_kept(hospital_id=schedule.hospital_id, ref=his_lock[0])
            hold = _hold_write(terms, schedule=schedule, rules=rules)
    finally:
        if hold is None:
            wired.his.release_now(hospital_id=schedule.hospital_id, ref=his_lock[0])
    return hold


def _hold_end(*, hold_id: int, to_status: str, actor: Actor, only_overdue: bool = False) -> bool:
    """End a live hold and give its slot back; False if it was no longer live."""
    now = clock.now()
    with transaction.atomic():
        live = Hold.objects.filter(pk=hold_id, status=HoldStatus.HELD)
        if only_overdue:
            live = live.filter(expires_at__lte=now)
        if not live.update(status=to_status, ended_at=now):
            return False
        hold = Hold.objects.get(pk=hold_id)
        Slot.objects.filter(pk=hold.slot_id, state=SlotState.HELD).update(state=scheduling.freed_state())
        if hold.his_lock_ref:
            wired.write_backs.lock_release(hold=hold)
        event_record(actor=actor, kind=f"hold.{to_status}", hold=hold, from_status=HoldStatus.HELD, to_status=to_status)
        outbox.event_emit(
            "hold.ended", hold_id=hold.pk, account_id=hold.account_id, schedule_id=hold.schedule_id, status=to_status
        )
        scheduling.slot_freed(schedule_id=hold.schedule_id, why=f"hold.{to_status}")
    _now_and_after_commit(lambda: _slot_given_back(hold))
    return True


def _slot_given_back(of: Hold | Registration) -> None:
    """After commit: the gate and the availability shown learn that a slot is free again."""
    gate.slot_freed(of.schedule_id)
    facts.department_changed(of.department_id)


def hold_release(*, hold: Hold, actor: Actor) -> Hold:
    if not _hold_end(hold_id=hold.pk, to_status=HoldStatus.RELEASED, actor=actor):
        hold.refresh_from_db()
        if hold.status == HoldStatus.EXPIRED:
            raise errors.HOLD_EXPIRED.error()
        raise errors.HOLD_NOT_ACTIVE.error(hold_status=hold.status)
    hold.refresh_from_db()
    return hold


def holds_expire(*, schedule: Schedule | None = None, account: Account | None = None) -> int:
    """Expire every hold whose time is up (the periodic sweep, and on demand); returns how many."""
    overdue = Hold.objects.filter(status=HoldStatus.HELD, expires_at__lte=clock.now())
    if schedule is not None:
        overdue = overdue.filter(schedule=schedule)
    if account is not None:
        overdue = overdue.filter(account=account)
    ids = list(overdue.values_list("pk", flat=True)[:1000])
    return sum(_hold_end(hold_id=i, to_status=HoldStatus.EXPIRED, actor=SYSTEM, only_overdue=True) for i in ids)


def _new_registration_number(visit_date: dt.date) -> str:
    # Digits only, so it can be read out and typed at a window; random, so it reveals no volume.
    for _attempt in range(10):
        number = f"{visit_date:%y%m%d}{secrets.randbelow(10**8):08d}"
        if not Registration.objects.filter(registration_number=number).exists():
            return number
    raise RuntimeError("no free registration number")  # pragma: no cover - 10^8 per day


def hold_check_live(hold: Hold) -> None:
    """Refuse, with the reason, a hold that can no longer be confirmed or paid for."""
    now = clock.now()
    if hold.status == HoldStatus.HELD and hold.expires_at <= now:
        holds_expire(schedule=hold.schedule)
        raise errors.HOLD_EXPIRED.error()
    if hold.status != HoldStatus.HELD:
        if hold.status == HoldStatus.EXPIRED:
            raise errors.HOLD_EXPIRED.error()
        raise errors.HOLD_NOT_ACTIVE.error(hold_status=hold.status)


def hold_confirm(*, hold: Hold, insurance: bool = False) -> Registration:
    """Turn a live hold into a registration (hospitals that need no payment step)."""
    hold_check_live(hold)
    if hold.payment_required:
        raise errors.PAYMENT_REQUIRED.error(field="payment_method")
    number = _new_registration_number(hold.visit_date)
    if hold.his_lock_ref:
        # Realtime: the HIS registers the locked slot first; its answer decides. Asked again
        # after a lost answer, it returns the same registration (known by its number).
        Hold.objects.filter(pk=hold.pk, his_registration_ref="").update(his_registration_ref=number)
        hold.refresh_from_db()
        number = hold.his_registration_ref
        wired.his.register(hold=hold, registration_number=number)
    with transaction.atomic():
        registration = hold_book(
            hold_id=hold.pk, in_time_at=clock.now(), insurance=insurance, registration_number=number
        )
        if registration is None:
            raise errors.HOLD_EXPIRED.error()
    hold.refresh_from_db()
    return registration


def hold_book(
    *,
    hold_id: int,
    in_time_at: dt.datetime,
    insurance: bool,
    registration_number: str | None = None,
    actor: Actor | None = None,
    told: bool = True,
) -> Registration | None:
    """Book a hold that was still live at ``in_time_at`` (now, or when the money arrived).

    None when the hold had already ended or ``in_time_at`` is past its expiry: the slot may be
    someone else's by now, so nothing is booked. Call inside a transaction.
    """
    now = clock.now()
    # The expiry is checked in the same statement that confirms: a late sweep never lets an
    # expired hold through.
    if not Hold.objects.filter(pk=hold_id, status=HoldStatus.HELD, expires_at__gt=in_time_at).update(
        status=HoldStatus.CONFIRMED, ended_at=now
    ):
        return None
    hold = Hold.objects.select_related("schedule", "slot").get(pk=hold_id)
    if not Slot.objects.filter(pk=hold.slot_id, state=SlotState.HELD).update(state=SlotState.BOOKED):
        raise errors.HOLD_NOT_ACTIVE.error()  # rolls the transaction back: the slot is not ours
    schedule = hold.schedule
    registration = Registration.objects.create(
        hold=hold,
        registration_number=registration_number or _new_registration_number(hold.visit_date),
        account_id=hold.account_id,
        patient_id=hold.patient_id,
        person_hash=hold.person_hash,
        hospital_id=hold.hospital_id,
        department_id=hold.department_id,
        doctor_id=schedule.doctor_id,
        schedule=schedule,
        period_id=hold.period_id,
        slot_id=hold.slot_id,
        slot_number=hold.slot.number,
        visit_date=hold.visit_date,
        registration_fee_fen=hold.registration_fee_fen,
        consultation_fee_fen=hold.consultation_fee_fen,
        insurance=insurance,
        booked_at=now,
        channel=hold.channel,
    )
    actor = actor or Actor(ActorType.PATIENT, str(hold.account_id))
    event_record(
        actor=actor, kind="hold.confirmed", hold=hold, from_status=HoldStatus.HELD, to_status=HoldStatus.CONFIRMED
    )
    event_record(
        actor=actor, kind="registration.booked", registration=registration, to_status=RegistrationStatus.BOOKED
    )
    wired.write_backs.registration_written(registration)
    if told:  # ``told=False``: the caller tells the patient its own way (a reschedule)
        outbox.event_emit("registration.booked", registration_id=registration.pk, account_id=registration.account_id)
    return registration


# --- registrations -------------------------------------------------------------------------------


def _transition(
    *,
    registration: Registration,
    allowed: list[str],
    to_status: str,
    actor: Actor,
    kind: str,
    data: dict[str, object] | None = None,
    **changes: object,
) -> Registration:
    """Move a registration from one of ``allowed`` to ``to_status``; call inside a transaction.
    ``data``: what the event keeps besides the states (a staff member's reason)."""
    updated = Registration.objects.filter(pk=registration.pk, status__in=allowed).update(status=to_status, **changes)
    if not updated:
        registration.refresh_from_db()
        raise errors.BAD_TRANSITION.error(registration_status=registration.status)
    from_status = registration.status
    registration.refresh_from_db()
    extra: dict[str, Any] = dict(data or {})
    event_record(
        actor=actor, kind=kind, registration=registration, from_status=from_status, to_status=to_status, **extra
    )
    return registration


def registration_cancel(
    *,
    registration: Registration,
    actor: Actor,
    tell_patient: bool = True,
    reason: str = "",
    patient_asked: bool = False,
    reason_told: bool = False,
) -> Registration:
    """Cancel before the cutoff (staff may cancel later, with a reason) and give the slot back.
    The event says who cancelled; the patient is told of it unless the caller tells them why
    itself (a suspension, ``tell_patient=False``), and read the staff member's reason when they
    chose so (``reason_told``; it is otherwise the audit trail's alone).

    Staff cancelling after the patient's cutoff because the patient asked (``patient_asked``)
    make it a late cancellation, counted towards the blacklist as the hospital's rules say."""
    if registration.status != RegistrationStatus.BOOKED:
        raise errors.BAD_TRANSITION.error(registration_status=registration.status)
    deadline, still_open = selectors.patient_cancel_window(registration)
    if actor.type == ActorType.PATIENT and not still_open:
        raise errors.CANCEL_TOO_LATE.error(deadline=deadline.isoformat())
    late = actor.type == ActorType.STAFF and patient_asked and not still_open
    if actor.type == ActorType.STAFF and not still_open and not reason.strip():
        raise errors.REASON_REQUIRED.error(field="reason")
    now = clock.now()
    rules = rules_for_schedule(registration.schedule)
    data: dict[str, object] = {"reason": reason.strip()} if reason.strip() else {}
    if late:
        data["late"] = True
    with transaction.atomic():
        registration = _transition(
            registration=registration,
            allowed=[RegistrationStatus.BOOKED],
            to_status=RegistrationStatus.CANCELLED,
            actor=actor,
            kind="registration.cancelled",
            data=data,
            cancelled_at=now,
            cancelled_by=actor.type,
            late_cancel=late,
        )
        Slot.objects.filter(pk=registration.slot_id, state=SlotState.BOOKED).update(state=scheduling.freed_state())
        wired.write_backs.registration_cancelled(registration)
        if actor.type == ActorType.PATIENT:
            _blacklist_consider(registration=registration, reason=BlacklistReason.CANCELLATIONS, rules=rules, now=now)
        elif late and rules.late_cancel_counts_as != LateCancelCounts.NOTHING:
            counts_as = (
                BlacklistReason.NO_SHOWS
                if rules.late_cancel_counts_as == LateCancelCounts.NO_SHOW
                else BlacklistReason.CANCELLATIONS
            )
            _blacklist_consider(registration=registration, reason=counts_as, rules=rules, now=now)
        outbox.event_emit(
            "registration.cancelled",
            registration_id=registration.pk,
            account_id=registration.account_id,
            by=actor.type,
            tell_patient=tell_patient,
            **({"told_reason": reason.strip()} if reason_told and reason.strip() else {}),
        )
        scheduling.slot_freed(schedule_id=registration.schedule_id, why="registration.cancelled")
    _now_and_after_commit(lambda: _slot_given_back(registration))
    return registration


# --- rescheduling (改约) ----------------------------------------------------------------------------


def reschedule_fee_allowed(*, registration: Registration, schedule: Schedule, same_fee_only: bool) -> bool:
    """A move to ``schedule`` keeps within the fee rule: the same fees, or — for a registration
    not paid for (``same_fee_only`` False) — a clinic that is not paid online."""
    fees = (schedule.registration_fee_fen, schedule.consultation_fee_fen)
    if fees == (registration.registration_fee_fen, registration.consultation_fee_fen):
        return True
    return not same_fee_only and not (rules_for_schedule(schedule).payment_required and schedule.fee_fen > 0)


def reschedule_online_here(schedule: Schedule) -> bool:
    """A clinic of a HIS that books in real time takes no move made here (``reschedule.not_here``)."""
    return not (schedule.his_id and wired.his.realtime(schedule.hospital_id))


def registration_reschedule(
    *,
    registration: Registration,
    schedule: Schedule,
    period: Period | None = None,
    actor: Actor,
    reason: str = "",
    channel: str | None = None,
    same_fee_only: bool = False,
) -> Registration:
    """Move a booked registration to a slot of another clinic (or period) of its department, in
    one transaction: the new slot is taken first (a conditional update, under the same account
    and person locks and limits as a new hold), then the old registration becomes ``moved`` and
    its slot is freed the way a cancellation frees it (the gate and the waitlist learn). Either
    both happen or neither.

    The limits are those of a new booking, but the registration being moved does not count
    against itself (a move within the same day is not a second registration that day); a
    move is not a live hold, so the account's count of live holds does not apply. The patient
    may move until the online cancellation cutoff; staff after it too, with a reason.
    ``same_fee_only``: the registration was paid for (``payments.registration_reschedule``),
    so only a clinic with the same fees will do. Returns the new registration."""
    now = clock.now()
    if registration.status != RegistrationStatus.BOOKED:
        raise errors.BAD_TRANSITION.error(registration_status=registration.status)
    if schedule.department_id != registration.department_id:
        raise errors.RESCHEDULE_OTHER_DEPARTMENT.error(field="schedule_id")
    if schedule.pk == registration.schedule_id and (period is None or period.pk == registration.period_id):
        raise errors.RESCHEDULE_SAME_SLOT.error(field="period_id" if period is not None else "schedule_id")
    deadline, still_open = selectors.patient_cancel_window(registration)
    if actor.type == ActorType.PATIENT and not still_open:
        raise errors.CANCEL_TOO_LATE.error(deadline=deadline.isoformat())
    if actor.type == ActorType.STAFF and not still_open and not reason.strip():
        raise errors.REASON_REQUIRED.error(field="reason")
    rules = rules_for_schedule(schedule)
    _check_bookable(schedule=schedule, period=period, rules=rules, now=now)
    if not reschedule_fee_allowed(registration=registration, schedule=schedule, same_fee_only=same_fee_only):
        raise errors.RESCHEDULE_FEE_DIFFERS.error(
            field="schedule_id", fee_fen=schedule.fee_fen, paid_fen=registration.fee_fen
        )
    if not reschedule_online_here(schedule):
        raise errors.RESCHEDULE_NOT_HERE.error()
    channel = channel or registration.channel
    same_day = schedule.date == registration.visit_date  # the old one is counted that day: not against itself
    terms = dataclasses.replace(
        _terms(
            account_id=registration.account_id,
            patient_id=registration.patient_id,
            schedule=schedule,
            period=period,
            rules=rules,
            now=now,
            channel=channel,
        ),
        payment_required=False,
        max_live=1_000_000,
        max_department=rules.max_per_patient_department_day + same_day,
        max_hospital=rules.max_per_account_hospital_day + same_day,
        actor_type=actor.type,
        actor_id=actor.id or str(registration.account_id),
    )
    data: dict[str, object] = {"reason": reason.strip()[:300]} if reason.strip() else {}
    old = registration
    with transaction.atomic():
        taken = locks.hold_take(terms)
        if taken.hold_id is None:
            limits = dataclasses.replace(
                rules,
                max_active_holds=1_000_000,
                max_per_patient_department_day=terms.max_department,
                max_per_account_hospital_day=terms.max_hospital,
            )
            _refuse_by_rule(taken, limits)
            raise _sold_out(schedule, period, rules)
        new = hold_book(
            hold_id=taken.hold_id,
            in_time_at=now,
            insurance=old.insurance,
            actor=actor,
            told=False,
        )
        assert new is not None  # made live a moment ago, in this transaction
        # The old registration last: a concurrent cancel or check-in of it makes this fail and
        # the whole move (the new slot included) roll back.
        old = _transition(
            registration=old,
            allowed=[RegistrationStatus.BOOKED],
            to_status=RegistrationStatus.MOVED,
            actor=actor,
            kind="registration.moved",
            data=data | {"to": new.registration_number, "slot_number": new.slot_number},
            moved_to=new,
            moved_at=now,
        )
        event_record(
            actor=actor,
            kind="registration.moved_in",
            registration=new,
            to_status=RegistrationStatus.BOOKED,
            moved_from=old.registration_number,
        )
        Slot.objects.filter(pk=old.slot_id, state=SlotState.BOOKED).update(state=scheduling.freed_state())
        wired.write_backs.registration_cancelled(old)
        outbox.event_emit(
            "registration.moved",
            registration_id=new.pk,
            account_id=new.account_id,
            from_registration_id=old.pk,
            by=actor.type,
        )
        scheduling.slot_freed(schedule_id=old.schedule_id, why="registration.moved")

    def told() -> None:
        _slot_given_back(old)
        gate.slot_freed(new.schedule_id)  # the gate counts again what the move took there
        facts.department_changed(new.department_id)

    _now_and_after_commit(told)
    return new


def registration_refund_start(*, registration_id: int, actor: Actor) -> None:
    """A cancelled registration's money is on its way back. Call inside a transaction."""
    registration = Registration.objects.get(pk=registration_id)
    _transition(
        registration=registration,
        allowed=[RegistrationStatus.CANCELLED],
        to_status=RegistrationStatus.REFUNDING,
        actor=actor,
        kind="registration.refunding",
    )


def registration_refund_finish(*, registration_id: int) -> None:
    """The provider confirmed the refund. Call inside a transaction."""
    registration = Registration.objects.get(pk=registration_id)
    _transition(
        registration=registration,
        allowed=[RegistrationStatus.REFUNDING],
        to_status=RegistrationStatus.REFUNDED,
        actor=SYSTEM,
        kind="registration.refunded",
    )


def checkin_qr(registration: Registration) -> str:
    """What the registration's QR code carries: its number, signed so a kiosk can trust it."""
    return signing.dumps(registration.registration_number, salt=QR_SALT)


def registration_for_checkin(*, registration_number: str | None = None, qr: str | None = None) -> Registration:
    if qr:
        try:
            registration_number = signing.loads(qr, salt=QR_SALT)
        except signing.BadSignature:
            raise NOT_FOUND.error(field="qr") from None  # not a code of ours
    registration = (
        Registration.objects.select_related("schedule__hospital")
        .filter(registration_number=(registration_number or "").strip())
        .first()
    )
    if registration is None:
        raise errors.CHECKIN_UNKNOWN.error()
    return registration


def registration_check_in(*, registration: Registration, actor: Actor) -> Registration:
    """The patient has arrived (kiosk, window, QR): only on the visit day, before the session ends."""
    now = clock.now()
    schedule = registration.schedule
    if registration.status == RegistrationStatus.BOOKED:
        if clock.local_today(schedule.hospital.timezone) != registration.visit_date or now >= schedule.ends_at:
            raise errors.CHECKIN_WRONG_DAY.error()
    with transaction.atomic():
        return _transition(
            registration=registration,
            allowed=[RegistrationStatus.BOOKED],
            to_status=RegistrationStatus.CHECKED_IN,
            actor=actor,
            kind="registration.checked_in",
            checked_in_at=now,
        )


def registration_mark_visited(*, registration: Registration, actor: Actor) -> Registration:
    with transaction.atomic():
        return _transition(
            registration=registration,
            allowed=[RegistrationStatus.CHECKED_IN],
            to_status=RegistrationStatus.VISITED,
            actor=actor,
            kind="registration.visited",
        )


def registrations_mark_no_show() -> int:
    """Registrations neither cancelled nor checked in by the end of their session become no-shows."""
    now = clock.now()
    due = Registration.objects.filter(status=RegistrationStatus.BOOKED, schedule__ends_at__lte=now)
    marked = 0
    for registration in due.select_related("schedule__hospital", "schedule__department")[:1000]:
        rules = rules_for_schedule(registration.schedule)
        with transaction.atomic():
            try:
                _transition(
                    registration=registration,
                    allowed=[RegistrationStatus.BOOKED],
                    to_status=RegistrationStatus.NO_SHOW,
                    actor=SYSTEM,
                    kind="registration.no_show",
                )
            except Problem:  # checked in or cancelled at the last moment
                continue
            outbox.event_emit(
                "registration.no_show", registration_id=registration.pk, account_id=registration.account_id
            )
            _blacklist_consider(registration=registration, reason=BlacklistReason.NO_SHOWS, rules=rules, now=now)
            marked += 1
    return marked


# --- blacklist -----------------------------------------------------------------------------------


def blacklist_active(*, hospital_id: int, person_hash: str, now: dt.datetime) -> BlacklistEntry | None:
    return (
        BlacklistEntry.objects.filter(
            hospital_id=hospital_id, person_hash=person_hash, lifted_at__isnull=True, ends_at__gt=now
        )
        .order_by("-ends_at")
        .first()
    )


def _offences(*, reason: str, rules: Rules) -> tuple[Q, str]:
    """What counts towards a bar for ``reason``, and the field that dates it: the patient's own
    cancellations or no-shows, and staff's late cancellations where the rules count them so."""
    late = Q(late_cancel=True)
    if reason == BlacklistReason.CANCELLATIONS:
        counted = Q(cancelled_by=ActorType.PATIENT, cancelled_at__isnull=False)
        if rules.late_cancel_counts_as == LateCancelCounts.CANCELLATION:
            counted |= late
        return counted, "cancelled_at"
    counted = Q(status=RegistrationStatus.NO_SHOW)
    if rules.late_cancel_counts_as == LateCancelCounts.NO_SHOW:
        counted |= late
    return counted, "schedule__ends_at"


def _blacklist_consider(
    *, registration: Registration, reason: str, rules: Rules, now: dt.datetime
) -> BlacklistEntry | None:
    """Bar the person if this cancellation or no-show reaches the hospital's threshold; the bar
    keeps the registrations that caused it.

    Only what happened since the person's last bar for the same reason counts, so a bar that
    staff lifted is not re-imposed by the offences that caused it.
    """
    if reason == BlacklistReason.CANCELLATIONS:
        threshold, days = rules.blacklist_cancellations, rules.blacklist_cancellation_days
    else:
        threshold, days = rules.blacklist_no_shows, rules.blacklist_no_show_days
    counted, field = _offences(reason=reason, rules=rules)
    since = now - dt.timedelta(days=days)
    previous = (
        BlacklistEntry.objects.filter(
            hospital_id=registration.hospital_id, person_hash=registration.person_hash, reason=reason
        )
        .order_by("-starts_at")
        .first()
    )
    if previous is not None:
        since = max(since, previous.starts_at)
    offences = Registration.objects.filter(
        counted, hospital_id=registration.hospital_id, person_hash=registration.person_hash, **{f"{field}__gt": since}
    )
    causes = list(offences.values_list("pk", flat=True))
    if len(causes) < threshold or blacklist_active(
        hospital_id=registration.hospital_id, person_hash=registration.person_hash, now=now
    ):
        return None
    entry = BlacklistEntry.objects.create(
        hospital_id=registration.hospital_id,
        person_hash=registration.person_hash,
        patient_id=registration.patient_id,
        reason=reason,
        count=len(causes),
        starts_at=now,
        ends_at=now + dt.timedelta(days=rules.blacklist_days),
    )
    entry.causes.set(causes)
    outbox.event_emit("blacklist.barred", entry_id=entry.pk, hospital_id=entry.hospital_id)
    return entry


def blacklist_lift(*, entry: BlacklistEntry, by: str, note: str = "") -> BlacklistEntry:
    """Lift a bar now, with the reason (kept on the bar and in the audit log)."""
    if not note.strip():
        raise errors.REASON_REQUIRED.error(field="reason")
    with transaction.atomic():
        if not BlacklistEntry.objects.filter(pk=entry.pk, lifted_at__isnull=True).update(
            lifted_at=clock.now(), lifted_by=by, note=note.strip()[:200]
        ):
            raise errors.BAR_NOT_ACTIVE.error()
        outbox.event_emit("blacklist.lifted", entry_id=entry.pk, hospital_id=entry.hospital_id)
        entry.refresh_from_db()
        audit_record(
            actor=by,
            action="blacklist.lifted",
            target_type="blacklist",
            target_id=entry.pk,
            target=entry.patient.name,
            hospital_id=entry.hospital_id,
            before={"until": entry.ends_at.isoformat()},
            after={"lifted_at": entry.lifted_at.isoformat() if entry.lifted_at else ""},
            reason=entry.note,
        )
    return entry


# --- staff work on one order (the console and the staff API) -------------------------------------


def _reason(reason: str) -> str:
    if not reason.strip():
        raise errors.REASON_REQUIRED.error(field="reason")
    return reason.strip()[:300]


def registration_no_show_mark(*, registration: Registration, actor: Actor, reason: str) -> Registration:
    """Staff mark a booked registration a no-show (the patient did not come by the hospital's
    check-in deadline, or the HIS says so), from the visit day on; it counts towards the
    blacklist as the periodic marking does."""
    reason = _reason(reason)
    schedule = registration.schedule
    if registration.status == RegistrationStatus.BOOKED and registration.visit_date > clock.local_today(
        schedule.hospital.timezone
    ):
        raise errors.NO_SHOW_TOO_EARLY.error()
    now = clock.now()
    rules = rules_for_schedule(schedule)
    with transaction.atomic():
        registration = _transition(
            registration=registration,
            allowed=[RegistrationStatus.BOOKED],
            to_status=RegistrationStatus.NO_SHOW,
            actor=actor,
            kind="registration.no_show",
            data={"reason": reason},
        )
        _blacklist_consider(registration=registration, reason=BlacklistReason.NO_SHOWS, rules=rules, now=now)
    return registration


def registration_no_show_undo(*, registration: Registration, actor: Actor, reason: str) -> Registration:
    """Staff correct a wrong no-show: the patient came (visited, once the session is over) or may
    still come (booked again while it runs). A bar this no-show helped cause is lifted when the
    offences left no longer reach the rules' threshold; every step is in the audit trail."""
    reason = _reason(reason)
    schedule = registration.schedule
    now = clock.now()
    to_status = RegistrationStatus.VISITED if schedule.ends_at <= now else RegistrationStatus.BOOKED
    rules = rules_for_schedule(schedule)
    with transaction.atomic():
        registration = _transition(
            registration=registration,
            allowed=[RegistrationStatus.NO_SHOW],
            to_status=to_status,
            actor=actor,
            kind="registration.no_show_undone",
            data={"reason": reason},
        )
        counted, _field = _offences(reason=BlacklistReason.NO_SHOWS, rules=rules)
        bars = BlacklistEntry.objects.filter(
            causes=registration, reason=BlacklistReason.NO_SHOWS, lifted_at__isnull=True, ends_at__gt=now
        )
        for bar in bars.select_related("patient"):
            left = bar.causes.filter(counted).exclude(pk=registration.pk).count()
            if left < rules.blacklist_no_shows:
                note = _("No-show %(number)s undone: %(reason)s") % {
                    "number": registration.registration_number,
                    "reason": reason,
                }
                blacklist_lift(entry=bar, by=actor.id, note=note)
    return registration


def blacklist_appeal_note(*, entry: BlacklistEntry, by: str, appeal: str) -> BlacklistEntry:
    """Keep what the patient said against the bar (by phone, at the window), for whoever decides."""
    before = entry.appeal
    with transaction.atomic():
        BlacklistEntry.objects.filter(pk=entry.pk).update(appeal=appeal.strip()[:1000])
        entry.refresh_from_db()
        audit_record(
            actor=by,
            action="blacklist.appeal",
            target_type="blacklist",
            target_id=entry.pk,
            target=entry.patient.name,
            hospital_id=entry.hospital_id,
            before={"appeal": before},
            after={"appeal": entry.appeal},
        )
    return entry


def blacklist_set(
    *,
    patient: Patient,
    hospital: Any,
    by: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    appeal: str = "",
    entry: BlacklistEntry | None = None,
) -> BlacklistEntry:
    """Staff bar a person from online booking at their hospital by hand, until ``ends_at``.
    ``entry``: an unsaved row to fill (the console's form), else a new one."""
    if ends_at <= starts_at:
        raise errors.REASON_REQUIRED.error(field="ends_at", detail=_("The bar must end after it starts."))
    entry = entry or BlacklistEntry()
    with transaction.atomic():
        entry.hospital = hospital
        entry.patient = patient
        entry.person_hash = patient.id_number_hash
        entry.reason = BlacklistReason.MANUAL
        entry.count = 0
        entry.starts_at, entry.ends_at = starts_at, ends_at
        entry.appeal = appeal[:1000]
        entry.set_by = by
        entry.save()
        audit_record(
            actor=by,
            action="blacklist.set",
            target_type="blacklist",
            target_id=entry.pk,
            target=patient.name,
            hospital_id=hospital.pk,
            after={"from": starts_at.isoformat(), "until": ends_at.isoformat()},
        )
    return entry


# --- relief slots (救济) -----------------------------------------------------------------------------


def relief_request(*, schedule: Schedule, patient: Patient, reason: str, actor: Actor) -> ReliefGrant:
    """Staff ask for an extra slot of the clinic for a named patient in an urgent case, with the
    reason; nothing is booked until a second staff member approves it."""
    reason = _reason(reason)
    if schedule.status != ScheduleStatus.OPEN or schedule.ends_at <= clock.now():
        raise errors.SCHEDULE_ENDED.error(field="schedule_id")
    with transaction.atomic():
        grant = ReliefGrant.objects.create(
            hospital_id=schedule.hospital_id,
            schedule=schedule,
            patient=patient,
            reason=reason,
            requested_by=actor.id,
            requested_at=clock.now(),
        )
        audit_record(
            actor=actor.id,
            action="relief.requested",
            target_type="relief",
            target_id=grant.pk,
            target=patient.name,
            hospital_id=schedule.hospital_id,
            after={"schedule": schedule.pk},
            reason=reason,
        )
    return grant


def relief_decide(*, grant: ReliefGrant, actor: Actor, approve: bool, note: str = "") -> ReliefGrant:
    """A second staff member (a hospital admin: the caller checks the role) approves or refuses a
    relief request. Approved, one transaction adds the extra number, held for the patient, and
    books it (the bar and the per-day limits still apply; the clinic being full does not).
    Whoever asked cannot decide (also a check constraint), nor approve when they made the asker's
    account, set its password or reset its second factor: they could have asked as the asker."""
    if actor.id == grant.requested_by:
        raise errors.RELIEF_OWN_REQUEST.error()
    if approve and staff_keys_set_by(by=actor.id, asker=grant.requested_by):
        raise errors.RELIEF_ASKER_KEYS.error()
    now = clock.now()
    with transaction.atomic():
        status = ReliefStatus.APPROVED if approve else ReliefStatus.REFUSED
        if not ReliefGrant.objects.filter(pk=grant.pk, status=ReliefStatus.REQUESTED).update(
            status=status, decided_by=actor.id, decided_at=now, note=note.strip()[:300]
        ):
            raise errors.RELIEF_DECIDED.error()
        grant.refresh_from_db()
        if approve:
            grant.registration = _relief_book(grant=grant, actor=actor, now=now)
            ReliefGrant.objects.filter(pk=grant.pk).update(registration=grant.registration)
        audit_record(
            actor=actor.id,
            action=f"relief.{status}",
            target_type="relief",
            target_id=grant.pk,
            target=grant.patient.name,
            hospital_id=grant.hospital_id,
            before={"status": ReliefStatus.REQUESTED},
            after={"status": status}
            | ({"registration": grant.registration.registration_number} if grant.registration else {}),
            reason=note.strip()[:300],
        )
    if grant.registration is not None:
        facts.department_changed(grant.registration.department_id)
    return grant


def _relief_book(*, grant: ReliefGrant, actor: Actor, now: dt.datetime) -> Registration:
    schedule = Schedule.objects.select_related("hospital").get(pk=grant.schedule_id)
    rules = rules_for_schedule(schedule)
    patient = grant.patient
    terms = _terms(
        account_id=patient.account_id, patient_id=patient.pk, schedule=schedule, period=None, rules=rules, now=now
    )
    locks.lock_account(patient.account_id)
    locks.lock_person(patient.id_number_hash)
    counted = locks.counts_of(dataclasses.replace(terms, max_live=1_000_000))
    if counted.counts is None or not locks.allowed(counted.counts, dataclasses.replace(terms, max_live=1_000_000)):
        _refuse_by_rule(counted, dataclasses.replace(rules, max_active_holds=1_000_000))
    slot = scheduling.schedule_relief_slot_add(schedule=schedule, reason=grant.reason, actor=actor.id)
    hold = Hold.objects.create(
        account_id=patient.account_id,
        patient=patient,
        person_hash=patient.id_number_hash,
        hospital_id=schedule.hospital_id,
        department_id=schedule.department_id,
        schedule=schedule,
        period_id=slot.period_id,
        slot=slot,
        visit_date=schedule.date,
        registration_fee_fen=schedule.registration_fee_fen,
        consultation_fee_fen=schedule.consultation_fee_fen,
        payment_required=False,  # paid at the visit
        created_at=now,
        expires_at=now + dt.timedelta(minutes=1),
        channel="window",
    )
    event_record(actor=actor, kind="hold.created", hold=hold, to_status=HoldStatus.HELD, relief=grant.pk)
    registration = hold_book(hold_id=hold.pk, in_time_at=now, insurance=False, actor=actor)
    assert registration is not None  # made a moment ago, in this transaction
    return registration


def person_hashes_replace(persons: dict[str, str]) -> int:
    """After a key rotation: the rows that copy a patient's person hash take the new one (in the
    transaction that changed the patients', so the same person is one person throughout)."""
    changed = 0
    for old, new in persons.items():
        for model in (Hold, Registration, BlacklistEntry):
            changed += model.objects.filter(person_hash=old).update(person_hash=new)
    return changed


# --- ratings of doctors after a visit --------------------------------------------------------------

RATING_COMMENT_MAX = 500


def rating_create(*, registration: Registration, score: int, comment: str = "") -> Rating:
    """The patient rates the doctor of a registration they went to (checked in or visited); the
    rating waits for the hospital's review before others see it. One per registration: the unique
    registration column decides between two concurrent attempts."""
    if registration.doctor_id is None:
        raise errors.RATING_NO_DOCTOR.error()
    if registration.status not in RATEABLE_REGISTRATION:
        raise errors.RATING_NOT_VISITED.error()
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise errors.RATING_SCORE.error()
    if Rating.objects.filter(registration=registration).exists():
        raise errors.RATING_EXISTS.error()
    try:
        with transaction.atomic():
            return Rating.objects.create(
                registration=registration,
                hospital_id=registration.hospital_id,
                doctor_id=registration.doctor_id,
                account_id=registration.account_id,
                patient_id=registration.patient_id,
                score=score,
                comment=comment.strip()[:RATING_COMMENT_MAX],
                created_at=clock.now(),
            )
    except IntegrityError:  # the other attempt committed first
        raise errors.RATING_EXISTS.error() from None


def rating_review(*, rating: Rating, actor: Actor, publish: bool, note: str = "") -> Rating:
    """Staff of the rating's hospital publish a pending rating or reject it (the caller scopes
    the staff member to the hospital); audited. A reviewed rating is not reviewed again."""
    status = RatingStatus.PUBLISHED if publish else RatingStatus.REJECTED
    with transaction.atomic():
        if not Rating.objects.filter(pk=rating.pk, status=RatingStatus.PENDING).update(
            status=status, decided_by=actor.id, decided_at=clock.now(), note=note.strip()[:300]
        ):
            raise errors.RATING_DECIDED.error()
        rating.refresh_from_db()
        audit_record(
            actor=actor.id,
            action=f"rating.{status}",
            target_type="rating",
            target_id=rating.pk,
            target=rating.registration.registration_number,
            hospital_id=rating.hospital_id,
            before={"status": RatingStatus.PENDING},
            after={"status": status, "score": rating.score},
            reason=note.strip()[:300],
        )
    return rating
