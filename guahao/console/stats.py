"""The statistics page: registrations, cancellations and no-shows by day, department, doctor,
weekday, age band and payment method; fill rate per clinic; how fast each release sold out;
refund amounts. Filtered by visit days and department; each chart's numbers export as CSV or
Excel. Charts are Apache ECharts from our static files (``static/console/echarts``).

The numbers come from ``booking.stats`` and ``payments.stats`` (SQL aggregates); this module
only reads the filters, picks what to show and words it. A new chart is one more entry of
``charts``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from guahao.accounts.scope import StaffScope, staff_scope
from guahao.booking import stats
from guahao.catalog.models import Department, Hospital
from guahao.console.exports import table_response
from guahao.core import clock
from guahao.payments import stats as money_stats
from guahao.payments.models import Method, RefundReason
from guahao.scheduling.models import Pool, Session
from guahao.waitlist import stats as waitlist_stats

WEEKDAYS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
MAX_DAYS = 366
CHANNELS = {
    "app": _("Mobile app"),
    "wechat": _("WeChat"),
    "window": _("Window"),
    "phone": _("Phone"),
    "kiosk": _("Kiosk"),
    "sms": _("SMS"),
}


@dataclass
class Series:
    name: Any
    values: list[Any]
    kind: str = "bar"  # bar or line


@dataclass
class Chart:
    """One chart: its categories, its series, and the table its export writes."""

    key: str
    title: Any
    categories: list[str]
    series: list[Series]
    headers: list[Any]
    rows: list[list[Any]]
    note: Any = ""
    percent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def option_id(self) -> str:
        return f"option-{self.key}"

    def option(self) -> dict[str, Any]:
        """What the page's script hands to ECharts."""
        return {
            "categories": self.categories,
            "series": [{"name": str(s.name), "type": s.kind, "data": s.values} for s in self.series],
            "percent": self.percent,
        }


