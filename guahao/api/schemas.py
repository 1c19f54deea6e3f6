"""Request and response shapes of API v1, and how domain objects are shown through them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from ninja import Schema
from pydantic import BeforeValidator, Field, StrictBool, WithJsonSchema

from guahao.accounts.models import Patient
from guahao.booking.models import RATEABLE_REGISTRATION, Hold, Rating, Registration
from guahao.booking.selectors import RatingSummary, patient_cancel_window
from guahao.booking.services import checkin_qr
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.his import outbox as his_outbox
from guahao.notifications.kinds import KINDS
from guahao.notifications.models import Message, Preferences
from guahao.notifications.services import message_link, message_text
from guahao.payments.models import Payment
from guahao.scheduling.models import Period, Schedule
from guahao.scheduling.rules import Rules
from guahao.scheduling.selectors import NextSlots, ScheduleView

# An id is a string of ASCII decimal digits (an integer is taken too, as older clients send);
# never true (which Python reads as 1), "٤٠٥" (Arabic-Indic digits) or a number past 64 bits.
ID_PATTERN = r"^[1-9][0-9]{0,17}$"


def _id_text(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("an id is a string of decimal digits")
    return value


# The pattern is written into the document by hand: a field with a validator before it loses its
# constraints in the generated schema.
Id = Annotated[str, BeforeValidator(_id_text), Field(pattern=ID_PATTERN, json_schema_extra={"pattern": ID_PATTERN})]


def _not_true_or_false(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    return value


# A number in a body: true and false are not 1 and 0.
Integer = Annotated[int, BeforeValidator(_not_true_or_false)]


# What the services check beyond a pattern is named by a format, each defined in its description:
# a client (and the API's own schema tests) can tell a valid value from a well-shaped one.
Phone = Annotated[
    str,
    Field(
        max_length=20,
        json_schema_extra={"format": "cn-mobile"},
        description="a mainland China mobile number: 11 digits, with +86, spaces or dashes allowed",
    ),
]
IdNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        json_schema_extra={"format": "cn-ric"},
        description="a resident identity card number (GB 11643): check digit valid, born since 1900 and not later than today",
    ),
]
RealName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        json_schema_extra={"format": "real-name"},
        description="real name: 2-50 Chinese characters or Latin letters, with a middle dot, space, hyphen or apostrophe between them",
    ),
]


def _iso_day(value: object) -> object:
    """A day is written YYYY-MM-DD (a bare number was read as seconds since 1970)."""
    if isinstance(value, dt.date):
        return value
    if not (isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("a day is written YYYY-MM-DD")
    if not "1900" <= value[:4] <= "2199":  # a year past 9999 would be reached by adding days to it
        raise ValueError("a day from 1900 to 2199")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day), Field(description="YYYY-MM-DD, from 1900 to 2199")]

_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")


def _clock_time(value: object) -> object:
    """A time of day is written HH:MM on the hospital's clock: no offset (08:00+08:00 was taken
    as 08:00 with its offset dropped, 08:00Z failed to compare), no bare number of seconds."""
    if isinstance(value, dt.time) and value.tzinfo is None:
        return value
    if not (isinstance(value, str) and _CLOCK.fullmatch(value)):
        raise ValueError("a time of day is written HH:MM, on the hospital's clock")
    return value


ClockTime = Annotated[
    dt.time,
    BeforeValidator(_clock_time),
    WithJsonSchema({"type": "string", "pattern": f"^{_CLOCK.pattern}$", "examples": ["08:00"]}),
]


def _local(when: dt.datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).isoformat()


# --- input ---------------------------------------------------------------------------------------


class Page(Schema):
    """A list's window: ``limit`` rows from ``offset``."""

    limit: int = Field(100, ge=1, le=500, description="1 to 500")
    offset: int = Field(0, ge=0, le=1_000_000)


class SmsCodeIn(Schema):
    phone: Phone


class LoginIn(Schema):
    phone: Phone
    code: str = Field(max_length=10, pattern=r"^[0-9]{6}$", description="the six digits sent by SMS")


