"""``guahao his check``: the platform and the HIS compared slot by slot and registration by
registration — the third leg of reconciliation (platform ↔ payment provider ↔ HIS), run by
staff after an incident. Every difference is one line; none means they agree."""

from __future__ import annotations

from guahao.booking.models import ACTIVE_REGISTRATION, Hold, HoldStatus, Registration
from guahao.his import registry
from guahao.his.interface import HisSlot
from guahao.his.models import CallStatus, HisCall, HisConnection, HisMode
from guahao.his.sync import sync_window
from guahao.scheduling.models import Pool, Schedule, SlotState


def _here(slot_state: str, hold: Hold | None, registration: Registration | None) -> str:
    if registration is not None:
        return f"booked {registration.registration_number}"
    if hold is not None:
        return f"held {hold.his_lock_ref or hold.pk}"
    return str(slot_state)


def _there(slot: HisSlot | None) -> str:
    if slot is None:
        return "absent"
    if slot.state == "free":
        return "free"
    return f"{slot.state} {slot.ref} ({slot.channel})"


def _agree(mode: str, state: str, hold: Hold | None, registration: Registration | None, slot: HisSlot) -> bool:
    ours = slot.channel == "platform"
    if registration is not None:
        return slot.state == "booked" and ours and slot.ref == registration.registration_number
    if hold is not None and mode == HisMode.REALTIME:
        return slot.state == "locked" and ours and slot.ref == hold.his_lock_ref
    if slot.state == "free":
        # Synced: a hold here is not a lock there until it is booked.
        return state == SlotState.FREE or (hold is not None and mode == HisMode.SYNCED)
    return state == SlotState.ELSEWHERE and not ours


def differences(connection: HisConnection) -> list[str]:
    """Everything on which the platform and the hospital's HIS disagree, in the release window."""
    his = registry.adapter(connection)
    start, end = sync_window(connection)
    there = {s.id: s for s in his.schedules(start=start.isoformat(), end=end.isoformat())}
    found: list[str] = []
    local = Schedule.objects.filter(hospital=connection.hospital, date__gte=start, date__lte=end).exclude(his_id="")
    for schedule in local.order_by("date", "starts_at"):
        label = f"{schedule.date} {schedule.his_id}"
        snapshot = there.pop(schedule.his_id, None)
        if snapshot is None:
            found.append(f"{label}: schedule here, not in the HIS")
            continue
        if snapshot.status != schedule.status:
            found.append(f"{label}: here {schedule.status}, HIS {snapshot.status}")
        slots_there = {s.number: s for s in snapshot.slots}
        holds = {h.slot_id: h for h in Hold.objects.filter(schedule=schedule, status=HoldStatus.HELD)}
        registrations = {
            r.slot_id: r for r in Registration.objects.filter(schedule=schedule, status__in=ACTIVE_REGISTRATION)
        }
        for slot in schedule.slots.filter(pool=Pool.PLATFORM).order_by("number"):
            hold, registration = holds.get(slot.pk), registrations.get(slot.pk)
            other = slots_there.pop(slot.number, None)
            if other is None:
                if slot.state != SlotState.ELSEWHERE or hold or registration:
                    found.append(f"{label} No.{slot.number}: here {_here(slot.state, hold, registration)}, HIS absent")
                continue
            if not _agree(connection.mode, slot.state, hold, registration, other):
                here = _here(slot.state, hold, registration)
                found.append(f"{label} No.{slot.number}: here {here}, HIS {_there(other)}")
        for number, other in sorted(slots_there.items()):
            found.append(f"{label} No.{number}: not here, HIS {_there(other)}")
    for snapshot in there.values():
        found.append(f"{snapshot.date} {snapshot.id}: schedule in the HIS, not here")
    pending = HisCall.objects.filter(hospital=connection.hospital).exclude(
        status__in=[CallStatus.DONE, CallStatus.DROPPED]
    )
    for call in pending.order_by("created_at"):
        found.append(
            f"write-back {call.kind} {call.ref}: {call.status} after {call.attempts} attempts {call.last_error}"
        )
    return found
