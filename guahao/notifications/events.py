"""The events of the apps below (``core.outbox``) turned into messages: each event's handler runs
once, in a transaction with the messages it writes (``services.notice``), keyed by the event so
that nothing is told twice.

A kind whose table entry says ``event=True`` is told by the event of its name alone: the facts
come from whichever of ``registration_id``, ``hold_id`` and ``schedule_id`` the event carries,
``expires_at`` is the deadline it states (and after which it is not worth sending).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from guahao.accounts.models import Patient
from guahao.booking.models import ActorType, BlacklistEntry, BookingEvent, Hold, HoldStatus, Registration
from guahao.core.amounts import yuan_shown
from guahao.core.models import OutboxEvent
from guahao.notifications import services
from guahao.notifications.kinds import KINDS
from guahao.scheduling.models import Schedule

CONSUMER = "notifications"


def _registration(pk: Any) -> Registration | None:
    if not pk:
        return None
    return (
        Registration.objects.select_related("hospital", "department", "doctor", "schedule__hospital", "period")
        .filter(pk=pk)
        .first()
    )


def _hold(pk: Any) -> Hold | None:
    if not pk:
        return None
    return (
        Hold.objects.select_related(
            "hospital", "schedule__hospital", "schedule__department", "schedule__doctor", "period"
        )
        .filter(pk=pk)
        .first()
    )


def _when(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _tell(
    event: OutboxEvent, kind: str, *, account_id: int, visit: Hold | Registration | None = None, **facts: Any
) -> None:
    """One notice about a registration or hold (or about ``facts`` alone)."""
    registration = visit if isinstance(visit, Registration) else None
    hold = visit if isinstance(visit, Hold) else None
    base = services.visit_facts(visit) if visit is not None else {}
    hospital_id = facts.pop("hospital_id", None) or (visit.hospital_id if visit is not None else None)
    expires_at = facts.pop("expires_at", None)
    services.notice(
        account_id=account_id,
        kind=kind,
        key=f"event:{event.pk}:{account_id}",
        hospital_id=hospital_id,
        facts=base | facts,
        registration_id=registration.pk if registration else None,
        hold_id=hold.pk if hold else None,
        expires_at=expires_at,
    )


# --- booking's events ----------------------------------------------------------------------------


def _made_by_the_waitlist(hold_id: Any) -> bool:
    """A hold the waitlist made for a patient: the waitlist's own messages (offered, booked,
    expired) tell them, not the hold's."""
    return (
        bool(hold_id)
        and BookingEvent.objects.filter(hold_id=hold_id, kind="hold.created", actor_id="waitlist").exists()
    )


def hold_created(event: OutboxEvent) -> None:
    hold = _hold(event.data.get("hold_id"))
    if hold is None or hold.status != HoldStatus.HELD or _made_by_the_waitlist(hold.pk):
        return  # confirmed or ended before the worker came to it: nothing to hold any more
    deadline = services.local_moment(hold.expires_at, hold.hospital.timezone)
    _tell(event, "hold.created", account_id=hold.account_id, visit=hold, deadline=deadline, expires_at=hold.expires_at)


def hold_ended(event: OutboxEvent) -> None:
    if event.data.get("status") != HoldStatus.EXPIRED or _made_by_the_waitlist(event.data.get("hold_id")):
        return  # released by the patient, or by a suspension (which says so itself)
    hold = _hold(event.data.get("hold_id"))
    if hold is None:
        return
    deadline = services.local_moment(hold.expires_at, hold.hospital.timezone)
    _tell(event, "hold.expired", account_id=hold.account_id, visit=hold, deadline=deadline)


def registration_cancelled(event: OutboxEvent) -> None:
    if not event.data.get("tell_patient", True):
        return  # the caller tells the patient why itself (a suspension)
    registration = _registration(event.data.get("registration_id"))
    if registration is None:
        return
    by_patient = event.data.get("by") == ActorType.PATIENT
    kind = services.CANCELLED if by_patient else services.CANCELLED_BY_HOSPITAL
    # What goes back: the registration's payment, if it was paid (nothing at a hospital that is free).
    payment = getattr(registration, "payment", None)
    refund_fen = payment.amount_fen if payment is not None and payment.status == "paid" else 0
    _tell(
        event,
        kind,
        account_id=registration.account_id,
        visit=registration,
        refund_fen=refund_fen,
        refund_at_window=_paid_at_window(registration),
        told_reason=event.data.get("told_reason", ""),
    )


def _paid_at_window(registration: Registration) -> bool:
    """The registration was paid at the hospital's window: its money goes back there, to collect."""
    payment = getattr(registration, "payment", None)
    return payment is not None and payment.provider == "window"  # payments.services.WINDOW


def _bar(event: OutboxEvent, kind: str) -> None:
    entry = BlacklistEntry.objects.select_related("patient", "hospital").filter(pk=event.data.get("entry_id")).first()
    if entry is None:
        return
    hospital = entry.hospital
    _tell(
        event,
        kind,
        account_id=entry.patient.account_id,
        hospital_id=hospital.pk,
        hospital=hospital.name,
        hospital_en=hospital.name_en,
        patient=entry.patient.name,
        why=entry.reason,
        until=entry.ends_at.astimezone(ZoneInfo(hospital.timezone)).date().isoformat(),
    )


