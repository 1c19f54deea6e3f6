"""The kiosk (自助机) page: full screen on a hospital's self-service kiosk, large type and touch
targets, in Chinese or English. The device opens it with its own token (registered in the
console, kept in a cookie), never with a staff login. The patient at it reads their resident ID
card (a reader that types like a keyboard, or typed by hand), registers if new, books a clinic of
the onsite pool, pays by scanning a QR code, prints the slip, checks in and cancels — each step
through ``payments.kiosk`` under the patient's own rules.

The patient is forgotten when they press Finish, when the start screen shows, and after
``IDLE_SECONDS`` without a touch (the page goes back to the start by itself; the server also
refuses a patient left idle longer). ID numbers are shown masked and never kept: the new
patient's form carries the number it was read with, and nothing else remembers it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from guahao.accounts import consent, idcard, kiosks
from guahao.accounts.models import KioskDevice, Patient
from guahao.booking import services as booking
from guahao.booking.models import ACTIVE_REGISTRATION, Hold, HoldStatus, Registration, RegistrationStatus
from guahao.catalog.models import Department
from guahao.catalog.selectors import department_tree
from guahao.core import clock, ratelimit
from guahao.core.errors import RATE_LIMITED
from guahao.core.problems import Problem
from guahao.his import outbox as his_outbox
from guahao.payments import kiosk
from guahao.payments.models import Payment, PaymentStatus
from guahao.scheduling.models import Pool, Schedule, ScheduleStatus, SlotState

COOKIE = "guahao_kiosk"
COOKIE_AGE = 365 * 24 * 3600
PATIENT = "kiosk_patient"
SEEN = "kiosk_seen"
READ = "kiosk_read"  # the ID number read for a new patient's form: sealed, until they register or leave
IDLE_SECONDS = 90  # a patient who walked away is forgotten after this long without a touch
PAY_IDLE_SECONDS = 300  # while the QR code waits for the payment made on the patient's phone
DAYS_AHEAD = 7
# ID numbers one kiosk may look up a minute: a queue of patients reads a few; someone trying
# numbers to see others' bookings is stopped (a staff member can clear it by waiting a minute).
READS_PER_MINUTE = 12
FREE_ONSITE = Q(slots__pool=Pool.ONSITE, slots__state=SlotState.FREE)


# --- the device and the patient at it ---------------------------------------------------------------


def _device(request: HttpRequest) -> KioskDevice | None:
    return kiosks.kiosk_for_token(request.COOKIES.get(COOKIE, ""))


def _forget(request: HttpRequest) -> None:
    for key in (PATIENT, SEEN, READ):
        request.session.pop(key, None)


def _patient(request: HttpRequest, *, touch: bool = True, idle: int = IDLE_SECONDS) -> Patient | None:
    """The patient at the kiosk, unless they left it idle longer than ``idle`` seconds. A page the
    patient asked for counts as a touch; one that reloads by itself (``touch=False``: the QR
    code waiting for the payment) does not, and tells the page how long it has left."""
    pk, seen = request.session.get(PATIENT), request.session.get(SEEN)
    if pk is None or seen is None:
        return None
    now = clock.now()
    since = now - dt.datetime.fromisoformat(seen)
    if since > dt.timedelta(seconds=idle):
        _forget(request)
        return None
    if touch:
        request.session[SEEN] = now.isoformat()
    else:
        request._kiosk_idle_left = max(1, idle - int(since.total_seconds()))  # type: ignore[attr-defined]
    return Patient.objects.select_related("account").filter(pk=pk, removed_at__isnull=True).first()


def _start_with(request: HttpRequest, patient: Patient) -> None:
    request.session.cycle_key()  # a new session for each patient
    request.session[PATIENT] = patient.pk
    request.session[SEEN] = clock.now().isoformat()


def kiosk_page(
    *, patient: bool, touch: bool = True, idle: int = IDLE_SECONDS
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page of a registered kiosk (else its set-up page); ``patient``: one is at the kiosk
    (else back to the start screen); ``touch`` and ``idle``: see ``_patient``."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            device = _device(request)
            if device is None:
                return redirect("kiosk:setup")
            request.kiosk = device  # type: ignore[attr-defined]
            if not patient:
                return view(request, device, *args, **kwargs)
            someone = _patient(request, touch=touch, idle=idle)
            if someone is None:
                return redirect("kiosk:start")
            return view(request, device, someone, *args, **kwargs)

        return wrapper

    return wrap


def _render(request: HttpRequest, template: str, ctx: dict[str, Any], status: int = 200) -> HttpResponse:
    device: KioskDevice | None = getattr(request, "kiosk", None)
    ctx = {
        "device": device,
        "hospital": device.hospital if device else None,
        "idle_seconds": getattr(request, "_kiosk_idle_left", IDLE_SECONDS),
        "consent_text": consent.TEXT,
        "consent_version": consent.TEXT_VERSION,
        **ctx,
    }
    if request.method != "GET":  # a form's answer: the language switch goes back to a kiosk page
        ctx.setdefault("lang_next", _kiosk_page_posted_from(request))
    problem = ctx.get("problem")
    if problem is not None:
        detail = problem.as_dict().get("detail", "")
        ctx["problem_detail"] = detail if detail != str(problem.type.title) else ""  # not the heading twice
        ctx["problem_field"] = problem.extra.get("field", "")
    # The hospital's clock on its own kiosk's pages (times are stored in UTC).
    with timezone.override(ZoneInfo(device.hospital.timezone if device else settings.TIME_ZONE)):
        return render(request, template, ctx, status=status)


def _kiosk_page_posted_from(request: HttpRequest) -> str:
    """The kiosk page whose form was sent (its action answers no GET); the start screen if the
    page is not known or not the kiosk's: a kiosk never leads into the patients' own app."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        parts = urlsplit(referer)
        if parts.path.startswith(reverse("kiosk:start")):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("kiosk:start")


