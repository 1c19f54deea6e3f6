"""The staff API's reads of orders and statistics, for hospitals that build their own screens:
the console's order list (found the same way: phone, registration number, name or full ID
number), one order with its timeline, the payments with what went back of each, and the
statistics page's numbers. A staff token reaches only its hospital's rows; another hospital's
answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from guahao.accounts.scope import staff_scope
from guahao.api.auth import staff_auth, staff_scoped
from guahao.api.problems import PRINTABLE, documented
from guahao.api.schemas import Day, Id, Integer, Page
from guahao.api.staff import _hospital_for, _int, _row, _user
from guahao.booking import selectors
from guahao.booking import stats as booking_stats
from guahao.booking.models import Registration
from guahao.catalog.models import Department, Hospital
from guahao.core import clock
from guahao.core.errors import DATE_RANGE, FORBIDDEN, INVALID, NOT_FOUND, NOT_LOGGED_IN, between, field_refused
from guahao.payments import stats as money_stats
from guahao.payments.models import Payment, RefundStatus
from guahao.payments.services import WINDOW

router = Router(tags=["staff: orders and statistics"], auth=staff_auth())
VIEW = "booking.view_registration"


class RegistrationFilters(Page):
    hospital_id: Id | None = Field(None, description="the staff member's hospital if left out")
    q: str | None = Field(
        None,
        max_length=100,
        pattern=PRINTABLE,
        description="a phone number (+86, spaces or dashes allowed), registration number, patient's name or full ID number",
    )
    status: Literal["booked", "checked_in", "visited", "cancelled", "refunding", "refunded", "no_show"] | None = None
    department_id: Id | None = None
    from_: Day | None = Field(None, alias="from", description="visit days from")
    to: Day | None = Field(None, description="visit days to (included)")


class RegistrationSearchIn(RegistrationFilters):
    """The filters in a JSON body, where a number is a number (``false`` is not 0)."""

    limit: Integer = Field(100, ge=1, le=500, description="1 to 500")
    offset: Integer = Field(0, ge=0, le=1_000_000)


class StaffRegistrationOut(Schema):
    id: str
    registration_number: str
    status: str
    late_cancel: bool
    hospital_id: str
    department_id: str
    department: str
    doctor_id: str | None
    doctor: str | None
    visit_date: dt.date
    starts_at: str = Field(description="the period's start, in the hospital's time zone")
    ends_at: str
    slot_number: int
    patient_name: str
    id_number_masked: str
    phone_masked: str
    fee_fen: int
    insurance: bool
    payment_method: str | None
    payment_status: str | None = Field(
        description="the payment's own: paid stays paid; what went back is in refund_status"
    )
    refund_status: str | None = Field(None, description="the payment's last refund: pending, succeeded or failed")
    refunded_fen: int = Field(0, description="what went back (refunds succeeded)")
    booked_at: str
    cancelled_at: str | None
    checked_in_at: str | None


class EventOut(Schema):
    at: str
    kind: str
    actor_type: str
    actor: str
    from_status: str
    to_status: str
    reason: str


class StaffRegistrationDetailOut(StaffRegistrationOut):
    timeline: list[EventOut]


def _local(at: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at is not None else None


def registration_out(r: Registration, payment: Payment | None) -> dict[str, Any]:
    tz = ZoneInfo(r.hospital.timezone)
    return {
        "id": str(r.pk),
        "registration_number": r.registration_number,
        "status": r.status,
        "late_cancel": r.late_cancel,
        "hospital_id": str(r.hospital_id),
        "department_id": str(r.department_id),
        "department": r.department.name,
        "doctor_id": str(r.doctor_id) if r.doctor_id else None,
        "doctor": r.doctor.name if r.doctor else None,
        "visit_date": r.visit_date,
        "starts_at": _local(r.period.starts_at, tz),
        "ends_at": _local(r.period.ends_at, tz),
        "slot_number": r.slot_number,
        "patient_name": r.patient.name,
        "id_number_masked": r.patient.id_number_masked,
        "phone_masked": r.patient.phone_masked,
        "fee_fen": r.fee_fen,
        "insurance": r.insurance,
        "payment_method": payment.method if payment else None,
        "payment_status": payment.status if payment else None,
        **_refunds_of(payment),
        "booked_at": _local(r.booked_at, tz),
        "cancelled_at": _local(r.cancelled_at, tz),
        "checked_in_at": _local(r.checked_in_at, tz),
    }


def _refunds_of(payment: Payment | None) -> dict[str, Any]:
    refunds = sorted(payment.refunds.all(), key=lambda r: r.pk) if payment is not None else []
    return {
        "refund_status": refunds[-1].status if refunds else None,
        "refunded_fen": sum(r.amount_fen for r in refunds if r.status == RefundStatus.SUCCEEDED),
    }


def _payments(ids: list[int]) -> dict[int, Payment]:
    found = Payment.objects.filter(registration_id__in=ids).prefetch_related("refunds")
    return {p.registration_id: p for p in found if p.registration_id}


@router.get(
    "/registrations",
    **documented({200: list[StaffRegistrationOut]}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, INVALID),
)
@staff_scoped(model=Registration, lookup="query:hospital_id", field="hospital_id")
def registrations_list(request: HttpRequest, filters: Query[RegistrationFilters]) -> list:
    """Registrations of the staff member's hospitals, newest booking first, narrowed by the
    filters; ``q`` finds them as the console's search does (an ID number by its keyed hash).
    Searching by a full ID number, use ``POST /staff/registrations/search``: an address is
    written down by every proxy on the way."""
    return _registrations(request, filters)


@router.post(
    "/registrations/search",
    **documented({200: list[StaffRegistrationOut]}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, INVALID),
)
@staff_scoped(model=Registration, lookup="body:hospital_id", field="hospital_id")
def registrations_search(request: HttpRequest, body: RegistrationSearchIn) -> list:
    """``GET /staff/registrations`` with the filters in the body (``{"q": …, "status": …,
    "from": …}``): an ID number searched for stays out of the address, and so out of the access
    logs of the proxies and load balancers in front. Changes nothing."""
    return _registrations(request, body)


def _days_in_order(first: dt.date | None, last: dt.date | None) -> None:
    if first and last and first > last:
        raise field_refused("from", _("must not be after to"), DATE_RANGE)


def _registrations(request: HttpRequest, filters: RegistrationFilters) -> list:
    user = _user(request)
    qs = staff_scope(user).narrow(Registration.objects.all(), "hospital")
    if filters.hospital_id not in (None, ""):
        qs = qs.filter(hospital=_row(Hospital, filters.hospital_id, user, VIEW, "hospital_id"))
    elif not user.has_perm(VIEW):
        raise FORBIDDEN.error()
    if not 1 <= filters.limit <= 500:
        raise field_refused("limit", between(1, 500))
    _days_in_order(filters.from_, filters.to)
    if filters.q:
        qs = selectors.registrations_find(qs, filters.q)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.department_id not in (None, ""):
        qs = qs.filter(
            department_id__in=booking_stats.department_and_below(_int(filters.department_id, "department_id") or 0)
        )
    if filters.from_:
        qs = qs.filter(visit_date__gte=filters.from_)
    if filters.to:
        qs = qs.filter(visit_date__lte=filters.to)
    rows = list(
        qs.select_related("hospital", "department", "doctor", "patient", "period").order_by("-booked_at", "-pk")[
            filters.offset : filters.offset + filters.limit
        ]
    )
    paid = _payments([r.pk for r in rows])
    return [registration_out(r, paid.get(r.pk)) for r in rows]


@router.get(
    "/registrations/{registration_id}",
    **documented({200: StaffRegistrationDetailOut}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND),
)
@staff_scoped(model=Registration, lookup="path:registration_id")
def registration_detail(request: HttpRequest, registration_id: str) -> dict:
    """One order with its timeline: every event of its hold and of itself, with who and when."""
    user = _user(request)
    registration = _row(Registration, registration_id, user, VIEW)
    tz = ZoneInfo(registration.hospital.timezone)
    out = registration_out(registration, Payment.objects.filter(registration=registration).first())
    out["timeline"] = [
        {
            "at": _local(e.at, tz),
            "kind": e.kind,
            "actor_type": e.actor_type,
            "actor": e.actor_id if e.actor_type == "staff" else "",
            "from_status": e.from_status,
            "to_status": e.to_status,
            "reason": str((e.data or {}).get("reason", "")),
        }
        for e in selectors.registration_events(registration)
    ]
    return out


PAYMENTS_VIEW = "payments.view_payment"


class PaymentFilters(Page):
    hospital_id: Id | None = Field(None, description="the staff member's hospital if left out")
    from_: Day | None = Field(None, alias="from", description="paid from this day (the hospital's day)")
    to: Day | None = Field(None, description="paid up to this day, included")
    status: Literal["created", "paid", "closed"] | None = None
    method: Literal["wechat", "alipay", "card", "cash"] | None = None


class StaffRefundOut(Schema):
    id: str = Field(description="for `POST /staff/refunds/{id}/pay-out`")
    out_refund_no: str
    status: str
    reason: str
    amount_fen: int
    failure: str
    created_at: str
    finished_at: str | None


class StaffPaymentOut(Schema):
    id: str
    out_trade_no: str
    transaction_id: str = Field(description="the provider's number, as on its statement")
    status: str
    method: str
    online: bool = Field(description="false: taken at the hospital's window, by `collected_by`")
    collected_by: str
    amount_fen: int
    registration_fee_fen: int
    consultation_fee_fen: int
    insurance: bool
    registration_number: str | None = Field(
        description="null: no registration (yet): a waitlist's prepayment, a hold's"
    )
    created_at: str
    paid_at: str | None = Field(description="in the hospital's time zone")
    failed_at: str | None = Field(description="the provider's last attempt declined (it may still be paid)")
    closed_at: str | None
    refunded_fen: int = Field(description="what went back, of refunds that succeeded")
    refunds: list[StaffRefundOut]


@router.get("/payments", **documented({200: list[StaffPaymentOut]}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, DATE_RANGE))
@staff_scoped(model=Payment, lookup="query:hospital_id", field="hospital_id")
def payments_list(request: HttpRequest, filters: Query[PaymentFilters]) -> list:
    """One hospital's payments, newest first; ``from``/``to`` are the days the money came, on
    the hospital's clock (the provider's statement's days). A paid payment stays paid: what went
    back is in ``refunds`` and ``refunded_fen``."""
    hospital = _hospital_for(_user(request), filters.hospital_id, PAYMENTS_VIEW)
    tz = ZoneInfo(hospital.timezone)
    _days_in_order(filters.from_, filters.to)
    qs = Payment.objects.filter(hospital=hospital)
    if filters.from_:
        qs = qs.filter(paid_at__gte=dt.datetime.combine(filters.from_, dt.time(), tz))
    if filters.to:
        qs = qs.filter(paid_at__lt=dt.datetime.combine(filters.to + dt.timedelta(days=1), dt.time(), tz))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.method:
        qs = qs.filter(method=filters.method)
    rows = qs.select_related("registration").prefetch_related("refunds").order_by("-created_at", "-pk")
    return [_payment_out(p, tz) for p in rows[filters.offset : filters.offset + filters.limit]]


def _payment_out(p: Payment, tz: ZoneInfo) -> dict[str, Any]:
    refunds = sorted(p.refunds.all(), key=lambda r: r.pk)
    return {
        "id": str(p.pk),
        "out_trade_no": p.out_trade_no,
        "transaction_id": p.transaction_id,
        "status": p.status,
        "method": p.method,
        "online": p.provider != WINDOW,
        "collected_by": p.collected_by,
        "amount_fen": p.amount_fen,
        "registration_fee_fen": p.registration_fee_fen,
        "consultation_fee_fen": p.consultation_fee_fen,
        "insurance": p.insurance,
        "registration_number": p.registration.registration_number if p.registration else None,
        "created_at": _local(p.created_at, tz),
        "paid_at": _local(p.paid_at, tz),
        "failed_at": _local(p.failed_at, tz),
        "closed_at": _local(p.closed_at, tz),
        "refunded_fen": sum(r.amount_fen for r in refunds if r.status == RefundStatus.SUCCEEDED),
        "refunds": [
            {
                "id": str(r.pk),
                "out_refund_no": r.out_refund_no,
                "status": r.status,
                "reason": r.reason,
                "amount_fen": r.amount_fen,
                "failure": r.failure,
                "created_at": _local(r.created_at, tz),
                "finished_at": _local(r.finished_at, tz),
            }
            for r in refunds
        ],
    }


class StatsFilters(Schema):
    hospital_id: Id | None = Field(None, description="the staff member's hospital if left out (all: platform admin)")
    department_id: Id | None = Field(None, description="that department and those below it")
    from_: Day | None = Field(
        None, alias="from", description="visit days from (default: 29 days before `to`; at most 366 days before it)"
    )
    to: Day | None = Field(None, description="visit days to, included (default: the hospital's today)")


class Counts(Schema):
    key: Any = Field(description="the day, department, doctor, ISO weekday (1 Monday) or age band")
    booked: int
    cancelled: int = Field(description="cancelled, refunding or refunded")
    no_show: int
    came: int = Field(description="checked in or visited")
    no_show_rate: float = Field(description="no-shows of the registrations not cancelled")
    cancel_rate: float


class NamedCounts(Counts):
    id: str | None


class StatsOut(Schema):
    hospital_id: str | None
    from_: dt.date = Field(alias="from")
    to: dt.date
    department_id: str | None
    totals: dict[str, Any]
    by_day: list[Counts]
    by_department: list[NamedCounts]
    by_doctor: list[NamedCounts]
    by_weekday: list[Counts]
    by_age: list[Counts]
    by_payment_method: list[dict[str, Any]] = Field(description="key: wechat, alipay, card, cash or none; paid_fen")
    by_channel: list[Counts] = Field(default_factory=list, description="key: app, wechat, window, phone, kiosk, sms…")
    by_pool: list[dict[str, Any]] = Field(
        default_factory=list,
        description="key: platform, phone (the phone desk's share) or onsite; capacity, taken, free",
    )
    fill_rate: dict[str, Any] = Field(description="capacity, taken, fill_rate and clinics (each the same)")
    sell_outs: list[dict[str, Any]] = Field(description="each sold-out clinic: released_at, sold_out_at, seconds")
    refunds: dict[str, Any] = Field(
        description="by_day, by_reason, total: count, refunded_fen, pending_fen, failed_fen"
    )


def _ids_as_text(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statistics' rows with their ids as the API writes ids (strings; none for a general
    clinic's doctor)."""
    return [row | {"id": None if row["id"] is None else str(row["id"])} for row in rows]


