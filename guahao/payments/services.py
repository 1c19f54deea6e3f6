"""Paying for a hold, applying the provider's notifications once, refunds.

No provider call happens inside a database transaction: the rows are written first (so a crash
loses nothing and a retry finds them), the provider is called after commit, and a periodic check
finishes whatever a crash or a lost notification left half done.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.booking.models import ActorType, Hold, HoldStatus, Registration
from guahao.booking.services import Actor
from guahao.core import clock, outbox
from guahao.core.audit import audit_record
from guahao.payments import errors, locks
from guahao.payments.interface import Notification, PaymentProvider, ProviderError
from guahao.payments.models import Payment, PaymentStatus, ProviderNotification, Refund, RefundReason, RefundStatus
from guahao.payments.providers.registry import provider_for, provider_named
from guahao.scheduling.models import Period, Schedule

log = logging.getLogger(__name__)

WINDOW = "window"  # the provider of money taken at a hospital's window (``payments.desk``)

# Pending payments are asked about this long before their hold runs out.
QUERY_BEFORE_EXPIRY = dt.timedelta(minutes=2)
# A refund sent this long ago without an outcome is asked about.
REFUND_QUERY_AFTER = dt.timedelta(minutes=5)


def _number(prefix: str) -> str:
    """Our order and refund numbers: date, time (Beijing's, as the providers' statements and the
    hospitals' days read them) and randomness, at most 32 characters."""
    return f"{prefix}{clock.local_now(settings.TIME_ZONE):%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


def new_number(prefix: str) -> str:
    """A new order or refund number (``GH…``, ``RF…``; the window's ``WN…``)."""
    return _number(prefix)


def _notify_url(provider: PaymentProvider) -> str:
    return f"{settings.PUBLIC_URL}/api/v1/payments/notify/{provider.name}"


def _provider_problem(exc: ProviderError) -> Exception:
    return (errors.PROVIDER_TIMEOUT if exc.timeout else errors.PROVIDER_FAILED).error()


# --- paying --------------------------------------------------------------------------------------


def payment_start(*, hold: Hold, method: str, insurance: bool = False) -> Payment:
    """Open (or reopen) the payment of a live hold and create its order at the provider.

    The hold's countdown keeps running. Asking again with the same method returns the same
    payment, so a failed attempt can be retried at the same cashier while the hold lasts;
    another method closes the first order and opens a new one.
    """
    booking.hold_check_live(hold)
    provider = provider_for(method)
    replaced: Payment | None = None
    with transaction.atomic():
        payment = Payment.objects.filter(hold=hold, status=PaymentStatus.CREATED).first()
        if payment is not None and (payment.method, payment.insurance) != (method, insurance):
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.CLOSED, closed_at=clock.now()
            )
            replaced, payment = payment, None
        if payment is None:
            try:
                with transaction.atomic():
                    payment = Payment.objects.create(
                        hold=hold,
                        account_id=hold.account_id,
                        hospital_id=hold.hospital_id,
                        provider=provider.name,
                        method=method,
                        out_trade_no=_number("GH"),
                        registration_fee_fen=hold.registration_fee_fen,
                        consultation_fee_fen=hold.consultation_fee_fen,
                        amount_fen=hold.registration_fee_fen + hold.consultation_fee_fen,
                        insurance=insurance,
                        created_at=clock.now(),
                    )
            except IntegrityError:  # a parallel confirm opened it first
                payment = Payment.objects.get(hold=hold, status=PaymentStatus.CREATED)
    if replaced is not None:
        _order_close(replaced)
        hold.refresh_from_db()
        if hold.status != HoldStatus.HELD:  # the replaced order had been paid after all: booked
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.CLOSED, closed_at=clock.now()
            )
            booking.hold_check_live(hold)  # says why: the patient is not asked to pay again
    try:
        order = provider.order_create(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            description=f"挂号费 {hold.visit_date:%Y-%m-%d} No.{hold.slot.number}",
            notify_url=_notify_url(provider),
        )
    except ProviderError as exc:
        log.warning("payment %s: order create failed: %s", payment.out_trade_no, exc)
        raise _provider_problem(exc) from exc
    if order.status == "SUCCESS":  # paid already (a retry after a lost answer)
        _capture(payment_id=payment.pk, transaction_id=order.transaction_id, paid_at=order.paid_at)
    if payment.pay_url != order.pay_url:
        Payment.objects.filter(pk=payment.pk).update(pay_url=order.pay_url)
    payment.refresh_from_db()
    return payment