IdTypeName = Literal["resident", "passport", "hk_macau", "taiwan", "foreign_permanent"]


class PatientIn(Schema):
    # The rules (at most 50 characters, and which; each document's number) are the service's,
    # worded in the reader's language: the limits here only keep absurd bodies out.
    name: str = Field(
        min_length=1,
        max_length=1000,
        json_schema_extra={"format": "real-name"},
        description="real name: 2-50 Chinese characters or Latin letters, with a middle dot, space, hyphen or "
        "apostrophe between them",
    )
    id_number: str = Field(
        min_length=1,
        max_length=64,
        description="the number of the document named by id_type (a resident identity card: GB 11643, check digit "
        "valid, born since 1900)",
    )
    id_type: IdTypeName = Field(
        default="resident",
        description="the document: resident identity card (default), passport, Hong Kong/Macao permit, "
        "Taiwan permit, foreigner's permanent residence ID card",
    )
    gender: Literal["male", "female"] | None = Field(
        default=None,
        description="needed where the document does not carry it (all but the resident card "
        "and the 18-digit permanent residence card); if given otherwise it must agree",
    )
    birth_date: Day | None = Field(default=None, description="as gender")
    phone: Phone
    relation: Literal["self", "spouse", "child", "parent", "other"] = "self"
    consent_version: str | None = Field(
        default=None,
        max_length=20,
        description="the version of the consent text to processing personal information the patient (or a "
        "child's guardian) agreed to, as the web app shows it (GET /api/v1/consent); absent: recorded as "
        'given under the API client\'s own terms (version "api")',
    )
    guardian_name: str | None = Field(
        default=None,
        max_length=200,
        description="a child under 14 is added by a guardian: their real name (absent: the account's own patient)",
    )
    guardian_relation: Literal["parent", "grandparent", "other"] | None = Field(
        default=None, description="the guardian's relation to the child (absent: parent of a child, else other)"
    )


class PatientPatch(Schema):
    """Only the fields sent change. Name, document, sex and birth date cannot change once the
    patient has booked (``patient.identity_locked``)."""

    name: str | None = Field(default=None, min_length=1, max_length=1000)
    id_type: IdTypeName | None = None
    id_number: str | None = Field(default=None, min_length=1, max_length=64)
    gender: Literal["male", "female"] | None = None
    birth_date: Day | None = None
    phone: str | None = Field(default=None, max_length=20)
    relation: Literal["self", "spouse", "child", "parent", "other"] | None = None


class HoldIn(Schema):
    schedule_id: Id
    patient_id: Id
    period_id: Id | None = None


class ConfirmIn(Schema):
    payment_method: Literal["wechat", "alipay", "card"] | None = None
    insurance: StrictBool = False


class RescheduleIn(Schema):
    schedule_id: Id
    period_id: Id | None = None
    reason: str | None = Field(default=None, max_length=300, description="staff: required after the cutoff")


class CheckinIn(Schema):
    """One of the two: the registration number, or the text of its QR code."""

    model_config = {
        "json_schema_extra": {
            "anyOf": [
                {
                    "required": ["registration_number"],
                    "properties": {"registration_number": {"type": "string", "minLength": 1}},
                },
                {"required": ["qr"], "properties": {"qr": {"type": "string", "minLength": 1}}},
            ]
        }
    }

    registration_number: str | None = Field(default=None, max_length=20)
    qr: str | None = Field(default=None, max_length=200)


# --- output --------------------------------------------------------------------------------------


class SmsCodeOut(Schema):
    sent: bool
    expires_in: int
    dev_code: str | None = None


class LoginOut(Schema):
    token: str
    account_id: str


class ConsentTextOut(Schema):
    version: str
    text: str
    guardian_under_age: int


class ConsentOut(Schema):
    version: str
    given_at: dt.datetime
    by_guardian: bool


class PatientOut(Schema):
    id: str
    name: str
    id_number_masked: str
    id_type: str
    phone_masked: str
    relation: str
    gender: str
    birth_date: dt.date
    guardian_name: str = Field(description="empty unless a guardian was recorded (always for a child under 14)")
    guardian_relation: str
    consent: ConsentOut | None


