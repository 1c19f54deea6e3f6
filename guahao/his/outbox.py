"""Writes to the HIS that must happen: registrations, cancellations and lock releases.

Each is a ``HisCall`` row written in the transaction that made the change, sent right after
commit, and retried in the background with back-off until the HIS confirms. The HIS knows each
by its ``ref``, so a resend after a lost answer does nothing twice. A call that keeps failing
(``ATTENTION_AFTER`` attempts) or that the HIS refuses is shown to staff.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q, QuerySet

from guahao.accounts import idcard
from guahao.accounts.models import MedicalRecord, Patient
from guahao.booking import services as booking
from guahao.booking.models import BookingEvent, Hold, Registration, RegistrationStatus
from guahao.core import clock
from guahao.core import outbox as events
from guahao.his import registry
from guahao.his.errors import REGISTRATION_REFUSED
from guahao.his.interface import HisError, HisRefused
from guahao.his.models import CallKind, CallStatus, HisCall
from guahao.scheduling.models import Slot, SlotState

log = logging.getLogger(__name__)

BACKOFF_SECONDS = [15, 30, 60, 120, 300, 600, 1800, 3600]
# A HIS lock whose hold was never written here (the process died in between) is released after this.
ORPHAN_AFTER = dt.timedelta(minutes=1)
ATTENTION_AFTER = 5
# What a registration may be when its registration is written to the HIS: booked, or its visit begun.
HELD_AT_HIS = (
    RegistrationStatus.BOOKED,
    RegistrationStatus.CHECKED_IN,
    RegistrationStatus.VISITED,
    RegistrationStatus.NO_SHOW,
)


def failing() -> Q:
    """Calls staff should look at: refused by the HIS, or still failing after several attempts."""
    return Q(status=CallStatus.FAILED) | Q(status=CallStatus.PENDING, attempts__gte=ATTENTION_AFTER)


def _enqueue(
    *, hospital_id: int, kind: str, ref: str, registration: Registration | None = None, hold: Hold | None = None
) -> None:
    call, created = HisCall.objects.get_or_create(
        kind=kind,
        ref=ref,
        defaults={
            "hospital_id": hospital_id,
            "registration": registration,
            "hold": hold,
            "next_at": clock.now(),
            "created_at": clock.now(),
        },
    )
    if not created:  # queued before (an orphan's release): it is wanted now
        HisCall.objects.filter(pk=call.pk, status=CallStatus.PENDING, attempts=0).update(next_at=clock.now(), hold=hold)
    transaction.on_commit(lambda: call_send(call_id=call.pk))


def registration_written(registration: Registration) -> None:
    """A registration was booked: tell the HIS. Call inside the booking's transaction."""
    if registration.schedule.his_id and registry.mode_of(registration.hospital_id):
        _enqueue(
            hospital_id=registration.hospital_id,
            kind=CallKind.REGISTER,
            ref=registration.registration_number,
            registration=registration,
        )


def registration_cancelled(registration: Registration) -> None:
    """A registration was cancelled (or moved) here: tell the HIS. Call inside the cancellation's
    transaction, after its slot was freed. Its registration the HIS refused is no longer to be
    sent (nor shown to staff as failing), and its slot stays taken."""
    if registration.schedule.his_id and registry.mode_of(registration.hospital_id):
        refused = HisCall.objects.filter(
            kind=CallKind.REGISTER, registration=registration, status=CallStatus.FAILED
        ).update(status=CallStatus.DROPPED)
        if refused:
            # The HIS said its number is not ours to give (taken at the window): it is not given
            # again here either (nor offered to the waitlist) until the sync reads what it is.
            Slot.objects.filter(pk=registration.slot_id).exclude(state=SlotState.BOOKED).update(
                state=SlotState.ELSEWHERE
            )
        _enqueue(
            hospital_id=registration.hospital_id,
            kind=CallKind.CANCEL,
            ref=registration.registration_number,
            registration=registration,
        )


def lock_release(*, hospital_id: int, ref: str, hold: Hold | None = None) -> None:
    """A HIS lock we no longer want (its hold ended, or the lock's answer never came)."""
    _enqueue(hospital_id=hospital_id, kind=CallKind.RELEASE, ref=ref, hold=hold)


