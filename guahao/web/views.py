"""The patient web app: server-rendered pages over the same services and selectors as the API.

Views are thin: they read the form, call one service, and render. A refusal is the service's
``Problem`` (the API's problem+json), shown on the page in the reader's language with its
alternatives. Reading pages work without JavaScript; htmx only makes them quicker.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from guahao.accounts import consent, idcard
from guahao.accounts import errors as account_errors
from guahao.accounts import services as accounts
from guahao.accounts.models import Account, Gender, GuardianRelation, IdType, Relation
from guahao.api.auth import client_ip
from guahao.booking import selectors as booking_selectors
from guahao.booking import services as booking
from guahao.booking.models import HoldStatus, Registration, RegistrationStatus
from guahao.catalog import restrictions
from guahao.catalog import selectors as catalog
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.core import clock, idempotency
from guahao.core.errors import INVALID, NOT_FOUND
from guahao.core.problems import Problem
from guahao.his import outbox as his_outbox
from guahao.his import realtime as his_realtime
from guahao.notifications import services as notifications
from guahao.notifications.models import Language
from guahao.payments import services as payments
from guahao.payments.models import Method, Payment, PaymentStatus, Refund, refunds_failed_standing
from guahao.scheduling import selectors as scheduling
from guahao.scheduling.facts import schedule_facts
from guahao.scheduling.models import CancelPolicy, Schedule, ScheduleStatus
from guahao.scheduling.rules import Rules, cancel_deadline, rules_for, rules_for_schedule, waitlist_deadline
from guahao.waitlist import errors as waitlist_errors
from guahao.waitlist import services as waitlist
from guahao.web import errors
from guahao.web.templatetags.web import loc

SESSION_TOKEN = "guahao_patient_token"  # noqa: S105 - the session key it is kept under
DAYS_CHOICES = (7, 14)

STATUS_LABELS = {
    "available": _("Available"),
    "full": _("Full"),
    "not_released": _("Not yet released"),
    "suspended": _("Suspended"),
    "none": _("No clinic"),
}


# --- who is logged in ----------------------------------------------------------------------------


def current_account(request: HttpRequest) -> Account | None:
    """The patient logged in on this browser, if the login has not ended."""
    if not hasattr(request, "_patient_account"):
        key = request.session.get(SESSION_TOKEN)
        request._patient_account = accounts.account_for_token(key) if key else None  # type: ignore[attr-defined]
    return request._patient_account  # type: ignore[attr-defined]


def patient_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the logged-in patient: others are sent to log in and come back."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = current_account(request)
        if account is None:
            return redirect(f"{reverse('web:login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, account, *args, **kwargs)
        except Problem as problem:
            if problem.status == 404:
                raise Http404 from problem
            raise

    return wrapper


def context(request: HttpRequest) -> dict[str, Any]:
    """What every page's header shows (a template context processor)."""
    if not request.resolver_match or request.resolver_match.namespace != "web":
        return {}
    account = current_account(request)
    return {
        "patient_account": account,
        "patient_phone": account.phone_masked if account else "",
        "unread_messages": notifications.messages_unread(account) if account else 0,
    }


def _page(request: HttpRequest, template: str, ctx: dict[str, Any], status: int = 200) -> HttpResponse:
    """``render``, with the page's times in its hospital's time zone (``ctx["hospital"]``). A
    page of several hospitals' visits shows each in its own (``{% timezone %}`` in its rows)."""
    hospital = ctx.get("hospital")
    zone = hospital.timezone if isinstance(hospital, Hospital) else settings.TIME_ZONE
    if request.method != "GET":  # a form's answer: the language switch goes back to the form's page
        ctx.setdefault("lang_next", _page_posted_from(request))
    with timezone.override(ZoneInfo(zone)):
        return render(request, template, ctx, status=status)