def _registrations(device: KioskDevice, patient: Patient) -> list[Registration]:
    """The person's registrations at this hospital that have not taken place (under whichever
    account booked them), soonest first."""
    today = clock.local_today(device.hospital.timezone)
    return list(
        Registration.objects.filter(
            hospital=device.hospital,
            person_hash=patient.id_number_hash,
            visit_date__gte=today,
            status__in=[RegistrationStatus.BOOKED, RegistrationStatus.CHECKED_IN],
        )
        .select_related("department", "doctor", "period", "schedule", "hospital", "patient")
        .order_by("visit_date", "period__starts_at")[:20]
    )


def _registration(device: KioskDevice, patient: Patient, registration_id: int) -> Registration:
    found = (
        Registration.objects.select_related(
            "department", "doctor", "period", "schedule__hospital", "hospital", "patient"
        )
        .filter(pk=registration_id, hospital=device.hospital, person_hash=patient.id_number_hash)
        .first()
    )
    if found is None:
        raise Http404
    return found


def _hold(device: KioskDevice, patient: Patient, hold_id: int) -> Hold:
    found = (
        Hold.objects.select_related("schedule__hospital", "schedule__doctor", "department", "period", "slot", "account")
        .filter(pk=hold_id, hospital=device.hospital, patient=patient)
        .first()
    )
    if found is None:
        raise Http404
    return found


def _local(at: dt.datetime, device: KioskDevice) -> dt.datetime:
    return at.astimezone(ZoneInfo(device.hospital.timezone))


# --- setting the kiosk up --------------------------------------------------------------------------


def setup(request: HttpRequest) -> HttpResponse:
    """Once, when the kiosk is installed: its token (from the console) typed in, or opened as
    ``/kiosk/setup?token=…``; kept in a cookie of this browser. A token that opens nothing is
    refused and nothing is kept."""
    token = (request.POST.get("token") or request.GET.get("token") or "").strip()
    if token:
        if kiosks.kiosk_for_token(token) is not None:
            response = redirect("kiosk:start")
            response.set_cookie(
                COOKIE,
                token,
                max_age=COOKIE_AGE,
                httponly=True,
                samesite="Strict",
                secure=settings.SESSION_COOKIE_SECURE,
            )
            return response
        return _render(request, "kiosk/setup.html", {"refused": True}, status=403)
    return _render(request, "kiosk/setup.html", {"refused": False})


# --- the start screen and the patient --------------------------------------------------------------


