"""What the HIS reports, applied here: the periodic sync (catalog, schedules, the feed of
changes) and the events it pushes. Both go through the same functions, and each change is
applied once: events by their id, transitions by conditional updates.

A suspension (停诊) cancels the schedule's registrations, refunds them and tells each patient,
offering other doctors and days; a registration cancelled at the window or on another channel
frees its slot here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction

from guahao.booking import gate, selectors
from guahao.booking import services as booking
from guahao.booking.models import ActorType, Hold, HoldStatus, Registration, RegistrationStatus
from guahao.catalog import services as catalog
from guahao.catalog.models import Department, Doctor, Title
from guahao.core import clock, outbox
from guahao.core.errors import MALFORMED
from guahao.core.problems import Problem
from guahao.his import errors, realtime, registry
from guahao.his.interface import HisAdapter, HisError, HisRefused, HisSchedule, HisSlot
from guahao.his.models import HisConnection, HisEvent
from guahao.payments import services as payments
from guahao.payments.models import RefundReason
from guahao.scheduling.models import Schedule, ScheduleStatus
from guahao.scheduling.rules import rules_for
from guahao.scheduling.services import SlotSpec, schedule_from_his, schedule_mark_suspended, slots_mirror

log = logging.getLogger(__name__)

HIS = booking.Actor(ActorType.SYSTEM, "his")


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def sync_window(connection: HisConnection) -> tuple[dt.date, dt.date]:
    """From today to the last day the hospital releases."""
    hospital = connection.hospital
    today = clock.local_today(hospital.timezone)
    days = rules_for(hospital=hospital, department=None, doctor_id=None).days_ahead
    return today, today + dt.timedelta(days=days)


# --- catalog and schedules -----------------------------------------------------------------------


def catalog_sync(*, connection: HisConnection, his: HisAdapter) -> int:
    """Departments and doctors the HIS has and the platform does not yet: created. Returns how many."""
    departments, doctors = his.catalog()
    hospital = connection.hospital
    known = {d.his_code: d for d in Department.objects.filter(hospital=hospital).exclude(his_code="")}
    created = 0
    pending = [d for d in departments if d["code"] not in known]
    for _round in range(3):  # parents first: at most three levels
        for d in list(pending):
            parent = known.get(d.get("parent_code") or "")
            if d.get("parent_code") and parent is None:
                continue
            known[d["code"]] = catalog.department_create(
                hospital=hospital, parent=parent, name=d["name"], name_en=d.get("name_en", ""), his_code=d["code"]
            )
            pending.remove(d)
            created += 1
    have = set(Doctor.objects.filter(hospital=hospital).exclude(his_code="").values_list("his_code", flat=True))
    for d in doctors:
        if d["code"] in have or d["department_code"] not in known:
            continue
        catalog.doctor_create(
            hospital=hospital,
            department=known[d["department_code"]],
            name=d["name"],
            name_en=d.get("name_en", ""),
            title=d["title"] if d["title"] in Title.values else Title.ATTENDING,
            his_code=d["code"],
        )
        created += 1
    return created


def schedule_apply(*, connection: HisConnection, snapshot: HisSchedule) -> str:
    """Bring the local copy of one HIS schedule up to date; what happened."""
    hospital = connection.hospital
    department = Department.objects.filter(hospital=hospital, his_code=snapshot.department_code).first()
    if department is None:
        log.warning("HIS schedule %s: unknown department %s", snapshot.id, snapshot.department_code)
        return "unknown_department"
    doctor = (
        Doctor.objects.filter(hospital=hospital, his_code=snapshot.doctor_code).first()
        if snapshot.doctor_code
        else None
    )
    here = Schedule.objects.filter(hospital=hospital, his_id=snapshot.id)
    was = here.values_list("starts_at", "ends_at", "location").first()  # hours and room, to tell a move
    existed = was is not None
    with transaction.atomic():
        schedule, changed = _schedule_from_snapshot(department, doctor, snapshot)
        if existed and was != (schedule.starts_at, schedule.ends_at, schedule.location):
            if schedule.status == ScheduleStatus.OPEN and snapshot.status == ScheduleStatus.OPEN:
                # Moved at the hospital (new hours or room): each patient booked is told, as when
                # staff move it here (``his.services.schedule_move``).
                booked = Registration.objects.filter(schedule=schedule, status=RegistrationStatus.BOOKED)
                tell_each("schedule.moved", booked, schedule, reason=snapshot.reason or "")
    outcome = "changed" if existed and changed else "created" if not existed else "unchanged"
    if snapshot.status != ScheduleStatus.OPEN and schedule.status == ScheduleStatus.OPEN:
        schedule_suspend(schedule=schedule, reason=snapshot.reason, actor=HIS)
        outcome = "suspended"
    realtime.mirror(schedule, snapshot)
    return outcome


def tell_each(topic: str, registrations: Any, schedule: Schedule, **data: object) -> int:
    """An event of ``topic`` for each registration's patient (the messages come of it); how many."""
    told = 0
    for registration in registrations:
        outbox.event_emit(
            topic, account_id=registration.account_id, registration_id=registration.pk, schedule_id=schedule.pk, **data
        )
        told += 1
    return told