def prepayment_start(*, account_id: int, schedule: Schedule, method: str) -> Payment:
    """The clinic's fees, paid when a patient joins its waitlist (``guahao.waitlist``, seed
    002's prepay mode), kept until a slot comes free or refunded in full. Self-pay: insurance
    settles a registration, and there is none yet. The order is created at the provider after
    the payment row is written (no transaction open during the call)."""
    provider = provider_for(method)
    payment = Payment.objects.create(
        hold=None,
        account_id=account_id,
        hospital_id=schedule.hospital_id,
        provider=provider.name,
        method=method,
        out_trade_no=_number("GH"),
        registration_fee_fen=schedule.registration_fee_fen,
        consultation_fee_fen=schedule.consultation_fee_fen,
        amount_fen=schedule.registration_fee_fen + schedule.consultation_fee_fen,
        insurance=False,
        created_at=clock.now(),
    )
    try:
        order = provider.order_create(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            description=f"候补挂号费 {schedule.date:%Y-%m-%d}",
            notify_url=_notify_url(provider),
        )
    except ProviderError as exc:
        log.warning("prepayment %s: order create failed: %s", payment.out_trade_no, exc)
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.CLOSED, closed_at=clock.now()
        )
        raise _provider_problem(exc) from exc
    Payment.objects.filter(pk=payment.pk).update(pay_url=order.pay_url)
    if order.status == "SUCCESS":
        _capture(payment_id=payment.pk, transaction_id=order.transaction_id, paid_at=order.paid_at)
    payment.refresh_from_db()
    return payment


def prepayment_use(*, payment_id: int, hold: Hold, registration: Registration) -> None:
    """The prepayment pays for the registration its waitlist entry got (a later cancellation
    refunds it as any registration's payment). Call inside the booking's transaction."""
    Payment.objects.filter(pk=payment_id, hold__isnull=True).update(hold=hold, registration=registration)


def prepayment_return(*, payment_id: int) -> int:
    """The waitlist entry ended without a slot: all of a prepayment goes back; an order never
    paid is closed. Call inside the entry's transaction (sent after commit). Returns what goes
    back, in fen (0: nothing was paid)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.hold_id is not None:
        return 0  # it paid for a registration: refunded with it, if ever
    if payment.status == PaymentStatus.PAID:
        if not payment.refunds.exclude(status=RefundStatus.FAILED).exists():
            refund = _refund_open(payment=payment, reason=RefundReason.WAITLIST)
            _refund_told("refund.started", refund)
            _after_commit_send(refund)
        return payment.amount_fen
    elif payment.status == PaymentStatus.CREATED:
        # Closed here at once; the provider's order after commit (paid meanwhile after all: the
        # capture finds the entry ended and refunds it).
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.CLOSED, closed_at=clock.now()
        )
        transaction.on_commit(lambda: _order_close(payment))
    return 0


def hold_confirm(*, hold: Hold, method: str | None, insurance: bool = False) -> Registration | Payment:
    """Confirm a hold: the registration where nothing is to be paid (or the money is already
    in), else the payment whose cashier the patient goes on to."""
    if not (hold.payment_required and method):
        return booking.hold_confirm(hold=hold, insurance=insurance)
    payment = payment_start(hold=hold, method=method, insurance=insurance)
    return payment.registration or payment


def _order_close(payment: Payment) -> None:
    """Close a payment's order so it can no longer be paid; if it was paid meanwhile, apply that."""
    provider = provider_named(payment.provider)
    if provider is None:
        return
    try:
        order = provider.order_close(out_trade_no=payment.out_trade_no)
    except ProviderError as exc:
        log.warning("payment %s: close failed: %s", payment.out_trade_no, exc)
        if exc.permanent and _order_missing(provider, payment):
            # The order never reached the provider (its creation failed): nothing can be paid.
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
                status=PaymentStatus.CLOSED, closed_at=clock.now()
            )
        return
    if order.status in ("SUCCESS", "REFUND"):
        _capture(payment_id=payment.pk, transaction_id=order.transaction_id, paid_at=order.paid_at)
    elif order.status == "CLOSED":
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.CLOSED, closed_at=clock.now()
        )