@kiosk_page(patient=False)
def start(request: HttpRequest, device: KioskDevice) -> HttpResponse:
    """Read the ID card (the reader types the number and Enter) or type it: the patient found
    goes on to their menu; a number nobody registered, to the new patient's form."""
    _forget(request)
    return _render(request, "kiosk/start.html", {})


@require_POST
@kiosk_page(patient=False)
def identify(request: HttpRequest, device: KioskDevice) -> HttpResponse:
    number = request.POST.get("id_number", "").strip().upper()
    try:
        if not ratelimit.allow(f"kiosk-reads:{device.pk}", limit=READS_PER_MINUTE, window_seconds=60, shared=True):
            raise RATE_LIMITED.error()
        patient = kiosks.kiosk_patient(number)
    except Problem as problem:
        return _render(request, "kiosk/start.html", {"problem": problem}, status=problem.status)
    if patient is None:
        request.session.cycle_key()
        request.session[READ] = idcard.encrypt(number)
        request.session[SEEN] = clock.now().isoformat()
        ctx = {"id_masked": idcard.mask(number), "form": {}, "lang_next": reverse("kiosk:register")}
        return _render(request, "kiosk/register.html", ctx)
    _start_with(request, patient)
    return redirect("kiosk:menu")


@require_http_methods(["GET", "POST"])
@kiosk_page(patient=False)
def register(request: HttpRequest, device: KioskDevice) -> HttpResponse:
    """The new patient's name and mobile, with the consent on the screen agreed to, for the ID
    number read on the start screen (kept sealed in the session, never in the page). Opened
    (GET), the form again, as after a switch of language."""
    read, seen = request.session.get(READ), request.session.get(SEEN)
    if not read or not seen or clock.now() - dt.datetime.fromisoformat(seen) > dt.timedelta(seconds=IDLE_SECONDS):
        _forget(request)
        return redirect("kiosk:start")
    number = idcard.decrypt(read)
    if request.method == "GET":
        return _render(request, "kiosk/register.html", {"id_masked": idcard.mask(number), "form": {}})
    form = {k: request.POST.get(k, "").strip() for k in ("name", "phone", "consent")}
    try:
        if form["consent"] != consent.TEXT_VERSION:
            from guahao.accounts import errors as account_errors

            raise account_errors.CONSENT_REQUIRED.error(field="consent")
        patient = kiosk.kiosk_patient_add(device=device, name=form["name"], id_number=number, phone=form["phone"])
    except Problem as problem:
        request.session[SEEN] = clock.now().isoformat()
        ctx = {"id_masked": idcard.mask(number), "form": form, "problem": problem}
        ctx["lang_next"] = reverse("kiosk:register")
        return _render(request, "kiosk/register.html", ctx, status=problem.status)
    _start_with(request, patient)
    return redirect("kiosk:menu")


@require_POST
def finish(request: HttpRequest) -> HttpResponse:
    """The patient is done (or walked away): forgotten, back to the start screen."""
    _forget(request)
    return redirect("kiosk:start")


@kiosk_page(patient=True)
def menu(request: HttpRequest, device: KioskDevice, patient: Patient) -> HttpResponse:
    today = clock.local_today(device.hospital.timezone)
    rows = [
        (r, r.visit_date == today and r.status == RegistrationStatus.BOOKED) for r in _registrations(device, patient)
    ]
    return _render(request, "kiosk/menu.html", {"patient": patient, "rows": rows, "today": today})


# --- booking ---------------------------------------------------------------------------------------


def _open_clinics(device: KioskDevice) -> Any:
    today = clock.local_today(device.hospital.timezone)
    return Schedule.objects.filter(
        hospital=device.hospital,
        status=ScheduleStatus.OPEN,
        date__gte=today,
        date__lt=today + dt.timedelta(days=DAYS_AHEAD),
        ends_at__gt=clock.now(),
    )


