"""Statistics of money for the console and the staff API: registrations by payment method and
refunds by day and reason, each one SQL aggregate over the range (see ``booking.stats``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from guahao.booking.models import RegistrationStatus
from guahao.booking.stats import CANCELLED, StatsFilter, department_and_below, registrations_in
from guahao.payments.models import Payment, PaymentStatus, Refund, RefundStatus

NO_PAYMENT = "none"


def by_payment_method(f: StatsFilter) -> list[dict[str, Any]]:
    """Registrations of the range by how they were paid (``none``: a hospital that charges
    nothing online), with the amount paid. Read from the payments' side (a registration has at
    most one), the rest are ``none``: no outer join of every registration."""
    paid = (
        Payment.objects.filter(registration__in=registrations_in(f))
        .values("method")
        .annotate(
            booked=Count("id"),
            cancelled=Count("id", filter=Q(registration__status__in=CANCELLED)),
            no_show=Count("id", filter=Q(registration__status=RegistrationStatus.NO_SHOW)),
            paid_fen=Sum("amount_fen", filter=Q(status=PaymentStatus.PAID)),
        )
        .order_by("method")
    )
    if f.hospital_ids is not None:
        paid = paid.filter(hospital_id__in=f.hospital_ids)
    rows = [
        {"key": r["method"], **{k: r[k] or 0 for k in ("booked", "cancelled", "no_show", "paid_fen")}} for r in paid
    ]
    every = registrations_in(f).aggregate(
        booked=Count("id"),
        cancelled=Count("id", filter=Q(status__in=CANCELLED)),
        no_show=Count("id", filter=Q(status=RegistrationStatus.NO_SHOW)),
    )
    none = {k: every[k] - sum(r[k] for r in rows) for k in ("booked", "cancelled", "no_show")}
    if none["booked"]:
        rows.append({"key": NO_PAYMENT, **none, "paid_fen": 0})
    return sorted(rows, key=lambda r: r["key"])  # the same order on every database


def refunds(f: StatsFilter, tz: str) -> dict[str, Any]:
    """Refunds made in the range (by the day they were asked for, in the hospital's time zone):
    per day and per reason, the amount refunded and the amount still on its way or failed."""
    qs = Refund.objects.all()
    if f.hospital_ids is not None:
        qs = qs.filter(payment__hospital_id__in=f.hospital_ids)
    if f.department_id is not None:
        qs = qs.filter(payment__hold__department_id__in=department_and_below(f.department_id))
    qs = qs.annotate(day=TruncDate("created_at", tzinfo=ZoneInfo(tz))).filter(day__gte=f.date_from, day__lte=f.date_to)
    sums = {
        "count": Count("id"),
        "refunded_fen": Sum("amount_fen", filter=Q(status=RefundStatus.SUCCEEDED)),
        "pending_fen": Sum("amount_fen", filter=Q(status=RefundStatus.PENDING)),
        "failed_fen": Sum("amount_fen", filter=Q(status=RefundStatus.FAILED)),
    }

    def shaped(r: dict[str, Any], key: str) -> dict[str, Any]:
        return {"key": key, **{k: r[k] or 0 for k in sums}}

    found = {r["day"]: r for r in qs.values("day").annotate(**sums).order_by("day")}
    empty = dict.fromkeys(sums, 0)
    days = [shaped(found.get(d, empty), d.isoformat()) for d in f.days()]
    reasons = [shaped(r, r["reason"]) for r in qs.values("reason").annotate(**sums).order_by("reason")]
    total = qs.aggregate(**sums)
    return {"by_day": days, "by_reason": reasons, "total": {k: total[k] or 0 for k in sums}}