def orders_close_for_hold(*, hold_id: int) -> int:
    """A hold ended unpaid (given back, run out, its clinic suspended): its orders still open are
    closed at the provider at once, so the patient cannot pay for a slot they no longer hold
    (the patient was told nothing was charged). One paid in the meantime is applied as paid
    late: refunded in full. How many orders were open. The provider is called after the caller's
    transaction commits (the outbox delivers inside one); the minute's check closes what a crash
    in between left open."""
    still_open = list(Payment.objects.filter(hold_id=hold_id, status=PaymentStatus.CREATED, registration__isnull=True))
    for payment in still_open:
        transaction.on_commit(lambda payment=payment: _order_close(payment))  # type: ignore[misc]
    return len(still_open)


def _order_missing(provider: PaymentProvider, payment: Payment) -> bool:
    try:
        return provider.order_query(out_trade_no=payment.out_trade_no) is None
    except ProviderError:
        return False


def _capture(*, payment_id: int, transaction_id: str, paid_at: dt.datetime | None) -> str:
    """The money arrived: book the hold if it was live when it did, else refund it all.

    Applied once: a second call for the same payment finds it paid and changes nothing.
    """
    refund: Refund | None = None
    with transaction.atomic():
        now = clock.now()
        if not Payment.objects.filter(pk=payment_id, status__in=[PaymentStatus.CREATED, PaymentStatus.CLOSED]).update(
            status=PaymentStatus.PAID, transaction_id=transaction_id, paid_at=paid_at or now
        ):
            return "duplicate"
        payment = Payment.objects.get(pk=payment_id)
        if payment.hold_id is None:
            # A waitlist's prepayment: the waitlist learns it is paid (and refunds it if the
            # entry ended meanwhile).
            outbox.event_emit("payment.prepaid", payment_id=payment.pk, account_id=payment.account_id)
            return "prepaid"
        registration = booking.hold_book(
            hold_id=payment.hold_id, in_time_at=min(paid_at or now, now), insurance=payment.insurance
        )
        if registration is not None:
            Payment.objects.filter(pk=payment_id).update(registration=registration)
            outbox.event_emit(
                "payment.received",
                payment_id=payment.pk,
                account_id=payment.account_id,
                hold_id=payment.hold_id,
                registration_id=registration.pk,
                amount_fen=payment.amount_fen,
            )
            outcome = "booked"
        else:
            # Paid for a hold that had ended (or a second payment for one hold): the slot is not
            # ours to give, so every fen goes back and the patient sees why on the hold.
            refund = _refund_open(payment=payment, reason=RefundReason.LATE)
            booked = Registration.objects.filter(hold_id=payment.hold_id).exists()
            _refund_told("refund.started", refund, booked=booked)
            outcome = "refunded_late"
    if refund is not None:
        _after_commit_send(refund)
    return outcome


# --- notifications -------------------------------------------------------------------------------


def notification_receive(*, provider_name: str, headers: dict[str, str], body: bytes) -> str:
    """Verify a provider's notification and apply it once; returns what happened."""
    provider = provider_named(provider_name)
    if provider is None:
        raise errors.PROVIDER_UNKNOWN.error()
    note = provider.notification_verify(headers=headers, body=body)
    if note is None:
        raise errors.SIGNATURE_INVALID.error()
    return notification_apply(provider=provider, note=note)


def notification_ack(provider_name: str) -> str | None:
    provider = provider_named(provider_name)
    return provider.ack_text if provider is not None else None