def _counts_chart(key: str, title: Any, rows: list[dict[str, Any]], label: Callable[[Any], str]) -> Chart:
    names = [label(r["key"]) for r in rows]
    booked, cancelled, no_show = _("Bookings"), _("Cancellations"), _("No-shows")
    return Chart(
        key=key,
        title=title,
        categories=names,
        series=[
            Series(booked, [r["booked"] for r in rows]),
            Series(cancelled, [r["cancelled"] for r in rows]),
            Series(no_show, [r["no_show"] for r in rows]),
        ],
        headers=[title, booked, cancelled, no_show, _("No-show rate")],
        rows=[
            [n, r["booked"], r["cancelled"], r["no_show"], r["no_show_rate"]] for n, r in zip(names, rows, strict=True)
        ],
    )


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def charts(f: stats.StatsFilter, tz: str) -> list[Chart]:
    general = gettext("General clinic")
    out = [
        _counts_chart("day", _("By visit day"), stats.by_day(f), str),
        _counts_chart("department", _("By department"), stats.by_department(f), str),
        _counts_chart("doctor", _("By doctor"), stats.by_doctor(f), lambda k: k or general),
        _counts_chart("weekday", _("By weekday"), stats.by_weekday(f), lambda k: str(WEEKDAYS[k - 1])),
        _counts_chart("age", _("By age at the visit"), stats.by_age(f), str),
        _counts_chart("channel", _("By booking channel"), stats.by_channel(f), lambda k: str(CHANNELS.get(k, k))),
    ]
    out[0].series = [Series(s.name, s.values, "line") for s in out[0].series]
    methods = money_stats.by_payment_method(f)
    method_names = {**dict(Method.choices), money_stats.NO_PAYMENT: _("No online payment")}
    names = [str(method_names.get(r["key"], r["key"])) for r in methods]
    out.append(
        Chart(
            key="payment_method",
            title=_("By payment method"),
            categories=names,
            series=[
                Series(_("Bookings"), [r["booked"] for r in methods]),
                Series(_("Cancellations"), [r["cancelled"] for r in methods]),
                Series(_("No-shows"), [r["no_show"] for r in methods]),
            ],
            headers=[_("Payment method"), _("Bookings"), _("Cancellations"), _("No-shows"), _("Paid (yuan)")],
            rows=[
                [n, r["booked"], r["cancelled"], r["no_show"], _yuan(r["paid_fen"])]
                for n, r in zip(names, methods, strict=True)
            ],
        )
    )
    pools = stats.by_pool(f)
    pool_names = [str(Pool(r["key"]).label) for r in pools]
    out.append(
        Chart(
            key="pool",
            title=_("Numbers by pool"),
            categories=pool_names,
            series=[
                Series(_("Numbers taken"), [r["taken"] for r in pools]),
                Series(_("Free"), [r["free"] for r in pools]),
            ],
            headers=[_("Pool"), _("Numbers offered"), _("Numbers taken"), _("Free")],
            rows=[[n, r["capacity"], r["taken"], r["free"]] for n, r in zip(pool_names, pools, strict=True)],
        )
    )
    fill = stats.fill_rates(f)
    sessions = dict(Session.choices)

    def clinic(r: dict[str, Any]) -> str:
        return f"{r['date']} {sessions.get(r['session'], r['session'])} {r['department']} {r['doctor'] or general}"

    out.append(
        Chart(
            key="fill_rate",
            title=_("Fill rate per clinic"),
            categories=[clinic(r) for r in fill["clinics"]],
            series=[Series(_("Fill rate"), [r["fill_rate"] for r in fill["clinics"]])],
            headers=[_("Clinic"), _("Numbers offered"), _("Numbers taken"), _("Fill rate")],
            rows=[[clinic(r), r["capacity"], r["taken"], r["fill_rate"]] for r in fill["clinics"]],
            percent=True,
            note=_("All clinics: %(taken)s of %(capacity)s numbers taken (%(rate)s).")
            % {"taken": fill["taken"], "capacity": fill["capacity"], "rate": f"{fill['fill_rate']:.1%}"},
            extra=fill,
        )
    )
    sold = stats.sell_outs(f)
    out.append(
        Chart(
            key="sell_out",
            title=_("How fast each release sold out (minutes)"),
            categories=[clinic(r) for r in sold],
            series=[Series(_("Minutes from release to the last number"), [round(r["seconds"] / 60, 1) for r in sold])],
            headers=[_("Clinic"), _("Released at"), _("Sold out at"), _("Minutes"), _("Online numbers")],
            rows=[
                [clinic(r), r["released_at"], r["sold_out_at"], round(r["seconds"] / 60, 1), r["online"]] for r in sold
            ],
            note=_("Clinics whose online numbers are all taken."),
        )
    )
    refunds = money_stats.refunds(f, tz)
    reasons = dict(RefundReason.choices)
    out.append(
        Chart(
            key="refunds",
            title=_("Refunds (yuan)"),
            categories=[r["key"] for r in refunds["by_day"]],
            series=[
                Series(_("Refunded"), [_yuan(r["refunded_fen"]) for r in refunds["by_day"]]),
                Series(_("On the way"), [_yuan(r["pending_fen"]) for r in refunds["by_day"]]),
                Series(_("Failed"), [_yuan(r["failed_fen"]) for r in refunds["by_day"]]),
            ],
            headers=[
                _("Day or reason"),
                _("Refunds"),
                _("Refunded (yuan)"),
                _("On the way (yuan)"),
                _("Failed (yuan)"),
            ],
            rows=[
                [r["key"], r["count"], _yuan(r["refunded_fen"]), _yuan(r["pending_fen"]), _yuan(r["failed_fen"])]
                for r in refunds["by_day"]
            ]
            + [
                [
                    str(reasons.get(r["key"], r["key"])),
                    r["count"],
                    _yuan(r["refunded_fen"]),
                    _yuan(r["pending_fen"]),
                    _yuan(r["failed_fen"]),
                ]
                for r in refunds["by_reason"]
            ],
            extra=refunds["total"],
            note=_("By the day each refund was asked for (the money's day), not the visit's."),
        )
    )
    waited = waitlist_stats.conversion(f)
    out.append(
        Chart(
            key="waitlist",
            title=_("Waitlist conversion"),
            categories=[r["day"] for r in waited["by_day"]],
            series=[
                Series(pgettext_lazy("waitlist entries", "Joined"), [r["joined"] for r in waited["by_day"]]),
                Series(_("Booked from the waitlist"), [r["booked"] for r in waited["by_day"]]),
                Series(_("Expired"), [r["expired"] for r in waited["by_day"]]),
            ],
            headers=[
                _("Day"),
                pgettext_lazy("waitlist entries", "Joined"),
                _("Booked from the waitlist"),
                _("Expired"),
                _("Cancelled"),
                _("Rate"),
            ],
            rows=[
                [r["day"], r["joined"], r["booked"], r["expired"], r["cancelled"], r["rate"]] for r in waited["by_day"]
            ],
            extra=waited["total"],
        )
    )
    return out


