"""What a hospital's self-service kiosk (自助机) does for the patient standing at it: add them by
real name and ID number, hold a slot of the onsite pool, pay by scanning a QR code with their
phone (the provider's cashier, as the app pays), book a clinic with nothing to pay, check in
and cancel. The patient's own rules and limits apply — a kiosk is no way round them: the hold
is the patient's (channel ``kiosk``), a cancellation is the patient's (their cutoff, counted
towards the blacklist as the app's), and the refund goes back to where the money came from.

Every step is also in the audit log under the device (``kiosk#<id> <name>``), as the desk's are
under the staff member. ID numbers are never written there, nor logged.
"""

from __future__ import annotations

from django.db import transaction

from guahao.accounts import services as accounts
from guahao.accounts.models import KioskDevice, Patient
from guahao.booking import services as booking
from guahao.booking.models import Hold, Registration
from guahao.core.audit import audit_record
from guahao.core.errors import NOT_FOUND
from guahao.payments import services as payments
from guahao.payments.models import Method, Payment
from guahao.scheduling.models import Schedule

CHANNEL = "kiosk"
QR_METHODS = (Method.WECHAT, Method.ALIPAY)


def kiosk_actor(device: KioskDevice) -> str:
    """The device as the audit log names it."""
    return f"kiosk#{device.pk} {device.name}"[:150]


def _audit_registration(device: KioskDevice, action: str, registration: Registration) -> None:
    _audit(
        device,
        action,
        target_type="registration",
        target_id=registration.pk,
        target=registration.registration_number,
    )


def _audit(
    device: KioskDevice, action: str, *, target_type: str, target_id: object, target: str, **after: object
) -> None:
    audit_record(
        actor=kiosk_actor(device),
        action=action,
        target_type=target_type,
        target_id=target_id,
        target=target,
        hospital_id=device.hospital_id,
        after=dict(after),
    )


def kiosk_patient_add(*, device: KioskDevice, name: str, id_number: str, phone: str) -> Patient:
    """A patient new to the platform registers at the kiosk (real name, ID number, mobile: the
    login they will use), with the same checks as the app's; the consent is the one on the
    kiosk's screen (channel ``kiosk``). A number already registered under another name is
    refused (``patient.name_mismatch``)."""
    patient = accounts.patient_find_or_create(name=name, id_number=id_number, phone=phone, channel=CHANNEL)
    _audit(
        device,
        "patient.added_at_kiosk",
        target_type="patient",
        target_id=patient.pk,
        target=patient.id_number_masked,
    )
    return patient


def _own_hospital(device: KioskDevice, hospital_id: int) -> None:
    if hospital_id != device.hospital_id:
        raise NOT_FOUND.error()  # another hospital's clinic or booking: not at this kiosk


def kiosk_hold(*, device: KioskDevice, patient: Patient, schedule: Schedule) -> Hold:
    """Hold the first free onsite slot of one of the kiosk's hospital's clinics for the patient,
    refused by the same rules (and in the same order) as the patient's own hold."""
    _own_hospital(device, schedule.hospital_id)
    hold = booking.hold_create(account=patient.account, patient=patient, schedule=schedule, channel=CHANNEL)
    _audit(device, "hold.created", target_type="hold", target_id=hold.pk, target=f"#{hold.pk}", channel=CHANNEL)
    return hold


def kiosk_pay(*, device: KioskDevice, hold: Hold, method: str = Method.WECHAT) -> Payment:
    """Open the hold's payment at the provider; the kiosk shows its cashier link as a QR code
    that the patient scans with their phone. The hold's countdown keeps running; the payment
    books it when it arrives in time (the provider's notification, or the kiosk asking)."""
    _own_hospital(device, hold.hospital_id)
    if method not in QR_METHODS:
        method = Method.WECHAT
    payment = payments.payment_start(hold=hold, method=method)
    _audit(
        device,
        "payment.qr_shown",
        target_type="hold",
        target_id=hold.pk,
        target=f"#{hold.pk}",
        method=method,
        amount_fen=payment.amount_fen,
        out_trade_no=payment.out_trade_no,
    )
    return payment


def kiosk_payment_check(*, hold: Hold) -> Registration | None:
    """The registration once the hold's payment came in (the provider asked now, rather than
    waiting for its notification), else None."""
    payment = Payment.objects.filter(hold=hold).order_by("-pk").first()
    if payment is not None:
        payments.payment_refresh(payment=payment)
    return Registration.objects.filter(hold=hold).first()


def kiosk_confirm(*, device: KioskDevice, hold: Hold) -> Registration:
    """Book a hold with nothing to pay."""
    _own_hospital(device, hold.hospital_id)
    registration = booking.hold_confirm(hold=hold)
    _audit_registration(device, "registration.booked", registration)
    return registration


def kiosk_release(*, device: KioskDevice, hold: Hold) -> None:
    """The patient gave up (or walked away): the held slot goes back at once."""
    _own_hospital(device, hold.hospital_id)
    booking.hold_release(hold=hold, actor=booking.Actor.patient(hold.account))


def kiosk_check_in(*, device: KioskDevice, registration: Registration) -> Registration:
    """The patient has arrived: only on the visit day, before the session ends."""
    _own_hospital(device, registration.hospital_id)
    with transaction.atomic():
        registration = booking.registration_check_in(
            registration=registration, actor=booking.Actor.patient(registration.account)
        )
        _audit_registration(device, "registration.checked_in", registration)
    return registration


def kiosk_cancel(*, device: KioskDevice, registration: Registration) -> Registration:
    """The patient cancels as in the app (before their cutoff; counted as theirs), and a paid
    registration's refund starts to where the money came from."""
    _own_hospital(device, registration.hospital_id)
    with transaction.atomic():
        registration = payments.registration_cancel(
            registration=registration, actor=booking.Actor.patient(registration.account)
        )
        _audit_registration(device, "registration.cancelled", registration)
    return registration
