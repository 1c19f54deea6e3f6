"""The waitlist (候补, seed 002): joining a full clinic, the offers made when its slots come free,
and how an entry ends.

- **Joining** checks what a hold checks (the bar, the limits, the medical record) and takes one of
  the clinic's places with a conditional update (``scheduling.waitlist_enter``): the places of a
  clinic are never exceeded, and a person waits once per clinic (a unique constraint).
- **Slots given back** while anyone waits are kept for the waitlist (``SlotState.RESERVED``,
  decided in the statement that gives them back), not for whoever asks first. The worker hands
  each ``slot.freed`` event to ``offers_make``, which takes such a slot for the next patient in
  one transaction with the entry's change: a slot makes one offer however many triggers arrive.
- **The next patient**: the first to join (``fifo``), or a recorded draw among those waiting
  (``random``). A patient who may no longer book (barred since, booked elsewhere that day) is
  passed over with the reason, told, and their prepayment refunded.
- **The offer** books at once where nothing is paid online, or with the prepayment; otherwise it is
  a hold the patient confirms and pays within the confirm window, or it passes to the next.
- **Ending**: the patient leaves, the deadline passes (18:00 the day before, by default), the
  clinic is suspended, or staff remove the entry with a reason. Each is told; a prepayment goes
  back in full.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import secrets
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account, Patient
from guahao.booking import errors as booking_errors
from guahao.booking import gate, ports, risk
from guahao.booking import selectors as booking_selectors
from guahao.booking import services as booking
from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.core import clock, outbox
from guahao.core.errors import INVALID
from guahao.core.problems import Problem
from guahao.payments import services as payments
from guahao.payments.models import Payment
from guahao.scheduling import facts
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import (
    Pool,
    RiskAction,
    Schedule,
    ScheduleStatus,
    Slot,
    SlotState,
    WaitlistOrder,
    WaitlistPayment,
)
from guahao.scheduling.rules import Rules, lottery_window, release_at, rules_for_schedule, waitlist_deadline
from guahao.waitlist import errors
from guahao.waitlist.models import ACTIVE, EntryMode, EntryStatus, WaitlistDraw, WaitlistEntry, WaitlistEvent

# What patients are told (notifications' texts, by kind).
JOINED = "waitlist.joined"
OFFERED = "waitlist.offered"
BOOKED = "waitlist.booked"
EXPIRED = "waitlist.expired"
CANCELLED = "waitlist.cancelled"

SYSTEM = "system"

# Why an entry ended, as the patient reads it (the screens; the messages word it themselves).
PREPAY_LAPSED = "waitlist.prepay_lapsed"
REASONS = {
    "waitlist.deadline": _("the waitlist closed before a slot came free"),
    "waitlist.offer_lapsed": _("the slot offered was not confirmed in time"),
    "waitlist.offer_released": _("the slot offered was given back"),
    "waitlist.left": _("you left the waitlist"),
    "waitlist.removed": _("the hospital removed it"),
    "schedule.suspended": _("the clinic was suspended"),
    "rule.blacklisted": _("the patient is barred from online booking"),
    "rule.one_per_department_per_day": _("the patient already has a registration in this department that day"),
    "rule.per_account_per_day": _("the account has reached its registrations at this hospital that day"),
    "rule.medical_record_required": _("the hospital needs a medical record first"),
    "payment.failed": _("the payment could not be started"),
    PREPAY_LAPSED: _("the payment when joining was not made in time"),
    "lottery.not_drawn": _("not drawn in the release's draw, and the waitlist is full"),
}
OFFERS_PER_CALL = 200
PREPAY_LONGEST = dt.timedelta(minutes=5)  # the shortest hold time: entries younger are not read


def _record(entry: WaitlistEntry, kind: str, *, from_status: str = "", actor: str = SYSTEM, **data: object) -> None:
    WaitlistEvent.objects.create(
        entry=entry, kind=kind, from_status=from_status, to_status=entry.status, actor=actor, at=clock.now(), data=data
    )


def _tell(entry: WaitlistEntry, kind: str, **data: object) -> None:
    """The patient is told (``notifications`` turns the event of the kind's name into messages),
    in the change's transaction."""
    outbox.event_emit(
        kind,
        account_id=entry.account_id,
        schedule_id=entry.schedule_id,
        entry_id=entry.pk,
        patient_id=entry.patient_id,  # named in the message: an account waits for several family members
        **data,
    )


def patient_waiting(patient_id: int, now: dt.datetime) -> str | None:
    """The guard ``accounts`` asks before a patient is removed: an entry still waiting or offered."""
    return "waitlist" if WaitlistEntry.objects.filter(patient_id=patient_id, status__in=ACTIVE).exists() else None


def mode_for(schedule: Schedule, rules: Rules) -> str:
    """How a freed slot becomes the patient's: booked at once where nothing is paid online,
    else as the rules say (paid when joining, or held and paid when offered)."""
    if not rules.payment_required or schedule.registration_fee_fen + schedule.consultation_fee_fen == 0:
        return EntryMode.BOOK
    return EntryMode.PREPAY if rules.waitlist_payment == WaitlistPayment.PREPAY else EntryMode.PAY_AFTER_HOLD


def _free_now(schedule: Schedule) -> bool:
    return Slot.objects.filter(
        schedule=schedule, pool=Pool.PLATFORM, state=SlotState.FREE, period__ends_at__gt=clock.now()
    ).exists()


def waitlist_open_for(schedule: Schedule, rules: Rules | None = None) -> bool:
    """Whether a patient could join the clinic's waitlist now (the 候补 button on a full clinic)."""
    rules = rules or rules_for_schedule(schedule)
    return rules.waitlist_places > 0 and join_refusal(schedule, rules) is None


def join_refusal(schedule: Schedule, rules: Rules | None = None, *, places: bool = True) -> Problem | None:
    """Why nobody could join the clinic's waitlist now, as ``entry_join`` refuses it (the same
    problem, checked in the same order), or None while it is open: what a clinic's page says in
    place of the 候补 button. ``schedule`` as the database has it now: its count of patients
    waiting decides whether the queue is full (``places=False``: not asked; joining asks it last,
    with the conditional update that takes a place, so a patient already waiting hears that)."""
    rules = rules or rules_for_schedule(schedule)
    now = clock.now()
    if rules.waitlist_places <= 0:
        # No queue to wait in: what is left instead (other doctors, days, the general clinic).
        return errors.WAITLIST_OFF.error(alternatives=booking_selectors.alternatives(schedule=schedule, period=None))
    if not Slot.objects.filter(schedule=schedule, pool=Pool.PLATFORM).exclude(state=SlotState.WITHDRAWN).exists():
        # Every slot is the window's (or the phone desk's): a waitlist would wait for nothing.
        return errors.WAITLIST_NO_ONLINE.error(
            alternatives=booking_selectors.alternatives(schedule=schedule, period=None)
        )
    if schedule.status == ScheduleStatus.SUSPENDED:
        return booking_errors.SCHEDULE_SUSPENDED.error()
    opens = release_at(schedule, rules)
    if now < opens:
        return booking_errors.SCHEDULE_NOT_RELEASED.error(release_at=_local_iso(opens, schedule))
    deadline = waitlist_deadline(schedule, rules)
    if now >= deadline:
        return errors.WAITLIST_CLOSED.error(
            closed_at=_local_iso(deadline, schedule),
            alternatives=booking_selectors.alternatives(schedule=schedule, period=None),
        )
    if _free_now(schedule):
        return errors.WAITLIST_NOT_FULL.error()
    if places and schedule.waitlist_active >= rules.waitlist_places:
        return _queue_full(schedule)
    return None


def _queue_full(schedule: Schedule) -> Problem:
    """Every place taken: the other doctors (and days) that still have slots are offered."""
    return errors.WAITLIST_FULL.error(alternatives=booking_selectors.alternatives(schedule=schedule, period=None))


def _local_iso(at: dt.datetime, schedule: Schedule) -> str:
    return at.astimezone(ZoneInfo(schedule.hospital.timezone)).isoformat()


def entry_join(
    *,
    account: Account,
    patient: Patient,
    schedule: Schedule,
    insurance: bool = False,
    payment_method: str | None = None,
    client: risk.Client = risk.NOBODY,
    suspected: bool = False,
) -> WaitlistEntry:
    """Put a patient on a full clinic's waitlist. Refusals name the rule and change nothing.
    ``suspected``: sent here by the hold path as a suspected script (not scored again).

    Prepay: the payment's order is created after the entry is written (no transaction open
    during the provider's call); if the provider fails, the entry ends at once and the patient
    may join again."""
    rules = rules_for_schedule(schedule)
    now = clock.now()
    refused = join_refusal(schedule, rules, places=False)
    if refused is not None:
        raise refused
    deadline = waitlist_deadline(schedule, rules)
    if rules.risk_action != RiskAction.OFF and not suspected:
        # Scripts get no more than people on the waitlist either (a refused join is recorded).
        reasons, action = risk.suspicions(
            account=account, patient_id=patient.pk, schedule=schedule, rules=rules, client=client, asked="waitlist"
        )
        if action:
            raise booking_errors.RISK_SUSPECTED.error(reasons=reasons, action=action)
    booking.hold_rules_check(account=account, patient=patient, schedule=schedule, rules=rules)
    mode = mode_for(schedule, rules)
    if mode == EntryMode.PREPAY and not payment_method:
        raise INVALID.error(
            detail=_("Choose how to pay: this clinic's waitlist is paid when joining."), field="payment_method"
        )
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                schedule=schedule,
                hospital_id=schedule.hospital_id,
                department_id=schedule.department_id,
                account=account,
                patient=patient,
                person_hash=patient.id_number_hash,
                mode=mode,
                # A prepayment is self-pay (seed 002): insurance settles a registration, not a place in a queue.
                insurance=insurance and mode != EntryMode.PREPAY,
                joined_at=now,
            )
            if not scheduling.waitlist_enter(schedule_id=schedule.pk, places=rules.waitlist_places):
                raise _queue_full(schedule)
            _record(entry, "joined", actor=f"patient:{account.pk}", mode=mode, order=rules.waitlist_order)
            if mode != EntryMode.PREPAY:  # paid when joining: told once the money arrived
                _tell(entry, JOINED, expires_at=deadline.isoformat())
    except IntegrityError:
        raise errors.WAITLIST_ALREADY.error(field="patient_id") from None
    if mode == EntryMode.PREPAY:
        assert payment_method is not None
        try:
            payment = payments.prepayment_start(account_id=account.pk, schedule=schedule, method=payment_method)
        except Problem:
            _end(entry.pk, EntryStatus.CANCELLED, reason="payment.failed", tell=False)
            raise
        WaitlistEntry.objects.filter(pk=entry.pk).update(payment=payment)
        if payment.status == "paid":  # paid already (the provider said so at once)
            entry_paid(payment_id=payment.pk)
    entry.refresh_from_db()
    return entry