def _page_posted_from(request: HttpRequest) -> str:
    """The page whose form was sent (a POST-only address answers no GET), if it is one of ours."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("web:home")


def _refused(request: HttpRequest, template: str, ctx: dict[str, Any], problem: Problem) -> HttpResponse:
    """The page again, with the refusal as the API words it (title, detail, field, alternatives)."""
    ctx["problem"] = problem
    ctx["problem_field"] = problem.extra.get("field", "")
    ctx["alternatives"] = _alternatives(problem.extra.get("alternatives") or [])
    return _page(request, template, ctx, status=problem.status)


def _alternatives(offered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [int(a["schedule_id"]) for a in offered]
    schedules = {s.pk: s for s in Schedule.objects.filter(pk__in=ids).select_related("doctor", "department")}
    return [
        a | {"schedule": schedules[int(a["schedule_id"])], "at": dt.datetime.fromisoformat(a["starts_at"])}
        for a in offered
        if int(a["schedule_id"]) in schedules
    ]


def _get(qs, pk):  # type: ignore[no-untyped-def]
    found = qs.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# --- hospitals and departments --------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    hospitals = Hospital.objects.filter(is_active=True).prefetch_related("campuses")
    return _page(request, "web/home.html", {"hospitals": hospitals})


def hospital(request: HttpRequest, hospital_id: int) -> HttpResponse:
    h = _get(Hospital.objects.filter(is_active=True), hospital_id)
    q = request.GET.get("q", "").strip()[:50]
    departments, doctors = catalog.search(q=q, hospital=h) if q else ([], [])
    ctx = {"q": q, "hospital": h} | _found(h, departments, doctors)
    if request.headers.get("HX-Request") and request.GET.get("part") == "search":
        return _page(request, "web/_search_results.html", ctx)
    account = current_account(request)
    ctx |= {
        "rules": rules_for(hospital=h),
        "tree": catalog.department_tree(hospital=h),
        "seen_doctors": booking_selectors.doctors_seen(account=account, hospital=h) if account else [],
    }
    return _page(request, "web/hospital.html", ctx)


def _found(h: Hospital, departments: list[Department], doctors: list[Doctor]) -> dict[str, Any]:
    """Search results with what each has in the next days (有号 on which day, 约满, …); a doctor
    found in two departments (or by name and by specialty) is one result naming both."""
    if not departments and not doctors:
        return {"found_departments": [], "found_doctors": []}
    today = clock.local_today(h.timezone)
    days = DAYS_CHOICES[-1]
    his_realtime.availability_refresh(hospital_id=h.pk, start=today, end=today + dt.timedelta(days=days - 1))
    strips: dict[int, list] = {}

    def strip(dep: Department) -> list:
        if dep.pk not in strips:
            strips[dep.pk] = scheduling.department_availability(department=dep, start=today, days=days)
        return strips[dep.pk]

    found_doctors = []
    for rows in catalog.doctors_grouped(doctors):
        places = [{"doctor": d, "next": scheduling.next_slots(strip(d.department), doctor_id=d.pk)} for d in rows]
        found_doctors.append({"doctor": rows[0], "places": places})
    return {
        "found_departments": [{"department": d, "next": scheduling.next_slots(strip(d))} for d in departments],
        "found_doctors": found_doctors,
        "today": today,
    }


def department(request: HttpRequest, department_id: int) -> HttpResponse:
    dep = _get(Department.objects.select_related("hospital"), department_id)
    if not catalog.is_leaf(dep):
        return redirect("web:hospital", hospital_id=dep.hospital_id)
    days = int(request.GET["days"]) if request.GET.get("days") in ("7", "14") else DAYS_CHOICES[0]
    today = clock.local_today(dep.hospital.timezone)
    his_realtime.availability_refresh(hospital_id=dep.hospital_id, start=today, end=today + dt.timedelta(days=days - 1))
    by_day = scheduling.department_availability(department=dep, start=today, days=days)
    doctors = {v.schedule.doctor_id: v.schedule.doctor for _, views in by_day for v in views if v.schedule.doctor}
    doctor_id = _int(request.GET.get("doctor"))
    if doctor_id not in doctors:
        doctor_id = None
    strip = []
    for day, views in by_day:
        shown = [v for v in views if doctor_id is None or v.schedule.doctor_id == doctor_id]
        total, status = scheduling.day_status(shown) if shown else (0, "none")
        strip.append(
            {"date": day, "available": total, "status": status, "label": STATUS_LABELS[status], "views": shown}
        )
    chosen = _date(request.GET.get("day"))
    picked = next((d for d in strip if d["date"] == chosen), None) or next(
        (d for d in strip if d["status"] == "available"), strip[0]
    )
    ctx = {
        "department": dep,
        "hospital": dep.hospital,
        "strip": strip,
        "picked": picked,
        "days": days,
        "doctors": sorted(doctors.values(), key=lambda d: d.name),
        "doctor_id": doctor_id,
        "status_labels": STATUS_LABELS,
        "restriction": restrictions.sentence(dep),
    }
    return _page(request, "web/department.html", ctx)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def doctor(request: HttpRequest, doctor_id: int) -> HttpResponse:
    """A doctor's page: title, department, specialties, introduction, and their clinics of the
    next 14 days with what is left (each links to its clinic to book)."""
    d = _get(Doctor.objects.select_related("hospital", "department").filter(is_active=True), doctor_id)
    today = clock.local_today(d.hospital.timezone)
    days = DAYS_CHOICES[-1]
    his_realtime.availability_refresh(hospital_id=d.hospital_id, start=today, end=today + dt.timedelta(days=days - 1))
    by_day = scheduling.department_availability(department=d.department, start=today, days=days)
    clinics = [
        (day, v, STATUS_LABELS[v.status]) for day, views in by_day for v in views if v.schedule.doctor_id == d.pk
    ]
    specialties = [p.strip() for p in re.split(r"[、，,；;]", loc(d, "specialty") or "")]
    ctx = {
        "doctor": d,
        "hospital": d.hospital,
        "department": d.department,
        "clinics": clinics,
        "specialties": [p for p in specialties if p],
        "restriction": restrictions.sentence(d.department),
        "ratings": booking_selectors.doctor_ratings(doctor_id=d.pk),
    }
    return _page(request, "web/doctor.html", ctx)


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


# --- a schedule, its booking notice and the hold --------------------------------------------------


def _schedule_context(request: HttpRequest, schedule: Schedule) -> dict[str, Any]:
    his_realtime.availability_refresh(hospital_id=schedule.hospital_id, start=schedule.date, end=schedule.date)
    view, periods = scheduling.schedule_detail(schedule)
    account = current_account(request)
    rules = rules_for_schedule(schedule)
    patients = list(accounts.patients_of(account)) if account else []
    ctx: dict[str, Any] = {
        "schedule": schedule,
        "hospital": schedule.hospital,
        "view": view,
        "status_label": STATUS_LABELS[view.status],
        "periods": periods,
        "first_open": next((p.pk for p, left in periods if left), None),  # ticked unless one was chosen
        "now": clock.now(),
        "rules": rules,
        "deadline": cancel_deadline(schedule, rules),
        "cancel_closed": clock.now() >= cancel_deadline(schedule, rules),
        "patients": patients,
        "once": secrets.token_urlsafe(16),
        "form": request.POST,
        "restriction": restrictions.sentence(schedule.department),
    }
    # Whom the department sees, said before a slot is picked: a patient it would refuse cannot
    # be chosen (with the reason beside the name); if none can, the page says so at the top.
    refused: dict[int, Problem] = {}
    if ctx["restriction"]:
        for p in patients:
            refusal = booking.patient_refusal(patient=p, schedule=schedule)
            if refusal is not None:
                refused[p.pk] = refusal
    ctx["refused_patients"] = refused
    ctx["first_fitting"] = next((p.pk for p in patients if p.pk not in refused), None)
    ctx["nobody_fits"] = bool(patients) and ctx["first_fitting"] is None
    if view.status == "full":
        ctx |= _clinic_waitlist(schedule, rules, account)
        # The waitlist's form: a patient already waiting for the clinic cannot be chosen again
        # (joining would be refused), and the first who can is ticked.
        for entry in ctx["waitlist_mine"]:
            refused.setdefault(entry.patient_id, waitlist_errors.WAITLIST_ALREADY.error())
        ctx["first_fitting"] = next((p.pk for p in patients if p.pk not in refused), None)
    return ctx


def _clinic_waitlist(schedule: Schedule, rules: Rules, account: Account | None) -> dict[str, Any]:
    """A full clinic: its waitlist (候补) open to join, or why not, and the account's entries."""
    # Its count of patients waiting as the database has it now (a cached copy may be older).
    fresh = Schedule.objects.select_related("hospital", "department__parent__parent", "doctor").get(pk=schedule.pk)
    refusal = waitlist.join_refusal(fresh, rules)
    return {
        "waitlist_refusal": refusal,
        "waitlist_alternatives": _alternatives(refusal.extra.get("alternatives") or []) if refusal else [],
        "waitlist_mode": waitlist.mode_for(fresh, rules),
        "waitlist_closes": waitlist_deadline(fresh, rules),
        "waitlist_mine": waitlist.entries_of(account, schedule=schedule, active=True) if account else [],
        "methods": Method.online(),
    }