def patient_out(p: Patient) -> dict:
    given = next(iter(p.consents.all()), None)  # prefetched by lists
    return {
        "guardian_name": p.guardian_name,
        "guardian_relation": p.guardian_relation,
        "consent": {"version": given.text_version, "given_at": given.given_at, "by_guardian": given.given_by_guardian}
        if given
        else None,
        "id": str(p.pk),
        "name": p.name,
        "id_number_masked": p.id_number_masked,
        "id_type": p.id_type,
        "phone_masked": p.phone_masked,
        "relation": p.relation,
        "gender": p.gender,
        "birth_date": p.birth_date,
    }


class CampusOut(Schema):
    id: str
    name: str
    name_en: str
    address: str


class RulesOut(Schema):
    release_time: str
    days_ahead: int
    hold_minutes: int
    max_active_holds: int
    max_per_patient_department_day: int
    max_per_account_hospital_day: int
    cancel_policy: str
    cancel_hours_before: int
    blacklist_cancellations: int
    blacklist_cancellation_days: int
    blacklist_no_shows: int
    blacklist_no_show_days: int
    blacklist_days: int
    medical_record_mode: str
    payment_required: bool


def rules_out(r: Rules) -> dict:
    out = {k: getattr(r, k) for k in RulesOut.model_fields}
    out["release_time"] = r.release_time.strftime("%H:%M")
    return out


class HospitalOut(Schema):
    id: str
    code: str
    name: str
    name_en: str
    grade: str
    address: str
    phone: str
    notice: str
    notice_en: str
    campuses: list[CampusOut]
    rules: RulesOut


def hospital_out(h: Hospital, rules: Rules) -> dict:
    return {
        "id": str(h.pk),
        "code": h.code,
        "name": h.name,
        "name_en": h.name_en,
        "grade": h.grade,
        "address": h.address,
        "phone": h.phone,
        "notice": h.notice,
        "notice_en": h.notice_en,
        "campuses": [
            {"id": str(c.pk), "name": c.name, "name_en": c.name_en, "address": c.address} for c in h.campuses.all()
        ],
        "rules": rules_out(rules),
    }


class DepartmentNode(Schema):
    id: str
    name: str
    name_en: str
    level: int
    bookable: bool
    location: str
    patient_sex: str = Field(description='whom the department sees: "" (anyone), "female" or "male"')
    age_from: int | None = Field(description="patients at least this old on the visit day")
    age_under: int | None = Field(description="patients younger than this on the visit day")
    children: list[DepartmentNode]


DepartmentNode.model_rebuild()


def department_node(node: dict) -> dict:
    d: Department = node["department"]
    return {
        "id": str(d.pk),
        "name": d.name,
        "name_en": d.name_en,
        "level": d.level,
        "location": d.location,
        "patient_sex": d.patient_sex,
        "age_from": d.age_from,
        "age_under": d.age_under,
        "bookable": not node["children"],
        "children": [department_node(c) for c in node["children"]],
    }


class DoctorBrief(Schema):
    id: str
    name: str
    name_en: str
    title: str
    title_label: str


def doctor_brief(d: Doctor | None) -> dict | None:
    if d is None:
        return None
    return {
        "id": str(d.pk),
        "name": d.name,
        "name_en": d.name_en,
        "title": d.title,
        "title_label": str(d.get_title_display()),
    }


class DoctorOut(DoctorBrief):
    specialty: str
    specialty_en: str
    hospital_id: str
    department_id: str
    department_name: str
    rating_average: float | None = Field(
        None, description="average score (1-5, one decimal) of the published ratings; null before the first"
    )
    rating_count: int = Field(0, description="how many ratings were published")


class ShownRatingOut(Schema):
    patient: str = Field(description='the patient\'s name masked, e.g. "张*"')
    score: int
    comment: str
    rated_at: str


class DoctorDetailOut(DoctorOut):
    intro: str
    intro_en: str = Field(description="the introduction in English; empty when there is none (show `intro`)")
    department_name_en: str
    recent_ratings: list[ShownRatingOut] = Field(description="the latest published ratings with a comment")