def notification_apply(*, provider: PaymentProvider, note: Notification) -> str:
    """Apply a verified notification once: its id is recorded with the change it made."""
    if note.mch_id != provider.mch_id:
        raise errors.NOTIFICATION_MISMATCH.error(detail="merchant")
    reference = note.order.out_trade_no if note.order else note.refund.out_refund_no if note.refund else ""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ProviderNotification.objects.create(
                    provider=provider.name,
                    notification_id=note.id,
                    event_type=note.event_type,
                    reference=reference,
                    body=_public(note),
                    received_at=clock.now(),
                )
        except IntegrityError:
            return "duplicate"
        outcome = _apply(note)
        ProviderNotification.objects.filter(pk=record.pk).update(outcome=outcome)
    return outcome


def _public(note: Notification) -> dict:
    order, refund = note.order, note.refund
    return {
        "event_type": note.event_type,
        "order": None
        if order is None
        else {"out_trade_no": order.out_trade_no, "status": order.status, "amount_fen": order.amount_fen},
        "refund": None
        if refund is None
        else {"out_refund_no": refund.out_refund_no, "status": refund.status, "amount_fen": refund.amount_fen},
    }


def _apply(note: Notification) -> str:
    if note.order is not None and note.event_type == "TRANSACTION.SUCCESS":
        payment = Payment.objects.filter(out_trade_no=note.order.out_trade_no).first()
        if payment is None:
            raise errors.PAYMENT_UNKNOWN.error()
        if note.order.amount_fen != payment.amount_fen:
            log.error("payment %s: notified amount %s differs", payment.out_trade_no, note.order.amount_fen)
            raise errors.NOTIFICATION_MISMATCH.error(detail="amount_fen")
        return _capture(payment_id=payment.pk, transaction_id=note.order.transaction_id, paid_at=note.order.paid_at)
    if note.refund is not None:
        refund = Refund.objects.filter(out_refund_no=note.refund.out_refund_no).first()
        if refund is None:
            raise errors.PAYMENT_UNKNOWN.error()
        if note.refund.amount_fen != refund.amount_fen:
            raise errors.NOTIFICATION_MISMATCH.error(detail="amount_fen")
        return _refund_finish(
            refund=refund,
            succeeded=note.refund.status == "SUCCESS",
            failure=note.refund.reason or note.refund.status,
            finished_at=note.refund.finished_at,
        )
    return "ignored"


# --- refunds -------------------------------------------------------------------------------------


def _refund_open(*, payment: Payment, reason: str) -> Refund:
    """A pending refund of the whole payment, sent after commit. Call inside a transaction."""
    return Refund.objects.create(
        payment=payment,
        out_refund_no=_number("RF"),
        amount_fen=payment.amount_fen,
        reason=reason,
        created_at=clock.now(),
    )


def _refund_told(topic: str, refund: Refund, **more: object) -> None:
    """The patient hears of their refund (``refund.started``, ``.finished``, ``.failed``). Call
    inside the refund's transaction."""
    payment = refund.payment
    outbox.event_emit(
        topic,
        refund_id=refund.pk,
        payment_id=payment.pk,
        account_id=payment.account_id,
        hold_id=payment.hold_id,
        registration_id=payment.registration_id,
        amount_fen=refund.amount_fen,
        reason=refund.reason,
        at_window=payment.provider == WINDOW,  # paid back at the window, not by a provider
        **more,
    )


def refund_due_fen(*, registration: Registration) -> int:
    """What is on its way back for a cancelled registration (0 when nothing was paid)."""
    return sum(
        Refund.objects.filter(payment__registration=registration)
        .exclude(status=RefundStatus.FAILED)
        .values_list("amount_fen", flat=True)
    )


def _after_commit_send(refund: Refund) -> None:
    transaction.on_commit(lambda: refund_send(refund_id=refund.pk))


