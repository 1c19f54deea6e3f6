"""The console's window desk (窗口挂号): book for a patient found or added by real name and ID
number, take the fee (cash or card) or send a payment link, print the slip; and the staff
member's till (收款) of a day. The work is ``payments.desk``'s; this module reads the form and
shows the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from guahao.accounts.scope import staff_scope
from guahao.booking import services as booking
from guahao.booking.models import Hold
from guahao.catalog.models import Department, Hospital
from guahao.console.labels import yuan
from guahao.core import clock
from guahao.core.problems import Problem
from guahao.payments import desk
from guahao.scheduling.models import Schedule, ScheduleStatus

BOOK = "booking.add_registration"


def _hospital(request: HttpRequest) -> Hospital:
    """The staff member's hospital (the platform admin names one: ``?hospital=``)."""
    scope = staff_scope(request.user)
    chosen = request.GET.get("hospital") or request.POST.get("hospital")
    if scope.is_platform and chosen and chosen.isdigit():
        found = Hospital.objects.filter(pk=int(chosen)).first()
    elif scope.hospital_ids:
        found = Hospital.objects.filter(pk__in=scope.hospital_ids).order_by("pk").first()
    else:
        found = None
    if found is None:
        raise Http404
    return found


CLINICS_SHOWN = 300  # in the form's list at once; a day or a department narrows it
DAYS = 14  # the clinics the desk books: of the coming two weeks


def _bookable(hospital: Hospital) -> QuerySet[Schedule]:
    """The clinics the desk books: open, of the coming 14 days, not over."""
    today = clock.local_today(hospital.timezone)
    return Schedule.objects.filter(
        hospital=hospital,
        status=ScheduleStatus.OPEN,
        date__gte=today,
        date__lt=today + dt.timedelta(days=DAYS),
        ends_at__gt=clock.now(),
    )


def _narrowing(request: HttpRequest, hospital: Hospital) -> dict[str, Any]:
    """The list's day and department as asked (``?day=`` ``&department=``), each of the choices
    offered; anything else is ignored (the whole list)."""
    today = clock.local_today(hospital.timezone)
    days = [today + dt.timedelta(days=n) for n in range(DAYS)]
    asked_day = request.GET.get("day", "")
    day = next((d for d in days if d.isoformat() == asked_day), None)
    departments = list(
        Department.objects.filter(pk__in=_bookable(hospital).values("department_id")).order_by("sort", "name")
    )
    asked = request.GET.get("department", "")
    department = next((d for d in departments if str(d.pk) == asked), None)
    return {"days": days, "day": day, "departments": departments, "department": department}


def _clinics(hospital: Hospital, narrowing: dict[str, Any]) -> tuple[list[Schedule], bool]:
    """The clinics listed (a day's, a department's, or all) and whether the list was cut short."""
    clinics = _bookable(hospital)
    if narrowing["day"] is not None:
        clinics = clinics.filter(date=narrowing["day"])
    if narrowing["department"] is not None:
        clinics = clinics.filter(department=narrowing["department"])
    found = list(
        clinics.select_related("department", "doctor").order_by("starts_at", "department__name")[: CLINICS_SHOWN + 1]
    )
    return found[:CLINICS_SHOWN], len(found) > CLINICS_SHOWN