def schedule(request: HttpRequest, schedule_id: int) -> HttpResponse:
    s = _get(Schedule.objects.select_related("hospital", "department", "doctor", "campus"), schedule_id)
    return _page(request, "web/schedule.html", _schedule_context(request, s))


@require_POST
@patient_page
def hold_create(request: HttpRequest, account: Account, schedule_id: int) -> HttpResponse:
    known = schedule_facts(schedule_id)
    if known is None:
        raise Http404
    s = known.schedule
    patient = None
    try:
        if request.POST.get("notice") != "read":
            raise errors.NOTICE_NOT_READ.error(field="notice")
        period = None
        if request.POST.get("period_id"):
            period = known.periods.get(_int(request.POST["period_id"]) or 0)
            if period is None:
                raise NOT_FOUND.error(field="period_id")
        # What is refused for everyone is answered from the caches, before the patient is read.
        booking.hold_refuse_early(schedule=s, period=period, rules=known.rules)
        patient = booking_selectors.access_patient(account=account, patient_id=request.POST.get("patient_id", ""))

        def run() -> tuple[int, object]:
            hold = booking.hold_create(account=account, patient=patient, schedule=s, period=period, rules=known.rules)
            return 201, {"hold_id": hold.pk}

        # The form's one-time key: pressing the button twice holds one slot, not two.
        _, body = idempotency.replay_or_run(
            owner=f"account:{account.pk}",
            key=f"web-hold-{request.POST.get('once') or secrets.token_urlsafe(16)}",
            print_=idempotency.fingerprint(method="POST", path=request.path, body=f"{patient.pk}:{period}".encode()),
            run=run,
            atomic=False,
        )
    except Problem as problem:  # the page again, as it is after the refusal
        ctx = _schedule_context(request, s)
        if patient is not None:  # refused by a limit: the account's own hold in the way, to go on with
            ctx["standing_hold"] = booking_selectors.hold_in_the_way(
                account=account, patient_id=patient.pk, schedule=s, refused=problem.code
            )
        return _refused(request, "web/schedule.html", ctx, problem)
    assert isinstance(body, dict)
    return redirect("web:hold", hold_id=body["hold_id"])