def entry_paid(*, payment_id: int) -> None:
    """A prepayment arrived: the entry takes part in the offers from now on (or, if it ended
    meanwhile, the money goes back)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().filter(payment_id=payment_id).first()
        if entry is None:
            return
        if entry.status not in ACTIVE:
            payments.prepayment_return(payment_id=payment_id)
            return
        if WaitlistEntry.objects.filter(pk=entry.pk, paid_at__isnull=True).update(paid_at=clock.now()):
            _record(entry, "paid")
            schedule = entry.schedule
            _tell(entry, JOINED, expires_at=waitlist_deadline(schedule, rules_for_schedule(schedule)).isoformat())
    offers_make(schedule_id=entry.schedule_id)


def entry_leave(*, entry: WaitlistEntry, actor: str, reason: str = "waitlist.left", note: str = "") -> WaitlistEntry:
    """The patient leaves the waitlist (or staff remove them, with a reason): an offer's hold is
    released and handed to the next patient; a prepayment goes back."""
    ended = _end(entry.pk, EntryStatus.CANCELLED, reason=reason, actor=actor, note=note, tell=actor != "patient")
    entry.refresh_from_db()
    if not ended:
        raise errors.ENTRY_NOT_ACTIVE.error(entry_status=entry.status)
    # The offer's hold as the entry had it when it ended: the ``entry`` passed in may have been
    # read before the worker offered it a slot (a console list, a page), and a hold left live
    # would stay payable, and the slot kept from the next patient, until its confirm window ends.
    if entry.hold_id is not None:
        hold = Hold.objects.get(pk=entry.hold_id)
        if hold.status == HoldStatus.HELD:
            try:
                booking.hold_release(hold=hold, actor=booking.SYSTEM)
            except Problem:
                pass  # ended meanwhile
    return entry


def _end(
    entry_id: int,
    status: str,
    *,
    reason: str,
    actor: str = SYSTEM,
    note: str = "",
    tell: bool = True,
    only: list[str] | None = None,
) -> bool:
    """An active entry ends: its place is given back, the patient told, a prepayment returned.
    False if it had ended already (the conditional update decides)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_related("schedule__hospital", "schedule__department", "schedule__doctor")
        found = entry.filter(pk=entry_id, status__in=only or ACTIVE).first()
        if found is None:
            return False
        before = found.status
        if not WaitlistEntry.objects.filter(pk=entry_id, status=before).update(
            status=status, ended_at=clock.now(), end_reason=reason, ended_by="" if actor == SYSTEM else actor, note=note
        ):
            return False
        found.status = status
        scheduling.waitlist_leave(schedule_id=found.schedule_id)
        _record(found, f"ended.{status}", from_status=before, actor=actor, reason=reason, note=note)
        back = payments.prepayment_return(payment_id=found.payment_id) if found.payment_id is not None else 0
        if tell:
            # What goes back is said only when something was paid in advance.
            told = {"prepaid_fen": back} if back else {}
            _tell(found, EXPIRED if status == EntryStatus.EXPIRED else CANCELLED, why=reason, note=note, **told)
    _after_change(found.schedule_id)
    return True


