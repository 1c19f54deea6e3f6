"""Staff actions on the HIS integration and on what it shares with the platform, each recorded
in the order's audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guahao.booking import errors as booking_errors
from guahao.booking import gate
from guahao.booking import services as booking
from guahao.booking.models import Registration, RegistrationStatus
from guahao.catalog.models import Hospital
from guahao.core.errors import INVALID
from guahao.his import errors, outbox, registry, sync
from guahao.his.models import HisCall, HisConnection
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import Schedule, ScheduleEvent, ScheduleStatus, ScheduleTemplate, Slot


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
    cancelled = sync.schedule_suspend(schedule=schedule, reason=reason.strip(), actor=actor)
    scheduling.schedule_record(
        schedule=schedule, kind="suspended", actor=actor.id, reason=reason.strip(), cancelled=cancelled
    )
    return cancelled


# --- schedules staff run (the platform's own; a HIS-connected hospital's come from its HIS) --------


def schedules_owned_here(hospital_id: int) -> None:
    """Templates, generation and changes to clinics are the platform's only where no HIS owns
    the schedules."""
    if registry.connection_for(hospital_id) is not None:
        raise errors.SCHEDULES_FROM_HIS.error()


def template_create(*, hospital: Hospital, **fields: object) -> ScheduleTemplate:
    schedules_owned_here(hospital.pk)
    return scheduling.template_create(hospital=hospital, **fields)


def template_update(*, template: ScheduleTemplate, **changes: object) -> ScheduleTemplate:
    schedules_owned_here(template.hospital_id)
    return scheduling.template_update(template=template, **changes)


def template_delete(*, template: ScheduleTemplate) -> None:
    schedules_owned_here(template.hospital_id)
    scheduling.template_delete(template=template)


def schedules_generate(*, hospital: Hospital, **options: Any) -> scheduling.Generation:
    """Preview (``dry_run``) or publish the clinics of the hospital's weekly templates."""
    schedules_owned_here(hospital.pk)
    return scheduling.schedules_generate(hospital=hospital, **options)


def schedules_generate_due() -> int:
    """The nightly job: every hospital without a HIS generates up to the day entering its
    release window. Returns how many clinics were created."""
    created = 0
    connected = HisConnection.objects.filter(is_active=True).values_list("hospital_id", flat=True)
    hospitals = Hospital.objects.filter(is_active=True, schedule_templates__is_active=True).exclude(pk__in=connected)
    for hospital in hospitals.distinct():
        created += len(scheduling.schedules_generate_due(hospital=hospital).created)
    return created


def schedule_capacity_set(*, schedule: Schedule, capacity: int, actor: booking.Actor) -> tuple[int, int]:
    schedules_owned_here(schedule.hospital_id)
    before, after = scheduling.schedule_capacity_set(schedule=schedule, capacity=capacity, actor=actor.id)
    if after > before:
        transaction.on_commit(lambda: gate.slot_freed(schedule.pk))
    return before, after


def schedule_extra_slots_add(*, schedule: Schedule, count: int, reason: str, actor: booking.Actor) -> list[Slot]:
    """加号: free online at once, so the booking gate (which may have closed on a full clinic)
    opens. A HIS-connected hospital adds them in its HIS (the simulator's interface has no call
    for it)."""
    if registry.connection_for(schedule.hospital_id) is not None:
        raise errors.EXTRA_SLOTS_UNSUPPORTED.error()
    slots = scheduling.schedule_extra_slots_add(schedule=schedule, count=count, reason=reason, actor=actor.id)
    transaction.on_commit(lambda: gate.slot_freed(schedule.pk))
    return slots


def schedule_move(
    *,
    schedule: Schedule,
    actor: booking.Actor,
    start: dt.time | None = None,
    end: dt.time | None = None,
    location: str | None = None,
    reason: str = "",
) -> tuple[dict[str, list[str]], int]:
    """Move a clinic's hours or room; every patient booked is told the new time and place (an
    event each, in the same transaction). Returns (what changed, how many patients are told)."""
    schedules_owned_here(schedule.hospital_id)
    with transaction.atomic():
        changes = scheduling.schedule_move(
            schedule=schedule, actor=actor.id, start=start, end=end, location=location, reason=reason
        )
        told = 0
        if changes:
            booked = Registration.objects.filter(schedule=schedule, status=RegistrationStatus.BOOKED).select_related(
                "hospital", "department", "doctor", "schedule__doctor", "period"
            )
            told = sync.tell_each("schedule.moved", booked, schedule, reason=reason)
    return changes, told


def schedule_reopen(*, schedule: Schedule, actor: booking.Actor, reason: str = "") -> Schedule:
    """A suspended clinic is held after all: it opens again, and each patient whose registration
    its suspension cancelled is told (the registration stays cancelled: they may book again)."""
    schedules_owned_here(schedule.hospital_id)
    with transaction.atomic():
        # The patients of this suspension: not those of one before it that was reopened already.
        last_reopened = (
            ScheduleEvent.objects.filter(schedule=schedule, kind="reopened")
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
        reopened = scheduling.schedule_reopen(schedule=schedule, actor=actor.id, reason=reason)
        cancelled = Registration.objects.filter(schedule=schedule, status=RegistrationStatus.CANCELLED).exclude(
            suspension_reason=""
        )
        if last_reopened is not None:
            cancelled = cancelled.filter(cancelled_at__gt=last_reopened)
        sync.tell_each("schedule.reopened", cancelled, schedule)
    transaction.on_commit(lambda: gate.slot_freed(schedule.pk))
    return reopened


def schedule_add(*, actor: booking.Actor, **fields: Any) -> Schedule:
    """A clinic made by hand in the console (the platform's own hospitals only)."""
    department = fields["department"]
    schedules_owned_here(department.hospital_id)
    refused = scheduling.clinic_refusal(
        department=department,
        doctor=fields.get("doctor"),
        date=fields["date"],
        start=fields["start"],
        end=fields["end"],
        location=fields.get("location") or "",
    )
    if refused is not None:
        raise refused
    schedule = scheduling.schedule_create(**fields)
    scheduling.schedule_record(schedule=schedule, kind="created", actor=actor.id)
    return schedule


def connections_reseal() -> int:
    """After a key rotation: each hospital's HIS key sealed under the current key."""
    from guahao.core import sealing
    from guahao.his.models import KEY_PURPOSE

    changed = 0
    for conn in HisConnection.objects.exclude(key_sealed="").only("pk", "key_sealed"):
        if not sealing.sealed_now(KEY_PURPOSE, conn.key_sealed):
            HisConnection.objects.filter(pk=conn.pk, key_sealed=conn.key_sealed).update(
                key_sealed=sealing.reseal(KEY_PURPOSE, conn.key_sealed)
            )
            changed += 1
    return changed