def _hold_context(request: HttpRequest, account: Account, hold_id: int) -> dict[str, Any]:
    hold = booking_selectors.access_hold(account=account, hold_id=hold_id)
    if hold.status == HoldStatus.HELD and hold.expires_at <= clock.now():
        booking.holds_expire(account=account)
        hold.refresh_from_db()
    payment = Payment.objects.filter(hold=hold).order_by("-pk").first()
    open_ = payment is not None and payment.status == PaymentStatus.CREATED and hold.status == HoldStatus.HELD
    # The patient's choices stay as they made them: after a failed payment the page offers the
    # same method again (or another) and keeps the insurance choice.
    chosen = {"method": payment.method, "insurance": "1" if payment.insurance else ""} if payment else {}
    rules = rules_for_schedule(hold.schedule)
    deadline = cancel_deadline(hold.schedule, rules)
    return {
        "cashier_url": _cashier_url(request, payment) if payment else "",
        "hold": hold,
        "schedule": hold.schedule,
        "hospital": hold.schedule.hospital,
        "payment": payment,
        "paying": open_ and payment is not None and payment.failed_at is None,
        "failed": open_ and payment is not None and payment.failed_at is not None,
        "refund": payment.refunds.order_by("-pk").first() if payment else None,
        "seconds_left": max(0, int((hold.expires_at - clock.now()).total_seconds())),
        "methods": Method.online(),
        "form": request.POST or chosen,
        "rules": rules,
        "deadline": deadline,
        "cancel_closed": clock.now() >= deadline,
    }


def _cashier_url(request: HttpRequest, payment: Payment) -> str:
    """The provider's cashier, told to send the patient back to the hold afterwards."""
    back = request.build_absolute_uri(reverse("web:hold", kwargs={"hold_id": payment.hold_id})) + "?back=1"
    return f"{payment.pay_url}?{urlencode({'return': back})}"


@patient_page
def hold(request: HttpRequest, account: Account, hold_id: int) -> HttpResponse:
    ctx = _hold_context(request, account, hold_id)
    h, payment = ctx["hold"], ctx["payment"]
    if (ctx["paying"] or ctx["failed"]) and request.GET.get("back"):
        # Back from the cashier: ask the provider now rather than wait for its notification.
        payments.payment_refresh(payment=payment)
        ctx = _hold_context(request, account, hold_id)
    registration = Registration.objects.filter(hold=h).first()
    if registration is not None:
        to = reverse("web:registration", kwargs={"registration_id": registration.pk})
        if request.headers.get("HX-Request"):  # the waiting page's poll: the whole page moves on
            return HttpResponse(status=204, headers={"HX-Redirect": to})
        return redirect(to)
    if h.status in (HoldStatus.EXPIRED, HoldStatus.RELEASED):
        ctx["alternatives"] = _alternatives(booking_selectors.alternatives(schedule=h.schedule, period=None))
    template = "web/_hold_status.html" if request.headers.get("HX-Request") else "web/hold.html"
    return _page(request, template, ctx)


@require_POST
@patient_page
def hold_confirm(request: HttpRequest, account: Account, hold_id: int) -> HttpResponse:
    ctx = _hold_context(request, account, hold_id)
    h = ctx["hold"]
    method = request.POST.get("method") or None
    try:
        if h.payment_required and method not in dict(Method.online()):
            raise INVALID.error(detail=_("Choose how to pay."), field="method")
        outcome = payments.hold_confirm(hold=h, method=method, insurance=request.POST.get("insurance") == "1")
    except Problem as problem:
        if registration := Registration.objects.filter(hold=h).first():  # paid meanwhile: booked
            return redirect("web:registration", registration_id=registration.pk)
        return _refused(request, "web/hold.html", ctx, problem)
    if isinstance(outcome, Payment):
        return HttpResponseRedirect(_cashier_url(request, outcome))
    return redirect("web:registration", registration_id=outcome.pk)