def _after_change(schedule_id: int) -> None:
    """Whenever someone leaves: slots kept for the waitlist go to the next patient, or, with
    nobody left waiting, to anyone."""
    transaction.on_commit(lambda: offers_make(schedule_id=schedule_id))


# --- offers ----------------------------------------------------------------------------------------


def _eligible(schedule_id: int) -> list[WaitlistEntry]:
    """Those waiting for the clinic who may be offered a slot now, in the order they joined (a
    prepayment counts once it arrived)."""
    waiting = WaitlistEntry.objects.filter(schedule_id=schedule_id, status=EntryStatus.WAITING, lottery=False)
    return [e for e in waiting.order_by("joined_at", "pk") if e.mode != EntryMode.PREPAY or e.paid_at is not None]


def _next(schedule: Schedule, rules: Rules, passed: set[int]) -> WaitlistEntry | None:
    candidates = [e for e in _eligible(schedule.pk) if e.pk not in passed]
    if not candidates:
        return None
    if rules.waitlist_order != WaitlistOrder.RANDOM:
        return candidates[0]
    seed = secrets.randbits(64)
    ids = sorted(e.pk for e in candidates)
    chosen_id = random.Random(seed).choice(ids)  # noqa: S311 - a recorded, reproducible draw, not a secret
    chosen = next(e for e in candidates if e.pk == chosen_id)
    WaitlistDraw.objects.create(schedule=schedule, at=clock.now(), seed=str(seed), candidates=ids, chosen=chosen)
    return chosen


