"""Realtime hospitals: every hold is a lock in the HIS, and availability is the HIS's.

The local slots mirror the HIS: a slot another channel took is ``elsewhere`` here. The mirror is
re-read before every hold and, for showing availability, reused for ``HIS_AVAILABILITY_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.cache import cache

from guahao.booking import errors as booking_errors
from guahao.booking import gate
from guahao.booking.models import Hold
from guahao.his import errors, outbox, registry
from guahao.his.interface import HisError, HisRefused, HisSchedule
from guahao.his.models import HisConnection
from guahao.scheduling.models import Period, Schedule
from guahao.scheduling.services import slots_mirror

# The HIS lock outlives the hold by this much, so money that arrives in time still registers.
LOCK_MARGIN_MINUTES = 2


def _failure(exc: HisError, hospital_id: int) -> Exception:
    return errors.failure(timeout=exc.timeout, hospital_id=hospital_id)


def lock(
    *, connection: HisConnection, schedule: Schedule, period: Period | None, minutes: int, waitlist: bool = False
) -> tuple[str, int] | None:
    """Lock a slot in the HIS: (lock reference, slot number), or None when it has none free.

    Its release is queued (due in a minute) before the HIS is asked, so a crash before the hold
    is written here gives the lock back; the hold's transaction takes the release back. A lock
    whose answer never came may have been taken: its release is sent now.
    """
    ref = f"L{secrets.token_hex(10).upper()}"
    his = registry.adapter(connection)
    outbox.lock_release_if_orphaned(hospital_id=schedule.hospital_id, ref=ref)
    try:
        got = his.lock(
            schedule_id=schedule.his_id,
            ref=ref,
            minutes=minutes + LOCK_MARGIN_MINUTES,
            period_starts_at=period.starts_at.isoformat() if period is not None else None,
            waitlist=waitlist,
        )
    except HisRefused as exc:
        outbox.lock_not_taken(ref=ref)
        if exc.code == "NO_SLOT":
            return None
        if exc.code == "SCHEDULE_SUSPENDED":
            raise booking_errors.SCHEDULE_SUSPENDED.error() from exc
        raise errors.HIS_FAILED.error(retry=True) from exc
    except HisError as exc:
        if exc.timeout:
            # It may have been taken: given back by the worker at once, while the patient is
            # answered (sent here, a HIS that did not answer would keep them waiting again).
            outbox.lock_release_soon(hospital_id=schedule.hospital_id, ref=ref)
        else:
            outbox.lock_not_taken(ref=ref)
        raise _failure(exc, schedule.hospital_id) from exc
    return ref, got.number


def register(*, hold: Hold, registration_number: str, patient: dict) -> None:
    """Register a held slot in the HIS before booking it here (no payment step).

    Repeating it after a lost answer is safe: the HIS knows it by the registration number.
    """
    connection = registry.connection_for(hold.hospital_id)
    if connection is None:
        return
    try:
        registry.adapter(connection).register(
            ref=registration_number,
            schedule_id=hold.schedule.his_id,
            number=hold.slot.number,
            lock_ref=hold.his_lock_ref,
            patient=patient,
        )
    except HisRefused as exc:
        if exc.code == "SCHEDULE_SUSPENDED":  # 停诊 at the hospital meanwhile: said as such, not "try again"
            raise booking_errors.SCHEDULE_SUSPENDED.error() from exc
        raise errors.failure(timeout=False, hospital_id=hold.hospital_id, retry=False, his_code=exc.code) from exc
    except HisError as exc:
        raise _failure(exc, hold.hospital_id) from exc


def mirror(schedule: Schedule, snapshot: HisSchedule) -> None:
    """Make the local slots say what the HIS says of slots no platform hold or registration of
    ours is on: free there → free here; taken by another channel, or gone → ``elsewhere``."""
    listed = {s.number: s for s in snapshot.slots}
    free = [n for n, s in listed.items() if s.state == "free"]
    taken = [n for n, s in listed.items() if s.state != "free" and s.channel != "platform"]
    if slots_mirror(schedule=schedule, free_numbers=free, taken_numbers=taken, known_numbers=list(listed)):
        gate.slot_freed(schedule.pk)


def schedule_reread(*, connection: HisConnection, schedule: Schedule) -> None:
    """Re-read one schedule before holding. A suspension there refuses at once. A HIS that
    refuses the read or fails at once is not an error here (the lock that follows decides); one
    that did not answer in time is: the patient is answered now (``his.timeout``, try again)
    instead of waiting as long again for a lock it would most likely not answer either."""
    try:
        snapshot = registry.adapter(connection).schedule(schedule_id=schedule.his_id)
    except HisError as exc:
        if exc.timeout:
            raise _failure(exc, schedule.hospital_id) from exc
        return
    except HisRefused:
        return
    if snapshot.status != "open":
        raise booking_errors.SCHEDULE_SUSPENDED.error()
    mirror(schedule, snapshot)


def availability_refresh(*, hospital_id: int, start: dt.date, end: dt.date) -> None:
    """Bring a realtime hospital's local availability up to date, at most once per
    ``HIS_AVAILABILITY_SECONDS``; a HIS that fails leaves the last copy shown."""
    if registry.mode_of(hospital_id) != registry.HisMode.REALTIME:
        return  # no lookup at all for a hospital without a realtime HIS (cached)
    connection = registry.realtime_connection(hospital_id)
    if connection is None:
        return
    ttl = settings.HIS_AVAILABILITY_SECONDS
    if ttl and not cache.add(f"his:availability:{hospital_id}:{start}:{end}", 1, timeout=ttl):
        return
    try:
        snapshots = registry.adapter(connection).schedules(start=start.isoformat(), end=end.isoformat())
    except (HisError, HisRefused):
        return
    local = {
        s.his_id: s for s in Schedule.objects.filter(hospital_id=hospital_id, his_id__in=[x.id for x in snapshots])
    }
    for snapshot in snapshots:
        if snapshot.id in local:
            mirror(local[snapshot.id], snapshot)