@require_POST
@patient_page
def hold_release(request: HttpRequest, account: Account, hold_id: int) -> HttpResponse:
    ctx = _hold_context(request, account, hold_id)
    try:
        booking.hold_release(hold=ctx["hold"], actor=booking.Actor.patient(account))
    except Problem as problem:
        return _refused(request, "web/hold.html", ctx, problem)
    # The hold's page says it was given back (and what goes back, if anything was paid).
    return redirect("web:hold", hold_id=ctx["hold"].pk)


# --- registrations ------------------------------------------------------------------------------


@patient_page
def registrations(request: HttpRequest, account: Account) -> HttpResponse:
    mine = list(booking_selectors.registrations_of(account).order_by("-visit_date", "-booked_at")[:100])
    refunding = [r.pk for r in mine if r.status == RegistrationStatus.REFUNDING]
    refunds = Refund.objects.filter(payment__registration_id__in=refunding)
    failed = set(refunds_failed_standing(refunds).values_list("payment__registration_id", flat=True))
    now = clock.now()
    # Upcoming first, the soonest at the top; then the past and the cancelled, the latest first.
    upcoming = sorted(
        (r for r in mine if r.status in ("booked", "checked_in") and r.period.ends_at > now),
        key=lambda r: r.period.starts_at,
    )
    past = [r for r in mine if r not in upcoming]
    waiting = waitlist.entries_active_counts(account)
    held = list(booking_selectors.live_holds_of(account))  # left before they were confirmed or paid
    ctx = {"registrations": mine, "upcoming": upcoming, "past": past, "waiting": waiting, "held": held}
    ctx["refund_failed"] = failed  # the list words a failed refund as its page does
    ctx["his_refused"] = his_outbox.refused_among(upcoming)
    return _page(request, "web/registrations.html", ctx)


def _registration_context(account: Account, registration_id: int) -> dict[str, Any]:
    r = booking_selectors.access_registration(account=account, registration_id=registration_id)
    rules = rules_for_schedule(r.schedule)
    deadline, cancellable = booking_selectors.patient_cancel_window(r)
    payment = getattr(r, "payment", None)
    return {
        "registration": r,
        "hospital": r.hospital,
        "deadline": deadline,
        "day_before": rules.cancel_policy == CancelPolicy.DAY_BEFORE,
        "rules": rules,
        "cancellable": cancellable,
        "movable": booking.reschedule_online_here(r.schedule),
        "his_refused": his_outbox.registration_refused(r),
        "payment": payment,
        "refund": payment.refunds.order_by("-pk").first() if payment else None,
        "qr": booking.checkin_qr(r),
        "rating": booking_selectors.rating_of(r),
        "rateable": booking_selectors.registration_rateable(r),
        "scores": SCORES,
    }


@patient_page
def registration(request: HttpRequest, account: Account, registration_id: int) -> HttpResponse:
    return _page(request, "web/registration.html", _registration_context(account, registration_id))


@patient_page
def registration_cancel(request: HttpRequest, account: Account, registration_id: int) -> HttpResponse:
    ctx = _registration_context(account, registration_id)
    if request.method != "POST":
        return _page(request, "web/cancel.html", ctx)
    try:
        payments.registration_cancel(registration=ctx["registration"], actor=booking.Actor.patient(account))
    except Problem as problem:
        return _refused(request, "web/cancel.html", ctx, problem)
    return redirect(reverse("web:registration", kwargs={"registration_id": registration_id}) + "?cancelled=1")


SCORES = [
    (5, _("Very satisfied")),
    (4, _("Satisfied")),
    (3, _("Neutral")),
    (2, _("Dissatisfied")),
    (1, _("Very dissatisfied")),
]


@patient_page
@require_POST
def registration_rate(request: HttpRequest, account: Account, registration_id: int) -> HttpResponse:
    """The patient rates the doctor after the visit; shown on the doctor's page once published."""
    ctx = _registration_context(account, registration_id)
    ctx["form"] = request.POST
    score = _int(request.POST.get("score"))
    try:
        if score is None:
            raise INVALID.error(detail=str(_("Choose a score from 1 to 5.")), field="score")
        booking.rating_create(
            registration=ctx["registration"], score=score, comment=request.POST.get("comment", "")[:500]
        )
    except Problem as problem:
        return _refused(request, "web/registration.html", ctx, problem)
    return redirect(reverse("web:registration", kwargs={"registration_id": registration_id}) + "#my-rating")