def refund_send(*, refund_id: int) -> None:
    """Ask the provider to refund; safe to repeat (the refund number makes it idempotent)."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING or refund.payment.provider == WINDOW:
        return  # money taken at the window goes back at the window (``refund_pay_out``)
    provider = provider_named(refund.payment.provider)
    assert provider is not None
    try:
        state = provider.refund_create(
            out_trade_no=refund.payment.out_trade_no,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            notify_url=_notify_url(provider),
        )
    except ProviderError as exc:
        log.warning("refund %s: send failed: %s", refund.out_refund_no, exc)
        if exc.permanent:
            _refund_finish(refund=refund, succeeded=False, failure=str(exc))
        return
    Refund.objects.filter(pk=refund.pk, sent_at__isnull=True).update(sent_at=clock.now())
    if state.status in ("SUCCESS", "ABNORMAL"):
        _refund_finish(
            refund=refund,
            succeeded=state.status == "SUCCESS",
            failure=state.reason or state.status,
            finished_at=state.finished_at,
        )


def _refund_finish(
    *, refund: Refund, succeeded: bool, failure: str = "", finished_at: dt.datetime | None = None
) -> str:
    """Record a refund's outcome once; ``finished_at`` is the provider's time when it gives one
    (the statement files the refund under that day)."""
    with transaction.atomic():
        status = RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED
        if not Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            status=status,
            finished_at=(finished_at if succeeded and finished_at else clock.now()),
            failure="" if succeeded else failure[:200],
        ):
            return "duplicate"
        registration_id = refund.payment.registration_id
        # A late payment's refund, or one staff gave for a registration that stays as it was
        # (visited, no-show), moves no registration.
        if succeeded and registration_id is not None and refund.reason not in (RefundReason.LATE, RefundReason.STAFF):
            booking.registration_refund_finish(registration_id=registration_id)
        # A retry that fails again: the patient was told at the first failure that staff are on it.
        again = not succeeded and refund.payment.refunds.filter(status=RefundStatus.FAILED, pk__lt=refund.pk).exists()
        _refund_told(
            "refund.finished" if succeeded else "refund.failed", refund, **({"retried": True} if again else {})
        )
    if not succeeded:
        log.error("refund %s failed: %s (waiting for staff)", refund.out_refund_no, failure)
    return "refunded" if succeeded else "refund_failed"


def registration_cancel(
    *,
    registration: Registration,
    actor: Actor,
    tell_patient: bool = True,
    reason: str = "",
    patient_asked: bool = False,
    paid_back_here: bool = False,
    refund_reason: str = RefundReason.CANCELLED,
    reason_told: bool = False,
) -> Registration:
    """Cancel a registration and, if it was paid for, start refunding it in the same step
    (``reason`` and ``patient_asked``: a staff cancellation, see ``booking.registration_cancel``;
    ``refund_reason``: why the money goes back, as finance reads it: a suspension's is its own).
    Money taken at the window goes back at the window: ``paid_back_here``, the cancelling staff
    member keeps a till and hands it back now (``refund_pay_out``); otherwise the refund waits,
    pending, for whoever at the window pays it out (a suspension's, a colleague's without a till)."""
    refund: Refund | None = None
    with transaction.atomic():
        registration = booking.registration_cancel(
            registration=registration,
            actor=actor,
            tell_patient=tell_patient,
            reason=reason,
            patient_asked=patient_asked,
            reason_told=reason_told,
        )
        payment = Payment.objects.filter(registration=registration, status=PaymentStatus.PAID).first()
        if payment is not None:
            booking.registration_refund_start(registration_id=registration.pk, actor=actor)
            refund = _refund_open(payment=payment, reason=refund_reason)
            if payment.provider == WINDOW and paid_back_here and actor.type == ActorType.STAFF:
                refund_pay_out(refund=refund, actor=actor)  # handed back now: the patient hears it is done
            else:
                _refund_told("refund.started", refund)  # a window payment's: to collect at the window
            if payment.provider == WINDOW:
                refund = None  # never sent to a provider
    if refund is not None:
        _after_commit_send(refund)
    registration.refresh_from_db()
    return registration


def registration_reschedule(
    *,
    registration: Registration,
    schedule: Schedule,
    period: Period | None = None,
    actor: Actor,
    reason: str = "",
    channel: str | None = None,
) -> Registration:
    """改约 (``booking.registration_reschedule``) with the money: a paid registration's payment
    goes over to the new registration in the same transaction, so a later cancellation refunds
    it from there. Refunds are of whole payments, so a paid registration moves only to a clinic
    with the same fees (``reschedule.fee_differs`` otherwise: cancel and book the other one)."""
    with transaction.atomic():
        paid = registration_paid(registration)
        new = booking.registration_reschedule(
            registration=registration,
            schedule=schedule,
            period=period,
            actor=actor,
            reason=reason,
            channel=channel,
            same_fee_only=paid,
        )
        Payment.objects.filter(registration=registration).update(registration=new)
    return new


def registration_paid(registration: Registration) -> bool:
    """The registration was paid for (its payment is in): it moves only to a clinic of its fees."""
    return Payment.objects.filter(registration=registration, status=PaymentStatus.PAID).exists()


def refund_pay_out(*, refund: Refund, actor: Actor) -> Refund:
    """A window payment's refund paid back in cash at the window by a staff member (their till):
    finished at once. A refund of a window payment that the patient started online waits for
    this at the window. Refused: not a window payment (``refund.not_window``), already paid out
    or no longer pending (``refund.already_paid_out``)."""
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").get(pk=refund.pk)
        if refund.payment.provider != WINDOW:
            raise errors.REFUND_NOT_WINDOW.error()
        # The conditional update is the only authority: of two clerks paying out at once, one
        # takes the refund (the other's update waits for its row and then finds it taken).
        if not Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING, paid_out_by="").update(
            paid_out_by=actor.id
        ):
            raise errors.REFUND_PAID_OUT.error()
        _refund_finish(refund=refund, succeeded=True)
        refund.refresh_from_db()
        audit_record(
            actor=actor.id,
            action="refund.paid_out",
            target_type="refund",
            target_id=refund.pk,
            target=refund.out_refund_no,
            hospital_id=refund.payment.hospital_id,
            after={"amount_fen": refund.amount_fen, "method": refund.payment.method},
        )
    return refund


def refund_retry(*, refund: Refund, actor: Actor) -> Refund:
    """Staff try a failed refund again: a new refund number for the same payment, recorded in
    the order's audit trail with who asked."""
    with transaction.atomic():
        refund = locks.lock_refund(refund.pk)
        if refund.status != RefundStatus.FAILED or refund.payment.refunds.exclude(status=RefundStatus.FAILED).exists():
            raise errors.REFUND_NOT_FAILED.error()
        again = _refund_open(payment=refund.payment, reason=refund.reason)
        _refund_told("refund.started", again, retried=True)
        booking.event_record(
            actor=actor,
            kind="refund.retried",
            hold=refund.payment.hold,
            registration=refund.payment.registration,
            out_refund_no=again.out_refund_no,
            failed_refund_no=refund.out_refund_no,
            failure=refund.failure,
        )
    _after_commit_send(again)
    return again


def hold_payment_refresh(*, hold: Hold) -> None:
    """The client is back from the provider's cashier: the hold's order still awaited, if any, is
    asked about now (paid: booked at once; declined: ``failed_at``)."""
    awaited = Payment.objects.filter(hold=hold, status=PaymentStatus.CREATED).order_by("-pk").first()
    if awaited is not None:
        payment_refresh(payment=awaited)


def payment_refresh(*, payment: Payment) -> str | None:
    """Ask the provider about a payment still awaiting its money and apply a success now (the
    patient is back from the cashier, or its hold is about to end) rather than wait for the
    notification. Returns what happened, or None if the provider could not be asked."""
    if payment.status != PaymentStatus.CREATED:
        return "unchanged"
    provider = provider_named(payment.provider)
    if provider is None:
        return None
    try:
        order = provider.order_query(out_trade_no=payment.out_trade_no)
    except ProviderError:
        return None
    if order is not None and order.status in ("SUCCESS", "REFUND"):
        return _capture(payment_id=payment.pk, transaction_id=order.transaction_id, paid_at=order.paid_at)
    if order is not None and order.status == "PAYERROR":
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED, failed_at__isnull=True).update(
            failed_at=clock.now()
        )
        payment.refresh_from_db(fields=["failed_at"])
        return "failed"
    if payment.failed_at is not None:  # tried again at the cashier, not paid yet: waiting again
        Payment.objects.filter(pk=payment.pk).update(failed_at=None)
        payment.failed_at = None
    return "unpaid"