class RatingIn(Schema):
    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str = Field(default="", max_length=500)


class RatingOut(Schema):
    id: str
    registration_id: str
    doctor_id: str
    score: int
    comment: str
    status: Literal["pending", "published", "rejected"] = Field(
        description="`pending` until the hospital's staff review it; only `published` ones are shown"
    )
    rated_at: str


def rating_out(r: Rating, tz: str) -> dict:
    """A rating, its time on the clock of the rated visit's hospital (``tz``)."""
    return {
        "id": str(r.pk),
        "registration_id": str(r.registration_id),
        "doctor_id": str(r.doctor_id),
        "score": r.score,
        "comment": r.comment,
        "status": r.status,
        "rated_at": _local(r.created_at, tz),
    }


class DepartmentBrief(Schema):
    id: str
    name: str
    name_en: str
    hospital_id: str
    hospital_name: str


def department_brief(d: Department) -> dict:
    return {
        "id": str(d.pk),
        "name": d.name,
        "name_en": d.name_en,
        "hospital_id": str(d.hospital_id),
        "hospital_name": d.hospital.name,
    }


class NextOut(Schema):
    """What a search result has in the coming days (the web app's 今日有号, 有号, 待放号, 约满)."""

    status: str = Field(
        description="available, not_released (opens later), full, suspended, or none (no clinic in the 14 days)"
    )
    date: dt.date | None = Field(description="the first day with free online slots; else the first day of that status")
    available: int = Field(description="free online slots that day")


class SearchDepartmentOut(DepartmentBrief):
    next: NextOut


class SearchDoctorOut(DoctorOut):
    next: NextOut = Field(description="this doctor's clinics in this department")


class SearchOut(Schema):
    departments: list[SearchDepartmentOut]
    doctors: list[SearchDoctorOut]


def next_out(n: NextSlots) -> dict:
    return {"status": n.status, "date": n.day, "available": n.available}


def doctor_out(d: Doctor, ratings: RatingSummary | None = None) -> dict:
    brief = doctor_brief(d)
    assert brief is not None
    return brief | {
        "specialty": d.specialty,
        "specialty_en": d.specialty_en,
        "hospital_id": str(d.hospital_id),
        "department_id": str(d.department_id),
        "department_name": d.department.name,
        "rating_average": ratings.average if ratings else None,
        "rating_count": ratings.count if ratings else 0,
    }


def doctor_detail_out(d: Doctor, ratings: RatingSummary) -> dict:
    tz = d.hospital.timezone
    return doctor_out(d, ratings) | {
        "intro": d.intro,
        "intro_en": d.intro_en,
        "department_name_en": d.department.name_en,
        "recent_ratings": [
            {"patient": r.patient, "score": r.score, "comment": r.comment, "rated_at": _local(r.at, tz)}
            for r in ratings.recent
        ],
    }


class ScheduleOut(Schema):
    id: str
    date: dt.date
    session: str
    starts_at: str
    ends_at: str
    doctor: DoctorBrief | None
    available: int
    status: Literal["available", "full", "not_released", "suspended"]
    fee_fen: int
    registration_fee_fen: int
    consultation_fee_fen: int
    release_at: str
    location: str


def schedule_out(v: ScheduleView) -> dict:
    s: Schedule = v.schedule
    tz = s.hospital.timezone
    return {
        "id": str(s.pk),
        "date": s.date,
        "session": s.session,
        "starts_at": _local(s.starts_at, tz),
        "ends_at": _local(s.ends_at, tz),
        "doctor": doctor_brief(s.doctor),
        "available": v.available,
        "status": v.status,
        "fee_fen": s.fee_fen,
        "registration_fee_fen": s.registration_fee_fen,
        "consultation_fee_fen": s.consultation_fee_fen,
        "release_at": _local(v.release_at, tz),
        "location": s.location,
    }