def offers_make(*, schedule_id: int) -> int:
    """Offer every slot the clinic has free or kept for the waitlist to the patients waiting, in
    turn; free the kept ones when nobody is left. Returns how many offers were made.

    Each offer is one transaction: the entry moves from waiting (a conditional update: two
    workers never offer one entry twice) and the slot is taken for it by the hold path's own
    statement (a slot is held once, whatever else asks for it at that moment)."""
    schedule = Schedule.objects.select_related("hospital", "department", "doctor").filter(pk=schedule_id).first()
    if schedule is None:
        return 0
    rules = rules_for_schedule(schedule)
    now = clock.now()
    made = 0
    passed: set[int] = set()
    if now >= waitlist_deadline(schedule, rules):
        # Closed: those still waiting expire now (the periodic job may not have come yet), and no
        # slot given back after the deadline is offered to them.
        for entry_id in WaitlistEntry.objects.filter(
            schedule_id=schedule_id, status=EntryStatus.WAITING, lottery=False
        ).values_list("pk", flat=True):
            _end(entry_id, EntryStatus.EXPIRED, reason="waitlist.deadline", only=[EntryStatus.WAITING])
    while made < OFFERS_PER_CALL:
        if schedule.status != ScheduleStatus.OPEN or now >= schedule.ends_at:
            break
        outcome = _offer_one(schedule, rules, passed)
        if outcome is None:
            break
        made += outcome
    if not _eligible(schedule_id) and scheduling.slots_unreserve(schedule_id=schedule_id):
        gate.slot_freed(schedule_id)  # nobody waits: the crowd may have them
    return made


def _offer_one(schedule: Schedule, rules: Rules, passed: set[int]) -> int | None:
    """One offer: 1 made, 0 an entry passed over (it may no longer book), None nothing to offer."""
    if not Slot.objects.filter(
        schedule=schedule,
        pool=Pool.PLATFORM,
        state__in=[SlotState.FREE, SlotState.RESERVED],
        period__ends_at__gt=clock.now(),
    ).exists():
        return None
    with transaction.atomic():  # the draw is kept whatever the offer comes to
        entry = _next(schedule, rules, passed)
    if entry is None:
        return None
    outcome = _offer_to(entry, schedule, rules)
    if outcome == 0:
        passed.add(entry.pk)
    return outcome


def _realtime(schedule: Schedule) -> bool:
    """A clinic whose slots its realtime HIS gives: an offer is a lock in the HIS first."""
    return bool(schedule.his_id) and ports.wired.his.realtime(schedule.hospital_id)


def _offer_to(entry: WaitlistEntry, schedule: Schedule, rules: Rules, *, minutes: int | None = None) -> int | None:
    """Offer a slot to one entry: 1 made, 0 passed over (it may no longer book, told why), None
    no slot left."""
    pay_later = entry.mode == EntryMode.PAY_AFTER_HOLD
    if minutes is None:
        minutes = rules.waitlist_confirm_minutes if pay_later else rules.hold_minutes
    minutes = max(1, min(minutes, _minutes_left(schedule)))
    if _realtime(schedule):
        return _offer_to_realtime(entry, schedule, rules, minutes=minutes)
    with transaction.atomic():
        if not WaitlistEntry.objects.filter(pk=entry.pk, status=EntryStatus.WAITING).update(status=EntryStatus.OFFERED):
            return 0
        try:
            hold = booking.hold_offer(
                account_id=entry.account_id,
                patient_id=entry.patient_id,
                schedule=schedule,
                rules=rules,
                minutes=minutes,
                payment_required=pay_later,
            )
        except Problem as refusal:
            transaction.set_rollback(True)
            refused: Problem | None = refusal
        else:
            refused = None
            if hold is None:
                transaction.set_rollback(True)  # no slot after all: the entry waits on
                return None
            _offered(entry, hold, rules)
            return 1
    # Passed over: may no longer book (barred since, booked elsewhere that day, …), told why.
    assert refused is not None
    _end(entry.pk, EntryStatus.CANCELLED, reason=refused.code, note=str(refused.detail)[:200])
    return 0


