"""The staff API for schedules a hospital runs itself: weekly templates, generation (preview and
publish), and the work on one clinic (capacity, time and room, extra slots, suspension,
re-opening). A staff token (``guahao staff-token``) reaches only its hospital's rows: another
hospital's answers 404 and changes nothing; a role without the permission answers 403.

Body fields are optional in the schemas and checked here after the row is found, so a request
about another hospital's row is not found before it is judged, and bad input names its field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictBool

from guahao.accounts.scope import staff_scope
from guahao.api.auth import staff_auth, staff_row_access, staff_scoped
from guahao.api.problems import NOT_BLANK, documented
from guahao.api.schemas import ClockTime, Day, Id, Integer, Page
from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.catalog.models import Campus, Department, Doctor, Hospital
from guahao.core.audit import audit_record
from guahao.core.errors import FORBIDDEN, NOT_AN_ID, NOT_FOUND, NOT_LOGGED_IN, REQUIRED, between, field_refused
from guahao.his import errors as his_errors
from guahao.his import services as his
from guahao.scheduling import errors
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import Schedule, ScheduleTemplate, SlotState

router = Router(tags=["staff: schedules"], auth=staff_auth())


def _user(request: HttpRequest) -> Any:
    return getattr(request, "auth", None)


def _int(value: str | int | None, field: str) -> int | None:
    """An id given in a body or query (their schema holds it to decimal digits)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise field_refused(field, NOT_AN_ID) from None


def _row(model: type, pk: str | int | None, user: Any, permission: str, field: str = "id") -> Any:
    """The row, if the staff member's hospital owns it (else 404), and their role may (else 403).
    What is not an id at all (a path's text) is found nowhere either."""
    text = str(pk) if pk is not None else ""
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    row = model._default_manager.filter(pk=number).first() if number is not None else None  # type: ignore[attr-defined]
    if row is None:
        raise NOT_FOUND.error()
    staff_row_access(user, hospital_id=row.pk if model is Hospital else row.hospital_id, permission=permission)
    return row


