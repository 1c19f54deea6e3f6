"""Joins, leaves, cancellations (here and announced twice), payments, offers that lapse, bars,
the deadline and a suspension, in random order, for each way a waitlist is paid for.

After every step, and after the worker has caught up, the invariants seed 002 relies on are
checked against the database: a slot is given once; a freed slot makes one offer; nobody
ineligible is offered one; nobody waits while a slot is kept or free for them; the clinic's
places and its count agree; every prepayment is either used or refunded.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from guahao.booking import services as booking
from guahao.booking.models import ACTIVE_REGISTRATION, BlacklistEntry, BlacklistReason, Hold, HoldStatus, Registration
from guahao.core import clock, outbox
from guahao.core.problems import Problem
from guahao.payments import services as payments
from guahao.payments.interface import OrderState, RefundState
from guahao.payments.models import Payment, PaymentStatus, RefundStatus
from guahao.scheduling.models import Schedule, Slot, SlotState
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import ACTIVE, EntryMode, EntryStatus, WaitlistEntry, WaitlistEvent
from tests import factories as f
from tests.depth import examples

PLACES = 4
EXPECTED = {
    "waitlist.not_full",
    "waitlist.full",
    "waitlist.already",
    "waitlist.closed",
    "waitlist.not_active",
    "schedule.suspended",
    "rule.blacklisted",
    "rule.one_per_department_per_day",
    "rule.per_account_per_day",
    "hold.expired",
    "hold.not_active",
    "registration.state",
    "rule.cancel_cutoff",
}


class FakeProvider:
    """A provider in memory: orders wait to be paid; refunds succeed at once."""

    name = "sandbox"
    mch_id = "test"
    refunds_listed_on = "finished"
    ack_text = None

    def __init__(self) -> None:
        self.orders: dict[str, str] = {}
        self.seq = itertools.count(1)

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState:
        self.orders.setdefault(out_trade_no, "NOTPAY")
        return OrderState(out_trade_no, self.orders[out_trade_no], amount_fen, pay_url=f"fake://{out_trade_no}")

    def order_query(self, *, out_trade_no: str) -> OrderState | None:
        status = self.orders.get(out_trade_no)
        return None if status is None else OrderState(out_trade_no, status, 0)

    def order_close(self, *, out_trade_no: str) -> OrderState:
        if self.orders.get(out_trade_no) == "NOTPAY":
            self.orders[out_trade_no] = "CLOSED"
        return OrderState(out_trade_no, self.orders.get(out_trade_no, "CLOSED"), 0)

    def refund_create(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str) -> RefundState:
        return RefundState(out_refund_no, out_trade_no, "SUCCESS", amount_fen, finished_at=clock.now())

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None:
        return None

    def pay(self, payment: Payment) -> None:
        """The patient pays at the cashier and the provider's notification arrives."""
        if self.orders.get(payment.out_trade_no) != "NOTPAY":
            return
        self.orders[payment.out_trade_no] = "SUCCESS"
        payments._capture(payment_id=payment.pk, transaction_id=f"T{next(self.seq)}", paid_at=clock.now())