def _schedule_from_snapshot(department: Department, doctor: Doctor | None, snapshot: HisSchedule) -> Any:
    return schedule_from_his(
        department=department,
        doctor=doctor,
        his_id=snapshot.id,
        date=dt.date.fromisoformat(snapshot.date),
        session=snapshot.session,
        starts_at=_when(snapshot.starts_at),
        ends_at=_when(snapshot.ends_at),
        registration_fee_fen=snapshot.registration_fee_fen,
        consultation_fee_fen=snapshot.consultation_fee_fen,
        location=snapshot.location,
        slots=[SlotSpec(s.number, _when(s.period_starts_at), _when(s.period_ends_at)) for s in snapshot.slots],
    )


# --- suspension ----------------------------------------------------------------------------------


def schedule_suspend(*, schedule: Schedule, reason: str, actor: booking.Actor) -> int:
    """停诊: the schedule closes; its live holds end; every registration is cancelled and refunded,
    and its patient is told why and offered other doctors and days. Returns how many
    registrations were cancelled. Applied once: a second call finds it suspended already."""
    with transaction.atomic():
        if not schedule_mark_suspended(schedule=schedule, reason=reason):
            return 0
        schedule.refresh_from_db()
        offered = selectors.alternatives(schedule=schedule, period=None)
        told = {"schedule_id": schedule.pk, "reason": reason, "alternatives": offered}
        for hold in Hold.objects.filter(schedule=schedule, status=HoldStatus.HELD):
            try:
                booking.hold_release(hold=hold, actor=actor)
            except Problem:  # ended meanwhile
                continue
            outbox.event_emit("schedule.suspended", account_id=hold.account_id, hold_id=hold.pk, **told)
        cancelled = 0
        booked = Registration.objects.filter(schedule=schedule, status=RegistrationStatus.BOOKED).select_related(
            "hospital", "department", "doctor", "schedule"
        )
        for registration in booked:
            registration = payments.registration_cancel(
                registration=registration, actor=actor, tell_patient=False, refund_reason=RefundReason.SUSPENDED
            )
            Registration.objects.filter(pk=registration.pk).update(suspension_reason=reason[:200])
            outbox.event_emit(
                "schedule.suspended",
                account_id=registration.account_id,
                registration_id=registration.pk,
                refund_fen=payments.refund_due_fen(registration=registration),
                **told,
            )
            cancelled += 1
    gate.slot_freed(schedule.pk)
    return cancelled


# --- events (pushed, or read from the feed) ------------------------------------------------------


def _registration_cancelled(connection: HisConnection, data: dict) -> str:
    registration = (
        Registration.objects.filter(hospital=connection.hospital, registration_number=data.get("ref", ""))
        .select_related("hospital", "department", "doctor", "schedule")
        .first()
    )
    if registration is not None:
        if registration.status != RegistrationStatus.BOOKED:
            return "already"
        payments.registration_cancel(registration=registration, actor=HIS)  # its event tells the patient
        return "cancelled"
    return _slot_event(connection, data, free=True)


