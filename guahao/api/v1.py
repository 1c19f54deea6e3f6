"""API v1 (API.md): thin endpoints that parse, call one service or selector, and shape the answer."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Header, Query, Router, Status
from ninja.responses import NinjaJSONEncoder

from guahao.accounts import consent
from guahao.accounts import errors as account_errors
from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.api import problems, schemas
from guahao.api.auth import AccountBearer, StaffBearer, client_ip, staff_row_access, staff_scoped
from guahao.api.problems import documented
from guahao.api.staff import router as staff_router
from guahao.api.staff_booking import router as staff_booking_router
from guahao.api.staff_reads import router as staff_reads_router
from guahao.booking import errors as booking_errors
from guahao.booking import risk
from guahao.booking import selectors as booking_selectors
from guahao.booking import services as booking
from guahao.booking.models import HoldStatus, Registration
from guahao.catalog import errors as catalog_errors
from guahao.catalog import selectors as catalog
from guahao.catalog.models import Department, Doctor, Hospital
from guahao.core import clock, idempotency
from guahao.core.errors import (
    DATE_RANGE,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    NOT_LOGGED_IN,
    RATE_LIMITED,
    REQUIRED,
    field_refused,
)
from guahao.core.problems import Problem
from guahao.his import errors as his_errors
from guahao.his import outbox as his_outbox
from guahao.his import realtime as his_realtime
from guahao.his import registry as his_registry
from guahao.his import sync as his_sync
from guahao.notifications import errors as notification_errors
from guahao.notifications import services as notifications
from guahao.payments import errors as payment_errors
from guahao.payments import services as payments
from guahao.payments.models import Payment
from guahao.scheduling import selectors as scheduling
from guahao.scheduling.facts import Facts, schedule_facts
from guahao.scheduling.models import Period, Schedule
from guahao.scheduling.rules import lottery_window, rules_for, rules_for_schedule, waitlist_deadline
from guahao.waitlist import errors as waitlist_errors
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import WaitlistEntry

api = problems.ProblemAPI(
    title="Guahao API",
    version="1",
    description="Online appointment registration (挂号). Errors are application/problem+json with a stable `code`; "
    "titles and details follow Accept-Language (zh-Hans by default, en).",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
problems.install(api)

patient_auth = AccountBearer()
MAX_DAYS = 14


def _account(request: HttpRequest) -> Account:
    """The logged-in patient account (routes with ``patient_auth`` only)."""
    return cast(Account, getattr(request, "auth", None))


def _get(model, pk):  # type: ignore[no-untyped-def]
    found = _int(pk)
    if found < 0:
        raise NOT_FOUND.error()
    return get_object_or_404(model, pk=found)


# --- auth ----------------------------------------------------------------------------------------

auth_router = Router(tags=["auth"])


@auth_router.post(
    "/sms-code",
    **documented(
        {200: schemas.SmsCodeOut},
        account_errors.PHONE_INVALID,
        account_errors.SMS_TOO_SOON,
        account_errors.SMS_DAILY_LIMIT,
        RATE_LIMITED,
    ),
)
def sms_code(request: HttpRequest, body: schemas.SmsCodeIn) -> dict:
    row, code = accounts.sms_code_send(phone=body.phone, client_ip=client_ip(request))
    expires_in = round((row.expires_at - clock.now()).total_seconds())
    return {"sent": True, "expires_in": expires_in, "dev_code": code if settings.SMS_BACKEND == "console" else None}


@auth_router.post(
    "/login",
    **documented(
        {200: schemas.LoginOut},
        account_errors.PHONE_INVALID,
        account_errors.CODE_WRONG,
        account_errors.CODE_ATTEMPTS,
        RATE_LIMITED,
    ),
)
def login(request: HttpRequest, body: schemas.LoginIn) -> dict:
    account, token = accounts.account_login(phone=body.phone, code=body.code, client_ip=client_ip(request))
    return {"token": token, "account_id": str(account.pk)}


# --- patients ------------------------------------------------------------------------------------

patients_router = Router(tags=["patients"], auth=patient_auth)


@patients_router.get("", **documented({200: list[schemas.PatientOut]}, NOT_LOGGED_IN))
def patients_list(request: HttpRequest) -> list[dict]:
    mine = accounts.patients_of(_account(request)).prefetch_related("consents")
    return [schemas.patient_out(p) for p in mine]


@patients_router.post(
    "",
    **documented(
        {201: schemas.PatientOut},
        NOT_LOGGED_IN,
        account_errors.NAME_INVALID,
        account_errors.ID_NUMBER_INVALID,
        account_errors.GENDER_INVALID,
        account_errors.BIRTH_DATE_INVALID,
        account_errors.PHONE_INVALID,
        account_errors.PATIENT_EXISTS,
        account_errors.SELF_EXISTS,
        account_errors.PATIENT_LIMIT,
        account_errors.CONSENT_REQUIRED,
        account_errors.GUARDIAN_REQUIRED,
    ),
)
def patients_create(request: HttpRequest, body: schemas.PatientIn) -> Status:
    patient = accounts.patient_create(
        account=_account(request),
        name=body.name,
        id_number=body.id_number,
        id_type=body.id_type,
        gender=body.gender,
        birth_date=body.birth_date,
        phone=body.phone,
        relation=body.relation,
        consent_version=consent.API_TERMS if body.consent_version is None else body.consent_version,
        channel="api",
        guardian_name=body.guardian_name or "",
        guardian_relation=body.guardian_relation or "",
    )
    return Status(201, schemas.patient_out(patient))


@patients_router.get("/{patient_id}", **documented({200: schemas.PatientOut}, NOT_LOGGED_IN, NOT_FOUND))
def patients_get(request: HttpRequest, patient_id: str) -> dict:
    return schemas.patient_out(accounts.access_own_patient(account=_account(request), patient_id=patient_id))


@patients_router.patch(
    "/{patient_id}",
    **documented(
        {200: schemas.PatientOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        account_errors.NAME_INVALID,
        account_errors.ID_NUMBER_INVALID,
        account_errors.GENDER_INVALID,
        account_errors.BIRTH_DATE_INVALID,
        account_errors.PHONE_INVALID,
        account_errors.PATIENT_EXISTS,
        account_errors.SELF_EXISTS,
        account_errors.IDENTITY_LOCKED,
        summary="Change a patient (only the fields sent; a refusal changes nothing)",
    ),
)
def patients_update(request: HttpRequest, patient_id: str, body: schemas.PatientPatch) -> dict:
    patient = accounts.access_own_patient(account=_account(request), patient_id=patient_id)
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        field = next(k for k, v in changes.items() if v is None)
        raise field_refused(field, REQUIRED)
    return schemas.patient_out(accounts.patient_update(patient=patient, changes=changes))


@patients_router.delete(
    "/{patient_id}",
    **documented(
        {204: None},
        NOT_LOGGED_IN,
        NOT_FOUND,
        account_errors.PATIENT_IN_USE,
        summary="Remove a patient (refused while a registration is ahead, a hold is live or a waitlist entry active)",
    ),
)
def patients_remove(request: HttpRequest, patient_id: str) -> Status:
    accounts.patient_remove(patient=accounts.access_own_patient(account=_account(request), patient_id=patient_id))
    return Status(204, None)


# --- catalog -------------------------------------------------------------------------------------

catalog_router = Router(tags=["hospitals and departments"])


@catalog_router.get("/consent", **documented({200: schemas.ConsentTextOut}, summary="The consent text to show"))
def consent_text(request: HttpRequest) -> dict:
    """The consent to processing personal information a patient (or a child's guardian) agrees to
    when a patient is added, in the reader's language; send its ``version`` as ``consent_version``."""
    return {"version": consent.TEXT_VERSION, "text": str(consent.TEXT), "guardian_under_age": consent.GUARDIAN_AGE}


@catalog_router.get("/hospitals", **documented({200: list[schemas.HospitalOut]}))
def hospitals_list(request: HttpRequest) -> list[dict]:
    hospitals = Hospital.objects.filter(is_active=True).prefetch_related("campuses")
    return [schemas.hospital_out(h, rules_for(hospital=h)) for h in hospitals]


@catalog_router.get("/hospitals/{hospital_id}", **documented({200: schemas.HospitalOut}, NOT_FOUND))
def hospitals_detail(request: HttpRequest, hospital_id: str) -> dict:
    hospital = _get(Hospital, hospital_id)
    return schemas.hospital_out(hospital, rules_for(hospital=hospital))


@catalog_router.get(
    "/hospitals/{hospital_id}/departments", **documented({200: list[schemas.DepartmentNode]}, NOT_FOUND)
)
def departments_tree(request: HttpRequest, hospital_id: str) -> list[dict]:
    hospital = _get(Hospital, hospital_id)
    return [schemas.department_node(n) for n in catalog.department_tree(hospital=hospital)]


@catalog_router.get("/search", **documented({200: schemas.SearchOut}, NOT_FOUND))
def search(request: HttpRequest, q: str = "", hospital: str | None = None) -> dict:
    scope = _get(Hospital, hospital) if hospital else None
    departments, doctors = catalog.search(q=q[:50], hospital=scope)
    ratings = booking_selectors.doctors_ratings([d.pk for d in doctors])
    strip = _coming_days()
    return {
        "departments": [
            schemas.department_brief(d) | {"next": schemas.next_out(scheduling.next_slots(strip(d)))}
            for d in departments
        ],
        "doctors": [
            schemas.doctor_out(d, ratings.get(d.pk))
            | {"next": schemas.next_out(scheduling.next_slots(strip(d.department), doctor_id=d.pk))}
            for d in doctors
        ],
    }


SEARCH_DAYS = 14  # what a search result looks ahead, as the web app's results


def _coming_days() -> Callable[[Department], list[tuple[dt.date, list[scheduling.ScheduleView]]]]:
    """A department's next ``SEARCH_DAYS`` from its hospital's today, each read once per request
    (a realtime HIS asked once per hospital first, as the availability strip does)."""
    strips: dict[int, list[tuple[dt.date, list[scheduling.ScheduleView]]]] = {}
    asked: set[int] = set()

    def strip(department: Department) -> list[tuple[dt.date, list[scheduling.ScheduleView]]]:
        if department.pk not in strips:
            today = clock.local_today(department.hospital.timezone)
            if department.hospital_id not in asked:
                asked.add(department.hospital_id)
                end = today + dt.timedelta(days=SEARCH_DAYS - 1)
                his_realtime.availability_refresh(hospital_id=department.hospital_id, start=today, end=end)
            strips[department.pk] = scheduling.department_availability(
                department=department, start=today, days=SEARCH_DAYS
            )
        return strips[department.pk]

    return strip


@catalog_router.get(
    "/doctors/{doctor_id}",
    **documented(
        {200: schemas.DoctorDetailOut},
        NOT_FOUND,
        summary="A doctor: title, specialties, introduction and the published ratings of patients after a visit",
    ),
)
def doctors_detail(request: HttpRequest, doctor_id: str) -> dict:
    doctor = _get(Doctor.objects.filter(is_active=True).select_related("department"), doctor_id)
    return schemas.doctor_detail_out(doctor, booking_selectors.doctor_ratings(doctor_id=doctor.pk))


class AvailabilityQuery(schemas.Schema):
    start: schemas.Day | None = schemas.Field(
        default=None, alias="from", description="the first day: the hospital's today up to 60 days ahead"
    )
    days: int = schemas.Field(default=7, ge=1, le=MAX_DAYS)


@catalog_router.get(
    "/departments/{department_id}/availability",
    **documented({200: schemas.AvailabilityOut}, NOT_FOUND, DATE_RANGE, catalog_errors.DEPARTMENT_NOT_LEAF),
)
def availability(request: HttpRequest, department_id: str, query: Query[AvailabilityQuery]) -> HttpResponse:
    department = scheduling.leaf_department(max(_int(department_id), 0))
    if department is None:
        _get(Department, department_id)  # unknown: 404
        raise catalog_errors.DEPARTMENT_NOT_LEAF.error()
    today = clock.local_today(department.hospital.timezone)
    start = query.start or today
    # A client a time zone behind the hospital may still be on yesterday: show it today onwards.
    if start == today - dt.timedelta(days=1):
        start = today
    if start < today or start > today + dt.timedelta(days=60):
        raise field_refused("from", _("must be between today and %(days)s days ahead") % {"days": 60}, DATE_RANGE)
    his_realtime.availability_refresh(
        hospital_id=department.hospital_id, start=start, end=start + dt.timedelta(days=query.days - 1)
    )

    def answer(found: list[tuple[dt.date, list[scheduling.ScheduleView]]]) -> bytes:
        days = []
        for day, views in found:
            total, status = scheduling.day_status(views) if views else (0, "none")
            days.append(
                {
                    "date": day,
                    "weekday": day.isoweekday(),
                    "available": total,
                    "status": status,
                    "schedules": [schemas.schedule_out(v) for v in views],
                }
            )
        body = {"department": schemas.department_brief(department), "start": start, "days": days}
        shown = schemas.AvailabilityOut.model_validate(body).model_dump(by_alias=True)
        return api.create_response(request, shown, status=200).content

    # The answer itself is cached (per language), as the page reading it is: a crowd watching
    # the strip at release time is served without the database and without rendering it again.
    content = scheduling.availability_cached(
        department=department,
        start=start,
        days=query.days,
        variant=f"api:{translation.get_language()}",
        build=answer,
    )
    return HttpResponse(content, content_type="application/json; charset=utf-8")


@catalog_router.get("/schedules/{schedule_id}", **documented({200: schemas.ScheduleDetailOut}, NOT_FOUND))
def schedule_detail(request: HttpRequest, schedule_id: str) -> dict:
    schedule = _get(Schedule, schedule_id)
    his_realtime.availability_refresh(hospital_id=schedule.hospital_id, start=schedule.date, end=schedule.date)
    view, periods = scheduling.schedule_detail(schedule)
    tz = schedule.hospital.timezone
    return schemas.schedule_out(view) | {
        "hospital_id": str(schedule.hospital_id),
        "department": schemas.department_brief(schedule.department),
        "periods": [schemas.period_out(p, tz, n) for p, n in periods],
    }


# --- booking -------------------------------------------------------------------------------------

booking_router = Router(tags=["holds and registrations"], auth=patient_auth)

HOLD_REFUSALS = (
    NOT_LOGGED_IN,
    NOT_FOUND,
    booking_errors.SLOT_UNAVAILABLE,
    booking_errors.SCHEDULE_SUSPENDED,
    booking_errors.SCHEDULE_NOT_RELEASED,
    booking_errors.SCHEDULE_ENDED,
    booking_errors.PERIOD_MISMATCH,
    booking_errors.HOLD_LIMIT,
    booking_errors.ONE_PER_DEPARTMENT,
    booking_errors.ACCOUNT_DAILY_LIMIT,
    booking_errors.BLACKLISTED,
    booking_errors.RECORD_REQUIRED,
    his_errors.HIS_FAILED,
    his_errors.HIS_TIMEOUT,
    RATE_LIMITED,
    booking_errors.LOTTERY_DRAWING,
    booking_errors.RISK_SUSPECTED,
)


IDEMPOTENCY_REFUSALS = (idempotency.KEY_REUSED, idempotency.IN_PROGRESS)
IDEMPOTENCY_KEY = Header(
    None,
    alias=idempotency.HEADER,
    description="Send the request again with the same key to get the first answer; nothing is done twice.",
    pattern=r"^[\x21-\x7e]{1,255}$",
)


def _print(request: HttpRequest) -> str:
    return idempotency.fingerprint(method=request.method or "", path=request.path, body=request.body)


def _once(
    request: HttpRequest,
    key: str | None,
    run: Callable[[], Status],
    *,
    atomic: bool,
    recover: Callable[[], Status | None] | None = None,
) -> Status:
    """Run a write once per ``Idempotency-Key`` (when the client sends one); ``recover``: what a
    first attempt cut off by a crash had already done, answered instead of running it again."""
    if key is None:
        return run()

    def answer() -> tuple[int, object]:
        done = run()
        return done.status_code, done.value

    def recovered() -> tuple[int, object] | None:
        done = recover() if recover is not None else None
        return None if done is None else (done.status_code, done.value)

    status, body = idempotency.replay_or_run(
        owner=f"account:{_account(request).pk}",
        key=key,
        print_=_print(request),
        run=answer,
        atomic=atomic,
        recover=recovered,
    )
    return Status(status, body)


@booking_router.post(
    "/holds",
    **documented(
        {201: schemas.HoldOut, 202: schemas.WaitlistOut},
        *HOLD_REFUSALS,
        *IDEMPOTENCY_REFUSALS,
        summary="Hold a slot (201); in a lottery release's first moments, a ticket in its draw instead (202)",
    ),
)
def holds_create(
    request: HttpRequest, body: schemas.HoldIn, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> Status | HttpResponse:
    """The release-time path: what is refused for everyone (suspended, not released, over, sold
    out, too many attempts) is answered from the caches before anything of the patient is read,
    and before an Idempotency-Key is recorded. A schedule every patient is refused now (sold out,
    not released yet, suspended, over) is answered 409 with nothing of the patient read but the
    bearer token (no live token: 401; a request with an Idempotency-Key or a `period_id` is
    checked in full)."""
    known = schedule_facts(_int(body.schedule_id))
    if known is None:
        raise NOT_FOUND.error(field="schedule_id")
    period = None
    if body.period_id is not None:
        period = known.periods.get(_int(body.period_id)) or Period.objects.filter(pk=_int(body.period_id)).first()
        if period is None:
            raise NOT_FOUND.error(field="period_id")
    if idempotency_key is None:
        return _sent_as_is(_hold_create(request, body, known, period))
    try:
        booking.hold_refuse_early(schedule=known.schedule, period=period, rules=known.rules)
    except Problem:
        # Sent again after its answer was lost, a hold that took the last slot finds the
        # schedule sold out: it is given its hold, not the refusal (one read, and only for a
        # request that carries a key).
        earlier = idempotency.kept(owner=f"account:{_account(request).pk}", key=idempotency_key, print_=_print(request))
        if earlier is None:
            raise
        return Status(*earlier)
    # At a hospital connected to a HIS a hold may ask it (a lock, a medical record), which never
    # happens inside a transaction.
    asks_his = his_registry.mode_of(known.schedule.hospital_id) != ""
    return _once(request, idempotency_key, lambda: _hold_create(request, body, known, period), atomic=not asks_his)


def holds_create_direct(request: HttpRequest, token: str) -> HttpResponse | None:
    """``holds_create`` for the release-time crowd, without finding the URL's view nor
    django-ninja's steps before and after it (together some 0.2-0.3 ms of a winning hold's CPU).
    It takes only a request that ninja would pass as it is: a body ``HoldIn`` reads, a live
    ``token``, no ``Idempotency-Key`` and no period. The answer is made as ninja makes it (its
    schemas, its error handlers). None: anything else, for the whole way, which words the refusal."""
    if "HTTP_IDEMPOTENCY_KEY" in request.META:
        return None
    body = getattr(request, "hold_in", None)
    if body is None:
        try:
            body = schemas.HoldIn.model_validate_json(request.body)
        except ValueError:
            return None
    if body.period_id is not None:
        return None
    account = accounts.account_for_token(token)
    if account is None:
        return None
    request.auth = account  # type: ignore[attr-defined]  # as ninja's authentication sets it
    request.resolver_match = _route_of(request.path_info)  # the metrics count the answer under its route
    operation = _holds_operation()
    try:
        done = holds_create(request, body, None)
        return operation._result_to_response(request, done, operation.api.create_temporal_response(request))
    except Exception as refused:  # noqa: BLE001  # as ninja does: its handlers answer
        return operation.api.on_exception(request, refused)


@functools.cache
def _holds_operation():  # type: ignore[no-untyped-def]
    """The hold's operation as mounted on the API (bound to it: its schemas and error handlers)."""
    bound = next(b for b in api._get_bound_routers() if b.template is booking_router)
    return next(op for op in bound.path_operations["/holds"].operations if "POST" in op.methods)


@functools.cache
def _route_of(path: str):  # type: ignore[no-untyped-def]
    """The URL's match, found once per process (the hold lane's one address)."""
    from django.urls import resolve

    return resolve(path)


def _sent_as_is(done: Status) -> Status | HttpResponse:
    """A new hold's answer as it stands: ``schemas.hold_out`` of a new hold is plain JSON in
    ``HoldOut``'s shape already (tests/api/test_contract.py); having the schema check and copy
    it again cost some 40 µs of CPU per winning hold."""
    if done.status_code != 201:
        return done
    return HttpResponse(json.dumps(done.value, cls=NinjaJSONEncoder), status=201, content_type=JSON)


JSON = "application/json; charset=utf-8"  # as django-ninja's renderer says it


def _client(request: HttpRequest) -> risk.Client:
    return risk.Client(address=client_ip(request) or "", device=request.headers.get("X-Device-Id", "")[:64])


def _hold_create(request: HttpRequest, body: schemas.HoldIn, known: Facts, period: Period | None) -> Status:
    patient_id = _int(body.patient_id)
    if patient_id < 0:
        raise NOT_FOUND.error(field="patient_id")
    try:
        hold = booking.hold_create(
            account=_account(request),
            patient=patient_id,
            schedule=known.schedule,
            period=period,
            rules=known.rules,
            client=_client(request),
        )
    except Problem as refused:
        drawn = _to_the_draw(request, refused, patient_id, known)
        if drawn is None:
            _with_standing_hold(request, refused, patient_id, known)
            raise
        return drawn
    # Everything the answer shows is at hand: a new hold has no registration and no payment.
    hold.period = known.periods.get(hold.period_id) or Period.objects.get(pk=hold.period_id)
    return Status(201, schemas.hold_out(hold, new=True))


def _with_standing_hold(request: HttpRequest, refused: Problem, patient_id: int, known: Facts) -> None:
    """A refusal by a limit names the account's own hold in the way (``hold``, as ``GET
    /holds/{id}`` shows it): a patient whose answer was lost in a release's crowd and who asks
    again goes on to pay for the slot they hold, instead of waiting for it to run out."""
    standing = booking_selectors.hold_in_the_way(
        account=_account(request), patient_id=patient_id, schedule=known.schedule, refused=refused.code
    )
    if standing is not None:
        refused.extra["hold"] = schemas.hold_out(standing)


def _to_the_draw(request: HttpRequest, refused: Problem, patient_id: int, known: Facts) -> Status | None:
    """Where the hold path sends a request to a draw instead of a slot: the first moments of a
    lottery release (everyone gets one ticket), or a request suspected to be a script's at a
    hospital that sends those to the draw (the clinic's waitlist, when it has one open). 202 with
    the entry; None when there is no draw to go to."""
    account = _account(request)
    if refused.code == booking_errors.LOTTERY_OPEN.code:
        patient = booking_selectors.access_patient(account=account, patient_id=patient_id)
        entry = waitlist.lottery_enter(
            account=account, patient=patient, schedule=known.schedule, client=_client(request)
        )
        return Status(202, _waitlist_out(entry))
    if refused.code == booking_errors.RISK_SUSPECTED.code and refused.extra.get("action") == "draw":
        schedule = Schedule.objects.select_related("hospital", "department", "doctor").get(pk=known.schedule.pk)
        if waitlist.waitlist_open_for(schedule):
            patient = booking_selectors.access_patient(account=account, patient_id=patient_id)
            entry = waitlist.entry_join(account=account, patient=patient, schedule=schedule, suspected=True)
            return Status(202, _waitlist_out(entry))
    return None


def _int(value: str | int | None) -> int:
    """An id as a number; -1 (found nowhere) for anything but ASCII decimal digits within 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value < 2**63 else -1
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < len(value) <= 18:
        return int(value)
    return -1


@booking_router.get(
    "/holds",
    **documented(
        {200: list[schemas.HoldOut]}, NOT_LOGGED_IN, summary="The account's holds still to be confirmed or paid"
    ),
)
def holds_list(request: HttpRequest) -> list[dict]:
    """Live holds only, the first to run out first: an app that lost a hold's answer, or was
    closed while paying, finds the hold here and goes on with it before it runs out."""
    return [schemas.hold_out(h) for h in booking_selectors.live_holds_of(_account(request))]


@booking_router.get("/holds/{hold_id}", **documented({200: schemas.HoldOut}, NOT_LOGGED_IN, NOT_FOUND))
def holds_detail(request: HttpRequest, hold_id: str, refresh: bool = False) -> dict:
    """``refresh``: the client is back from the provider's cashier: the provider is asked now about
    the hold's payment still awaited (paid: booked at once; declined: ``payment.failed_at``)."""
    hold = booking_selectors.access_hold(account=_account(request), hold_id=hold_id)
    if refresh and hold.status == HoldStatus.HELD:
        payments.hold_payment_refresh(hold=hold)
        hold.refresh_from_db()
    return schemas.hold_out(hold)


@booking_router.delete(
    "/holds/{hold_id}",
    **documented(
        {200: schemas.HoldOut}, NOT_LOGGED_IN, NOT_FOUND, booking_errors.HOLD_EXPIRED, booking_errors.HOLD_NOT_ACTIVE
    ),
)
def holds_release(request: HttpRequest, hold_id: str) -> dict:
    hold = booking_selectors.access_hold(account=_account(request), hold_id=hold_id)
    hold = booking.hold_release(hold=hold, actor=booking.Actor.patient(_account(request)))
    return schemas.hold_out(hold)


@booking_router.post(
    "/holds/{hold_id}/confirm",
    **documented(
        {201: schemas.RegistrationOut | schemas.PaymentStartOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        booking_errors.HOLD_EXPIRED,
        booking_errors.HOLD_NOT_ACTIVE,
        booking_errors.PAYMENT_REQUIRED,
        payment_errors.PROVIDER_FAILED,
        payment_errors.PROVIDER_TIMEOUT,
        his_errors.HIS_FAILED,
        his_errors.HIS_TIMEOUT,
        *IDEMPOTENCY_REFUSALS,
        summary="Confirm a hold: the registration, or where to pay for it",
    ),
    # The body may be left out; when it is there it is the object (never null).
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConfirmIn"}}},
            "required": False,
        }
    },
)
def holds_confirm(
    request: HttpRequest,
    hold_id: str,
    body: schemas.ConfirmIn | None = None,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Status:
    # Not atomic: paying calls the provider, which never happens inside a transaction.
    return _once(
        request,
        idempotency_key,
        lambda: _hold_confirm(request, hold_id, body),
        atomic=False,
        recover=lambda: _confirmed(request, hold_id),
    )


def _confirmed(request: HttpRequest, hold_id: str) -> Status | None:
    """The registration a confirm cut off by a crash had already booked (the first answer)."""
    hold = booking_selectors.access_hold(account=_account(request), hold_id=hold_id)
    registration_id = Registration.objects.filter(hold=hold).values_list("pk", flat=True).first()
    if registration_id is None:
        return None
    registration = booking_selectors.access_registration(account=_account(request), registration_id=registration_id)
    return Status(201, schemas.registration_out(registration))


def _hold_confirm(request: HttpRequest, hold_id: str, body: schemas.ConfirmIn | None) -> Status:
    hold = booking_selectors.access_hold(account=_account(request), hold_id=hold_id)
    body = body or schemas.ConfirmIn()
    outcome = payments.hold_confirm(hold=hold, method=body.payment_method, insurance=body.insurance)
    if isinstance(outcome, Payment):
        hold.refresh_from_db()
        return Status(201, schemas.payment_start_out(outcome, hold))
    registration = booking_selectors.access_registration(account=_account(request), registration_id=outcome.pk)
    return Status(201, schemas.registration_out(registration))


@booking_router.get("/registrations", **documented({200: list[schemas.RegistrationOut]}, NOT_LOGGED_IN))
def registrations_list(request: HttpRequest) -> list[dict]:
    rows = list(booking_selectors.registrations_of(_account(request))[:200])
    refused = his_outbox.refused_among(rows)
    return [schemas.registration_out(r, refused=refused) for r in rows]


@booking_router.get(
    "/registrations/{registration_id}", **documented({200: schemas.RegistrationOut}, NOT_LOGGED_IN, NOT_FOUND)
)
def registrations_detail(request: HttpRequest, registration_id: str) -> dict:
    return schemas.registration_out(
        booking_selectors.access_registration(account=_account(request), registration_id=registration_id)
    )


@booking_router.post(
    "/registrations/{registration_id}/cancel",
    **documented(
        {200: schemas.RegistrationOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        booking_errors.CANCEL_TOO_LATE,
        booking_errors.BAD_TRANSITION,
        summary="Cancel a registration; a paid one goes on to refunding and refunded",
    ),
)
def registrations_cancel(request: HttpRequest, registration_id: str) -> dict:
    registration = booking_selectors.access_registration(account=_account(request), registration_id=registration_id)
    payments.registration_cancel(registration=registration, actor=booking.Actor.patient(_account(request)))
    return schemas.registration_out(
        booking_selectors.access_registration(account=_account(request), registration_id=registration_id)
    )


@booking_router.post(
    "/registrations/{registration_id}/rating",
    **documented(
        {201: schemas.RatingOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        booking_errors.RATING_NOT_VISITED,
        booking_errors.RATING_NO_DOCTOR,
        booking_errors.RATING_EXISTS,
        summary="Rate the doctor after the visit: one rating per registration, shown once the hospital publishes it",
    ),
)
def registrations_rate(request: HttpRequest, registration_id: str, body: schemas.RatingIn) -> Status:
    registration = booking_selectors.access_registration(account=_account(request), registration_id=registration_id)
    rating = booking.rating_create(registration=registration, score=body.score, comment=body.comment)
    return Status(201, schemas.rating_out(rating, registration.hospital.timezone))


RESCHEDULE_REFUSALS = (
    NOT_LOGGED_IN,
    NOT_FOUND,
    INVALID,
    booking_errors.BAD_TRANSITION,
    booking_errors.CANCEL_TOO_LATE,
    booking_errors.RESCHEDULE_OTHER_DEPARTMENT,
    booking_errors.RESCHEDULE_SAME_SLOT,
    booking_errors.RESCHEDULE_FEE_DIFFERS,
    booking_errors.RESCHEDULE_NOT_HERE,
    booking_errors.SLOT_UNAVAILABLE,
    booking_errors.SCHEDULE_SUSPENDED,
    booking_errors.ONE_PER_DEPARTMENT,
    booking_errors.ACCOUNT_DAILY_LIMIT,
    booking_errors.BLACKLISTED,
)


def reschedule_target(body: schemas.RescheduleIn) -> tuple[Schedule, Period | None]:
    """The clinic (and period) a registration is to be moved to, as the request names them."""
    schedule_id = _int(body.schedule_id)
    schedule = Schedule.objects.select_related("hospital").filter(pk=schedule_id).first() if schedule_id >= 0 else None
    if schedule is None:
        raise NOT_FOUND.error(field="schedule_id")
    period = None
    if body.period_id not in (None, ""):
        period_id = _int(body.period_id)
        period = Period.objects.filter(pk=period_id).first() if period_id >= 0 else None
        if period is None:
            raise NOT_FOUND.error(field="period_id")
    return schedule, period


@booking_router.post(
    "/registrations/{registration_id}/reschedule",
    **documented(
        {200: schemas.RegistrationOut},
        *RESCHEDULE_REFUSALS,
        summary="改约: move a booked registration to another clinic or period of its department; answers the new "
        "registration (the old one is `moved`, its payment goes with the new one)",
    ),
)
def registrations_reschedule(request: HttpRequest, registration_id: str, body: schemas.RescheduleIn) -> dict:
    account = _account(request)
    registration = booking_selectors.access_registration(account=account, registration_id=registration_id)
    schedule, period = reschedule_target(body)
    moved = payments.registration_reschedule(
        registration=registration, schedule=schedule, period=period, actor=booking.Actor.patient(account), channel="app"
    )
    return schemas.registration_out(booking_selectors.access_registration(account=account, registration_id=moved.pk))


# --- waitlist --------------------------------------------------------------------------------------

waitlist_router = Router(tags=["waitlist"], auth=patient_auth)
WAITLIST_REFUSALS = (
    NOT_LOGGED_IN,
    NOT_FOUND,
    waitlist_errors.WAITLIST_OFF,
    waitlist_errors.WAITLIST_NO_ONLINE,
    waitlist_errors.WAITLIST_NOT_FULL,
    waitlist_errors.WAITLIST_FULL,
    waitlist_errors.WAITLIST_CLOSED,
    waitlist_errors.WAITLIST_ALREADY,
    booking_errors.SCHEDULE_SUSPENDED,
    booking_errors.SCHEDULE_NOT_RELEASED,
    booking_errors.ONE_PER_DEPARTMENT,
    booking_errors.ACCOUNT_DAILY_LIMIT,
    booking_errors.BLACKLISTED,
    booking_errors.RECORD_REQUIRED,
    payment_errors.PROVIDER_FAILED,
    payment_errors.PROVIDER_TIMEOUT,
    booking_errors.RISK_SUSPECTED,
)


def _waitlist_out(entry: WaitlistEntry) -> dict:
    rules = rules_for_schedule(entry.schedule)
    window = lottery_window(entry.schedule, rules)
    return schemas.waitlist_out(
        entry,
        waitlist.standing(entry, rules),
        waitlist_deadline(entry.schedule, rules),
        waitlist.payment_of(entry),
        draw_at=window[1] if window else None,
    )


@waitlist_router.post(
    "",
    **documented(
        {201: schemas.WaitlistOut},
        *WAITLIST_REFUSALS,
        *IDEMPOTENCY_REFUSALS,
        summary="Join a full clinic's waitlist (候补)",
    ),
)
def waitlist_join(
    request: HttpRequest, body: schemas.WaitlistIn, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> Status:
    def run() -> Status:
        account = _account(request)
        schedule = (
            Schedule.objects.select_related("hospital", "department__parent__parent", "doctor")
            .filter(pk=_int(body.schedule_id))
            .first()
        )
        if schedule is None:
            raise NOT_FOUND.error(field="schedule_id")
        patient = booking_selectors.access_patient(account=account, patient_id=body.patient_id)
        entry = waitlist.entry_join(
            account=account,
            patient=patient,
            schedule=schedule,
            insurance=body.insurance,
            payment_method=body.payment_method,
            client=_client(request),
        )
        return Status(201, _waitlist_out(entry))

    # Not atomic: a prepayment calls the provider, which never happens inside a transaction.
    return _once(request, idempotency_key, run, atomic=False)


@waitlist_router.get("", **documented({200: list[schemas.WaitlistOut]}, NOT_LOGGED_IN))
def waitlist_list(request: HttpRequest) -> list[dict]:
    return [_waitlist_out(e) for e in waitlist.entries_of(_account(request))]


@waitlist_router.delete(
    "/{entry_id}",
    **documented(
        {200: schemas.WaitlistOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        waitlist_errors.ENTRY_NOT_ACTIVE,
        summary="Leave a waitlist (a prepayment goes back in full; an offer passes to the next patient)",
    ),
)
def waitlist_leave(request: HttpRequest, entry_id: str) -> dict:
    entry = waitlist.access_entry(account=_account(request), entry_id=max(_int(entry_id), 0))
    return _waitlist_out(waitlist.entry_leave(entry=entry, actor="patient"))


# --- payment provider notifications --------------------------------------------------------------

payments_router = Router(tags=["integrations"])


@payments_router.post(
    "/notify/{provider}",
    **documented(
        {200: schemas.NotifyOut},
        payment_errors.SIGNATURE_INVALID,
        payment_errors.NOTIFICATION_MISMATCH,
        payment_errors.PAYMENT_UNKNOWN,
        payment_errors.PROVIDER_UNKNOWN,
        summary="A provider's signed notification; applied once, duplicates change nothing",
    ),
)
def payments_notify(request: HttpRequest, provider: str) -> dict | HttpResponse:
    outcome = payments.notification_receive(provider_name=provider, headers=dict(request.headers), body=request.body)
    ack = payments.notification_ack(provider)
    if ack is not None:  # a provider that reads a plain-text answer (Alipay: "success")
        return HttpResponse(ack, content_type="text/plain")
    return {"code": "SUCCESS", "outcome": outcome}


# --- the HIS ------------------------------------------------------------------------------------

his_router = Router(tags=["integrations"])


@his_router.post(
    "/{hospital_id}/events",
    **documented(
        {200: schemas.HisEventOut},
        his_errors.SIGNATURE_INVALID,
        his_errors.NOT_CONNECTED,
        summary="The HIS pushes a change (cancellation elsewhere, suspension, new or changed schedule); "
        "signed; applied once, a second push of the same event changes nothing",
    ),
)
def his_event(request: HttpRequest, hospital_id: str) -> dict:
    outcome = his_sync.event_receive(hospital_id=_int(hospital_id), headers=dict(request.headers), body=request.body)
    return {"outcome": outcome}


# --- messages ------------------------------------------------------------------------------------

messages_router = Router(tags=["messages"], auth=patient_auth)


@messages_router.get("", **documented({200: list[schemas.MessageOut]}, NOT_LOGGED_IN))
def messages_list(request: HttpRequest) -> list[dict]:
    return [schemas.message_out(m) for m in notifications.messages_of(_account(request))]


@messages_router.get(
    "/unread", **documented({200: schemas.UnreadOut}, NOT_LOGGED_IN, summary="How many messages are unread")
)
def messages_unread(request: HttpRequest) -> dict:
    return {"unread": notifications.messages_unread(_account(request))}


@messages_router.post("/read", **documented({200: schemas.MarkedOut}, NOT_LOGGED_IN, summary="Mark every message read"))
def messages_mark_read(request: HttpRequest) -> dict:
    return {"marked": notifications.messages_mark_read(_account(request))}


@messages_router.post(
    "/{message_id}/read", **documented({200: schemas.MessageOut}, NOT_LOGGED_IN, NOT_FOUND, summary="Mark one read")
)
def message_mark_read(request: HttpRequest, message_id: str) -> dict:
    message = notifications.message_mark_read(account=_account(request), message_id=_int(message_id))
    return schemas.message_out(message)


@messages_router.get(
    "/preferences",
    **documented(
        {200: schemas.PreferencesOut},
        NOT_LOGGED_IN,
        summary="The channels the patient wants beside the inbox, the e-mail address and the messages' language",
    ),
)
def preferences_get(request: HttpRequest) -> dict:
    return schemas.preferences_out(notifications.preferences_of(_account(request)))


@messages_router.put(
    "/preferences",
    **documented(
        {200: schemas.PreferencesOut},
        NOT_LOGGED_IN,
        summary="Choose channels (service messages, such as a suspension or a refund, go on every channel anyway)",
    ),
)
def preferences_put(request: HttpRequest, body: schemas.PreferencesIn) -> dict:
    prefs = notifications.preferences_set(account=_account(request), **body.dict(exclude_none=True))
    return schemas.preferences_out(prefs)


@messages_router.post(
    "/wechat",
    **documented(
        {200: schemas.LinkedOut},
        NOT_LOGGED_IN,
        NOT_FOUND,
        notification_errors.WECHAT_NOT_CONFIGURED,
        notification_errors.WECHAT_CODE_INVALID,
        notification_errors.WECHAT_FAILED,
        summary="Link the account to its openid at a hospital's WeChat official account",
    ),
)
def wechat_link(request: HttpRequest, body: schemas.WechatLinkIn) -> dict:
    hospital = _get(Hospital, body.hospital_id)
    notifications.wechat_link(account=_account(request), hospital=hospital, code=body.code)
    return {"linked": True}


# --- check-in (kiosk, window, or the patient's own phone at the hospital) -------------------------

checkin_router = Router(tags=["integrations"], auth=[StaffBearer(), patient_auth])


@checkin_router.post(
    "/checkin",
    **documented(
        {200: schemas.RegistrationOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        booking_errors.CHECKIN_UNKNOWN,
        booking_errors.CHECKIN_WRONG_DAY,
        booking_errors.BAD_TRANSITION,
        his_errors.REGISTRATION_REFUSED,
    ),
)
@staff_scoped(model=Registration, lookup="body:registration_number", field="registration_number")
def checkin(request: HttpRequest, body: schemas.CheckinIn) -> dict:
    if not body.registration_number and not body.qr:
        raise INVALID.error(detail=_("registration_number or qr is required"), field="registration_number")
    registration = booking.registration_for_checkin(registration_number=body.registration_number, qr=body.qr)
    who = getattr(request, "auth", None)
    if isinstance(who, Account):
        if registration.account_id != who.pk:  # another account's number is not revealed
            raise booking_errors.CHECKIN_UNKNOWN.error()
        his_outbox.check_in_refused(registration)
        actor = booking.Actor.patient(who)
    else:
        staff_row_access(who, hospital_id=registration.hospital_id, permission="booking.change_registration")
        actor = booking.Actor.staff(who)
    booking.registration_check_in(registration=registration, actor=actor)
    registration = Registration.objects.select_related(
        "hospital", "department", "doctor", "patient", "period", "schedule__hospital"
    ).get(pk=registration.pk)
    return schemas.registration_out(registration)


api.add_router("/auth", auth_router)
api.add_router("/patients", patients_router)
api.add_router("", catalog_router)
api.add_router("", booking_router)
api.add_router("", checkin_router)
api.add_router("/payments", payments_router)
api.add_router("/his", his_router)
api.add_router("/messages", messages_router)
api.add_router("/waitlist", waitlist_router)

api.add_router("/staff", staff_router)
api.add_router("/staff", staff_reads_router)
api.add_router("/staff", staff_booking_router)