def _move_choices(r: Registration) -> list[dict[str, Any]]:
    """The department's clinics of the coming 14 days with free online slots that the move would
    take (booking.registration_reschedule's rules): not the one booked, none where the HIS books
    in real time, and a paid registration only to a clinic of the same fees."""
    if not booking.reschedule_online_here(r.schedule):
        return []
    paid = payments.registration_paid(r)

    def takes(s: Schedule) -> bool:
        allowed = booking.reschedule_fee_allowed(registration=r, schedule=s, same_fee_only=paid)
        return allowed and booking.reschedule_online_here(s)

    today = clock.local_today(r.hospital.timezone)
    by_day = scheduling.department_availability(department=r.department, start=today, days=14)
    return [
        {"date": day, "views": shown}
        for day, views in by_day
        if (shown := [v for v in views if v.available > 0 and v.schedule.pk != r.schedule_id and takes(v.schedule)])
    ]


def _move_periods(r: Registration) -> list[tuple[Any, int]]:
    """The other half-hours (periods) of the same clinic with free online slots: a move to
    another time of the day, the same doctor and fee."""
    if r.status != RegistrationStatus.BOOKED or not booking.reschedule_online_here(r.schedule):
        return []
    _view, periods = scheduling.schedule_detail(r.schedule)
    return [(p, left) for p, left in periods if left > 0 and p.pk != r.period_id]


@patient_page
def registration_reschedule(request: HttpRequest, account: Account, registration_id: int) -> HttpResponse:
    """改约: the department's other clinics, and the move to the one chosen."""
    ctx = _registration_context(account, registration_id)
    r = ctx["registration"]
    if r.status != RegistrationStatus.BOOKED and r.schedule.status == ScheduleStatus.SUSPENDED:
        # 停诊 cancelled it (and refunded it): the department's other clinics are booked anew
        return redirect("web:department", department_id=r.department_id)
    ctx["choices"] = _move_choices(r)
    ctx["same_clinic"] = _move_periods(r)
    ctx["paid"] = payments.registration_paid(r)
    if request.method != "POST":
        return _page(request, "web/reschedule.html", ctx)
    schedule = Schedule.objects.filter(pk=_int(request.POST.get("schedule_id")) or 0).first()
    try:
        if schedule is None:
            raise NOT_FOUND.error(field="schedule_id")
        period = None
        if request.POST.get("period_id"):
            period = schedule.periods.filter(pk=_int(request.POST["period_id"]) or 0).first()
            if period is None:
                raise NOT_FOUND.error(field="period_id")
        moved = payments.registration_reschedule(
            registration=r, schedule=schedule, period=period, actor=booking.Actor.patient(account), channel="app"
        )
    except Problem as problem:
        return _refused(request, "web/reschedule.html", ctx, problem)
    return redirect(reverse("web:registration", kwargs={"registration_id": moved.pk}) + "?moved=1")


# --- the waitlist (候补) ---------------------------------------------------------------------------


@require_POST
@patient_page
def waitlist_join(request: HttpRequest, account: Account, schedule_id: int) -> HttpResponse:
    s = _get(Schedule.objects.select_related("hospital", "department__parent__parent", "doctor", "campus"), schedule_id)
    method = request.POST.get("payment_method") or None
    try:
        if request.POST.get("notice") != "read":
            raise errors.NOTICE_NOT_READ.error(field="notice")
        if method is not None and method not in dict(Method.online()):
            raise INVALID.error(detail=_("Choose how to pay."), field="payment_method")
        patient = booking_selectors.access_patient(account=account, patient_id=request.POST.get("patient_id", ""))

        def run() -> tuple[int, object]:
            entry = waitlist.entry_join(
                account=account,
                patient=patient,
                schedule=s,
                insurance=request.POST.get("insurance") == "1",
                payment_method=method,
            )
            return 201, {"entry_id": entry.pk}

        # The form's one-time key: pressing the button twice joins once (and shows that entry).
        _status, body = idempotency.replay_or_run(
            owner=f"account:{account.pk}",
            key=f"web-waitlist-{request.POST.get('once') or secrets.token_urlsafe(16)}",
            print_=idempotency.fingerprint(method="POST", path=request.path, body=f"{patient.pk}:{method}".encode()),
            run=run,
            atomic=False,
        )
    except Problem as problem:  # the page again, as it is after the refusal
        return _refused(request, "web/schedule.html", _schedule_context(request, s), problem)
    assert isinstance(body, dict)
    entry = waitlist.access_entry(account=account, entry_id=body["entry_id"])
    payment = waitlist.payment_of(entry)
    if payment is not None and payment.status == PaymentStatus.CREATED and payment.pay_url:
        return HttpResponseRedirect(_waitlist_cashier_url(request, payment, entry.pk))  # prepay: to the cashier
    return redirect(reverse("web:waitlist") + f"?joined={entry.pk}#entry-{entry.pk}")


def _waitlist_cashier_url(request: HttpRequest, payment: Payment, entry_id: int) -> str:
    """The provider's cashier for a prepayment, told to send the patient back to the waitlist."""
    back = request.build_absolute_uri(reverse("web:waitlist")) + f"?back={entry_id}#entry-{entry_id}"
    return f"{payment.pay_url}?{urlencode({'return': back})}"