def blacklist_barred(event: OutboxEvent) -> None:
    _bar(event, "blacklist.barred")


def blacklist_lifted(event: OutboxEvent) -> None:
    _bar(event, "blacklist.lifted")


# --- payments' events ----------------------------------------------------------------------------


def payment_received(event: OutboxEvent) -> None:
    registration = _registration(event.data.get("registration_id"))
    if registration is None:
        return  # money for a hold that had ended: the refund's message says what happens to it
    _tell(
        event,
        "payment.received",
        account_id=registration.account_id,
        visit=registration,
        amount=yuan_shown(int(event.data.get("amount_fen") or 0)),
    )


def _refund(event: OutboxEvent, kind: str) -> None:
    d = event.data
    visit: Hold | Registration | None = _registration(d.get("registration_id")) or _hold(d.get("hold_id"))
    if visit is None:
        return
    _tell(event, kind, account_id=visit.account_id, visit=visit, amount=yuan_shown(int(d.get("amount_fen") or 0)))


def refund_started(event: OutboxEvent) -> None:
    if event.data.get("retried"):
        return  # staff sending a failed refund again: the patient hears when it is done
    if event.data.get("reason") == "late":
        _refund(event, services.SECOND_PAYMENT_REFUNDED if event.data.get("booked") else services.LATE_PAYMENT_REFUNDED)
    elif event.data.get("at_window"):
        _refund(event, "refund.at_window")  # money taken at the window waits there for the patient
    else:
        _refund(event, "refund.started")


def refund_finished(event: OutboxEvent) -> None:
    _refund(event, "refund.finished")


def refund_failed(event: OutboxEvent) -> None:
    if event.data.get("retried"):
        return  # failed again: the first failure told the patient that staff are on it
    _refund(event, "refund.failed")


# --- the HIS's and staff's changes of a clinic ----------------------------------------------------


def schedule_suspended(event: OutboxEvent) -> None:
    d = event.data
    facts = {"reason": d.get("reason", ""), "alternatives": d.get("alternatives") or []}
    registration = _registration(d.get("registration_id"))
    if registration is not None:
        facts["refund_fen"] = int(d.get("refund_fen") or 0)
        facts["refund_at_window"] = _paid_at_window(registration)
        _tell(event, services.SCHEDULE_SUSPENDED, account_id=registration.account_id, visit=registration, **facts)
        return
    hold = _hold(d.get("hold_id"))
    if hold is not None:
        _tell(event, "schedule.suspended_hold", account_id=hold.account_id, visit=hold, **facts)


def schedule_moved(event: OutboxEvent) -> None:
    registration = _registration(event.data.get("registration_id"))
    if registration is None:
        return
    _tell(
        event,
        services.SCHEDULE_MOVED,
        account_id=registration.account_id,
        visit=registration,
        reason=event.data.get("reason", ""),
    )


# --- kinds told by the event of their name (the waitlist's) ----------------------------------------


def by_name(event: OutboxEvent) -> None:
    d = event.data
    account_id = d.get("account_id")
    if not account_id:
        return
    visit: Hold | Registration | None = _registration(d.get("registration_id")) or _hold(d.get("hold_id"))
    facts: dict[str, Any] = {}
    if visit is not None:
        tz = visit.hospital.timezone
    else:
        schedule = (
            Schedule.objects.select_related("hospital", "department", "doctor").filter(pk=d.get("schedule_id")).first()
        )
        if schedule is None:
            return
        tz = schedule.hospital.timezone
        facts = services.schedule_facts(schedule) | {"hospital_id": schedule.hospital_id}
    expires_at = _when(d.get("expires_at"))
    if expires_at is not None:
        facts |= {"deadline": services.local_moment(expires_at, tz), "expires_at": expires_at}
    for name in ("position", "why", "note", "link", "amount", "prepaid_fen", "entry_id"):
        if name in d:
            facts[name] = d[name]
    if d.get("patient_id"):
        facts["patient"] = Patient.objects.filter(pk=d["patient_id"]).values_list("name", flat=True).first() or ""
    registration = visit if isinstance(visit, Registration) else None
    if registration is not None and registration.account_id != account_id:
        return
    _tell(event, event.topic, account_id=int(account_id), visit=visit, **facts)


ROUTES: dict[str, Callable[[OutboxEvent], None]] = {
    "hold.created": hold_created,
    "hold.ended": hold_ended,
    "registration.cancelled": registration_cancelled,
    "blacklist.barred": blacklist_barred,
    "blacklist.lifted": blacklist_lifted,
    "payment.received": payment_received,
    "refund.started": refund_started,
    "refund.finished": refund_finished,
    "refund.failed": refund_failed,
    "schedule.suspended": schedule_suspended,
    "schedule.moved": schedule_moved,
}
ROUTES |= {name: by_name for name, kind in KINDS.items() if kind.event}


def registration_booked(event: OutboxEvent) -> None:
    registration = _registration(event.data.get("registration_id"))
    if registration is not None and _made_by_the_waitlist(registration.hold_id):
        return  # told as the waitlist's booking ("waitlist.booked")
    by_name(event)


ROUTES["registration.booked"] = registration_booked


def handle(event: OutboxEvent) -> None:
    """The outbox's handler for the consumer ``notifications``."""
    route = ROUTES.get(event.topic)
    if route is not None:
        route(event)