def _date(raw: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(raw or "")
    except ValueError:
        return default


def read_filter(request: HttpRequest, scope: StaffScope) -> tuple[stats.StatsFilter, str, list[Hospital]]:
    """The page's filters as asked, narrowed to the staff member's hospitals: a department or
    hospital of another hospital is not found."""
    hospitals = list(scope.narrow(Hospital.objects.order_by("name"), "pk"))
    hospital_ids = scope.hospital_ids
    tz = settings.TIME_ZONE
    chosen = request.GET.get("hospital", "")
    if chosen:
        hospital = next((h for h in hospitals if str(h.pk) == chosen), None)
        if hospital is None:
            raise Http404
        hospital_ids = frozenset({hospital.pk})
    if hospital_ids is not None and len(hospital_ids) == 1:
        tz = next((h.timezone for h in hospitals if h.pk in hospital_ids), tz)
    today = clock.local_today(tz)
    date_to = _date(request.GET.get("to"), today)
    date_from = _date(request.GET.get("from"), date_to - dt.timedelta(days=29))
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    date_from = max(date_from, date_to - dt.timedelta(days=MAX_DAYS - 1))
    department_id = None
    if request.GET.get("department"):
        department = scope.narrow(Department.objects.filter(pk=_int(request.GET["department"])), "hospital").first()
        if department is None:
            raise Http404
        department_id = department.pk
    return stats.StatsFilter(date_from, date_to, hospital_ids, department_id), tz, hospitals


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return -1


def stats_view(request: HttpRequest, site: Any) -> HttpResponse:
    if not request.user.has_perm("booking.view_registration"):
        raise PermissionDenied
    scope = staff_scope(request.user)
    f, tz, hospitals = read_filter(request, scope)
    shown = charts(f, tz)
    wanted = request.GET.get("export")
    if wanted:
        chart = next((c for c in shown if c.key == wanted), None)
        if chart is None:
            raise Http404
        return table_response(
            headers=chart.headers,
            rows=chart.rows,
            name=f"stats-{chart.key}-{f.date_from:%Y%m%d}-{f.date_to:%Y%m%d}",
            fmt=request.GET.get("format", "csv"),
        )
    departments = scope.narrow(Department.objects.order_by("hospital_id", "level", "name"), "hospital")
    if f.hospital_ids is not None:
        departments = departments.filter(hospital_id__in=f.hospital_ids)
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("format", None)
    context = {
        **site.each_context(request),
        "title": _("Statistics"),
        "filter": f,
        "totals": stats.totals(f),
        "charts": [(c, c.option()) for c in shown],
        "departments": departments,
        "hospitals": hospitals if scope.is_platform else [],
        "chosen_hospital": request.GET.get("hospital", ""),
        "chosen_department": str(f.department_id or ""),
        "query": query.urlencode(),
    }
    return TemplateResponse(request, "console/stats.html", context)