def lock_release_if_orphaned(*, hospital_id: int, ref: str) -> None:
    """Before asking the HIS for a lock: its release, due in ``ORPHAN_AFTER`` and committed now,
    so a lock whose hold a crash kept from being written here goes back to the HIS within a
    minute. The hold's transaction takes it back (``lock_kept``)."""
    now = clock.now()
    with transaction.atomic():
        HisCall.objects.get_or_create(
            kind=CallKind.RELEASE,
            ref=ref,
            defaults={"hospital_id": hospital_id, "next_at": now + ORPHAN_AFTER, "created_at": now},
        )


def lock_not_taken(*, ref: str) -> None:
    """The HIS said no (or never heard the request): there is no lock to give back."""
    HisCall.objects.filter(kind=CallKind.RELEASE, ref=ref, status=CallStatus.PENDING, attempts=0).delete()


def lock_kept(*, ref: str) -> bool:
    """Inside the hold's transaction: its lock stays; False if its release already went out."""
    pending = HisCall.objects.filter(kind=CallKind.RELEASE, ref=ref, status=CallStatus.PENDING, attempts=0)
    return bool(pending.delete()[0]) or not HisCall.objects.filter(kind=CallKind.RELEASE, ref=ref).exists()


def lock_release_now(*, hospital_id: int, ref: str) -> None:
    with transaction.atomic():
        lock_release(hospital_id=hospital_id, ref=ref)


def lock_release_soon(*, hospital_id: int, ref: str) -> None:
    """A lock whose answer never came: its release, due now, is sent by the worker (the minute's
    job if the worker cannot be asked), not by the request that is answering the patient."""
    now = clock.now()
    with transaction.atomic():
        call, created = HisCall.objects.get_or_create(
            kind=CallKind.RELEASE, ref=ref, defaults={"hospital_id": hospital_id, "next_at": now, "created_at": now}
        )
        if not created:
            HisCall.objects.filter(pk=call.pk, status=CallStatus.PENDING, attempts=0).update(next_at=now)
    transaction.on_commit(lambda: _send_by_worker(call.pk))


def _send_by_worker(call_id: int) -> None:
    try:
        from guahao.his.tasks import his_call_send

        his_call_send(call_id)
    except Exception:  # noqa: BLE001 - the minute's job sends what the worker was not asked to
        log.warning("could not ask the worker to send HIS call %s", call_id, exc_info=True)


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)])


def patient_payload(patient: Patient, hospital_id: int) -> dict:
    """Who the registration is for, as the HIS registers it (never logged)."""
    record = MedicalRecord.objects.filter(patient=patient, hospital_id=hospital_id).first()
    return {
        "name": patient.name,
        "id_number": idcard.decrypt(patient.id_number_encrypted),
        "phone": patient.phone,
        "his_patient_id": record.his_patient_id if record else "",
    }


def _do(call: HisCall) -> None:
    connection = registry.connection_for(call.hospital_id)
    if connection is None:
        raise HisError("the hospital is no longer connected to a HIS", permanent=True)
    his = registry.adapter(connection)
    if call.kind == CallKind.RELEASE:
        his.release(ref=call.ref)
    elif call.kind == CallKind.REGISTER:
        registration = call.registration
        assert registration is not None
        his.register(
            ref=call.ref,
            schedule_id=registration.schedule.his_id,
            number=registration.slot_number,
            lock_ref=registration.hold.his_lock_ref or None,
            patient=patient_payload(registration.patient, registration.hospital_id),
        )
    else:
        his.cancel(ref=call.ref)


def call_send(*, call_id: int) -> bool:
    """Send one call if it is due; True when the HIS confirmed it.

    Claimed with a conditional update on its attempt count, so two workers never send it at
    the same moment; sending it again later is harmless (the HIS knows it by ``ref``).
    """
    now = clock.now()
    call = (
        HisCall.objects.filter(pk=call_id, status=CallStatus.PENDING, next_at__lte=now)
        .select_related("registration__schedule", "registration__hold", "registration__patient")
        .first()
    )
    if call is None:
        return False
    if call.kind == CallKind.REGISTER and call.registration is not None and call.registration.status not in HELD_AT_HIS:
        # Cancelled (or moved) here before the HIS had it: registering it now would put a booking
        # in the HIS for a patient who has none (and was refunded). Its cancel is sent after.
        HisCall.objects.filter(pk=call.pk, status=CallStatus.PENDING).update(
            status=CallStatus.DROPPED, last_error="", done_at=now
        )
        return False
    if (
        call.kind == CallKind.CANCEL
        and HisCall.objects.filter(
            kind=CallKind.REGISTER, registration=call.registration, status=CallStatus.PENDING
        ).exists()
    ):
        return False  # the HIS must have the registration before it can cancel it
    attempts = call.attempts + 1
    if not HisCall.objects.filter(pk=call.pk, attempts=call.attempts, status=CallStatus.PENDING).update(
        attempts=attempts, next_at=now + _backoff(attempts)
    ):
        return False
    try:
        _do(call)
    except HisRefused as exc:
        log.warning("HIS %s %s refused: %s", call.kind, call.ref, exc.code)
        with transaction.atomic():
            HisCall.objects.filter(pk=call.pk).update(status=CallStatus.FAILED, last_error=str(exc)[:300])
            if call.kind == CallKind.REGISTER and call.registration is not None:
                _registration_refused(call.registration, code=exc.code)
        return False
    except HisError as exc:
        log.warning("HIS %s %s failed (attempt %s): %s", call.kind, call.ref, attempts, exc)
        status = CallStatus.FAILED if exc.permanent else CallStatus.PENDING
        HisCall.objects.filter(pk=call.pk).update(status=status, last_error=str(exc)[:300])
        return False
    with transaction.atomic():
        HisCall.objects.filter(pk=call.pk).update(status=CallStatus.DONE, done_at=clock.now(), last_error="")
        if call.kind == CallKind.REGISTER and call.registration is not None:
            _registration_accepted(call.registration)
    return True