class DayOut(Schema):
    date: dt.date
    weekday: int = Field(description="1 = Monday … 7 = Sunday")
    available: int
    status: Literal["available", "full", "not_released", "suspended", "none"]
    schedules: list[ScheduleOut]


class AvailabilityOut(Schema):
    department: DepartmentBrief
    start: dt.date
    days: list[DayOut]


class PeriodOut(Schema):
    id: str
    starts_at: str
    ends_at: str
    label: str
    # Free online slots of the period (a schedule's periods); null where not counted (a hold's
    # own period: counting it would cost the hold path a query, and the hold is what matters).
    available: int | None


def period_out(p: Period, tz: str, available: int | None = None) -> dict:
    start, end = p.starts_at.astimezone(ZoneInfo(tz)), p.ends_at.astimezone(ZoneInfo(tz))
    return {
        "id": str(p.pk),
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "label": f"{start:%H:%M}-{end:%H:%M}",
        "available": available,
    }


class ScheduleDetailOut(ScheduleOut):
    hospital_id: str
    department: DepartmentBrief
    periods: list[PeriodOut]


class HoldOut(Schema):
    id: str
    status: str
    expires_at: str
    slot_number: int
    schedule_id: str
    patient_id: str
    period: PeriodOut
    fee_fen: int
    registration_fee_fen: int
    consultation_fee_fen: int
    payment_required: bool
    registration_id: str | None
    payment: PaymentOut | None


def hold_out(h: Hold, *, new: bool = False) -> dict:
    """A hold as the API shows it; ``new``: just made, so it has no registration nor payment."""
    tz = h.schedule.hospital.timezone
    return {
        "id": str(h.pk),
        "status": h.status,
        "expires_at": _local(h.expires_at, tz),
        "slot_number": h.slot.number,
        "schedule_id": str(h.schedule_id),
        "patient_id": str(h.patient_id),
        "period": period_out(h.period, tz),
        "fee_fen": h.fee_fen,
        "registration_fee_fen": h.registration_fee_fen,
        "consultation_fee_fen": h.consultation_fee_fen,
        "payment_required": h.payment_required,
        "registration_id": str(h.registration.pk) if not new and hasattr(h, "registration") else None,
        "payment": None if new else payment_out(Payment.objects.filter(hold=h).order_by("-pk").first()),
    }


class WaitlistIn(Schema):
    schedule_id: Id
    patient_id: Id
    insurance: StrictBool = False
    payment_method: Literal["wechat", "alipay", "card"] | None = Field(
        None, description="where the clinic's waitlist is paid when joining (prepay): how"
    )


class WaitlistOut(Schema):
    id: str
    schedule_id: str
    patient_id: str
    status: str = Field(description="waiting, offered, booked, expired or cancelled")
    mode: str = Field(description="book (booked at once), prepay (paid when joining) or pay_after_hold")
    position: int | None = Field(description="first come, first served: the place in the queue")
    in_draw: bool | None = Field(description="a random order: whether the patient takes part in the next draw")
    hold_id: str | None = Field(description="an offer: the hold to confirm (and pay) before expires_at")
    registration_id: str | None
    expires_at: str | None
    joined_at: str
    closes_at: str = Field(description="when the clinic's waitlist closes (waiting entries expire then)")
    reason: str | None = Field(description="why it ended (a stable code), for an ended entry")
    payment: PaymentOut | None
    lottery: bool = Field(description="a ticket in a lottery release's draw")
    draw_at: str | None = Field(description="a lottery ticket: when the draw is made")


def waitlist_out(entry, standing, closes_at: dt.datetime, payment: Payment | None, draw_at=None) -> dict:  # type: ignore[no-untyped-def]
    tz = entry.schedule.hospital.timezone
    return {
        "lottery": entry.lottery,
        "draw_at": _local(draw_at, tz) if draw_at and entry.lottery and entry.status == "waiting" else None,
        "id": str(entry.pk),
        "schedule_id": str(entry.schedule_id),
        "patient_id": str(entry.patient_id),
        "status": entry.status,
        "mode": entry.mode,
        "position": standing.position,
        "in_draw": standing.in_draw,
        "hold_id": str(entry.hold_id) if entry.hold_id and entry.status == "offered" else None,
        "registration_id": str(entry.registration_id) if entry.registration_id else None,
        "expires_at": _local(entry.offer_expires_at, tz)
        if entry.offer_expires_at and entry.status == "offered"
        else None,
        "joined_at": _local(entry.joined_at, tz),
        "closes_at": _local(closes_at, tz),
        "reason": entry.end_reason or None,
        "payment": payment_out(payment),
    }