@router.get(
    "/stats",
    by_alias=True,
    **documented({200: StatsOut}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, DATE_RANGE),
)
@staff_scoped(model=Hospital, lookup="query:hospital_id")
def stats(request: HttpRequest, filters: Query[StatsFilters]) -> dict:
    """The console's statistics as numbers (counts of registrations by their visit day)."""
    user = _user(request)
    scope = staff_scope(user)
    hospital: Hospital | None = None
    if filters.hospital_id not in (None, "") or not scope.is_platform:
        hospital = _hospital_for(user, filters.hospital_id, VIEW)
    elif not user.has_perm(VIEW):
        raise FORBIDDEN.error()
    tz = hospital.timezone if hospital else settings.TIME_ZONE
    date_to = filters.to or clock.local_today(tz)
    date_from = filters.from_ or date_to - dt.timedelta(days=29)
    if date_from > date_to or (date_to - date_from).days > 366:
        raise field_refused(
            "from", _("must not be after to, and at most %(days)s days before it") % {"days": 366}, DATE_RANGE
        )
    department_id = None
    if filters.department_id not in (None, ""):
        department = Department.objects.filter(pk=_int(filters.department_id, "department_id") or 0).first()
        if department is None or not scope.allows(department.hospital_id):
            raise NOT_FOUND.error()
        if hospital is not None and department.hospital_id != hospital.pk:
            raise NOT_FOUND.error(field="department_id")  # not of this hospital
        department_id = department.pk
    f = booking_stats.StatsFilter(
        date_from=date_from,
        date_to=date_to,
        hospital_ids=frozenset({hospital.pk}) if hospital else scope.hospital_ids,
        department_id=department_id,
    )
    fill = booking_stats.fill_rates(f)
    return {
        "hospital_id": str(hospital.pk) if hospital else None,
        "from": date_from,
        "to": date_to,
        "department_id": str(department_id) if department_id else None,
        "totals": booking_stats.totals(f),
        "by_day": booking_stats.by_day(f),
        "by_department": _ids_as_text(booking_stats.by_department(f)),
        "by_doctor": _ids_as_text(booking_stats.by_doctor(f)),
        "by_weekday": booking_stats.by_weekday(f),
        "by_age": booking_stats.by_age(f),
        "by_payment_method": money_stats.by_payment_method(f),
        "by_channel": booking_stats.by_channel(f),
        "by_pool": booking_stats.by_pool(f),
        "fill_rate": fill | {"clinics": _ids_as_text(fill["clinics"])},
        "sell_outs": _ids_as_text(booking_stats.sell_outs(f)),
        "refunds": money_stats.refunds(f, tz),
    }
