"""The staff API's work on a patient's booking at the window or on the phone: moving a
registration to another slot (改约). A staff token reaches only its hospital's rows: another
hospital's registration answers 404 and changes nothing; a role without the permission, 403.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from guahao.api.auth import StaffBearer, staff_scoped
from guahao.api.problems import documented
from guahao.api.staff import _row, _user
from guahao.api.staff_reads import StaffRegistrationOut, registration_out
from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.core.errors import FORBIDDEN, INVALID, NOT_FOUND, NOT_LOGGED_IN
from guahao.payments import services as payments
from guahao.payments.models import Payment
from guahao.scheduling.models import Period, Schedule

router = Router(tags=["staff: booking"], auth=StaffBearer())
CHANGE = "booking.change_registration"
Id = str | int


class StaffRescheduleIn(Schema):
    """Optional in the schema, checked after the registration is found (another hospital's: 404)."""

    schedule_id: Id | None = None
    period_id: Id | None = None
    reason: str | None = Field(default=None, max_length=300, description="required after the patient's cutoff")


def _target(body: StaffRescheduleIn, hospital_id: int) -> tuple[Schedule, Period | None]:
    """The clinic (and period) named in the body; one of another hospital is not found."""
    if body.schedule_id in (None, ""):
        raise INVALID.error(detail="schedule_id: required", field="schedule_id")
    try:
        schedule_id = int(body.schedule_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise INVALID.error(detail="schedule_id: not an id", field="schedule_id") from None
    schedule = Schedule.objects.select_related("hospital").filter(pk=schedule_id, hospital_id=hospital_id).first()
    if schedule is None:
        raise NOT_FOUND.error(field="schedule_id")
    period = None
    if body.period_id not in (None, ""):
        try:
            period_id = int(body.period_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise INVALID.error(detail="period_id: not an id", field="period_id") from None
        period = Period.objects.filter(pk=period_id).first()
        if period is None:
            raise NOT_FOUND.error(field="period_id")
    return schedule, period


@router.post(
    "/registrations/{registration_id}/reschedule",
    **documented(
        {200: StaffRegistrationOut},
        NOT_LOGGED_IN,
        FORBIDDEN,
        NOT_FOUND,
        INVALID,
        booking_errors.BAD_TRANSITION,
        booking_errors.REASON_REQUIRED,
        booking_errors.RESCHEDULE_OTHER_DEPARTMENT,
        booking_errors.RESCHEDULE_SAME_SLOT,
        booking_errors.RESCHEDULE_FEE_DIFFERS,
        booking_errors.RESCHEDULE_NOT_HERE,
        booking_errors.SLOT_UNAVAILABLE,
        booking_errors.ONE_PER_DEPARTMENT,
        booking_errors.ACCOUNT_DAILY_LIMIT,
        summary="改约 at the patient's request: the new registration (the old one is `moved`); after the patient's "
        "cutoff only with a reason",
    ),
)
@staff_scoped(model=Registration, lookup="path:registration_id")
def registration_reschedule(request: HttpRequest, registration_id: str, body: StaffRescheduleIn) -> dict:
    user = _user(request)
    registration = _row(Registration, registration_id, user, CHANGE)
    schedule, period = _target(body, registration.hospital_id)
    moved = payments.registration_reschedule(
        registration=registration,
        schedule=schedule,
        period=period,
        actor=booking.Actor.staff(user),
        reason=body.reason or "",
    )
    moved = Registration.objects.select_related("hospital", "department", "doctor", "patient", "period").get(
        pk=moved.pk
    )
    return registration_out(moved, Payment.objects.filter(registration=moved).first())