def _waitlist_context(request: HttpRequest, account: Account) -> dict[str, Any]:
    shown = waitlist.entries_shown(account)
    # What is still going on first (an offer with its countdown above all), then what ended.
    shown.sort(key=lambda e: {"offered": 0, "waiting": 1}.get(e.entry.status, 2))
    return {
        "entries": shown,
        "cashier_urls": {
            e.entry.pk: _waitlist_cashier_url(request, e.payment, e.entry.pk)
            for e in shown
            if e.payment is not None and e.payment.status == PaymentStatus.CREATED and e.awaiting_prepayment
        },
        "joined": _int(request.GET.get("joined")),
        "left": _int(request.GET.get("left")),
    }


@patient_page
def waitlist_entries(request: HttpRequest, account: Account) -> HttpResponse:
    back = _int(request.GET.get("back"))
    if back:
        # Back from the cashier: ask the provider now rather than wait for its notification.
        payment = waitlist.payment_of(waitlist.access_entry(account=account, entry_id=back))
        if payment is not None:
            payments.payment_refresh(payment=payment)
    return _page(request, "web/waitlist.html", _waitlist_context(request, account))


@require_POST
@patient_page
def waitlist_leave(request: HttpRequest, account: Account, entry_id: int) -> HttpResponse:
    entry = waitlist.access_entry(account=account, entry_id=entry_id)
    try:
        waitlist.entry_leave(entry=entry, actor="patient")
    except Problem as problem:
        return _refused(request, "web/waitlist.html", _waitlist_context(request, account), problem)
    return redirect(reverse("web:waitlist") + f"?left={entry_id}#entry-{entry_id}")


# --- the account: patients, messages, login -------------------------------------------------------


PATIENT_FIELDS = ("name", "id_type", "id_number", "gender", "birth_date", "phone", "relation")


def _patient_context(request: HttpRequest, account: Account, form: Any) -> dict[str, Any]:
    return {
        "relations": Relation.choices,
        "id_types": [(value, label, idcard.hint(value)) for value, label in IdType.choices],
        "id_hint": idcard.hint(form.get("id_type") or IdType.RESIDENT),
        "genders": Gender.choices,
        "today": clock.local_today(settings.TIME_ZONE),
        "form": form,
        "next": _next(request, ""),
        "patients": accounts.patients_of(account).prefetch_related("consents"),
        "guardian_relations": GuardianRelation.choices,
        "consent_text": consent.TEXT,
        "consent_version": consent.TEXT_VERSION,
    }


def _web_consent(ticked: str) -> str:
    """The version the ticked box sends; a page of ours never gives the API clients' terms."""
    return "" if ticked == consent.API_TERMS else ticked


@patient_page
def patients(request: HttpRequest, account: Account) -> HttpResponse:
    ctx = _patient_context(request, account, request.POST or {"id_type": IdType.RESIDENT, "relation": ""})
    if request.method == "POST":
        try:
            accounts.patient_create(
                account=account,
                name=request.POST.get("name", ""),
                id_type=request.POST.get("id_type", IdType.RESIDENT),
                id_number=request.POST.get("id_number", ""),
                gender=request.POST.get("gender") or None,
                birth_date=request.POST.get("birth_date") or None,
                phone=request.POST.get("phone", ""),
                relation=request.POST.get("relation", ""),
                # The box, ticked, sends the version of the text shown beside it.
                consent_version=_web_consent(request.POST.get("consent_version", "")),
                channel="web",
                guardian_name=request.POST.get("guardian_name", ""),
                guardian_relation=request.POST.get("guardian_relation", ""),
            )
        except Problem as problem:
            return _refused(request, "web/patients.html", ctx, problem)
        return redirect(_next(request, reverse("web:patients")))
    ctx["removed"] = request.GET.get("removed") == "1"
    ctx["saved"] = request.GET.get("saved") == "1"
    return _page(request, "web/patients.html", ctx)


@patient_page
def patient(request: HttpRequest, account: Account, patient_id: int) -> HttpResponse:
    """Edit a patient: the form shows what is stored (the ID number only masked); the fields
    sent are those changed, an empty ID number keeps the stored one."""
    p = accounts.access_own_patient(account=account, patient_id=patient_id)
    carried = len(p.id_number_masked) == 18  # the resident card and the 2023 residence card show them
    stored = {
        "name": p.name,
        "id_type": p.id_type,
        "id_number": "",
        "gender": "" if carried else p.gender,
        "birth_date": "" if carried else p.birth_date.isoformat(),
        "phone": p.phone,
        "relation": p.relation,
    }
    ctx = _patient_context(request, account, request.POST or stored) | {"patient": p}
    ctx["identity_locked"] = accounts.patient_identity_locked(p)  # shown as it is, not offered for editing
    if request.method == "POST":
        changes = {k: request.POST[k] for k in PATIENT_FIELDS if k in request.POST and request.POST[k] != stored[k]}
        try:
            accounts.patient_update(patient=p, changes=changes)
        except Problem as problem:
            return _refused(request, "web/patient.html", ctx, problem)
        return redirect(reverse("web:patients") + f"?saved=1#patient-{p.pk}")
    return _page(request, "web/patient.html", ctx)