class RefundOut(Schema):
    status: str
    reason: str
    reason_label: str
    failure: str


class PaymentOut(Schema):
    id: str
    status: str
    method: str
    amount_fen: int
    registration_fee_fen: int
    consultation_fee_fen: int
    insurance: bool
    pay_url: str
    # The provider said the last attempt at its cashier failed (declined, cancelled): still
    # payable there while the hold lasts. Null when none failed.
    failed_at: str | None = None
    refund: RefundOut | None


def payment_out(p: Payment | None) -> dict | None:
    if p is None:
        return None
    refund = p.refunds.order_by("-pk").first()
    return {
        "id": str(p.pk),
        "status": p.status,
        "method": p.method,
        "amount_fen": p.amount_fen,
        "registration_fee_fen": p.registration_fee_fen,
        "consultation_fee_fen": p.consultation_fee_fen,
        "insurance": p.insurance,
        "pay_url": p.pay_url,
        "failed_at": p.failed_at.astimezone(ZoneInfo(p.hospital.timezone)).isoformat() if p.failed_at else None,
        "refund": None
        if refund is None
        else {
            "status": refund.status,
            "reason": refund.reason,
            "reason_label": str(refund.get_reason_display()),
            "failure": refund.failure,
        },
    }


class NotifyOut(Schema):
    code: str
    outcome: str


class PaymentStartOut(Schema):
    payment_id: str
    pay_url: str
    amount_fen: int
    hold_id: str
    expires_at: str


def payment_start_out(p: Payment, hold: Hold) -> dict:
    return {
        "payment_id": str(p.pk),
        "pay_url": p.pay_url,
        "amount_fen": p.amount_fen,
        "hold_id": str(hold.pk),
        "expires_at": _local(hold.expires_at, hold.schedule.hospital.timezone),
    }


class PatientBrief(Schema):
    id: str
    name: str
    id_number_masked: str


class RegistrationOut(Schema):
    id: str
    status: str
    registration_number: str
    slot_number: int
    visit_date: dt.date
    visit_time: str
    visit_end: str
    session: str
    hospital: dict
    department: dict
    doctor: DoctorBrief | None
    patient: PatientBrief
    location: str
    fee_fen: int
    registration_fee_fen: int
    consultation_fee_fen: int
    insurance: bool
    qr: str
    cancellable: bool
    cancel_deadline: str
    booked_at: str
    cancelled_at: str | None
    checked_in_at: str | None
    payment: PaymentOut | None
    channel: str = Field(description="where it was booked: app, wechat, window, phone, kiosk, sms, partner:…")
    moved_to_id: str | None = Field(None, description="改约: the registration this one was moved to")
    suspension_reason: str = Field(
        "", description="停诊: the hospital's reason, when the clinic's suspension cancelled this registration"
    )
    rateable: bool = Field(
        False, description="the doctor may be rated now: checked in or visited, with a doctor, not rated yet"
    )
    rating: RatingOut | None = Field(None, description="the patient's rating of the doctor, once given")
    his_refused: bool = Field(
        False,
        description="号源冲突: the hospital's HIS refused this booked registration (its number was given out at "
        "the window); do not show the check-in code: the hospital moves it or cancels it with a full refund",
    )