def _offer_to_realtime(entry: WaitlistEntry, schedule: Schedule, rules: Rules, *, minutes: int) -> int | None:
    """At a realtime HIS hospital the HIS locks the slot for the offer's whole confirm window
    (seed 002's 候补锁号), asked outside any transaction: the entry is taken for the offer first
    (a conditional update), the lock asked, then the hold written; a lock not used goes back,
    and an entry whose offer could not be made waits on (one left taken by a crash is put back
    by the periodic sweep)."""
    if connection.in_atomic_block:
        # The HIS is never asked inside a transaction: offer once this one has committed.
        transaction.on_commit(lambda: offers_make(schedule_id=schedule.pk))
        return None
    if not WaitlistEntry.objects.filter(pk=entry.pk, status=EntryStatus.WAITING, hold__isnull=True).update(
        status=EntryStatus.OFFERED, offered_at=clock.now()
    ):
        return 0

    def waits_on() -> None:
        WaitlistEntry.objects.filter(pk=entry.pk, status=EntryStatus.OFFERED, hold__isnull=True).update(
            status=EntryStatus.WAITING, offered_at=None
        )

    try:
        ports.wired.his.reread(schedule)
        his_lock = ports.wired.his.lock(schedule=schedule, period=None, minutes=minutes, waitlist=True)
    except Problem:
        waits_on()  # the HIS failed or the clinic is suspended there: tried again later
        return None
    if his_lock is None:
        waits_on()
        return None
    hold: Hold | None = None
    refused: Problem | None = None
    pay_later = entry.mode == EntryMode.PAY_AFTER_HOLD
    try:
        with transaction.atomic():
            hold = booking.hold_offer(
                account_id=entry.account_id,
                patient_id=entry.patient_id,
                schedule=schedule,
                rules=rules,
                minutes=minutes,
                payment_required=pay_later,
                his_lock=his_lock,
            )
            if hold is not None:
                # Nothing to pay: registered in the HIS after this commits, as any confirm is.
                _offered(entry, hold, rules, book=entry.mode != EntryMode.BOOK)
    except Problem as refusal:
        refused = refusal
    finally:
        if hold is None:
            ports.wired.his.release_now(hospital_id=schedule.hospital_id, ref=his_lock[0])
    if hold is None:
        waits_on()
        if refused is not None:
            _end(entry.pk, EntryStatus.CANCELLED, reason=refused.code, note=str(refused.detail)[:200])
            return 0
        return None
    if entry.mode == EntryMode.BOOK:
        try:
            registration = booking.hold_confirm(hold=Hold.objects.select_related("schedule__hospital").get(pk=hold.pk))
        except Problem:  # the HIS failed: the patient is offered it to confirm themselves
            with transaction.atomic():
                _tell(entry, OFFERED, hold_id=hold.pk, expires_at=hold.expires_at.isoformat())
        else:
            with transaction.atomic():
                _booked(entry, registration)
    return 1


def _minutes_left(schedule: Schedule) -> int:
    return int((schedule.ends_at - clock.now()).total_seconds() // 60)


def _offered(entry: WaitlistEntry, hold: Hold, rules: Rules, *, book: bool = True) -> None:
    """Inside the offer's transaction: the hold is the entry's. Booked at once where nothing is
    to be paid or the prepayment pays (``book``: here, now); otherwise offered until the hold's end."""
    now = clock.now()
    WaitlistEntry.objects.filter(pk=entry.pk).update(hold=hold, offered_at=now, offer_expires_at=hold.expires_at)
    entry.hold, entry.status, entry.offered_at, entry.offer_expires_at = hold, EntryStatus.OFFERED, now, hold.expires_at
    _record(entry, "offered", from_status=EntryStatus.WAITING, hold_id=hold.pk, slot_number=hold.slot.number)
    if not book:
        return
    if entry.mode == EntryMode.PAY_AFTER_HOLD:
        _tell(entry, OFFERED, hold_id=hold.pk, expires_at=hold.expires_at.isoformat())
        return
    registration = booking.hold_book(hold_id=hold.pk, in_time_at=now, insurance=entry.insurance)
    if registration is None:  # cannot happen: the hold was made in this transaction
        raise booking_errors.HOLD_NOT_ACTIVE.error()
    if entry.payment_id is not None:
        payments.prepayment_use(payment_id=entry.payment_id, hold=hold, registration=registration)
    _booked(entry, registration)


def _booked(entry: WaitlistEntry, registration: Registration) -> None:
    if not WaitlistEntry.objects.filter(pk=entry.pk, status=EntryStatus.OFFERED).update(
        status=EntryStatus.BOOKED, registration=registration, ended_at=clock.now()
    ):
        return
    entry.status = EntryStatus.BOOKED
    scheduling.waitlist_leave(schedule_id=entry.schedule_id)
    _record(entry, "booked", from_status=EntryStatus.OFFERED, registration_id=registration.pk)
    _tell(entry, BOOKED, registration_id=registration.pk)


# --- what the other apps tell the waitlist ------------------------------------------------------------


def hold_booked(*, registration_id: int) -> None:
    """A registration was booked: if it is an offer's hold, confirmed and paid, the entry is booked."""
    registration = Registration.objects.filter(pk=registration_id).first()
    if registration is None:
        return
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.select_related("schedule__hospital", "schedule__department", "schedule__doctor")
            .filter(hold_id=registration.hold_id, status=EntryStatus.OFFERED)
            .first()
        )
        if entry is not None:
            _booked(entry, registration)


def hold_ended(*, hold_id: int, status: str) -> None:
    """An offer's hold ended unconfirmed (its time ran out, or it was released): the entry ends
    and the slot, kept for the waitlist, goes to the next patient."""
    entry = WaitlistEntry.objects.filter(hold_id=hold_id, status=EntryStatus.OFFERED).first()
    if entry is None:
        return
    reason = "waitlist.offer_lapsed" if status == HoldStatus.EXPIRED else "waitlist.offer_released"
    _end(entry.pk, EntryStatus.EXPIRED, reason=reason, only=[EntryStatus.OFFERED])


def schedule_suspended(*, schedule_id: int) -> int:
    """停诊: every entry of the clinic ends, told why, its prepayment refunded."""
    ended = 0
    for entry_id in WaitlistEntry.objects.filter(schedule_id=schedule_id, status__in=ACTIVE).values_list(
        "pk", flat=True
    ):
        ended += _end(entry_id, EntryStatus.CANCELLED, reason="schedule.suspended")  # by the hospital, not run out
    return ended