@patient_page
def patient_remove(request: HttpRequest, account: Account, patient_id: int) -> HttpResponse:
    p = accounts.access_own_patient(account=account, patient_id=patient_id)
    ctx: dict[str, Any] = {"patient": p}
    if request.method == "POST":
        try:
            accounts.patient_remove(patient=p)
        except Problem as problem:
            return _refused(request, "web/patient_remove.html", ctx, problem)
        return redirect(reverse("web:patients") + "?removed=1")
    return _page(request, "web/patient_remove.html", ctx)


@patient_page
def messages(request: HttpRequest, account: Account) -> HttpResponse:
    ctx: dict[str, Any] = {"languages": Language.choices}
    if request.method == "POST":  # the channels the patient wants, and their messages' language
        try:
            notifications.preferences_set(
                account=account,
                sms=request.POST.get("sms") == "on",
                wechat=request.POST.get("wechat") == "on",
                email=request.POST.get("email") == "on",
                email_address=request.POST.get("email_address", ""),
                language=request.POST.get("language") or None,
            )
        except Problem as problem:  # the page again, the list as it was and the choices as typed
            typed = {name: request.POST.get(name) == "on" for name in ("sms", "wechat", "email")}
            ctx["prefs"] = typed | {k: request.POST.get(k, "") for k in ("email_address", "language")}
            ctx["messages"] = _messages_shown(account)
            return _refused(request, "web/messages.html", ctx, problem)
        return redirect(reverse("web:messages") + "?saved=1#channels")
    mine = _messages_shown(account)
    notifications.messages_mark_read(account)  # the tab's count goes; the list still marks what was new
    ctx |= {"messages": mine, "prefs": notifications.preferences_of(account), "saved": "saved" in request.GET}
    return _page(request, "web/messages.html", ctx)


def _messages_shown(account: Account) -> list[tuple[Any, ...]]:
    return [
        (m, *notifications.message_text(m), notifications.message_link(m)) for m in notifications.messages_of(account)
    ]


def set_language(request: HttpRequest) -> HttpResponse:
    """The language switch (Django's), and a signed-in patient's messages follow it while they
    have chosen no language for them (``notifications.language_seen``)."""
    from django.views.i18n import set_language as switch

    response = switch(request)
    account = current_account(request) if request.method == "POST" else None
    if account is not None:
        notifications.language_seen(account=account, language=request.POST.get("language", ""))
    return response


DEV_CODE = "guahao_demo_code"  # the session's copy of the code the demo showed (never with a real SMS)


def login(request: HttpRequest) -> HttpResponse:
    ctx: dict[str, Any] = {"next": _next(request, ""), "phone": request.POST.get("phone", ""), "step": "phone"}
    if request.method != "POST":
        return _page(request, "web/login.html", ctx)
    try:
        if request.POST.get("step") == "code":
            ctx["step"] = "code"
            account, token = accounts.account_login(
                phone=ctx["phone"], code=request.POST.get("code", ""), client_ip=client_ip(request)
            )
            request.session.cycle_key()  # a new session id at login: an old one cannot be reused
            request.session.pop(DEV_CODE, None)
            request.session.pop(DEV_CODE + "_phone", None)
            request.session[SESSION_TOKEN] = token
            notifications.language_seen(account=account, language=translation.get_language() or "")
            return redirect(ctx["next"] or reverse("web:home"))
        _, code = accounts.sms_code_send(phone=ctx["phone"], client_ip=client_ip(request))
        ctx["step"] = "code"
        if settings.SMS_BACKEND == "console":  # the demo: no text message goes out, the page shows it
            ctx["dev_code"] = request.session[DEV_CODE] = code
            request.session[DEV_CODE + "_phone"] = ctx["phone"]
    except Problem as problem:
        if problem.code == account_errors.SMS_TOO_SOON.code:
            ctx["step"] = "code"  # the code sent a moment ago still holds: the box to type it in
            if settings.SMS_BACKEND == "console" and request.session.get(DEV_CODE + "_phone") == ctx["phone"]:
                ctx["dev_code"] = request.session.get(DEV_CODE, "")  # only its hash is kept: shown once more
        return _refused(request, "web/login.html", ctx, problem)
    return _page(request, "web/login.html", ctx)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    key = request.session.pop(SESSION_TOKEN, None)
    if key:
        accounts.account_logout(key)
    return redirect("web:home")