def _registration_refused(registration: Registration, *, code: str) -> None:
    """The HIS refused a booked registration (its number was given out on another channel while
    the HIS could not be reached, or the HIS no longer has it): recorded in the order's trail and
    the patient told, once however often it is sent again. Staff then move it (改约) or cancel it
    with a full refund; it stays shown to them as failing until then."""
    if BookingEvent.objects.filter(registration=registration, kind=REFUSED).exists():
        return
    booking.event_record(actor=booking.SYSTEM, kind=REFUSED, registration=registration, code=code)
    events.event_emit(REFUSED, account_id=registration.account_id, registration_id=registration.pk)


REFUSED = "registration.his_refused"
ACCEPTED = "registration.his_accepted"


def _registration_accepted(registration: Registration) -> None:
    """A registration the HIS refused was written there after all (sent again once the window gave
    its number back): the patient, told not to come with it, is told it stands."""
    told = BookingEvent.objects.filter(registration=registration, kind__in=[REFUSED, ACCEPTED])
    if told.order_by("-at", "-pk").values_list("kind", flat=True).first() != REFUSED:
        return
    booking.event_record(actor=booking.SYSTEM, kind=ACCEPTED, registration=registration)
    events.event_emit(ACCEPTED, account_id=registration.account_id, registration_id=registration.pk)


def registrations_refused() -> QuerySet:
    """The registrations the HIS refused that have not been written there since (ids)."""
    refused = HisCall.objects.filter(kind=CallKind.REGISTER, status=CallStatus.FAILED, registration__isnull=False)
    return refused.values("registration_id")


def refused_among(registrations: list[Registration]) -> set[int]:
    """Which of ``registrations`` (a page's list) stand refused by the HIS: their ids, one query."""
    booked = [r.pk for r in registrations if r.status == RegistrationStatus.BOOKED]
    found = registrations_refused().filter(registration_id__in=booked)
    return set(found.values_list("registration_id", flat=True))


def registration_refused(registration: Registration) -> bool:
    """Whether this booked registration was refused by the HIS and not written there since."""
    if registration.status != RegistrationStatus.BOOKED:
        return False
    return registrations_refused().filter(registration=registration).exists()


def check_in_refused(registration: Registration) -> None:
    """The patient's own check-in (the app, a kiosk) of a registration the HIS refused: its number
    is someone else's at the hospital, so the window sorts it out (staff may still check it in)."""
    if registration_refused(registration):
        raise REGISTRATION_REFUSED.error()


def calls_send_due(limit: int = 500) -> dict[str, int]:
    """The background job: send every call that is due, oldest first."""
    due = HisCall.objects.filter(status=CallStatus.PENDING, next_at__lte=clock.now()).order_by("created_at", "pk")
    ids = list(due.values_list("pk", flat=True)[:limit])
    sent = sum(call_send(call_id=i) for i in ids)
    return {"due": len(ids), "sent": sent}


def call_retry(*, call: HisCall) -> HisCall:
    """Staff send a failing call again now (the caller records who asked)."""
    HisCall.objects.filter(pk=call.pk, status__in=[CallStatus.PENDING, CallStatus.FAILED]).update(
        status=CallStatus.PENDING, next_at=clock.now()
    )
    call_send(call_id=call.pk)
    call.refresh_from_db()
    return call
