"""Statistics of money for the console and the staff API: registrations by payment method and
refunds by day and reason, each one SQL aggregate over the range (see ``booking.stats``)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate

from guahao.booking.models import RegistrationStatus
from guahao.booking.stats import CANCELLED, StatsFilter, department_and_below, registrations_in
from guahao.payments.models import PaymentStatus, Refund, RefundStatus

NO_PAYMENT = "none"


def by_payment_method(f: StatsFilter) -> list[dict[str, Any]]:
    """Registrations of the range by how they were paid (``none``: a hospital that charges
    nothing online), with the amount paid: those with a payment (a registration has at most
    one) by its method, the rest ``none`` (no outer join of every registration)."""
    paid = (
        registrations_in(f)
        .filter(payment__isnull=False)
        .values("payment__method")
        .annotate(
            booked=Count("*"),
            cancelled=Count("status", filter=Q(status__in=CANCELLED)),
            no_show=Count("status", filter=Q(status=RegistrationStatus.NO_SHOW)),
            paid_fen=Sum("payment__amount_fen", filter=Q(payment__status=PaymentStatus.PAID)),
        )
        .order_by("payment__method")
    )
    keys = ("booked", "cancelled", "no_show", "paid_fen")
    rows = [{"key": r["payment__method"], **{k: r[k] or 0 for k in keys}} for r in paid]
    every = registrations_in(f).aggregate(
        booked=Count("*"),
        cancelled=Count("status", filter=Q(status__in=CANCELLED)),
        no_show=Count("status", filter=Q(status=RegistrationStatus.NO_SHOW)),
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
    # A failed attempt tried again is not a second refund, nor money still owed: only the last
    # attempt for a payment counts (``refunds_failed_standing``).
    retried = Refund.objects.filter(payment_id=OuterRef("payment_id"), pk__gt=OuterRef("pk"))
    qs = qs.annotate(retried=Exists(retried))
    sums = {
        "count": Count("id", filter=Q(retried=False)),
        "refunded_fen": Sum("amount_fen", filter=Q(status=RefundStatus.SUCCEEDED)),
        "pending_fen": Sum("amount_fen", filter=Q(status=RefundStatus.PENDING)),
        "failed_fen": Sum("amount_fen", filter=Q(status=RefundStatus.FAILED, retried=False)),
    }

    def shaped(r: dict[str, Any], key: str) -> dict[str, Any]:
        return {"key": key, **{k: r[k] or 0 for k in sums}}

    found = {r["day"]: r for r in qs.values("day").annotate(**sums).order_by("day")}
    empty = dict.fromkeys(sums, 0)
    days = [shaped(found.get(d, empty), d.isoformat()) for d in f.days()]
    reasons = [shaped(r, r["reason"]) for r in qs.values("reason").annotate(**sums).order_by("reason")]
    total = qs.aggregate(**sums)
    return {"by_day": days, "by_reason": reasons, "total": {k: total[k] or 0 for k in sums}}
