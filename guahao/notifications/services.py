"""Messages to patients' accounts, worded in the reader's language when read."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from guahao.accounts.models import Account
from guahao.booking.models import ActorType, Hold, Registration
from guahao.core import clock
from guahao.notifications.models import Message

BOOKED = "registration.booked"
CANCELLED = "registration.cancelled"  # by the patient
CANCELLED_BY_HOSPITAL = "registration.cancelled_by_hospital"
SCHEDULE_SUSPENDED = "schedule.suspended"
SCHEDULE_MOVED = "schedule.moved"
LATE_PAYMENT_REFUNDED = "payment.late_refunded"
SECOND_PAYMENT_REFUNDED = "payment.second_refunded"
WAITLIST_JOINED = "waitlist.joined"
WAITLIST_OFFERED = "waitlist.offered"
WAITLIST_EXPIRED = "waitlist.expired"
WAITLIST_CANCELLED = "waitlist.cancelled"


def message_send(*, account_id: int, kind: str, **data: Any) -> Message:
    """Call inside the transaction of the change it reports: no message for a change undone."""
    return Message.objects.create(account_id=account_id, kind=kind, data=data, created_at=clock.now())


def visit_facts(visit: Hold | Registration) -> dict[str, Any]:
    """What a message says of a registration or a hold: where, with whom, when (both languages
    kept, the reader's is picked when it is read)."""
    hospital, department, doctor = visit.hospital, visit.department, visit.schedule.doctor
    facts: dict[str, Any] = {
        "visit_date": visit.visit_date.isoformat(),
        "time": visit.period.starts_at.astimezone(ZoneInfo(hospital.timezone)).strftime("%H:%M"),
        "hospital": hospital.name,
        "hospital_en": hospital.name_en,
        "department": department.name,
        "department_en": department.name_en,
        "doctor": doctor.name if doctor else "",
        "doctor_en": doctor.name_en if doctor else "",
    }
    if isinstance(visit, Registration):
        facts |= {"registration_number": visit.registration_number, "slot_number": visit.slot_number}
    return facts


def messages_of(account: Account) -> list[Message]:
    return list(Message.objects.filter(account=account)[:100])


def messages_unread(account: Account) -> int:
    return Message.objects.filter(account=account, read_at__isnull=True).count()


def messages_mark_read(account: Account) -> int:
    """The account has seen its messages."""
    return Message.objects.filter(account=account, read_at__isnull=True).update(read_at=clock.now())


def _pick(data: dict, name: str) -> str:
    english = (get_language() or "").startswith("en")
    return str((data.get(f"{name}_en") if english else None) or data.get(name) or "")


# What each kind of message says: its title and its body, filled with the message's facts.
TEXTS = {
    BOOKED: (
        gettext_lazy("Registration booked"),
        gettext_lazy(
            "%(hospital)s %(department)s %(doctor)s, %(date)s %(time)s, visit number %(slot)s (registration "
            "%(number)s). Please come on time and check in with the QR code of the registration."
        ),
    ),
    CANCELLED: (
        gettext_lazy("Registration cancelled"),
        gettext_lazy(
            "You cancelled registration %(number)s at %(hospital)s %(department)s on %(date)s. Any fee paid "
            "online goes back to where it was paid from."
        ),
    ),
    CANCELLED_BY_HOSPITAL: (
        gettext_lazy("Registration cancelled at the hospital"),
        gettext_lazy(
            "Your registration %(number)s at %(hospital)s %(department)s on %(date)s was cancelled at the "
            "hospital. Any fee paid online goes back to where it was paid from."
        ),
    ),
    SCHEDULE_SUSPENDED: (
        gettext_lazy("Clinic suspended"),
        gettext_lazy(
            "%(hospital)s %(department)s %(doctor)s on %(date)s is suspended (%(reason)s). Your registration "
            "%(number)s is cancelled and any fee goes back to where it was paid from."
        ),
    ),
    SCHEDULE_MOVED: (
        gettext_lazy("Clinic moved"),
        gettext_lazy(
            "%(hospital)s %(department)s %(doctor)s on %(date)s has moved: now %(time)s, room %(place)s. Your "
            "registration %(number)s (visit number %(slot)s) stands; cancel it online if the new time does not suit you."
        ),
    ),
    LATE_PAYMENT_REFUNDED: (
        gettext_lazy("Payment refunded"),
        gettext_lazy(
            "Your payment of %(amount)s for %(hospital)s %(department)s on %(date)s arrived after the held slot "
            "had been released, so nothing was booked. All of it goes back to where it was paid from."
        ),
    ),
    SECOND_PAYMENT_REFUNDED: (
        gettext_lazy("Payment refunded"),
        gettext_lazy(
            "Your registration at %(hospital)s %(department)s on %(date)s was already paid for, so a second "
            "payment of %(amount)s goes back in full to where it was paid from. The registration stands."
        ),
    ),
    WAITLIST_JOINED: (
        gettext_lazy("On the waitlist"),
        gettext_lazy(
            "You are on the waitlist of %(hospital)s %(department)s %(doctor)s on %(date)s %(time)s. If a slot "
            "comes free before %(deadline)s it is offered to you and you are told at once."
        ),
    ),
    WAITLIST_OFFERED: (
        gettext_lazy("A slot from the waitlist is held for you"),
        gettext_lazy(
            "A slot of %(hospital)s %(department)s %(doctor)s on %(date)s %(time)s came free and is held for you "
            "until %(expires)s. Confirm and pay before then, or it goes to the next patient waiting."
        ),
    ),
    WAITLIST_EXPIRED: (
        gettext_lazy("Waitlist ended"),
        gettext_lazy(
            "Your waitlist for %(hospital)s %(department)s %(doctor)s on %(date)s has ended: %(why)s. Any fee "
            "paid for it goes back in full to where it was paid from."
        ),
    ),
    WAITLIST_CANCELLED: (
        gettext_lazy("Waitlist cancelled"),
        gettext_lazy(
            "Your waitlist for %(hospital)s %(department)s %(doctor)s on %(date)s was cancelled: %(why)s. Any "
            "fee paid for it goes back in full to where it was paid from."
        ),
    ),
}

# Why a waitlist entry ended, as the patient reads it.
WAITLIST_REASONS = {
    "waitlist.left": gettext_lazy("you left the waitlist"),
    "waitlist.deadline": gettext_lazy("the waitlist closed before a slot came free"),
    "waitlist.offer_lapsed": gettext_lazy("the slot offered was not confirmed in time"),
    "waitlist.offer_released": gettext_lazy("the slot offered was given back"),
    "waitlist.removed": gettext_lazy("the hospital removed it"),
    "schedule.suspended": gettext_lazy("the clinic was suspended"),
    "rule.blacklisted": gettext_lazy("the patient is barred from online booking"),
    "rule.one_per_department_per_day": gettext_lazy(
        "the patient already has a registration in this department that day"
    ),
    "rule.per_account_per_day": gettext_lazy("the account has reached its registrations at this hospital that day"),
    "rule.medical_record_required": gettext_lazy("the hospital needs a medical record first"),
    "payment.failed": gettext_lazy("the payment could not be started"),
}


def waitlist_reason_text(reason: str, note: str = "") -> str:
    """Why a waitlist entry ended, in the active language; staff who removed one add their own
    words (which the patient reads, as the console says)."""
    worded = WAITLIST_REASONS.get(reason)
    if worded is None:
        return note or reason
    if note and reason == "waitlist.removed":
        return _("%(why)s: %(note)s") % {"why": worded, "note": note}
    return str(worded)


def message_text(message: Message) -> tuple[str, str]:
    """(title, body) in the active language."""
    if message.kind not in TEXTS:
        return message.kind, ""
    d = message.data
    facts = {
        "hospital": _pick(d, "hospital"),
        "department": _pick(d, "department"),
        "doctor": _pick(d, "doctor"),
        "date": d.get("visit_date", ""),
        "time": d.get("time", ""),
        "number": d.get("registration_number", ""),
        "slot": d.get("slot_number", ""),
        "amount": d.get("amount", ""),
        "reason": d.get("reason", ""),
        "place": d.get("location", ""),
        "deadline": d.get("deadline", ""),
        "expires": d.get("expires_at", ""),
        "why": waitlist_reason_text(d.get("reason", ""), d.get("note", "")),
    }
    title, body = TEXTS[message.kind]
    text = str(body) % facts
    if d.get("alternatives"):  # a suspension offers other doctors and days
        offered = "; ".join(
            f"{(a.get('doctor') or {}).get('name') or _('General clinic')} {a.get('date', '')}"
            for a in d["alternatives"]
        )
        text += " " + _("You can book another doctor or day instead:") + " " + offered
    return str(title), text


class NotifierForBooking:
    """Booking's notifier port (``guahao.booking.ports.Notifier``): the patient's messages."""

    def registration_booked(self, registration: Registration) -> None:
        message_send(account_id=registration.account_id, kind=BOOKED, **visit_facts(registration))

    def registration_cancelled(self, registration: Registration, *, by: str) -> None:
        kind = CANCELLED if by == ActorType.PATIENT else CANCELLED_BY_HOSPITAL
        message_send(account_id=registration.account_id, kind=kind, **visit_facts(registration))