@kiosk_page(patient=True)
def departments(request: HttpRequest, device: KioskDevice, patient: Patient) -> HttpResponse:
    """The departments with a clinic in the coming week, under their parent departments, in the
    hospital's own order (as the app shows them), not by the character codes of their names."""
    ids = set(_open_clinics(device).values_list("department_id", flat=True))
    groups: list[tuple[Department | None, list[Department]]] = []

    def walk(nodes: list[dict], parent: Department | None) -> None:
        open_here = [n["department"] for n in nodes if n["department"].pk in ids]
        if open_here:
            groups.append((parent, open_here))
        for n in nodes:
            walk(n["children"], n["department"])

    walk(department_tree(hospital=device.hospital), None)
    return _render(request, "kiosk/departments.html", {"patient": patient, "groups": groups})


@kiosk_page(patient=True)
def clinics(request: HttpRequest, device: KioskDevice, patient: Patient, department_id: int) -> HttpResponse:
    """A department's clinics of the coming week with the places left for the window and kiosks."""
    department = Department.objects.filter(pk=department_id, hospital=device.hospital).first()
    if department is None:
        raise Http404
    rows = list(
        _open_clinics(device)
        .filter(department=department)
        .select_related("doctor")
        .annotate(free=Count("slots", filter=FREE_ONSITE))
        .order_by("starts_at", "pk")[:40]
    )
    shown = [(s, _local(s.starts_at, device), _local(s.ends_at, device)) for s in rows]
    return _render(request, "kiosk/clinics.html", {"patient": patient, "department": department, "clinics": shown})


@require_POST
@kiosk_page(patient=True)
def hold_create(request: HttpRequest, device: KioskDevice, patient: Patient, schedule_id: int) -> HttpResponse:
    schedule = _open_clinics(device).select_related("hospital", "department").filter(pk=schedule_id).first()
    if schedule is None:
        raise Http404
    try:
        hold = kiosk.kiosk_hold(device=device, patient=patient, schedule=schedule)
    except Problem as problem:
        ctx = {"patient": patient, "problem": problem, "department": schedule.department}
        return _render(request, "kiosk/refused.html", ctx, status=problem.status)
    return redirect("kiosk:hold", hold_id=hold.pk)


def _hold_context(device: KioskDevice, patient: Patient, hold: Hold) -> dict[str, Any]:
    left = max(0, int((hold.expires_at - clock.now()).total_seconds()))
    return {
        "patient": patient,
        "hold": hold,
        "starts": _local(hold.period.starts_at, device),
        "ends": _local(hold.period.ends_at, device),
        "left": left,
        "live": hold.status == HoldStatus.HELD and left > 0,
    }


@kiosk_page(patient=True)
def hold(request: HttpRequest, device: KioskDevice, patient: Patient, hold_id: int) -> HttpResponse:
    h = _hold(device, patient, hold_id)
    registration = Registration.objects.filter(hold=h).first()
    if registration is not None:
        return redirect("kiosk:registration", registration_id=registration.pk)
    return _render(request, "kiosk/hold.html", _hold_context(device, patient, h))


@require_POST
@kiosk_page(patient=True)
def hold_pay(request: HttpRequest, device: KioskDevice, patient: Patient, hold_id: int) -> HttpResponse:
    """Free: booked at once. Else the provider's order, shown as a QR code to scan."""
    h = _hold(device, patient, hold_id)
    try:
        if not h.payment_required or h.fee_fen == 0:
            registration = kiosk.kiosk_confirm(device=device, hold=h)
            return redirect("kiosk:registration", registration_id=registration.pk)
        kiosk.kiosk_pay(device=device, hold=h, method=request.POST.get("method", "wechat"))
    except Problem as problem:
        ctx = _hold_context(device, patient, h) | {"problem": problem}
        return _render(request, "kiosk/hold.html", ctx, status=problem.status)
    return redirect("kiosk:pay", hold_id=h.pk)


@kiosk_page(patient=True, touch=False, idle=PAY_IDLE_SECONDS)
def pay(request: HttpRequest, device: KioskDevice, patient: Patient, hold_id: int) -> HttpResponse:
    """The QR code of the cashier, asked about every few seconds (the page reloads itself) until
    the money is in: then the registration and its slip."""
    h = _hold(device, patient, hold_id)
    registration = kiosk.kiosk_payment_check(hold=h)
    if registration is not None:
        request.session[SEEN] = clock.now().isoformat()  # the payment came in: the patient is there
        return redirect("kiosk:registration", registration_id=registration.pk)
    h.refresh_from_db()
    payment = Payment.objects.filter(hold=h, status=PaymentStatus.CREATED).order_by("-pk").first()
    ctx = _hold_context(device, patient, h) | {"payment": payment}
    if payment is None or not ctx["live"]:
        return redirect("kiosk:hold", hold_id=h.pk)
    return _render(request, "kiosk/pay.html", ctx)