def _slot_event(connection: HisConnection, data: dict, *, free: bool) -> str:
    """Another channel took or gave back a slot of the shared pool."""
    schedule = Schedule.objects.filter(hospital=connection.hospital, his_id=data.get("schedule_id", "")).first()
    if schedule is None or data.get("channel") == "platform" and not free:
        return "ignored"
    number = int(data.get("number", 0))
    freed = slots_mirror(
        schedule=schedule,
        free_numbers=[number] if free else [],
        taken_numbers=[] if free else [number],
        known_numbers=list(schedule.slots.values_list("number", flat=True)),
    )
    if freed:
        gate.slot_freed(schedule.pk)
    return "slot_freed" if free else "slot_taken"


def event_apply(*, connection: HisConnection, event_id: str, kind: str, data: dict) -> str:
    """Apply one change the HIS reported, once: a second delivery of the same event is a
    duplicate and changes nothing."""
    schedule = data.get("schedule")
    if (
        isinstance(schedule, dict)
        and not Department.objects.filter(
            hospital=connection.hospital, his_code=schedule.get("department_code", "")
        ).exists()
    ):
        # A department new to us: read the catalog first, outside the transaction below.
        catalog_sync(connection=connection, his=registry.adapter(connection))
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = HisEvent.objects.create(
                    hospital=connection.hospital, event_id=event_id, type=kind, received_at=clock.now()
                )
        except IntegrityError:
            return "duplicate"
        if kind.startswith("schedule.") and isinstance(data.get("schedule"), dict):
            raw = dict(data["schedule"])
            slots = [HisSlot(**s) for s in raw.pop("slots", [])]
            outcome = schedule_apply(connection=connection, snapshot=HisSchedule(**raw, slots=slots))
        elif kind == "registration.cancelled":
            outcome = _registration_cancelled(connection, data)
        elif kind == "registration.created":
            outcome = _slot_event(connection, data, free=False)
        else:
            outcome = "ignored"
        HisEvent.objects.filter(pk=record.pk).update(outcome=outcome)
    return outcome


def event_receive(*, hospital_id: int, headers: dict[str, str], body: bytes) -> str:
    """A pushed event: checked against the hospital's HIS signature, then applied once."""
    connection = registry.connection_for(hospital_id)
    if connection is None:
        raise errors.NOT_CONNECTED.error()
    if not registry.adapter(connection).event_valid(headers=headers, body=body):
        raise errors.SIGNATURE_INVALID.error()
    try:
        event = json.loads(body)
        event_id, kind, data = str(event["id"]), str(event["type"]), dict(event.get("data") or {})
    except (ValueError, KeyError, TypeError):
        raise MALFORMED.error() from None
    return event_apply(connection=connection, event_id=event_id, kind=kind, data=data)


# --- the periodic sync ---------------------------------------------------------------------------


def hospital_sync(connection: HisConnection) -> dict[str, int]:
    """Catalog, then every schedule of the release window, then the feed of changes since last
    time (what a lost push missed). Records when it last worked, or why not."""
    his = registry.adapter(connection)
    counts: dict[str, int] = {}
    try:
        catalog_sync(connection=connection, his=his)
        start, end = sync_window(connection)
        for snapshot in his.schedules(start=start.isoformat(), end=end.isoformat()):
            outcome = schedule_apply(connection=connection, snapshot=snapshot)
            counts[outcome] = counts.get(outcome, 0) + 1
        for change in his.changes(after=connection.change_seq):
            outcome = event_apply(connection=connection, event_id=change.id, kind=change.type, data=change.data)
            counts[f"event_{outcome}"] = counts.get(f"event_{outcome}", 0) + 1
            HisConnection.objects.filter(pk=connection.pk).update(change_seq=change.seq)
            connection.change_seq = change.seq
    except (HisError, HisRefused) as exc:
        HisConnection.objects.filter(pk=connection.pk).update(sync_error=str(exc)[:300])
        raise
    HisConnection.objects.filter(pk=connection.pk).update(synced_at=clock.now(), sync_error="")
    return counts


def hospitals_sync() -> dict[str, dict[str, int] | str]:
    """The periodic job: every connected hospital; one HIS failing does not stop the others."""
    done: dict[str, dict[str, int] | str] = {}
    for connection in HisConnection.objects.filter(is_active=True).select_related("hospital"):
        try:
            done[connection.hospital.code] = hospital_sync(connection)
        except (HisError, HisRefused) as exc:
            done[connection.hospital.code] = f"failed: {exc}"
    return done