def prepay_deadline(entry: WaitlistEntry, rules: Rules) -> dt.datetime:
    """When an entry paid when joining lapses if its money has not arrived: the clinic's hold time
    after joining."""
    return entry.joined_at + dt.timedelta(minutes=rules.hold_minutes)


def entries_expire_due() -> int:
    """The periodic job: entries still waiting when their clinic's waitlist closes expire (told,
    prepayments refunded); an offer runs on until its hold ends. An entry paid when joining whose
    money has not arrived within the clinic's hold time ends too (its order closed): it is not in
    the queue, yet it took one of the waitlist's places, which a failed payment kept for good."""
    now = clock.now()
    ended = 0
    unpaid = WaitlistEntry.objects.filter(
        status=EntryStatus.WAITING, mode=EntryMode.PREPAY, paid_at__isnull=True, joined_at__lt=now - PREPAY_LONGEST
    ).select_related("schedule__hospital")
    for entry in unpaid:
        if prepay_deadline(entry, rules_for_schedule(entry.schedule)) <= now:
            ended += _end(entry.pk, EntryStatus.CANCELLED, reason=PREPAY_LAPSED, only=[EntryStatus.WAITING])
    waiting = WaitlistEntry.objects.filter(status=EntryStatus.WAITING).select_related("schedule__hospital")
    for schedule_id in set(waiting.values_list("schedule_id", flat=True)):
        schedule = Schedule.objects.select_related("hospital", "department").get(pk=schedule_id)
        if now < waitlist_deadline(schedule, rules_for_schedule(schedule)):
            continue
        for entry_id in waiting.filter(schedule_id=schedule_id).values_list("pk", flat=True):
            ended += _end(entry_id, EntryStatus.EXPIRED, reason="waitlist.deadline", only=[EntryStatus.WAITING])
    return ended


def reserved_sweep() -> int:
    """The periodic check: slots kept for a waitlist nobody (eligible) waits on are freed, and
    those with patients waiting are offered (an event the worker lost, a crash mid-way); an entry
    a crash left taken for an offer that was never made (a realtime HIS's lock asked, no hold
    written) waits again."""
    WaitlistEntry.objects.filter(
        status=EntryStatus.OFFERED, hold__isnull=True, offered_at__lt=clock.now() - dt.timedelta(minutes=5)
    ).update(status=EntryStatus.WAITING, offered_at=None)
    offered = 0
    kept = set(Slot.objects.filter(state=SlotState.RESERVED).values_list("schedule_id", flat=True))
    for schedule_id in kept:
        offered += offers_make(schedule_id=schedule_id)
    return offered


# --- a lottery release -------------------------------------------------------------------------------
#
# With the rules' ``lottery_seconds``, the first moments after a clinic's release are not a race:
# everyone who asks then gets one ticket (``lottery_enter``: the hold path refuses with
# ``lottery.open`` and the API enters the patient instead); at the window's end the tickets are
# drawn in a recorded order and the slots go down it (``lottery_draw``); those not drawn become
# the clinic's waitlist, in the order drawn, as far as it has places. Until the draw is made and
# committed, no slot of the clinic goes to anyone.

LOTTERY_ENTERED = "lottery.entered"
LOTTERY_NOT_DRAWN = "lottery.not_drawn"


def lottery_enter(
    *, account: Account, patient: Patient, schedule: Schedule, client: risk.Client = risk.NOBODY
) -> WaitlistEntry:
    """One ticket in the release's draw for a patient (the same one again if they ask twice)."""
    rules = rules_for_schedule(schedule)
    now = clock.now()
    window = lottery_window(schedule, rules)
    if window is None or schedule.lottery_drawn_at is not None or not window[0] <= now < window[1]:
        raise booking_errors.LOTTERY_DRAWING.error()
    already = WaitlistEntry.objects.filter(
        schedule=schedule, person_hash=patient.id_number_hash, status__in=ACTIVE, lottery=True
    ).first()
    if already is not None:
        return already
    if rules.risk_action != RiskAction.OFF:
        reasons, action = risk.suspicions(
            account=account, patient_id=patient.pk, schedule=schedule, rules=rules, client=client, asked="lottery"
        )
        if action == "refused":
            raise booking_errors.RISK_SUSPECTED.error(reasons=reasons, action=action)
    booking.hold_rules_check(account=account, patient=patient, schedule=schedule, rules=rules)
    mode = mode_for(schedule, rules)
    if mode == EntryMode.PREPAY:
        mode = EntryMode.PAY_AFTER_HOLD  # a ticket is not paid for: the winners pay for their slot
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                schedule=schedule,
                hospital_id=schedule.hospital_id,
                department_id=schedule.department_id,
                account=account,
                patient=patient,
                person_hash=patient.id_number_hash,
                mode=mode,
                lottery=True,
                joined_at=now,
            )
            _record(entry, "lottery.entered", actor=f"patient:{account.pk}")
            _tell(entry, LOTTERY_ENTERED, expires_at=window[1].isoformat())
    except IntegrityError:  # already waiting for the clinic (its waitlist), or a parallel ticket
        raise errors.WAITLIST_ALREADY.error(field="patient_id") from None
    transaction.on_commit(lambda: _draw_when_due(schedule.pk, window[1]))
    return entry


