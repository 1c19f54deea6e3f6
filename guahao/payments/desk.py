"""Booking on a patient's behalf at the window (窗口) and the phone desk (电话预约): the patient
found or added by real name and ID number, the hold made with the desk's channel under the same
rules and limits as the app's, the fee taken at the window (cash, or a card on the desk's
terminal, recorded as collected by the staff member) or a payment link sent by SMS, and each
staff member's till (收款) of a day: what they took and paid back at the window.

Every step is in the audit log under the staff member's name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from guahao.accounts import services as accounts
from guahao.accounts.models import Patient
from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.catalog.models import Hospital
from guahao.core import clock, outbox
from guahao.core.amounts import yuan_shown
from guahao.core.audit import audit_record
from guahao.core.errors import field_refused, one_of
from guahao.payments import services as payments
from guahao.payments.models import Method, Payment, PaymentStatus, Refund, RefundStatus
from guahao.scheduling.models import Period, Schedule

WINDOW = payments.WINDOW
DESK_CHANNELS = ("window", "phone")
WINDOW_METHODS = (Method.CASH, Method.CARD)


def desk_hold(
    *,
    actor: booking.Actor,
    name: str,
    id_number: str,
    phone: str,
    schedule: Schedule,
    period: Period | None = None,
    channel: str = "window",
) -> Hold:
    """Find or add the patient (``accounts.patient_find_or_create``) and hold a slot for them:
    the window's from the onsite pool, the phone desk's from its share of a clinic that has one
    and then the platform pool (``booking.selectors.pools_of``), refused by the same rules as
    the patient's own hold (a desk is not a way round the limits).

    A hold refused adds no patient and no account: the name typed for a refused hold would
    otherwise stay registered for the ID number, and a corrected one be refused as not the
    registered name. One transaction does it, except where the hold asks the hospital's HIS
    (never inside a transaction): there what is refused for everyone (a clinic over, not
    released, suspended, sold out) is refused before the patient is added."""
    if channel not in DESK_CHANNELS:
        raise field_refused("channel", one_of("window", "phone"))

    def hold() -> Hold:
        patient: Patient = accounts.patient_find_or_create(name=name, id_number=id_number, phone=phone)
        return booking.hold_create(
            account=patient.account, patient=patient, schedule=schedule, period=period, channel=channel, actor=actor
        )

    if booking.hold_asks_his(schedule=schedule, channel=channel):
        booking.hold_refuse_early(schedule=schedule, period=period)
        return hold()
    with transaction.atomic():
        return hold()


def desk_collect(*, hold: Hold, actor: booking.Actor, method: str | None, insurance: bool = False) -> Registration:
    """The window takes the fee (``cash`` or ``card``) and books the hold in one transaction: the
    payment is recorded as paid, collected by the staff member (their till), and the hold is
    booked; a hold that ran out books nothing and records no money. A hold with nothing to pay
    is booked as it is."""
    booking.hold_check_live(hold)
    if not hold.payment_required or hold.fee_fen == 0:
        return booking.hold_confirm(hold=hold, insurance=insurance)
    if method not in WINDOW_METHODS:
        raise field_refused("method", one_of("cash", "card"), booking_errors.PAYMENT_REQUIRED)
    now = clock.now()
    with transaction.atomic():
        registration = booking.hold_book(hold_id=hold.pk, in_time_at=now, insurance=insurance, actor=actor)
        if registration is None:
            raise booking_errors.HOLD_EXPIRED.error()
        payment = Payment.objects.create(
            hold=hold,
            registration=registration,
            account_id=hold.account_id,
            hospital_id=hold.hospital_id,
            provider=WINDOW,
            method=method,
            out_trade_no=payments.new_number("WN"),
            registration_fee_fen=hold.registration_fee_fen,
            consultation_fee_fen=hold.consultation_fee_fen,
            amount_fen=hold.fee_fen,
            insurance=insurance,
            status=PaymentStatus.PAID,
            created_at=now,
            paid_at=now,
            collected_by=actor.id,
        )
        audit_record(
            actor=actor.id,
            action="payment.collected",
            target_type="registration",
            target_id=registration.pk,
            target=registration.registration_number,
            hospital_id=registration.hospital_id,
            after={"method": method, "amount_fen": payment.amount_fen, "out_trade_no": payment.out_trade_no},
        )
        outbox.event_emit("payment.received", payment_id=payment.pk, account_id=payment.account_id)
    return registration


def desk_send_link(*, hold: Hold, actor: booking.Actor, method: str = Method.WECHAT) -> Payment:
    """The phone desk's patient pays on their phone: the order is opened at the provider as the
    app would open it, and the cashier link goes to the patient by SMS (``payment.link``). The
    hold's countdown keeps running; the payment books it when it arrives in time."""
    payment = payments.payment_start(hold=hold, method=method)
    with transaction.atomic():
        outbox.event_emit(
            "payment.link",
            account_id=hold.account_id,
            hold_id=hold.pk,
            expires_at=hold.expires_at.isoformat(),
            link=payment.pay_url,
            amount=yuan_shown(payment.amount_fen),
        )
        audit_record(
            actor=actor.id,
            action="payment.link_sent",
            target_type="hold",
            target_id=hold.pk,
            target=f"#{hold.pk}",
            hospital_id=hold.hospital_id,
            after={"method": method, "amount_fen": payment.amount_fen, "out_trade_no": payment.out_trade_no},
        )
    return payment


# --- the till --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Till:
    """One staff member's money of one day at one hospital: each payment taken and each refund
    paid back at the window, and the sums (``balance_fen``: what the drawer and the card
    terminal should hold together)."""

    hospital: Hospital
    staff: str
    day: dt.date
    payments: list[Payment]
    refunds: list[Refund]

    @property
    def collected_fen(self) -> int:
        return sum(p.amount_fen for p in self.payments)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)

    @property
    def balance_fen(self) -> int:
        return self.collected_fen - self.refunded_fen

    def by_method(self) -> dict[str, int]:
        """Per method (cash, card): taken minus paid back."""
        sums: dict[str, int] = {str(m): 0 for m in WINDOW_METHODS}
        for p in self.payments:
            sums[p.method] = sums.get(p.method, 0) + p.amount_fen
        for r in self.refunds:
            sums[r.payment.method] = sums.get(r.payment.method, 0) - r.amount_fen
        return sums


def till_of(*, hospital: Hospital, staff: str, day: dt.date) -> Till:
    """The till of ``staff`` on the hospital's ``day`` (its own time zone)."""
    tz = ZoneInfo(hospital.timezone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=1)
    taken = Payment.objects.filter(
        hospital=hospital, provider=WINDOW, collected_by=staff, status=PaymentStatus.PAID, paid_at__gte=start
    ).filter(paid_at__lt=end)
    paid_back = Refund.objects.filter(
        Q(payment__hospital=hospital, paid_out_by=staff, status=RefundStatus.SUCCEEDED)
        & Q(finished_at__gte=start, finished_at__lt=end)
    ).select_related("payment")
    return Till(
        hospital=hospital,
        staff=staff,
        day=day,
        payments=list(taken.select_related("registration").order_by("paid_at", "pk")),
        refunds=list(paid_back.order_by("finished_at", "pk")),
    )


def hold_for_desk(hold: Hold) -> Hold:
    """The hold as the desk shows it (its slot, period and patient at hand)."""
    return Hold.objects.select_related("schedule__hospital", "period", "slot", "patient").get(pk=hold.pk)


__all__ = ["HoldStatus", "Till", "desk_collect", "desk_hold", "desk_send_link", "till_of"]