def registration_out(r: Registration, *, refused: set[int] | None = None) -> dict:
    """``refused``: the ids of those the HIS refused, when the caller read them for a list."""
    s = r.schedule
    tz = s.hospital.timezone
    deadline, cancellable = patient_cancel_window(r)
    rating = getattr(r, "rating", None)  # a reverse one-to-one: absent reads as None
    return {
        "id": str(r.pk),
        "status": r.status,
        "registration_number": r.registration_number,
        "slot_number": r.slot_number,
        "visit_date": r.visit_date,
        "visit_time": _local(r.period.starts_at, tz),
        "visit_end": _local(r.period.ends_at, tz),
        "session": s.session,
        "hospital": {"id": str(r.hospital_id), "name": r.hospital.name, "name_en": r.hospital.name_en},
        "department": {"id": str(r.department_id), "name": r.department.name, "name_en": r.department.name_en},
        "doctor": doctor_brief(r.doctor),
        "patient": {"id": str(r.patient_id), "name": r.patient.name, "id_number_masked": r.patient.id_number_masked},
        "location": s.location,
        "fee_fen": r.fee_fen,
        "registration_fee_fen": r.registration_fee_fen,
        "consultation_fee_fen": r.consultation_fee_fen,
        "insurance": r.insurance,
        "qr": checkin_qr(r),
        "cancellable": cancellable,
        "cancel_deadline": _local(deadline, tz),
        "booked_at": _local(r.booked_at, tz),
        "cancelled_at": _local(r.cancelled_at, tz) if r.cancelled_at else None,
        "checked_in_at": _local(r.checked_in_at, tz) if r.checked_in_at else None,
        "payment": payment_out(getattr(r, "payment", None)),
        "channel": r.channel,
        "moved_to_id": str(r.moved_to_id) if r.moved_to_id else None,
        "suspension_reason": r.suspension_reason,
        "rateable": rating is None and r.doctor_id is not None and r.status in RATEABLE_REGISTRATION,
        "his_refused": r.pk in refused if refused is not None else his_outbox.registration_refused(r),
        "rating": rating_out(rating, tz) if rating is not None else None,
    }


class HisEventOut(Schema):
    outcome: str = Field(description="created, changed, suspended, cancelled, slot_freed, duplicate, …")


class MessageOut(Schema):
    id: str
    kind: str
    title: str
    body: str
    data: dict
    created_at: dt.datetime
    read: bool
    registration_id: str | None = Field(None, description="the registration the message is about")
    hold_id: str | None = Field(None, description="the hold the message is about (before it was booked)")
    link: str | None = Field(None, description="where the patient web app shows it")


def message_out(message: Message) -> dict:
    title, body = message_text(message)
    return {
        "id": str(message.pk),
        "kind": message.kind,
        "title": title,
        "body": body,
        "data": message.data,
        "created_at": message.created_at,
        "read": message.read_at is not None,
        "registration_id": str(message.registration_id) if message.registration_id else None,
        "hold_id": str(message.hold_id) if message.hold_id else None,
        "link": message_link(message) or None,
    }


class UnreadOut(Schema):
    unread: int


class MarkedOut(Schema):
    marked: int


class PreferencesIn(Schema):
    sms: StrictBool | None = None
    wechat: StrictBool | None = None
    email: StrictBool | None = None
    email_address: str | None = Field(
        None,
        max_length=254,
        description="an e-mail address, or an empty string to forget it",
        json_schema_extra={
            "anyOf": [{"type": "string", "format": "email", "maxLength": 254}, {"const": ""}, {"type": "null"}]
        },
    )
    language: Literal["zh-hans", "en"] | None = Field(
        None, description="the language of SMS, WeChat and e-mail messages"
    )


class PreferencesOut(Schema):
    sms: bool
    wechat: bool
    email: bool
    email_address: str
    language: str
    service_messages: list[str] = Field(description="kinds sent on every channel whatever is chosen")


def preferences_out(prefs: Preferences) -> dict:
    return {
        "sms": prefs.sms,
        "wechat": prefs.wechat,
        "email": prefs.email,
        "email_address": prefs.email_address,
        "language": prefs.language,
        "service_messages": sorted(name for name, kind in KINDS.items() if kind.service),
    }


class LinkedOut(Schema):
    linked: bool


class WechatLinkIn(Schema):
    hospital_id: str
    code: str = Field(max_length=128, description="the code of WeChat's web authorisation (snsapi_base)")