class Waitlist(RuleBasedStateMachine):
    mode = EntryMode.BOOK
    provider: FakeProvider

    @initialize()
    def clinic(self) -> None:
        # 08:00 two days before the clinic: the waitlist closes at 18:00 tomorrow.
        self.travel = clock.travel(clock.at_local(f.today(), dt.time(8, 0), f.TZ))
        self.travel.__enter__()
        rules = {"waitlist_places": PLACES, "waitlist_confirm_minutes": 60, "hold_minutes": 15}
        if self.mode != EntryMode.BOOK:
            rules |= {"payment_required": True, "waitlist_payment": self.mode}
        self.h = f.hospital(**rules)
        dep = f.department(self.h)
        self.schedule = f.schedule(
            dep, f.doctor(dep), day=f.today() + dt.timedelta(days=2), slots_per_period=2
        )  # four online slots
        self.patients = [f.patient(f.account(), relation="self") for _ in range(8)]
        self.barred_at: dict[int, dt.datetime] = {}
        self.suspended = False
        # The clinic is full: the first four patients are booked.
        for p in self.patients[:4]:
            hold = booking.hold_create(account=p.account, patient=p, schedule=self.schedule)
            booking.hold_book(hold_id=hold.pk, in_time_at=clock.now(), insurance=False)
        self.work()

    def teardown(self) -> None:
        if hasattr(self, "travel"):
            self.travel.__exit__(None, None, None)

    def _attempt(self, action) -> None:  # type: ignore[no-untyped-def]
        try:
            action()
        except Problem as problem:
            assert problem.code in EXPECTED, problem.code

    def _entry_of(self, p: int) -> WaitlistEntry | None:
        return WaitlistEntry.objects.filter(patient=self.patients[p], status__in=ACTIVE).first()

    # --- what patients, the hospital and time do ---------------------------------------------------

    @rule(p=st.integers(0, 7))
    def join(self, p: int) -> None:
        patient = self.patients[p]
        schedule = Schedule.objects.select_related("hospital", "department", "doctor").get(pk=self.schedule.pk)
        self._attempt(
            lambda: waitlist.entry_join(
                account=patient.account,
                patient=patient,
                schedule=schedule,
                payment_method="wechat" if self.mode == EntryMode.PREPAY else None,
            )
        )

    @rule(p=st.integers(0, 7))
    def pay_prepayment(self, p: int) -> None:
        entry = self._entry_of(p)
        if entry is not None and entry.payment_id is not None:
            self.provider.pay(Payment.objects.get(pk=entry.payment_id))

    @rule(p=st.integers(0, 7))
    def leave(self, p: int) -> None:
        entry = self._entry_of(p)
        if entry is not None:
            self._attempt(lambda: waitlist.entry_leave(entry=entry, actor="patient"))

    @rule(p=st.integers(0, 7))
    def confirm_offer(self, p: int) -> None:
        """The patient offered a slot confirms (and pays) it."""
        entry = self._entry_of(p)
        if entry is None or entry.status != EntryStatus.OFFERED or entry.hold_id is None:
            return
        hold = Hold.objects.get(pk=entry.hold_id)
        if hold.payment_required:

            def confirm() -> None:
                outcome = payments.hold_confirm(hold=hold, method="wechat")
                if isinstance(outcome, Payment):
                    self.provider.pay(outcome)

            self._attempt(confirm)
        else:
            self._attempt(lambda: booking.hold_confirm(hold=hold))

    @rule(i=st.integers(0, 50))
    def cancel_registration(self, i: int) -> None:
        registrations = list(Registration.objects.filter(schedule=self.schedule, status="booked").order_by("pk"))
        if registrations:
            r = registrations[i % len(registrations)]
            self._attempt(lambda: payments.registration_cancel(registration=r, actor=booking.Actor.patient(r.account)))

    @rule()
    def a_stranger_tries_to_hold(self) -> None:
        """Someone not on the waitlist asks for a slot: while patients wait and no slot is free
        (only kept for them), they get none."""
        stranger = f.patient(f.account(), relation="self")
        waiting = WaitlistEntry.objects.filter(schedule=self.schedule, status=EntryStatus.WAITING).exists()
        free = Slot.objects.filter(schedule=self.schedule, state=SlotState.FREE).exists()
        schedule = Schedule.objects.select_related("hospital", "department", "doctor").get(pk=self.schedule.pk)
        try:
            booking.hold_create(account=stranger.account, patient=stranger, schedule=schedule)
        except Problem as problem:
            assert problem.code in EXPECTED | {"slot.unavailable", "schedule.ended"}, problem.code
        else:
            assert not (waiting and not free), "a slot kept for the waitlist went to someone else"

    @rule()
    def the_news_arrives_twice(self) -> None:
        """A HIS pushing a cancellation twice, a sync finding it again: the same news over."""
        from django.db import transaction

        for _ in range(2):
            with transaction.atomic():
                outbox.event_emit("slot.freed", schedule_id=self.schedule.pk, why="his")

    @rule(p=st.integers(0, 7))
    def bar(self, p: int) -> None:
        patient = self.patients[p]
        if p in self.barred_at:
            return
        BlacklistEntry.objects.create(
            hospital=self.h,
            person_hash=patient.id_number_hash,
            patient=patient,
            reason=BlacklistReason.MANUAL,
            starts_at=clock.now(),
            ends_at=clock.now() + dt.timedelta(days=30),
        )
        self.barred_at[p] = clock.now()

    @rule(minutes=st.sampled_from([10, 40, 70]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(dt.timedelta(minutes=minutes))
        booking.holds_expire()
        waitlist.entries_expire_due()

    @rule()
    def the_deadline_passes(self) -> None:
        deadline = clock.at_local(f.today() + dt.timedelta(days=1), dt.time(18, 0), f.TZ)
        if clock.now() < deadline:
            clock.advance(deadline - clock.now())
        booking.holds_expire()
        waitlist.entries_expire_due()

    @rule()
    def suspend(self) -> None:
        if self.suspended:
            return
        from guahao.his import services as his

        his.schedule_suspend(schedule=self.schedule, reason="停诊", actor=booking.SYSTEM)
        self.suspended = True

    @rule()
    def work(self) -> None:
        """The worker catches up with every event, then the invariants that need it are checked."""
        for _ in range(50):
            if not sum(outbox.deliver_all().values()):
                break
        self._nobody_waits_while_a_slot_is_kept()
        self._prepayments_used_or_refunded()
        self._offers_are_live()

    # --- invariants ---------------------------------------------------------------------------------

    @invariant()
    def a_slot_is_given_once(self) -> None:
        if not hasattr(self, "schedule"):
            return
        for slot in Slot.objects.filter(schedule=self.schedule):
            holds = Hold.objects.filter(slot=slot, status=HoldStatus.HELD).count()
            regs = Registration.objects.filter(slot=slot, status__in=ACTIVE_REGISTRATION).count()
            assert holds + regs <= 1, (slot.number, holds, regs)
            if slot.state in (SlotState.FREE, SlotState.RESERVED):
                assert holds + regs == 0, (slot.number, slot.state)
        offered = list(
            WaitlistEntry.objects.filter(schedule=self.schedule, hold__isnull=False).values_list("hold_id", flat=True)
        )
        assert len(offered) == len(set(offered))  # one hold, one offer

    @invariant()
    def the_places_are_kept_and_counted(self) -> None:
        if not hasattr(self, "schedule"):
            return
        active = WaitlistEntry.objects.filter(schedule=self.schedule, status__in=ACTIVE).count()
        assert active <= PLACES
        assert Schedule.objects.get(pk=self.schedule.pk).waitlist_active == active

    @invariant()
    def a_slot_given_back_while_patients_wait_is_kept_for_them(self) -> None:
        """Never free to the crowd while anyone waits (a prepayment counts from when it arrived,
        which the worker learns a moment later)."""
        if not hasattr(self, "schedule") or self.mode == EntryMode.PREPAY:
            return
        waiting = WaitlistEntry.objects.filter(schedule=self.schedule, status=EntryStatus.WAITING).exists()
        free = Slot.objects.filter(schedule=self.schedule, state=SlotState.FREE, period__ends_at__gt=clock.now())
        assert not (waiting and free.exists()), "a slot given back went free while patients waited"

    @invariant()
    def nobody_barred_is_offered_a_slot(self) -> None:
        if not hasattr(self, "schedule"):
            return
        for p, at in self.barred_at.items():
            offers = WaitlistEvent.objects.filter(entry__patient=self.patients[p], kind="offered", at__gte=at)
            assert not offers.exists(), p

    def _nobody_waits_while_a_slot_is_kept(self) -> None:
        waiting = [
            e
            for e in WaitlistEntry.objects.filter(schedule=self.schedule, status=EntryStatus.WAITING)
            if e.mode != EntryMode.PREPAY or e.paid_at is not None
        ]
        open_slots = Slot.objects.filter(
            schedule=self.schedule,
            state__in=[SlotState.FREE, SlotState.RESERVED],
            period__ends_at__gt=clock.now(),
        )
        if Schedule.objects.get(pk=self.schedule.pk).status == "open":
            assert not (waiting and open_slots.exists()), (
                len(waiting),
                list(open_slots.values_list("state", flat=True)),
            )
        if not waiting:
            assert not open_slots.filter(state=SlotState.RESERVED).exists()

    def _prepayments_used_or_refunded(self) -> None:
        for entry in WaitlistEntry.objects.filter(schedule=self.schedule, payment__isnull=False):
            payment = Payment.objects.get(pk=entry.payment_id)
            refunded = payment.refunds.exclude(status=RefundStatus.FAILED).exists()
            if entry.status == EntryStatus.BOOKED:
                assert payment.registration_id == entry.registration_id and payment.hold_id == entry.hold_id
            elif entry.status in ACTIVE:
                assert not refunded
            elif payment.status == PaymentStatus.PAID:
                assert refunded, entry.pk  # ended without a slot: the money goes back
            else:
                assert payment.status == PaymentStatus.CLOSED, (entry.pk, payment.status)

    def _offers_are_live(self) -> None:
        for entry in WaitlistEntry.objects.filter(schedule=self.schedule, status=EntryStatus.OFFERED):
            assert Hold.objects.get(pk=entry.hold_id).status == HoldStatus.HELD, entry.pk


@pytest.fixture
def fake_provider(monkeypatch):
    provider = FakeProvider()
    monkeypatch.setattr(payments, "provider_for", lambda method: provider)
    monkeypatch.setattr(payments, "provider_named", lambda name: provider)
    return provider


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [EntryMode.BOOK, EntryMode.PREPAY, EntryMode.PAY_AFTER_HOLD])
def test_the_waitlist_keeps_its_invariants(mode, fake_provider):
    machine = type(f"Waitlist_{mode}", (Waitlist,), {"mode": mode, "provider": fake_provider})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples(20),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