def _draw_when_due(schedule_id: int, at: dt.datetime) -> None:
    """Ask the worker to draw at the window's end (once per clinic); the periodic job catches
    what this misses."""
    from django.core.cache import cache

    if cache.add(f"lottery:asked:{schedule_id}", 1, timeout=3600):
        from guahao.waitlist.tasks import draw_lottery

        draw_lottery.schedule(args=(schedule_id,), eta=at)


def lottery_draw(*, schedule_id: int) -> int:
    """The draw at a lottery window's end, made once: the tickets in a recorded order, a slot
    for each down the order while any is left, the rest to the waitlist or told they were not
    drawn. Booking opens when this commits. Returns how many were offered a slot."""
    schedule = Schedule.objects.select_related("hospital", "department", "doctor").filter(pk=schedule_id).first()
    if schedule is None or schedule.lottery_drawn_at is not None:
        return 0
    rules = rules_for_schedule(schedule)
    window = lottery_window(schedule, rules)
    now = clock.now()
    if window is None or now < window[1]:
        return 0
    made = 0
    with transaction.atomic():
        # The clinic's row, locked: two workers never draw the same lottery.
        if not list(Schedule.objects.select_for_update(no_key=True).filter(pk=schedule_id, lottery_drawn_at=None)):
            return 0
        tickets = list(
            WaitlistEntry.objects.filter(schedule=schedule, status=EntryStatus.WAITING, lottery=True).order_by("pk")
        )
        seed = secrets.randbits(64)
        ranking = [e.pk for e in tickets]
        random.Random(seed).shuffle(ranking)  # noqa: S311 - a recorded, reproducible draw
        by_id = {e.pk: e for e in tickets}
        WaitlistDraw.objects.create(
            schedule=schedule,
            at=now,
            seed=str(seed),
            candidates=sorted(by_id),
            chosen=by_id[ranking[0]] if ranking else None,
            ranking=ranking,
        )
        left: list[WaitlistEntry] = []
        # A realtime HIS is never asked inside this transaction: every ticket goes on the waitlist
        # in the order drawn, and the offers (each a lock in the HIS) follow once it committed.
        realtime = _realtime(schedule)
        slots_left = not realtime
        for entry_id in ranking:
            entry = by_id[entry_id]
            if slots_left:
                outcome = _offer_to(entry, schedule, rules, minutes=rules.hold_minutes)
                if outcome is None:
                    slots_left = False
                else:
                    made += outcome
                    continue
            left.append(entry)
        places = len(left) + schedule.waitlist_active if realtime else rules.waitlist_places
        for i, entry in enumerate(left):
            if i < places and scheduling.waitlist_enter(schedule_id=schedule_id, places=places):
                # On the clinic's waitlist, in the order drawn.
                WaitlistEntry.objects.filter(pk=entry.pk, status=EntryStatus.WAITING).update(
                    lottery=False, joined_at=now + dt.timedelta(microseconds=i)
                )
                _record(entry, "lottery.to_waitlist")
            else:
                _end(entry.pk, EntryStatus.EXPIRED, reason=LOTTERY_NOT_DRAWN)
        Schedule.objects.filter(pk=schedule_id).update(lottery_drawn_at=now)
        facts.facts_changed()
        transaction.on_commit(facts.facts_changed)
        transaction.on_commit(lambda: gate.slot_freed(schedule_id))  # the slots left, to the crowd
        if realtime:
            transaction.on_commit(lambda: offers_make(schedule_id=schedule_id))
    return made


def lotteries_draw_due() -> int:
    """The periodic job: every lottery whose window ended and is not drawn yet."""
    made = 0
    now = clock.now()
    undrawn = Schedule.objects.filter(
        lottery_drawn_at__isnull=True, ends_at__gt=now, waitlist__lottery=True, waitlist__status=EntryStatus.WAITING
    ).distinct()
    for schedule_id in undrawn.values_list("pk", flat=True):
        made += lottery_draw(schedule_id=schedule_id)
    return made


# --- reads ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where an entry stands: its place in a first-come queue, or whether it is in the draw."""

    position: int | None
    in_draw: bool | None
    among: int | None = None  # in the draw: how many are in it (this entry too)


def standing(entry: WaitlistEntry, rules: Rules | None = None) -> Standing:
    if entry.status != EntryStatus.WAITING:
        return Standing(None, None)
    waiting = WaitlistEntry.objects.filter(schedule_id=entry.schedule_id, status=EntryStatus.WAITING)
    if entry.lottery:
        return Standing(None, True, waiting.filter(lottery=True).count())  # a ticket in the release's draw
    rules = rules or rules_for_schedule(entry.schedule)
    counts = entry.mode != EntryMode.PREPAY or entry.paid_at is not None
    if rules.waitlist_order == WaitlistOrder.RANDOM:
        if not counts:
            return Standing(None, False)
        drawn = waiting.filter(lottery=False).exclude(mode=EntryMode.PREPAY, paid_at__isnull=True).count()
        return Standing(None, True, drawn)
    if not counts:
        return Standing(None, None)
    ahead = [
        e
        for e in waiting.filter(joined_at__lte=entry.joined_at).exclude(pk=entry.pk)
        if (e.joined_at, e.pk) < (entry.joined_at, entry.pk) and (e.mode != EntryMode.PREPAY or e.paid_at)
    ]
    return Standing(len(ahead) + 1, None)