def desk_view(request: HttpRequest, site: Any) -> HttpResponse:
    """The form, and the hold it made with what to do next (take the fee, send a link)."""
    if not request.user.has_perm(BOOK):
        raise PermissionDenied
    hospital = _hospital(request)
    actor = booking.Actor.staff(request.user)
    form = {k: request.POST.get(k, "").strip() for k in ("name", "id_number", "phone", "schedule_id", "channel")}
    problem: Problem | None = None
    hold: Hold | None = None
    if request.method == "POST" and request.POST.get("step") == "hold":
        chosen = form["schedule_id"]
        schedule = _bookable(hospital).filter(pk=int(chosen)).first() if chosen.isdigit() else None
        try:
            if schedule is None:
                from guahao.core.errors import NOT_FOUND

                raise NOT_FOUND.error(field="schedule_id")
            hold = desk.hold_for_desk(
                desk.desk_hold(
                    actor=actor,
                    name=form["name"],
                    id_number=form["id_number"],
                    phone=form["phone"],
                    schedule=schedule,
                    channel=form["channel"] or "window",
                )
            )
            form = {"channel": form["channel"]}  # the next patient's form starts empty
        except Problem as refused:
            problem = refused
    elif request.method == "POST" and request.POST.get("step") in ("cash", "card", "free", "link"):
        found = Hold.objects.filter(pk=request.POST.get("hold_id") or 0, hospital=hospital).first()
        if found is None:
            raise Http404
        hold = desk.hold_for_desk(found)
        step = request.POST["step"]
        try:
            if step == "link":
                desk.desk_send_link(hold=hold, actor=actor)
                messages.success(request, _("The payment link was sent to the patient by SMS."))
            else:
                if step in ("cash", "card") and not request.user.has_perm("payments.add_payment"):
                    raise PermissionDenied
                registration = desk.desk_collect(hold=hold, actor=actor, method=None if step == "free" else step)
                messages.success(
                    request, _("Booked: registration %(number)s.") % {"number": registration.registration_number}
                )
                return HttpResponseRedirect(reverse("admin:booking_registration_change", args=[registration.pk]))
        except Problem as refused:
            problem = refused
    narrowing = _narrowing(request, hospital)
    clinics, cut = _clinics(hospital, narrowing)
    context = {
        **site.each_context(request),
        "title": _("Book at the window"),
        "hospital": hospital,
        "clinics": [(s, yuan(s.fee_fen)) for s in clinics],
        "clinics_cut": cut,
        **narrowing,
        "form": form,
        "problem": problem,
        "problem_detail": problem.as_dict().get("detail") if problem else "",
        "problem_field": problem.extra.get("field", "") if problem else "",
        "hold": hold,
        "hold_fee": yuan(hold.fee_fen) if hold else "",
        "may_collect": request.user.has_perm("payments.add_payment"),
    }
    return TemplateResponse(request, "console/desk.html", context)


def till_view(request: HttpRequest, site: Any) -> HttpResponse:
    """The staff member's till of a day (another's for finance and hospital admins)."""
    if not request.user.has_perm("payments.view_payment"):
        raise PermissionDenied
    hospital = _hospital(request)
    who = request.user.get_username()
    asked = request.GET.get("staff", "").strip()
    if asked and asked != who:
        if not request.user.has_perm("payments.change_refund"):
            raise PermissionDenied
        who = asked
    try:
        day = dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = clock.local_today(hospital.timezone)
    till = desk.till_of(hospital=hospital, staff=who, day=day)
    lines = [
        (p.paid_at, _("Payment"), p.get_method_display(), yuan(p.amount_fen), p.out_trade_no) for p in till.payments
    ]
    lines += [
        (r.finished_at, _("Refund paid out"), r.payment.get_method_display(), yuan(-r.amount_fen), r.out_refund_no)
        for r in till.refunds
    ]
    lines.sort(key=lambda line: line[0] or clock.now())
    context = {
        **site.each_context(request),
        "title": _("Till of %(staff)s") % {"staff": who},
        "hospital": hospital,
        "day": day,
        "who": who,
        "lines": lines,
        "collected": yuan(till.collected_fen),
        "refunded": yuan(till.refunded_fen),
        "balance": yuan(till.balance_fen),
        "by_method": [(label, yuan(till.by_method().get(value, 0))) for value, label in _methods()],
    }
    return TemplateResponse(request, "console/till.html", context)


def _methods() -> list[tuple[str, Any]]:
    from guahao.payments.models import Method

    return [(Method.CASH.value, Method.CASH.label), (Method.CARD.value, Method.CARD.label)]