def _required(value: Any, field: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise field_refused(field, REQUIRED)
    return value


def _hospital_for(user: Any, hospital_id: str | int | None, permission: str) -> Hospital:
    scope = staff_scope(user)
    if hospital_id in (None, "") and scope.hospital_id is not None:
        hospital_id = scope.hospital_id
    if hospital_id in (None, ""):
        raise field_refused("hospital_id", REQUIRED)
    return _row(Hospital, hospital_id, user, permission, "hospital_id")


# --- shapes --------------------------------------------------------------------------------------


class TemplateIn(Schema):
    """A change of a template: the fields given are changed (left out: kept)."""

    department_id: Id = None  # type: ignore[assignment]
    doctor_id: Id | None = Field(None, description="null: the department's general clinic")
    weekday: Integer = Field(None, ge=0, le=6, description="0 Monday … 6 Sunday")  # type: ignore[assignment]
    session: Literal["am", "pm", "evening"] = None  # type: ignore[assignment]
    start: ClockTime = None  # type: ignore[assignment]
    end: ClockTime = Field(None, description="after start")  # type: ignore[assignment]
    period_minutes: Integer = Field(None, ge=5, le=240)  # type: ignore[assignment]
    slots_per_period: Integer = Field(None, ge=1, le=100)  # type: ignore[assignment]
    platform_share_percent: int | None = Field(
        None, ge=0, le=100, description="null: the share in the hospital's rules"
    )
    fee_title: Literal["general", "attending", "associate_chief", "chief", "renowned", ""] | None = Field(
        None, description="empty: the doctor's title"
    )
    campus_id: Id | None = None
    location: str | None = Field(None, max_length=100)
    valid_from: Day = None  # type: ignore[assignment]
    valid_until: Day | None = Field(None, description="null: no end; not before valid_from")
    is_active: StrictBool = None  # type: ignore[assignment]


class TemplateCreateIn(TemplateIn):
    """A new template: the department, weekday, session, times and first day are required."""

    department_id: Id
    weekday: Integer = Field(ge=0, le=6, description="0 Monday … 6 Sunday")
    session: Literal["am", "pm", "evening"]
    start: ClockTime
    end: ClockTime = Field(description="after start")
    valid_from: Day


class TemplateOut(Schema):
    id: str
    hospital_id: str
    department_id: str
    doctor_id: str | None
    weekday: int
    session: str
    start: str
    end: str
    period_minutes: int
    slots_per_period: int
    capacity: int
    platform_share_percent: int | None
    fee_title: str
    campus_id: str | None
    location: str
    valid_from: dt.date
    valid_until: dt.date | None
    is_active: bool


def template_out(t: ScheduleTemplate) -> dict:
    return {
        "id": str(t.pk),
        "hospital_id": str(t.hospital_id),
        "department_id": str(t.department_id),
        "doctor_id": str(t.doctor_id) if t.doctor_id else None,
        "weekday": t.weekday,
        "session": t.session,
        "start": t.start.strftime("%H:%M"),
        "end": t.end.strftime("%H:%M"),
        "period_minutes": t.period_minutes,
        "slots_per_period": t.slots_per_period,
        "capacity": t.capacity,
        "platform_share_percent": t.platform_share_percent,
        "fee_title": t.fee_title,
        "campus_id": str(t.campus_id) if t.campus_id else None,
        "location": t.location,
        "valid_from": t.valid_from,
        "valid_until": t.valid_until,
        "is_active": t.is_active,
    }


class GenerateIn(Schema):
    from_: Day = Field(alias="from", description="the first day (the hospital's today at the earliest)")
    weeks: Integer = Field(ge=1, le=12, description="1 to 12")
    hospital_id: Id | None = Field(None, description="the staff member's hospital if left out")
    department_id: Id | None = None
    doctor_id: Id | None = None
    dry_run: StrictBool = Field(True, description="true: only say what would be created")


class PlannedOut(Schema):
    template_id: str
    schedule_id: str | None
    date: dt.date
    session: str
    start: str
    end: str
    department_id: str
    department: str
    doctor_id: str | None
    doctor: str
    capacity: int
    location: str
    outcome: str = Field(description="create, exists, differs, clash or closed (a holiday or closure)")
    detail: str
    differences: dict[str, list[Any]]


class GenerateOut(Schema):
    dry_run: bool
    created: list[PlannedOut]
    skipped: list[PlannedOut]
    clashes: list[PlannedOut]


def _planned(p: scheduling.Planned) -> dict:
    d = p.as_dict()
    for name in ("template_id", "schedule_id", "department_id", "doctor_id"):
        d[name] = str(d[name]) if d[name] is not None else None
    return d


class StaffScheduleOut(Schema):
    id: str
    hospital_id: str
    department_id: str
    doctor_id: str | None
    template_id: str | None
    date: dt.date
    session: str
    starts_at: str
    ends_at: str
    status: str
    suspended_reason: str
    location: str
    capacity: int = Field(description="numbers offered (not withdrawn)")
    taken: int = Field(description="held, booked or taken on another channel")
    free_platform: int
    free_onsite: int
    free_phone: int = Field(description="free numbers of the phone desk's share (0 without one)")
    extra: int = Field(description="extra slots (加号) added")


def schedule_out(s: Schedule) -> dict:
    tz = ZoneInfo(s.hospital.timezone)
    counts = s.slots.aggregate(
        capacity=Count("pk", filter=~Q(state=SlotState.WITHDRAWN)),
        taken=Count("pk", filter=~Q(state__in=[SlotState.WITHDRAWN, SlotState.FREE])),
        free_platform=Count("pk", filter=Q(state=SlotState.FREE, pool="platform")),
        free_onsite=Count("pk", filter=Q(state=SlotState.FREE, pool="onsite")),
        free_phone=Count("pk", filter=Q(state=SlotState.FREE, pool="phone")),
        extra=Count("pk", filter=Q(extra=True) & ~Q(state=SlotState.WITHDRAWN)),
    )
    return {
        "id": str(s.pk),
        "hospital_id": str(s.hospital_id),
        "department_id": str(s.department_id),
        "doctor_id": str(s.doctor_id) if s.doctor_id else None,
        "template_id": str(s.template_id) if s.template_id else None,
        "date": s.date,
        "session": s.session,
        "starts_at": s.starts_at.astimezone(tz).isoformat(),
        "ends_at": s.ends_at.astimezone(tz).isoformat(),
        "status": s.status,
        "suspended_reason": s.suspended_reason,
        "location": s.location,
        **counts,
    }


class ScheduleFilters(Page):
    limit: int = Field(500, ge=1, le=500, description="1 to 500 (soonest first; offset for the next)")
    hospital_id: Id | None = None
    department_id: Id | None = None
    doctor_id: Id | None = None
    date_from: Day | None = Field(None, description="visit days from (API.md's name; `from` is read too)")
    date_to: Day | None = Field(None, description="visit days to (API.md's name; `to` is read too)")
    from_: Day | None = Field(None, alias="from")
    to: Day | None = None
    status: Literal["open", "suspended"] | None = None


class SchedulePatchIn(Schema):
    capacity: Integer = Field(None, ge=0, le=1000, description="never below the numbers held or booked")  # type: ignore[assignment]
    start: ClockTime = None  # type: ignore[assignment]
    end: ClockTime = Field(None, description="after start")  # type: ignore[assignment]
    location: str | None = Field(
        None, max_length=100, pattern=NOT_BLANK, description="the room patients are told to go to; never blank"
    )
    reason: str | None = Field(
        None, max_length=200, description="kept in the audit trail; patients read it with a move"
    )


class PatchOut(Schema):
    schedule: StaffScheduleOut
    changed: dict[str, list[Any]]
    patients_told: int


class ExtraSlotsIn(Schema):
    count: Integer = Field(ge=1, le=50, description="1 to 50")
    reason: str = Field(max_length=200, pattern=NOT_BLANK, description="kept in the audit trail")


class ExtraSlotsOut(Schema):
    schedule: StaffScheduleOut
    numbers: list[int]


class ReasonIn(Schema):
    reason: str | None = Field(None, max_length=200)


class SuspendIn(Schema):
    reason: str = Field(max_length=200, pattern=NOT_BLANK, description="patients read it")


class SuspendOut(Schema):
    schedule: StaffScheduleOut
    registrations_cancelled: int


# --- templates -----------------------------------------------------------------------------------

TEMPLATE_REFUSALS = (NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, errors.TEMPLATE_INVALID, his_errors.SCHEDULES_FROM_HIS)


def _template_fields(body: TemplateIn, hospital_id: int, user: Any, *, creating: bool) -> dict[str, Any]:
    given = body.dict(exclude_unset=True)
    fields: dict[str, Any] = {}
    for name, model in (("department_id", Department), ("doctor_id", Doctor), ("campus_id", Campus)):
        if name in given:
            pk = _int(given[name], name)
            # Another hospital's row is not found either: its answer tells nothing of that hospital.
            row = model.objects.filter(pk=pk, hospital_id=hospital_id).first() if pk is not None else None
            if row is None and (given[name] is not None or name == "department_id"):
                raise NOT_FOUND.error(field=name)
            fields[name.removesuffix("_id")] = row
    for name in (
        "weekday",
        "session",
        "start",
        "end",
        "period_minutes",
        "slots_per_period",
        "platform_share_percent",
        "fee_title",
        "location",
        "valid_from",
        "valid_until",
        "is_active",
    ):
        if name in given:
            fields[name] = given[name]
    for name in ("location", "fee_title"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    if creating:
        for name in ("department", "weekday", "session", "start", "end", "valid_from"):
            _required(fields.get(name), f"{name}_id" if name == "department" else name)
    return fields


@router.get(
    "/schedule-templates",
    **documented({200: list[TemplateOut]}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND),
)
@staff_scoped(model=ScheduleTemplate, lookup="query:hospital_id", field="hospital_id")
def templates_list(request: HttpRequest, hospital_id: Id | None = None, department_id: Id | None = None) -> list:
    user = _user(request)
    qs = staff_scope(user).narrow(ScheduleTemplate.objects.all(), "hospital")
    if hospital_id not in (None, ""):
        qs = qs.filter(hospital=_row(Hospital, hospital_id, user, "scheduling.view_scheduletemplate", "hospital_id"))
    elif not user.has_perm("scheduling.view_scheduletemplate"):
        raise FORBIDDEN.error()
    if department_id not in (None, ""):
        qs = qs.filter(department_id=_int(department_id, "department_id"))
    return [template_out(t) for t in qs.order_by("department_id", "weekday", "start", "pk")]


@router.post("/schedule-templates", **documented({201: TemplateOut}, *TEMPLATE_REFUSALS))
@staff_scoped(model=Department, lookup="body:department_id")
def template_create(request: HttpRequest, body: TemplateCreateIn) -> Status:
    user = _user(request)
    department = _row(
        Department, _required(body.department_id, "department_id"), user, "scheduling.add_scheduletemplate",
        "department_id",
    )  # fmt: skip
    fields = _template_fields(body, department.hospital_id, user, creating=True)
    template = his.template_create(hospital=department.hospital, **fields)
    _template_audited(user, template, "api.template_added", fields)
    return Status(201, template_out(template))


def _template_audited(user: Any, template: ScheduleTemplate, action: str, fields: dict[str, Any]) -> None:
    """A template changed through the API is in the audit log under the staff member's name, as
    the console's changes are."""
    audit_record(
        actor=user.get_username(),
        action=action,
        target_type="scheduletemplate",
        target_id=template.pk,
        target=str(template)[:100],
        hospital_id=template.hospital_id,
        after={k: str(getattr(v, "pk", v)) for k, v in fields.items()},
    )


# Before ".../{template_id}", which would take "generate" for an id.
@router.post(
    "/schedule-templates/generate",
    **documented(
        {200: GenerateOut}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND, errors.SCHEDULE_INVALID, his_errors.SCHEDULES_FROM_HIS
    ),
)
@staff_scoped(model=Hospital, lookup="body:hospital_id")
def templates_generate(request: HttpRequest, body: GenerateIn) -> dict:
    user = _user(request)
    hospital = _hospital_for(user, body.hospital_id, "scheduling.add_schedule")
    department = doctor = None
    if body.department_id not in (None, ""):
        department = Department.objects.filter(
            pk=_int(body.department_id, "department_id") or 0, hospital=hospital
        ).first()
        if department is None:
            raise NOT_FOUND.error(field="department_id")  # not of this hospital
    if body.doctor_id not in (None, ""):
        doctor = Doctor.objects.filter(pk=_int(body.doctor_id, "doctor_id") or 0, hospital=hospital).first()
        if doctor is None:
            raise NOT_FOUND.error(field="doctor_id")  # not of this hospital
    start = _required(body.from_, "from")
    weeks = _required(body.weeks, "weeks")
    if not 1 <= weeks <= 12:
        raise field_refused("weeks", between(1, 12))
    result = his.schedules_generate(
        hospital=hospital,
        start=start,
        days=weeks * 7,
        department=department,
        doctor=doctor,
        actor=user.get_username(),
        dry_run=body.dry_run,
    )
    return {
        "dry_run": result.dry_run,
        "created": [_planned(p) for p in result.created],
        "skipped": [_planned(p) for p in result.skipped],
        "clashes": [_planned(p) for p in result.clashes],
    }


@router.patch("/schedule-templates/{template_id}", **documented({200: TemplateOut}, *TEMPLATE_REFUSALS))
@staff_scoped(model=ScheduleTemplate, lookup="path:template_id")
def template_update(request: HttpRequest, template_id: str, body: TemplateIn) -> dict:
    user = _user(request)
    template = _row(ScheduleTemplate, template_id, user, "scheduling.change_scheduletemplate")
    fields = _template_fields(body, template.hospital_id, user, creating=False)
    template = his.template_update(template=template, **fields)
    _template_audited(user, template, "api.template_changed", fields)
    return template_out(template)


@router.delete("/schedule-templates/{template_id}", **documented({204: None}, *TEMPLATE_REFUSALS))
@staff_scoped(model=ScheduleTemplate, lookup="path:template_id")
def template_delete(request: HttpRequest, template_id: str) -> Status:
    user = _user(request)
    template = _row(ScheduleTemplate, template_id, user, "scheduling.delete_scheduletemplate")
    _template_audited(user, template, "api.template_deleted", {})
    his.template_delete(template=template)
    return Status(204, None)


# --- schedules -----------------------------------------------------------------------------------

SCHEDULE_REFUSALS = (
    NOT_LOGGED_IN,
    FORBIDDEN,
    NOT_FOUND,
    errors.SCHEDULE_INVALID,
    errors.SCHEDULE_CLOSED,
    his_errors.SCHEDULES_FROM_HIS,
)


@router.get("/schedules", **documented({200: list[StaffScheduleOut]}, NOT_LOGGED_IN, FORBIDDEN, NOT_FOUND))
@staff_scoped(model=Schedule, lookup="query:hospital_id", field="hospital_id")
def schedules_list(request: HttpRequest, filters: Query[ScheduleFilters]) -> list:
    user = _user(request)
    qs = staff_scope(user).narrow(Schedule.objects.all(), "hospital").select_related("hospital")
    if filters.hospital_id not in (None, ""):
        qs = qs.filter(hospital=_row(Hospital, filters.hospital_id, user, "scheduling.view_schedule", "hospital_id"))
    elif not user.has_perm("scheduling.view_schedule"):
        raise FORBIDDEN.error()
    if filters.department_id not in (None, ""):
        qs = qs.filter(department_id=_int(filters.department_id, "department_id"))
    if filters.doctor_id not in (None, ""):
        qs = qs.filter(doctor_id=_int(filters.doctor_id, "doctor_id"))
    first, last = filters.date_from or filters.from_, filters.date_to or filters.to
    if first:
        qs = qs.filter(date__gte=first)
    if last:
        qs = qs.filter(date__lte=last)
    if filters.status:
        qs = qs.filter(status=filters.status)
    rows = qs.order_by("date", "starts_at", "pk")[filters.offset : filters.offset + filters.limit]
    return [schedule_out(s) for s in rows]


@router.patch(
    "/schedules/{schedule_id}",
    **documented({200: PatchOut}, *SCHEDULE_REFUSALS, errors.CAPACITY_BELOW_BOOKED, errors.SCHEDULE_CLASH),
)
@staff_scoped(model=Schedule, lookup="path:schedule_id")
def schedule_patch(request: HttpRequest, schedule_id: str, body: SchedulePatchIn) -> dict:
    """Capacity, time and room of one clinic. Each is applied only if all can be: a refusal of
    one changes none."""
    user = _user(request)
    schedule = _row(Schedule, schedule_id, user, "scheduling.change_schedule")
    actor = booking.Actor.staff(user)
    if body.location is not None and len(body.location) > 100:
        raise field_refused("location", _("at most %(n)s characters") % {"n": 100})
    if body.capacity is not None and not 0 <= body.capacity <= 1000:
        raise field_refused("capacity", between(0, 1000))
    changed: dict[str, list[Any]] = {}
    told = 0
    with transaction.atomic():
        if body.start is not None or body.end is not None or body.location is not None:
            moved, told = his.schedule_move(
                schedule=schedule,
                actor=actor,
                start=body.start,
                end=body.end,
                location=body.location,
                reason=body.reason or "",
            )
            changed.update(moved)
        if body.capacity is not None:
            before, after = his.schedule_capacity_set(schedule=schedule, capacity=body.capacity, actor=actor)
            if before != after:
                changed["capacity"] = [before, after]
    schedule.refresh_from_db()
    return {"schedule": schedule_out(schedule), "changed": changed, "patients_told": told}


@router.post(
    "/schedules/{schedule_id}/extra-slots",
    **documented({201: ExtraSlotsOut}, *SCHEDULE_REFUSALS, his_errors.EXTRA_SLOTS_UNSUPPORTED),
)
@staff_scoped(model=Schedule, lookup="path:schedule_id")
def schedule_extra_slots(request: HttpRequest, schedule_id: str, body: ExtraSlotsIn) -> Status:
    user = _user(request)
    schedule = _row(Schedule, schedule_id, user, "scheduling.change_schedule")
    count = _required(body.count, "count")
    if not 1 <= count <= 50:
        raise field_refused("count", between(1, 50))
    reason = _required(body.reason, "reason")
    slots = his.schedule_extra_slots_add(schedule=schedule, count=count, reason=reason, actor=booking.Actor.staff(user))
    return Status(201, {"schedule": schedule_out(schedule), "numbers": [s.number for s in slots]})


@router.post(
    "/schedules/{schedule_id}/suspend",
    **documented({200: SuspendOut}, *SCHEDULE_REFUSALS, booking_errors.SCHEDULE_SUSPENDED, his_errors.SUSPEND_IN_HIS),
)
@staff_scoped(model=Schedule, lookup="path:schedule_id")
def schedule_suspend(request: HttpRequest, schedule_id: str, body: SuspendIn) -> dict:
    """停诊: every registration is cancelled and refunded, and its patient told the reason."""
    user = _user(request)
    schedule = _row(Schedule, schedule_id, user, "scheduling.change_schedule")
    reason = _required(body.reason, "reason")
    cancelled = his.schedule_suspend(schedule=schedule, reason=reason, actor=booking.Actor.staff(user))
    schedule.refresh_from_db()
    return {"schedule": schedule_out(schedule), "registrations_cancelled": cancelled}


@router.post(
    "/schedules/{schedule_id}/reopen",
    **documented({200: StaffScheduleOut}, *SCHEDULE_REFUSALS, errors.SCHEDULE_NOT_SUSPENDED),
)
@staff_scoped(model=Schedule, lookup="path:schedule_id")
def schedule_reopen(request: HttpRequest, schedule_id: str, body: ReasonIn) -> dict:
    user = _user(request)
    schedule = _row(Schedule, schedule_id, user, "scheduling.change_schedule")
    return schedule_out(
        his.schedule_reopen(schedule=schedule, actor=booking.Actor.staff(user), reason=body.reason or "")
    )