def entries_of(account: Account, *, schedule: Schedule | None = None, active: bool = False) -> list[WaitlistEntry]:
    """The account's entries, the latest first (of one clinic, or only those still waiting or offered)."""
    mine = WaitlistEntry.objects.filter(account=account)
    if schedule is not None:
        mine = mine.filter(schedule=schedule)
    if active:
        mine = mine.filter(status__in=ACTIVE)
    return list(
        mine.select_related(
            "schedule__hospital", "schedule__department", "schedule__doctor", "patient", "payment", "hold"
        ).order_by("-joined_at", "-pk")[:100]
    )


def entries_active_counts(account: Account) -> dict[str, int]:
    """The account's active entries by status: ``waiting`` and ``offered`` (a slot held for it)."""
    counted = dict(
        WaitlistEntry.objects.filter(account=account, status__in=ACTIVE)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: counted.get(status, 0) for status in (EntryStatus.WAITING, EntryStatus.OFFERED)}


@dataclasses.dataclass(frozen=True)
class EntryShown:
    """An entry as its patient reads it: where it stands, when the clinic's waitlist closes, the
    prepayment, and why it ended."""

    entry: WaitlistEntry
    standing: Standing
    closes_at: dt.datetime
    payment: Payment | None
    reason: str  # why it ended, worded in the active language ("" while active)
    pay_by: dt.datetime | None = None  # paid when joining: when it lapses unpaid

    @property
    def offer_live(self) -> bool:
        """Offered, and the time to confirm has not run out (the worker may not have ended it yet)."""
        expires = self.entry.offer_expires_at
        return self.entry.status == EntryStatus.OFFERED and expires is not None and expires > clock.now()

    @property
    def seconds_left(self) -> int:
        expires = self.entry.offer_expires_at
        return max(0, int((expires - clock.now()).total_seconds())) if expires else 0

    @property
    def next_step(self) -> bool:
        """Ended, or its offer ran out, while the clinic is still ahead: its page shows what is
        left (a slot given back since, the waitlist to join again, other doctors and days)."""
        over = self.entry.status in (EntryStatus.EXPIRED, EntryStatus.CANCELLED) or (
            self.entry.status == EntryStatus.OFFERED and not self.offer_live
        )
        return over and self.entry.schedule.ends_at > clock.now()

    @property
    def awaiting_prepayment(self) -> bool:
        """Paid when joining, and the money has not arrived: not yet in the queue (or the draw)."""
        return (
            self.entry.status == EntryStatus.WAITING and self.entry.mode == EntryMode.PREPAY and not self.entry.paid_at
        )


def reason_worded(entry: WaitlistEntry) -> str:
    """Why an entry ended, as its patient reads it, in the active language (staff's own words
    too when they removed it)."""
    if not entry.end_reason:
        return ""
    text = str(REASONS.get(entry.end_reason, entry.end_reason))
    if entry.note and entry.end_reason == "waitlist.removed":
        colon = ": " if (get_language() or "").startswith("en") else "："
        return f"{text}{colon}{entry.note}"
    return text


def entries_shown(account: Account, *, schedule: Schedule | None = None, active: bool = False) -> list[EntryShown]:
    """The account's waitlist as its page shows it (the API's fields, worded)."""
    rules_of: dict[int, Rules] = {}
    shown = []
    for entry in entries_of(account, schedule=schedule, active=active):
        rules = rules_of.get(entry.schedule_id) or rules_of.setdefault(
            entry.schedule_id, rules_for_schedule(entry.schedule)
        )
        shown.append(
            EntryShown(
                entry=entry,
                standing=standing(entry, rules),
                closes_at=waitlist_deadline(entry.schedule, rules),
                payment=entry.payment,
                reason=reason_worded(entry),
                pay_by=prepay_deadline(entry, rules) if entry.mode == EntryMode.PREPAY else None,
            )
        )
    return shown


def access_entry(*, account: Account, entry_id: int) -> WaitlistEntry:
    from guahao.core.errors import NOT_FOUND

    entry = (
        WaitlistEntry.objects.select_related("schedule__hospital", "schedule__department", "schedule__doctor")
        .filter(pk=entry_id, account=account)
        .first()
    )
    if entry is None:
        raise NOT_FOUND.error()
    return entry


def payment_of(entry: WaitlistEntry) -> Payment | None:
    return Payment.objects.filter(pk=entry.payment_id).first() if entry.payment_id else None


__all__ = [
    "entries_active_counts",
    "entries_expire_due",
    "entries_of",
    "entries_shown",
    "entry_join",
    "entry_leave",
    "entry_paid",
    "hold_booked",
    "hold_ended",
    "join_refusal",
    "offers_make",
    "reason_worded",
    "reserved_sweep",
    "schedule_suspended",
    "standing",
    "waitlist_open_for",
]


def person_hashes_replace(persons: dict[str, str]) -> int:
    """After a key rotation: entries take their patient's new person hash (booking's twin)."""
    return sum(WaitlistEntry.objects.filter(person_hash=old).update(person_hash=new) for old, new in persons.items())
