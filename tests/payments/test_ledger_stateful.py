"""Payments, notifications, refunds and provider trouble in random order; the ledger always balances.

The provider here is scripted in-process, so hypothesis decides what the real ones leave to
chance: when the patient pays, which notification arrives when (twice, late, out of order, or
replayed under a new id), whether a refund succeeds, and whether the provider is down or does
the work but loses its answer. (The sandbox process covers the same events over HTTP in
test_paying.py.) After every step:

- paid = fees of registrations kept + refunds under way (or failed, waiting for staff) + refunded,
  each side summed from its own table;
- no registration without a captured payment; a payment is refunded at most once;
- we never count money the provider does not have.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, replace

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from guahao.booking import services as booking
from guahao.booking.models import Hold, Registration
from guahao.core import clock
from guahao.core.problems import Problem
from guahao.payments import services as payments
from guahao.payments.interface import Notification, OrderState, ProviderError, RefundState, StatementLine
from guahao.payments.models import Payment, Refund
from tests import factories as f
from tests.depth import examples

EXPECTED = {
    "slot.unavailable",
    "rule.active_holds",
    "rule.one_per_department_per_day",
    "rule.per_account_per_day",
    "hold.expired",
    "hold.not_active",
    "payment.method_required",
    "payment.provider_failed",
    "payment.provider_timeout",
    "rule.cancel_cutoff",
    "registration.state",
    "refund.not_failed",
    "rule.blacklisted",  # a patient who cancelled three times in 30 days is barred (the rule)
}
KEPT = ["booked", "checked_in", "visited", "no_show"]


@dataclass
class _Order:
    amount_fen: int
    status: str = "NOTPAY"
    transaction_id: str = ""
    paid_at: dt.datetime | None = None


@dataclass
class _Refund:
    out_trade_no: str
    amount_fen: int
    status: str = "PROCESSING"
    finished_at: dt.datetime | None = None


class ScriptedProvider:
    """A provider whose every outcome the state machine decides."""

    mch_id = "1900000042"
    refunds_listed_on = "finished"
    ack_text: str | None = None
    count = itertools.count(1)

    def __init__(self) -> None:
        self.name = f"scripted{next(self.count)}"  # one per example: earlier examples keep theirs
        self.orders: dict[str, _Order] = {}
        self.refunds: dict[str, _Refund] = {}
        self.outbox: list[Notification] = []
        self.trouble = "none"  # none, down (fails before acting), lost (acts, then times out)
        self.ids = itertools.count(1)

    def _before(self) -> None:
        if self.trouble == "down":
            raise ProviderError("down")

    def _after(self) -> None:
        if self.trouble == "lost":
            raise ProviderError("answer lost", timeout=True)

    def _state(self, number: str) -> OrderState:
        o = self.orders[number]
        return OrderState(number, o.status, o.amount_fen, f"https://pay.example/{number}", o.transaction_id, o.paid_at)

    def _refund_state(self, number: str) -> RefundState:
        r = self.refunds[number]
        return RefundState(number, r.out_trade_no, r.status, r.amount_fen, "", r.finished_at)

    def notify(self, *, order: str | None = None, refund: str | None = None) -> None:
        if order is not None:
            note = Notification(f"n{next(self.ids)}", "TRANSACTION.SUCCESS", self.mch_id, order=self._state(order))
        else:
            assert refund is not None
            state = self._refund_state(refund)
            note = Notification(f"n{next(self.ids)}", f"REFUND.{state.status}", self.mch_id, refund=state)
        self.outbox.append(note)

    def order_create(self, *, out_trade_no: str, amount_fen: int, description: str, notify_url: str) -> OrderState:
        self._before()
        self.orders.setdefault(out_trade_no, _Order(amount_fen))
        self._after()
        return self._state(out_trade_no)

    def order_query(self, *, out_trade_no: str) -> OrderState | None:
        self._before()
        return self._state(out_trade_no) if out_trade_no in self.orders else None

    def order_close(self, *, out_trade_no: str) -> OrderState:
        self._before()
        order = self.orders.get(out_trade_no)
        if order is None:
            raise ProviderError("no such order", permanent=True)
        if order.status in ("NOTPAY", "PAYERROR"):
            order.status = "CLOSED"
        self._after()
        return self._state(out_trade_no)

    def refund_create(self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, notify_url: str) -> RefundState:
        self._before()
        order = self.orders.get(out_trade_no)
        if out_refund_no not in self.refunds:
            if order is None or order.status not in ("SUCCESS", "REFUND"):
                raise ProviderError("not paid", permanent=True)
            live = [r for r in self.refunds.values() if r.out_trade_no == out_trade_no and r.status != "ABNORMAL"]
            if live:
                raise ProviderError("already refunded", permanent=True)
            self.refunds[out_refund_no] = _Refund(out_trade_no, amount_fen)
        self._after()
        return self._refund_state(out_refund_no)

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundState | None:
        self._before()
        return self._refund_state(out_refund_no) if out_refund_no in self.refunds else None

    def notification_verify(self, *, headers: dict[str, str], body: bytes) -> Notification | None:
        raise AssertionError("the machine hands notifications to the service directly")

    def statement(self, *, day: dt.date) -> list[StatementLine]:
        return []


class Ledger(RuleBasedStateMachine):
    @initialize()
    def hospital(self) -> None:
        # Each example starts at 10:00 today, its schedules tomorrow morning.
        self.travel = clock.travel(clock.at_local(f.today(), dt.time(10, 0), f.TZ))
        self.travel.__enter__()
        self.provider = ScriptedProvider()
        _use(self.provider)
        self.h = f.hospital(payment_required=True, hold_minutes=5, max_active_holds=3)
        deps = [f.department(self.h, name) for name in ("心内科", "消化科")]
        # Four slots in all, so patients also compete for them.
        self.schedules = [
            f.schedule(deps[0], f.doctor(deps[0]), end=dt.time(8, 30), slots_per_period=2),
            f.schedule(deps[1], None, end=dt.time(8, 30), slots_per_period=2),
        ]
        self.patients = [f.patient(f.account()) for _ in range(4)]

    def teardown(self) -> None:
        if hasattr(self, "travel"):
            self.travel.__exit__(None, None, None)

    def _attempt(self, action) -> None:  # type: ignore[no-untyped-def]
        try:
            action()
        except Problem as problem:
            assert problem.code in EXPECTED, problem.code

    def _pick(self, qs, i: int):  # type: ignore[no-untyped-def]
        rows = list(qs.order_by("pk"))
        return rows[i % len(rows)] if rows else None

    # --- what patients do ---

    @rule(p=st.integers(0, 3), s=st.integers(0, 1))
    def hold(self, p: int, s: int) -> None:
        patient = self.patients[p]
        self._attempt(lambda: booking.hold_create(account=patient.account, patient=patient, schedule=self.schedules[s]))

    @rule(
        p=st.integers(0, 3),
        s=st.integers(0, 1),
        method=st.sampled_from(["wechat", "alipay"]),
        pays=st.sampled_from([True, True, False]),
    )
    def hold_and_pay(self, p: int, s: int, method: str, pays: bool) -> None:
        """The usual patient: holds, confirms and (mostly) pays at the cashier straight away."""
        patient = self.patients[p]
        try:
            hold = booking.hold_create(account=patient.account, patient=patient, schedule=self.schedules[s])
        except Problem as problem:
            assert problem.code in EXPECTED, problem.code
            return
        self._attempt(lambda: payments.hold_confirm(hold=hold, method=method))
        payment = Payment.objects.filter(hold=hold, status="created").first()
        if pays and payment is not None and payment.out_trade_no in self.provider.orders:
            self._pay(payment.out_trade_no)

    def _pay(self, number: str) -> None:
        order = self.provider.orders[number]
        order.status, order.paid_at, order.transaction_id = "SUCCESS", clock.now(), f"42000{number}"
        self.provider.notify(order=number)

    @rule(i=st.integers(0, 20), method=st.sampled_from(["wechat", "wechat", "alipay", None]))
    def confirm(self, i: int, method: str | None) -> None:
        hold = self._pick(Hold.objects.filter(hospital=self.h, status="held"), i)
        if hold is not None:
            self._attempt(lambda: payments.hold_confirm(hold=hold, method=method))

    @rule(i=st.integers(0, 20))
    def cancel(self, i: int) -> None:
        reg = self._pick(Registration.objects.filter(hospital=self.h), i)
        if reg is not None:
            actor = booking.Actor.patient(reg.account)
            self._attempt(lambda: payments.registration_cancel(registration=reg, actor=actor))

    # --- what happens at the provider ---

    @rule(i=st.integers(0, 20), succeed=st.booleans())
    def cashier(self, i: int, succeed: bool) -> None:
        open_orders = [n for n, o in self.provider.orders.items() if o.status in ("NOTPAY", "PAYERROR")]
        if open_orders:
            number = open_orders[i % len(open_orders)]
            if succeed:
                self._pay(number)
            else:
                self.provider.orders[number].status = "PAYERROR"

    @rule(i=st.integers(0, 20), succeed=st.booleans())
    def refund_outcome(self, i: int, succeed: bool) -> None:
        processing = [n for n, r in self.provider.refunds.items() if r.status == "PROCESSING"]
        if processing:
            number = processing[i % len(processing)]
            refund = self.provider.refunds[number]
            refund.status, refund.finished_at = ("SUCCESS" if succeed else "ABNORMAL"), clock.now()
            if succeed:
                self.provider.orders[refund.out_trade_no].status = "REFUND"
            self.provider.notify(refund=number)

    @rule(i=st.integers(0, 20), again=st.booleans(), new_id=st.booleans())
    def deliver(self, i: int, again: bool, new_id: bool) -> None:
        """A notification arrives (any one in flight: out of order); it may come again later,
        as the same message or replayed under a new id."""
        if not self.provider.outbox:
            return
        note = self.provider.outbox[i % len(self.provider.outbox)]
        if not again:
            self.provider.outbox.remove(note)
        elif new_id:
            self.provider.outbox.append(replace(note, id=f"n{next(self.provider.ids)}"))
        self._attempt(lambda: payments.notification_apply(provider=self.provider, note=note))

    @rule(trouble=st.sampled_from(["none", "none", "down", "lost"]))
    def provider_trouble(self, trouble: str) -> None:
        self.provider.trouble = trouble

    # --- time, jobs and staff ---

    @rule(minutes=st.sampled_from([1, 3, 6]))
    def time_passes(self, minutes: int) -> None:
        clock.advance(dt.timedelta(minutes=minutes))

    @rule()
    def jobs(self) -> None:
        booking.holds_expire()
        payments.payments_check()

    @rule(i=st.integers(0, 20))
    def staff_retry(self, i: int) -> None:
        refund = self._pick(Refund.objects.filter(payment__hospital=self.h, status="failed"), i)
        if refund is not None:
            self._attempt(lambda: payments.refund_retry(refund=refund, actor=booking.SYSTEM))

    @rule()
    def settle(self) -> None:
        """The provider recovers, every notification arrives, the holds run out and the jobs run:
        then we and the provider agree on every order and every refund."""
        self.provider.trouble = "none"
        clock.advance(dt.timedelta(minutes=6))
        for _ in range(4):  # a delivery may start a refund, whose outcome comes next round
            booking.holds_expire()
            payments.payments_check()
            for number, refund in self.provider.refunds.items():
                if refund.status == "PROCESSING":
                    refund.status, refund.finished_at = "SUCCESS", clock.now()
                    self.provider.orders[refund.out_trade_no].status = "REFUND"
                    self.provider.notify(refund=number)
            while self.provider.outbox:
                note = self.provider.outbox.pop(0)
                self._attempt(lambda note=note: payments.notification_apply(provider=self.provider, note=note))
        ours = {p.out_trade_no: p for p in Payment.objects.filter(hospital=self.h)}
        for number, order in self.provider.orders.items():
            assert (ours[number].status == "paid") == (order.status in ("SUCCESS", "REFUND")), (number, order)
        assert not any(p.status == "created" for p in ours.values())
        for refund in Refund.objects.filter(payment__hospital=self.h):
            assert refund.status in ("succeeded", "failed"), refund
            assert self.provider.refunds[refund.out_refund_no].status == (
                "SUCCESS" if refund.status == "succeeded" else "ABNORMAL"
            ) or (refund.status == "failed" and refund.out_refund_no not in self.provider.refunds)

    # --- what must always be true ---

    @invariant()
    def ledger_balances(self) -> None:
        if not hasattr(self, "h"):
            return
        mine = Payment.objects.filter(hospital=self.h)
        refunds = Refund.objects.filter(payment__hospital=self.h)
        paid = mine.filter(status="paid").aggregate(s=Sum("amount_fen"))["s"] or 0
        kept = mine.filter(status="paid", registration__status__in=KEPT).aggregate(s=Sum("amount_fen"))["s"] or 0
        under_way = refunds.filter(status="pending").aggregate(s=Sum("amount_fen"))["s"] or 0
        # Money waiting for staff: once per payment, however many times its refund failed.
        waiting = sum(
            p.amount_fen
            for p in mine.filter(refunds__status="failed").distinct()
            if not p.refunds.exclude(status="failed").exists()
        )
        refunded = refunds.filter(status="succeeded").aggregate(s=Sum("amount_fen"))["s"] or 0
        assert paid == kept + under_way + waiting + refunded, (paid, kept, under_way, waiting, refunded)

    @invariant()
    def no_registration_without_its_money(self) -> None:
        if not hasattr(self, "h"):
            return
        for reg in Registration.objects.filter(hospital=self.h).select_related("payment"):
            assert reg.payment.status == "paid", reg
            assert reg.status != "cancelled", "a paid registration is never left cancelled without a refund"
            settled = set(reg.payment.refunds.values_list("status", flat=True))
            if reg.status == "refunded":
                assert "succeeded" in settled
            if reg.status == "refunding":
                assert settled & {"pending", "failed"} and "succeeded" not in settled
        for hold in Hold.objects.filter(hospital=self.h):
            assert Registration.objects.filter(hold=hold).count() <= 1

    @invariant()
    def we_count_only_money_the_provider_has(self) -> None:
        if not hasattr(self, "h"):
            return
        for number in Payment.objects.filter(hospital=self.h, status="paid").values_list("out_trade_no", flat=True):
            assert self.provider.orders[number].status in ("SUCCESS", "REFUND"), number
        for refund in Refund.objects.filter(payment__hospital=self.h, status="succeeded"):
            assert self.provider.refunds[refund.out_refund_no].status == "SUCCESS"
        succeeded = [r for r in self.provider.refunds.values() if r.status == "SUCCESS"]
        assert len({r.out_trade_no for r in succeeded}) == len(succeeded), "a payment refunded twice"


_providers: dict[str, ScriptedProvider] = {}
_current: list[ScriptedProvider] = []


def _use(provider: ScriptedProvider) -> None:
    _providers[provider.name] = provider
    _current[:] = [provider]


@pytest.mark.django_db(transaction=True)
def test_the_ledger_balances_whatever_the_order_of_events(monkeypatch):
    monkeypatch.setattr(payments, "provider_named", _providers.get)
    monkeypatch.setattr(payments, "provider_for", lambda method: _current[0])
    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=examples(30),
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