@require_POST
@kiosk_page(patient=True)
def hold_release(request: HttpRequest, device: KioskDevice, patient: Patient, hold_id: int) -> HttpResponse:
    h = _hold(device, patient, hold_id)
    try:
        kiosk.kiosk_release(device=device, hold=h)
    except Problem:
        pass  # ended already: nothing is held either way
    return redirect("kiosk:menu")


# --- a registration: slip, check-in, cancel ---------------------------------------------------------


def _registration_context(device: KioskDevice, patient: Patient, r: Registration) -> dict[str, Any]:
    today = clock.local_today(device.hospital.timezone)
    # Refused by the HIS (its number given out at the window): the window sorts it out, not the kiosk.
    refused = his_outbox.registration_refused(r)
    return {
        "patient": patient,
        "registration": r,
        "starts": _local(r.period.starts_at, device),
        "ends": _local(r.period.ends_at, device),
        "his_refused": refused,
        "may_check_in": r.status == RegistrationStatus.BOOKED and r.visit_date == today and not refused,
        "may_cancel": r.status == RegistrationStatus.BOOKED,
        "active": r.status in ACTIVE_REGISTRATION and not refused,
        "qr": booking.checkin_qr(r),
    }


@kiosk_page(patient=True)
def registration(request: HttpRequest, device: KioskDevice, patient: Patient, registration_id: int) -> HttpResponse:
    """The registration slip, to print (the kiosk's printer) or keep as the QR code on screen."""
    r = _registration(device, patient, registration_id)
    return _render(request, "kiosk/registration.html", _registration_context(device, patient, r))


@require_POST
@kiosk_page(patient=True)
def check_in(request: HttpRequest, device: KioskDevice, patient: Patient, registration_id: int) -> HttpResponse:
    r = _registration(device, patient, registration_id)
    try:
        his_outbox.check_in_refused(r)
        kiosk.kiosk_check_in(device=device, registration=r)
    except Problem as problem:
        ctx = _registration_context(device, patient, r) | {"problem": problem}
        return _render(request, "kiosk/registration.html", ctx, status=problem.status)
    return redirect("kiosk:registration", registration_id=r.pk)


@kiosk_page(patient=True)
def cancel(request: HttpRequest, device: KioskDevice, patient: Patient, registration_id: int) -> HttpResponse:
    """Asked once more before it is done; refused (with the rule) after the patient's cutoff."""
    r = _registration(device, patient, registration_id)
    ctx = _registration_context(device, patient, r)
    if request.method == "POST":
        try:
            kiosk.kiosk_cancel(device=device, registration=r)
        except Problem as problem:
            return _render(request, "kiosk/cancel.html", ctx | {"problem": problem}, status=problem.status)
        return redirect(reverse("kiosk:menu") + "?cancelled=" + r.registration_number)
    return _render(request, "kiosk/cancel.html", ctx)


app_name = "kiosk"

urlpatterns = [
    path("", start, name="start"),
    path("setup", setup, name="setup"),
    path("identify", identify, name="identify"),
    path("register", register, name="register"),
    path("finish", finish, name="finish"),
    path("menu", menu, name="menu"),
    path("book", departments, name="departments"),
    path("book/<int:department_id>", clinics, name="clinics"),
    path("book/clinic/<int:schedule_id>", hold_create, name="hold-create"),
    path("holds/<int:hold_id>", hold, name="hold"),
    path("holds/<int:hold_id>/pay", hold_pay, name="hold-pay"),
    path("holds/<int:hold_id>/qr", pay, name="pay"),
    path("holds/<int:hold_id>/release", hold_release, name="hold-release"),
    path("registrations/<int:registration_id>", registration, name="registration"),
    path("registrations/<int:registration_id>/check-in", check_in, name="check-in"),
    path("registrations/<int:registration_id>/cancel", cancel, name="cancel"),
]
