"""Staff actions on the HIS integration and on what it shares with the platform, each recorded
in the order's audit trail."""

from __future__ import annotations

from django.utils.translation import gettext as _

from guahao.booking import errors as booking_errors
from guahao.booking import services as booking
from guahao.core.errors import INVALID
from guahao.his import errors, outbox, registry, sync
from guahao.his.models import HisCall
from guahao.scheduling.models import Schedule, ScheduleStatus


def call_retry(*, call: HisCall, actor: booking.Actor) -> HisCall:
    """Staff send a failing write-back again now; who asked goes into the order's audit trail."""
    booking.event_record(
        actor=actor,
        kind="his.call_retried",
        hold=call.hold,
        registration=call.registration,
        call=call.kind,
        ref=call.ref,
        attempts=call.attempts,
        last_error=call.last_error,
    )
    return outbox.call_retry(call=call)


def schedule_suspend(*, schedule: Schedule, reason: str, actor: booking.Actor) -> int:
    """Staff suspend a clinic (停诊) the platform owns: as the HIS's suspension does, every
    registration is cancelled (under the staff member's name), refunded, and its patient told
    why. A HIS-connected hospital's clinics are suspended in its HIS. Returns how many
    registrations were cancelled."""
    if not reason.strip():
        raise INVALID.error(field="reason", detail=_("Give the reason: every patient of the clinic reads it."))
    if registry.connection_for(schedule.hospital_id) is not None:
        raise errors.SUSPEND_IN_HIS.error()
    if schedule.status != ScheduleStatus.OPEN:
        raise booking_errors.SCHEDULE_SUSPENDED.error()
    return sync.schedule_suspend(schedule=schedule, reason=reason.strip(), actor=actor)
