"""The console's first page: the hospital's day so far, each figure linking to its list.

A figure is one entry of ``FIGURES``: a function of the staff member's view of the day that
answers a ``Figure`` (or None where it does not apply, e.g. a model they may not read). A
later figure (the waitlists, once they exist) is one more entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from guahao.accounts.scope import StaffScope, staff_scope
from guahao.booking import stats
from guahao.booking.models import BlacklistEntry, Hold, HoldStatus
from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.his import outbox
from guahao.his.models import HisCall
from guahao.payments.models import FailedRefund, ReconciliationDifference, Refund, RefundStatus, refunds_failed_standing
from guahao.scheduling.models import Schedule, ScheduleStatus, SlotState
from guahao.waitlist.models import EntryStatus, WaitlistEntry


@dataclass(frozen=True)
class Day:
    """What every figure is computed for: whose rows, which day (the hospital's), and when."""

    request: HttpRequest
    scope: StaffScope
    today: dt.date
    now: dt.datetime

    def narrow(self, qs: Any, path: str) -> Any:
        return self.scope.narrow(qs, path)

    def may(self, perm: str) -> bool:
        return bool(self.request.user.has_perm(perm))


@dataclass(frozen=True)
class Figure:
    key: str
    label: Any
    value: int
    url: str
    attention: bool = False  # shown to be acted on when not zero


def _list(name: str, **query: Any) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def _day_range(field: str, day: dt.date) -> dict[str, str]:
    return {f"{field}__gte": day.isoformat(), f"{field}__lt": (day + dt.timedelta(days=1)).isoformat()}


def _clinics(d: Day) -> Figure | None:
    if not d.may("scheduling.view_schedule"):
        return None
    n = d.narrow(Schedule.objects.filter(date=d.today, status=ScheduleStatus.OPEN), "hospital").count()
    return Figure("clinics", _("Clinics today"), n, _list("scheduling_schedule", **_day_range("date", d.today)))


def _registrations(d: Day) -> list[Figure]:
    if not d.may("booking.view_registration"):
        return []
    counts = stats.figures_of_day(hospital_ids=d.scope.hospital_ids, day=d.today)
    today = _day_range("visit_date", d.today)
    return [
        Figure("booked", _("Booked for today"), counts["booked"], _list("booking_registration", **today)),
        Figure(
            "checked_in",
            _("Checked in so far"),
            counts["checked_in"],
            _list("booking_registration", status__exact="checked_in", **today),
        ),
        Figure(
            "no_show",
            _("No-shows so far"),
            counts["no_show"],
            _list("booking_registration", status__exact="no_show", **today),
        ),
        Figure(
            "cancelled",
            _("Cancelled for today"),
            counts["cancelled"],
            _list("booking_registration", status__exact="cancelled", **today),
        ),
    ]


def _holds(d: Day) -> Figure | None:
    if not d.may("booking.view_hold"):
        return None
    n = d.narrow(Hold.objects.filter(status=HoldStatus.HELD, expires_at__gt=d.now), "hospital").count()
    return Figure("holds", _("Holds open"), n, _list("booking_hold", status__exact="held"))


def _refunds(d: Day) -> list[Figure]:
    if not d.may("payments.view_refund"):
        return []
    pending = d.narrow(Refund.objects.filter(status=RefundStatus.PENDING), "payment__hospital").count()
    failed = refunds_failed_standing(FailedRefund.objects.all())
    return [
        Figure(
            "refunds_pending", _("Refunds on their way"), pending, _list("payments_refund", status__exact="pending")
        ),
        Figure(
            "refunds_failed",
            _("Failed refunds to handle"),
            d.narrow(failed, "payment__hospital").count(),
            _list("payments_failedrefund"),
            attention=True,
        ),
    ]


def _his(d: Day) -> Figure | None:
    if not d.may("his.view_hiscall"):
        return None
    n = d.narrow(HisCall.objects.filter(outbox.failing()), "hospital").count()
    return Figure("his", _("HIS write-backs needing attention"), n, _list("his_hiscall", attention="yes"), True)


def _differences(d: Day) -> Figure | None:
    if not d.may("payments.view_reconciliationdifference"):
        return None
    since = d.today - dt.timedelta(days=7)
    n = d.narrow(ReconciliationDifference.objects.filter(run__day__gte=since), "hospital").count()
    url = _list("payments_reconciliationdifference", run__day__gte=since.isoformat())
    return Figure("differences", _("Reconciliation differences (7 days)"), n, url, True)


def _bars(d: Day) -> Figure | None:
    if not d.may("booking.view_blacklistentry"):
        return None
    n = d.narrow(BlacklistEntry.objects.filter(lifted_at__isnull=True, ends_at__gt=d.now), "hospital").count()
    return Figure("bars", _("Bars in force"), n, _list("booking_blacklistentry", active="yes"))


def _waitlists(d: Day) -> list[Figure]:
    if not d.may("waitlist.view_waitlistentry"):
        return []
    active = d.narrow(WaitlistEntry.objects.filter(schedule__ends_at__gt=d.now), "hospital")
    return [
        Figure(
            "waitlist_waiting",
            _("Patients on waitlists"),
            active.filter(status=EntryStatus.WAITING).count(),
            _list("waitlist_waitlistentry", status__exact="waiting"),
        ),
        Figure(
            "waitlist_offered",
            _("Waitlist offers to confirm"),
            active.filter(status=EntryStatus.OFFERED).count(),
            _list("waitlist_waitlistentry", status__exact="offered"),
        ),
    ]


FIGURES: list[Callable[[Day], Figure | list[Figure] | None]] = [
    _clinics,
    _registrations,
    _holds,
    _refunds,
    _his,
    _differences,
    _bars,
    _waitlists,
]


def _today(scope: StaffScope) -> dt.date:
    tz = settings.TIME_ZONE
    if scope.hospital_id is not None:
        tz = Hospital.objects.filter(pk=scope.hospital_id).values_list("timezone", flat=True).first() or tz
    return clock.local_today(tz)


def day_of(request: HttpRequest) -> Day:
    scope = staff_scope(request.user)
    return Day(request=request, scope=scope, today=_today(scope), now=clock.now())


def figures(d: Day) -> list[Figure]:
    out: list[Figure] = []
    for entry in FIGURES:
        made = entry(d)
        if isinstance(made, list):
            out += made
        elif made is not None:
            out.append(made)
    return out


def clinics_today(d: Day) -> list[dict[str, Any]]:
    """Today's clinics with their numbers taken and offered, in the order of the day."""
    if not d.may("scheduling.view_schedule"):
        return []
    qs = d.narrow(Schedule.objects.filter(date=d.today), "hospital").select_related("department", "doctor")
    qs = qs.annotate(
        _capacity=Count("slots", filter=~Q(slots__state=SlotState.WITHDRAWN)),
        _taken=Count("slots", filter=Q(slots__state__in=stats.TAKEN)),
    ).order_by("starts_at", "department__name", "pk")[:50]
    return [
        {
            "schedule": s,
            "url": reverse("admin:scheduling_schedule_change", args=[s.pk]),
            "taken": s._taken,  # type: ignore[attr-defined]
            "capacity": s._capacity,  # type: ignore[attr-defined]
        }
        for s in qs
    ]
