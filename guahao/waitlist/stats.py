"""How waitlists turn into registrations, for the console's statistics: per visit day of the
clinics waited for, how many joined, were booked, expired or were cancelled (one SQL aggregate,
by the same filter as the registrations' statistics)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from guahao.booking.stats import StatsFilter, department_and_below
from guahao.waitlist.models import EntryStatus, WaitlistEntry


def conversion(f: StatsFilter) -> dict[str, Any]:
    """Per day: ``joined``, ``booked``, ``expired``, ``cancelled``, ``waiting`` and the rate
    (booked / joined); and the totals."""
    qs = WaitlistEntry.objects.filter(schedule__date__range=(f.date_from, f.date_to), lottery=False)
    if f.hospital_ids is not None:
        qs = qs.filter(hospital_id__in=f.hospital_ids)
    if f.department_id is not None:
        qs = qs.filter(department_id__in=department_and_below(f.department_id))
    counts = {
        "joined": Count("pk"),
        "booked": Count("pk", filter=Q(status=EntryStatus.BOOKED)),
        "expired": Count("pk", filter=Q(status=EntryStatus.EXPIRED)),
        "cancelled": Count("pk", filter=Q(status=EntryStatus.CANCELLED)),
        "waiting": Count("pk", filter=Q(status__in=[EntryStatus.WAITING, EntryStatus.OFFERED])),
    }
    rows = {r["schedule__date"]: r for r in qs.values("schedule__date").annotate(**counts)}
    by_day = []
    for day in f.days():
        row = rows.get(day, {k: 0 for k in counts})
        by_day.append({"day": day.isoformat(), **{k: row[k] for k in counts}, "rate": _rate(row)})
    total = qs.aggregate(**counts)
    return {"by_day": by_day, "total": total | {"rate": _rate(total)}}


def _rate(row: dict[str, Any]) -> float:
    return round(row["booked"] / row["joined"], 4) if row["joined"] else 0.0
