"""The staff API's work on a patient's booking at the window or on the phone: booking on the
patient's behalf (find or add them by real name and ID number, hold, take the fee at the window
or send a payment link), moving a registration to another slot (改约), and the staff member's
till. A staff token reaches only its hospital's rows: another hospital's answers 404 and
changes nothing; a role without the permission, 403.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictBool

from guahao.accounts import errors as account_errors
from guahao.accounts import services as accounts
from guahao.accounts.scope import staff_scope
from guahao.api.auth import staff_auth, staff_row_access, staff_scoped
from guahao.api.problems import documented
from guahao.api.schemas import Day, Id, IdNumber, Phone, RealName, hold_out, payment_out
from guahao.api.staff import _hospital_for, _row, _user
from guahao.api.staff_reads import StaffRegistrationOut, registration_out
from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.booking.models import Hold, Registration, ReliefGrant
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.core.errors import FORBIDDEN, INVALID, NOT_FOUND, NOT_LOGGED_IN
from guahao.payments import desk
from guahao.payments import errors as payment_errors
from guahao.payments import services as payments
from guahao.payments.models import Payment, Refund
from guahao.scheduling.models import Period, Schedule

router = Router(tags=["staff: booking"], auth=staff_auth())
CHANGE = "booking.change_registration"


class StaffRescheduleIn(Schema):
    """The clinic (and period) to move to; one of another hospital is not found (404)."""

    schedule_id: Id
    period_id: Id | None = None
    reason: str | None = Field(default=None, max_length=300, description="required after the patient's cutoff")


def _target(body: StaffRescheduleIn, hospital_id: int) -> tuple[Schedule, Period | None]:
    """The clinic (and period) named in the body; one of another hospital is not found."""
    schedule = (
        Schedule.objects.select_related("hospital").filter(pk=int(body.schedule_id), hospital_id=hospital_id).first()
    )
    if schedule is None:
        raise NOT_FOUND.error(field="schedule_id")
    period = None
    if body.period_id is not None:
        period = Period.objects.filter(pk=int(body.period_id)).first()
        if period is None:
            raise NOT_FOUND.error(field="period_id")
    return schedule, period


@router.post(
    "/registrations/{registration_id}/reschedule",
    **documented(
        {200: StaffRegistrationOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        INVALID,
        booking_errors.BAD_TRANSITION,
        booking_errors.REASON_REQUIRED,
        booking_errors.RESCHEDULE_OTHER_DEPARTMENT,
        booking_errors.RESCHEDULE_SAME_SLOT,
        booking_errors.RESCHEDULE_FEE_DIFFERS,
        booking_errors.RESCHEDULE_NOT_HERE,
        booking_errors.SLOT_UNAVAILABLE,
        booking_errors.ONE_PER_DEPARTMENT,
        booking_errors.ACCOUNT_DAILY_LIMIT,
        summary="改约 at the patient's request: the new registration (the old one is `moved`); after the patient's "
        "cutoff only with a reason",
    ),
)
@staff_scoped(model=Registration, lookup="path:registration_id")
def registration_reschedule(request: HttpRequest, registration_id: str, body: StaffRescheduleIn) -> dict:
    user = _user(request)
    registration = _row(Registration, registration_id, user, CHANGE)
    schedule, period = _target(body, registration.hospital_id)
    moved = payments.registration_reschedule(
        registration=registration,
        schedule=schedule,
        period=period,
        actor=booking.Actor.staff(user),
        reason=body.reason or "",
    )
    moved = Registration.objects.select_related("hospital", "department", "doctor", "patient", "period").get(
        pk=moved.pk
    )
    return registration_out(moved, Payment.objects.filter(registration=moved).first())


# --- booking on the patient's behalf ---------------------------------------------------------------

BOOK = "booking.add_registration"
COLLECT = "payments.add_payment"


class DeskHoldIn(Schema):
    """The clinic and the patient: the patient is found or added by real name and ID number."""

    schedule_id: Id
    period_id: Id | None = None
    name: RealName = Field(description="the patient's real name")
    id_number: IdNumber = Field(description="resident ID number, read out or typed")
    phone: Phone = Field(description="the patient's mobile: their login")
    channel: Literal["window", "phone"] = "window"


class DeskHoldOut(Schema):
    hold: dict
    patient: dict


class CollectIn(Schema):
    method: Literal["cash", "card"] | None = None
    insurance: StrictBool = False


class DeskRegistrationOut(StaffRegistrationOut):
    slip_url: str


class LinkIn(Schema):
    method: Literal["wechat", "alipay"] = "wechat"


def _hold(request: HttpRequest, hold_id: str, permission: str) -> Hold:
    hold = _row(Hold, hold_id, _user(request), permission)
    return desk.hold_for_desk(hold)


@router.post(
    "/desk/holds",
    **documented(
        {201: DeskHoldOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        INVALID,
        account_errors.ID_NUMBER_INVALID,
        account_errors.NAME_INVALID,
        account_errors.NAME_MISMATCH,
        account_errors.PHONE_INVALID,
        booking_errors.SLOT_UNAVAILABLE,
        booking_errors.ONE_PER_DEPARTMENT,
        booking_errors.ACCOUNT_DAILY_LIMIT,
        booking_errors.HOLD_LIMIT,
        booking_errors.BLACKLISTED,
        summary="The window or the phone desk holds a slot for a patient found or added by real name and ID number "
        "(channel window: the onsite pool; phone: the phone desk's share of a clinic that has one, then the "
        "platform pool); the app's rules and limits apply",
    ),
)
@staff_scoped(model=Schedule, lookup="body:schedule_id")
def desk_hold(request: HttpRequest, body: DeskHoldIn) -> Status:
    user = _user(request)
    schedule = _row(Schedule, body.schedule_id, user, BOOK, "schedule_id")
    period = None
    if body.period_id is not None:
        period = Period.objects.filter(pk=int(body.period_id)).first()
        if period is None:
            raise NOT_FOUND.error(field="period_id")
    hold = desk.desk_hold(
        actor=booking.Actor.staff(user),
        name=body.name,
        id_number=body.id_number,
        phone=body.phone,
        schedule=schedule,
        period=period,
        channel=body.channel,
    )
    hold = desk.hold_for_desk(hold)
    patient = hold.patient
    return Status(
        201,
        {
            "hold": hold_out(hold, new=True),
            "patient": {"id": str(patient.pk), "name": patient.name, "id_number_masked": patient.id_number_masked},
        },
    )


@router.post(
    "/desk/holds/{hold_id}/collect",
    **documented(
        {201: DeskRegistrationOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        booking_errors.PAYMENT_REQUIRED,
        booking_errors.HOLD_EXPIRED,
        booking_errors.HOLD_NOT_ACTIVE,
        summary="The window takes the fee (cash or card, recorded in the staff member's till) and books the hold; "
        "a hold with nothing to pay is booked as it is",
    ),
)
@staff_scoped(model=Hold, lookup="path:hold_id")
def desk_collect(request: HttpRequest, hold_id: str, body: CollectIn) -> Status:
    user = _user(request)
    hold = _hold(request, hold_id, BOOK)
    body = body or CollectIn()
    if hold.payment_required and hold.fee_fen and not user.has_perm(COLLECT):
        raise FORBIDDEN.error()
    registration = desk.desk_collect(
        hold=hold, actor=booking.Actor.staff(user), method=body.method, insurance=body.insurance
    )
    return Status(201, _desk_registration(registration))


def _desk_registration(registration: Registration) -> dict[str, Any]:
    from django.urls import reverse

    r = Registration.objects.select_related("hospital", "department", "doctor", "patient", "period").get(
        pk=registration.pk
    )
    out = registration_out(r, Payment.objects.filter(registration=r).first())
    out["slip_url"] = reverse("admin:booking_registration_slip", args=[r.pk])
    return out


@router.post(
    "/desk/holds/{hold_id}/link",
    **documented(
        {201: dict},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        booking_errors.HOLD_EXPIRED,
        booking_errors.HOLD_NOT_ACTIVE,
        summary="The phone desk sends the patient a payment link by SMS; the payment books the hold when it "
        "arrives in time",
    ),
)
@staff_scoped(model=Hold, lookup="path:hold_id")
def desk_link(request: HttpRequest, hold_id: str, body: LinkIn) -> Status:
    hold = _hold(request, hold_id, BOOK)
    payment = desk.desk_send_link(
        hold=hold, actor=booking.Actor.staff(_user(request)), method=(body or LinkIn()).method
    )
    return Status(201, {"hold_id": str(hold.pk), "payment": payment_out(payment)})


# --- the till ----------------------------------------------------------------------------------------


class TillFilters(Schema):
    hospital_id: Id | None = Field(None, description="the staff member's hospital if left out")
    day: Day | None = Field(None, description="the hospital's day; today if left out")
    staff: str | None = Field(None, description="another staff member's till (finance and hospital admins)")


class TillLineOut(Schema):
    at: str
    kind: str = Field(description="payment or refund")
    method: str
    amount_fen: int
    number: str = Field(description="the order or refund number")
    registration_number: str | None


class TillOut(Schema):
    hospital_id: str
    staff: str
    day: dt.date
    collected_fen: int
    refunded_fen: int
    balance_fen: int
    by_method: dict[str, int]
    lines: list[TillLineOut]


def till_out(till: desk.Till) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(till.hospital.timezone)
    lines = [
        {
            "at": p.paid_at.astimezone(tz).isoformat() if p.paid_at else "",
            "kind": "payment",
            "method": p.method,
            "amount_fen": p.amount_fen,
            "number": p.out_trade_no,
            "registration_number": p.registration.registration_number if p.registration else None,
        }
        for p in till.payments
    ] + [
        {
            "at": r.finished_at.astimezone(tz).isoformat() if r.finished_at else "",
            "kind": "refund",
            "method": r.payment.method,
            "amount_fen": -r.amount_fen,
            "number": r.out_refund_no,
            "registration_number": None,
        }
        for r in till.refunds
    ]
    lines.sort(key=lambda line: str(line["at"]))
    return {
        "hospital_id": str(till.hospital.pk),
        "staff": till.staff,
        "day": till.day,
        "collected_fen": till.collected_fen,
        "refunded_fen": till.refunded_fen,
        "balance_fen": till.balance_fen,
        "by_method": till.by_method(),
        "lines": lines,
    }


@router.get("/till", **documented({200: TillOut}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, INVALID))
@staff_scoped(model=Hospital, lookup="query:hospital_id")
def till(request: HttpRequest, filters: Query[TillFilters]) -> dict:
    """The staff member's till of a day: every payment they took and refund they paid back at the
    window, with the sums by method (what the drawer and the card terminal should hold)."""
    user = _user(request)
    hospital = _hospital_for(user, filters.hospital_id, "payments.view_payment")
    staff = user.get_username()
    if filters.staff and filters.staff != staff:
        if not user.has_perm("payments.change_refund"):
            raise FORBIDDEN.error()
        staff = filters.staff
    day = filters.day or clock.local_today(hospital.timezone)
    return till_out(desk.till_of(hospital=hospital, staff=staff, day=day))


class PayOutOut(Schema):
    id: str
    out_refund_no: str
    status: str
    amount_fen: int
    method: str
    paid_out_by: str
    finished_at: dt.datetime | None
    registration_number: str | None


@router.post(
    "/refunds/{refund_id}/pay-out",
    **documented(
        {200: PayOutOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        payment_errors.REFUND_NOT_WINDOW,
        payment_errors.REFUND_PAID_OUT,
        summary="The window pays a window payment's refund back in cash from the staff member's till (a refund the "
        "patient started online waits for this); audited as `refund.paid_out`",
    ),
)
@staff_scoped(model=Refund, lookup="path:refund_id")
def refund_pay_out(request: HttpRequest, refund_id: str) -> dict:
    """Who takes money at the window pays it back there (as the console's action): the
    platform admin has no till."""
    user = _user(request)
    number = int(refund_id) if refund_id.isascii() and refund_id.isdigit() and len(refund_id) <= 18 else None
    refund = Refund.objects.select_related("payment").filter(pk=number).first() if number is not None else None
    if refund is None:
        raise NOT_FOUND.error()
    staff_row_access(user, hospital_id=refund.payment.hospital_id, permission=COLLECT)
    if staff_scope(user).is_platform:
        raise FORBIDDEN.error()
    refund = payments.refund_pay_out(refund=refund, actor=booking.Actor.staff(user))
    registration = refund.payment.registration
    return {
        "id": str(refund.pk),
        "out_refund_no": refund.out_refund_no,
        "status": refund.status,
        "amount_fen": refund.amount_fen,
        "method": refund.payment.method,
        "paid_out_by": refund.paid_out_by,
        "finished_at": refund.finished_at.astimezone(zoneinfo.ZoneInfo(refund.payment.hospital.timezone))
        if refund.finished_at
        else None,  # on the hospital's clock, as every time the API gives
        "registration_number": registration.registration_number if registration else None,
    }


# --- relief slots (救济) -------------------------------------------------------------------------------


class ReliefIn(Schema):
    """The clinic and the patient, found or added by real name and ID number, and why."""

    schedule_id: Id
    name: RealName
    id_number: IdNumber
    phone: Phone
    reason: str | None = Field(default=None, max_length=300, description="why this patient needs the extra slot")


class DecisionIn(Schema):
    note: str | None = Field(default=None, max_length=300)


class ReliefOut(Schema):
    id: str
    status: str
    schedule_id: str
    patient: dict
    reason: str
    requested_by: str
    decided_by: str
    registration_number: str | None


def relief_out(grant: ReliefGrant) -> dict[str, Any]:
    patient = grant.patient
    return {
        "id": str(grant.pk),
        "status": grant.status,
        "schedule_id": str(grant.schedule_id),
        "patient": {"id": str(patient.pk), "name": patient.name, "id_number_masked": patient.id_number_masked},
        "reason": grant.reason,
        "requested_by": grant.requested_by,
        "decided_by": grant.decided_by,
        "registration_number": grant.registration.registration_number if grant.registration else None,
    }


@router.post(
    "/relief",
    **documented(
        {201: ReliefOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        INVALID,
        booking_errors.REASON_REQUIRED,
        account_errors.ID_NUMBER_INVALID,
        account_errors.NAME_MISMATCH,
        summary="救济: ask for an extra slot of a clinic for a named patient in an urgent case, with the reason; "
        "booked when a hospital admin other than the asker approves it",
    ),
)
@staff_scoped(model=Schedule, lookup="body:schedule_id")
def relief_request(request: HttpRequest, body: ReliefIn) -> Status:
    user = _user(request)
    schedule = _row(Schedule, body.schedule_id, user, "booking.add_reliefgrant", "schedule_id")
    # One transaction: a request refused (no reason, a clinic over) adds no patient either.
    with transaction.atomic():
        patient = accounts.patient_find_or_create(
            name=body.name,
            id_number=body.id_number,
            phone=body.phone,
        )
        grant = booking.relief_request(
            schedule=schedule, patient=patient, reason=body.reason or "", actor=booking.Actor.staff(user)
        )
    return Status(201, relief_out(grant))


def _decide(request: HttpRequest, grant_id: str, body: DecisionIn | None, approve: bool) -> dict[str, Any]:
    user = _user(request)
    grant = _row(ReliefGrant, grant_id, user, "booking.change_reliefgrant")
    grant = booking.relief_decide(
        grant=grant, actor=booking.Actor.staff(user), approve=approve, note=(body.note if body else "") or ""
    )
    return relief_out(ReliefGrant.objects.select_related("patient", "registration").get(pk=grant.pk))


RELIEF_DECISION = (
    NOT_LOGGED_IN,
    FORBIDDEN,
    NOT_FOUND,
    booking_errors.RELIEF_OWN_REQUEST,
    booking_errors.RELIEF_DECIDED,
    booking_errors.ONE_PER_DEPARTMENT,
    booking_errors.BLACKLISTED,
)


@router.post(
    "/relief/{grant_id}/approve",
    **documented({200: ReliefOut}, *RELIEF_DECISION, summary="A hospital admin approves: the extra slot is booked"),
)
@staff_scoped(model=ReliefGrant, lookup="path:grant_id")
def relief_approve(request: HttpRequest, grant_id: str, body: DecisionIn) -> dict:
    return _decide(request, grant_id, body, approve=True)


@router.post(
    "/relief/{grant_id}/refuse",
    **documented({200: ReliefOut}, *RELIEF_DECISION, summary="A hospital admin refuses the request"),
)
@staff_scoped(model=ReliefGrant, lookup="path:grant_id")
def relief_refuse(request: HttpRequest, grant_id: str, body: DecisionIn) -> dict:
    return _decide(request, grant_id, body, approve=False)