# --- the periodic check --------------------------------------------------------------------------


def payments_check() -> dict[str, int]:
    """Finish what notifications did not: ask about payments whose hold is about to end, close
    the orders of holds that ended unpaid, and resend or ask about refunds without an outcome."""
    now = clock.now()
    done = {"queried": 0, "closed": 0, "refunds": 0}
    soon = Payment.objects.filter(
        status=PaymentStatus.CREATED, hold__status=HoldStatus.HELD, hold__expires_at__lte=now + QUERY_BEFORE_EXPIRY
    )
    for payment in soon.select_related("hold")[:200]:
        if payment_refresh(payment=payment) is not None:
            done["queried"] += 1
    # Orders of holds that ended (a waitlist's prepayment, without a hold, is closed by the waitlist).
    ended = (
        Payment.objects.filter(status=PaymentStatus.CREATED)
        .exclude(hold__status=HoldStatus.HELD)
        .exclude(hold__isnull=True)
    )
    for payment in ended[:200]:
        _order_close(payment)
        done["closed"] += 1
    stale = Refund.objects.filter(status=RefundStatus.PENDING).filter(
        Q(sent_at__isnull=True) | Q(sent_at__lte=now - REFUND_QUERY_AFTER)
    )
    for refund in stale.select_related("payment")[:200]:
        if refund.sent_at is None:
            refund_send(refund_id=refund.pk)
        else:
            provider = provider_named(refund.payment.provider)
            try:
                state = (
                    provider.refund_query(out_trade_no=refund.payment.out_trade_no, out_refund_no=refund.out_refund_no)
                    if provider
                    else None
                )
            except ProviderError:
                continue
            if state is not None and state.status in ("SUCCESS", "ABNORMAL"):
                _refund_finish(
                    refund=refund,
                    succeeded=state.status == "SUCCESS",
                    failure=state.reason or state.status,
                    finished_at=state.finished_at,
                )
        done["refunds"] += 1
    return done


def registration_refund(
    *, registration: Registration, actor: Actor, reason: str, paid_back_here: bool = False
) -> Refund:
    """Staff refund a paid registration that stays as it is (checked in, visited, a no-show the
    hospital forgives): the whole payment goes back, recorded with who and why. A booked one is
    refunded by cancelling it. Money taken at the window goes back there, as on a cancellation
    (``paid_back_here``: handed back now from the staff member's till)."""
    if not reason.strip():
        raise booking_errors.REASON_REQUIRED.error(field="reason")
    allowed = ("checked_in", "visited", "no_show")
    with transaction.atomic():
        registration.refresh_from_db()
        payment = Payment.objects.filter(registration=registration, status=PaymentStatus.PAID).first()
        if registration.status not in allowed or payment is None:
            raise booking_errors.BAD_TRANSITION.error(registration_status=registration.status)
        if payment.refunds.exclude(status=RefundStatus.FAILED).exists():
            raise errors.REFUND_EXISTS.error()
        try:
            with transaction.atomic():  # two desks at once: the constraint lets one refund through
                refund = _refund_open(payment=payment, reason=RefundReason.STAFF)
        except IntegrityError:
            raise errors.REFUND_EXISTS.error() from None
        booking.event_record(
            actor=actor,
            kind="refund.started",
            hold=payment.hold,
            registration=registration,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            reason=reason.strip()[:300],
        )
        if payment.provider == WINDOW:
            if paid_back_here:
                refund = refund_pay_out(refund=refund, actor=actor)
            else:
                _refund_told("refund.started", refund)  # to collect at the window
    _after_commit_send(refund)
    return refund
