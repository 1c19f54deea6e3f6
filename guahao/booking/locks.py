"""The only place that takes row locks, always in this order: account, then person, then slot.

On PostgreSQL these are ``SELECT … FOR UPDATE`` (``SKIP LOCKED`` for slots). SQLite has no row
locks; there every transaction begins IMMEDIATE (settings), so writers are serialised whole and
the same reads are safe. Call these inside ``transaction.atomic()``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection

from guahao.accounts.locks import lock_account
from guahao.accounts.models import Patient
from guahao.booking.models import ACTIVE_REGISTRATION, HoldStatus
from guahao.scheduling.models import Period, Pool, Schedule, ScheduleStatus, Slot, SlotState

__all__ = ["Counts", "claim_free_slot", "claim_slot_number", "lock_account", "lock_person", "lock_person_counting"]


@dataclass(frozen=True)
class Counts:
    """What the limits are checked against, read under the account and person locks."""

    live_holds: int  # the account's live holds, anywhere
    in_department: int  # the person's live holds and registrations in the department that day
    at_hospital: int  # the account's live holds and registrations at the hospital that day
    barred_reason: str | None  # the person's active bar at the hospital, if any
    barred_until: dt.datetime | None


def lock_person(person_hash: str) -> None:
    """Lock every patient row of one real person (the same ID number may be in several accounts)."""
    list(
        Patient.objects.select_for_update()
        .filter(id_number_hash=person_hash)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


PERSON_COUNTING = """
SELECT
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.account_id = %s AND h.status = %s AND h.expires_at > %s),
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.person_hash = %s AND h.department_id = %s AND h.visit_date = %s AND h.status = %s AND h.expires_at > %s),
    (SELECT COUNT(*) FROM booking_registration r
     WHERE r.person_hash = %s AND r.department_id = %s AND r.visit_date = %s AND r.status IN ({active})),
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.account_id = %s AND h.hospital_id = %s AND h.visit_date = %s AND h.status = %s AND h.expires_at > %s),
    (SELECT COUNT(*) FROM booking_registration r
     WHERE r.account_id = %s AND r.hospital_id = %s AND r.visit_date = %s AND r.status IN ({active})),
    (SELECT b.reason FROM booking_blacklistentry b
     WHERE b.hospital_id = %s AND b.person_hash = p.id_number_hash AND b.lifted_at IS NULL AND b.ends_at > %s
     ORDER BY b.ends_at DESC LIMIT 1),
    (SELECT b.ends_at FROM booking_blacklistentry b
     WHERE b.hospital_id = %s AND b.person_hash = p.id_number_hash AND b.lifted_at IS NULL AND b.ends_at > %s
     ORDER BY b.ends_at DESC LIMIT 1)
FROM accounts_patient p
WHERE p.id_number_hash = %s
ORDER BY p.id
{lock}
"""


def lock_person_counting(
    *, person_hash: str, account_id: int, hospital_id: int, department_id: int, visit_date: dt.date, now: dt.datetime
) -> Counts:
    """``lock_person``, reading in the same statement every count the limits need and the
    person's active bar: one query for what took five."""
    ops = connection.ops
    at, day, held = ops.adapt_datetimefield_value(now), ops.adapt_datefield_value(visit_date), HoldStatus.HELD
    active = [str(s) for s in ACTIVE_REGISTRATION]
    params: list[Any] = [account_id, held, at]
    params += [person_hash, department_id, day, held, at]
    params += [person_hash, department_id, day, *active]
    params += [account_id, hospital_id, day, held, at]
    params += [account_id, hospital_id, day, *active]
    params += [hospital_id, at, hospital_id, at, person_hash]
    sql = PERSON_COUNTING.format(
        active=", ".join(["%s"] * len(active)),
        lock="FOR UPDATE" if connection.features.has_select_for_update else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    live, dep_holds, dep_booked, hosp_holds, hosp_booked, reason, until = rows[0]
    if isinstance(until, str):  # SQLite hands a datetime back as text or naive, in UTC
        until = dt.datetime.fromisoformat(until)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    return Counts(
        live_holds=live,
        in_department=dep_holds + dep_booked,
        at_hospital=hosp_holds + hosp_booked,
        barred_reason=reason,
        barred_until=until,
    )


CLAIM = """
UPDATE scheduling_slot SET state = %s
WHERE id = (
    SELECT s.id FROM scheduling_slot s JOIN scheduling_period p ON p.id = s.period_id
    WHERE s.schedule_id = %s AND s.pool = %s AND s.state = %s AND p.ends_at > %s {period}
    ORDER BY s.number LIMIT 1 {lock}
)
AND state = %s
AND EXISTS (SELECT 1 FROM scheduling_schedule c WHERE c.id = %s AND c.status = %s)
RETURNING id, period_id, number
"""


def claim_free_slot(*, schedule: Schedule, period: Period | None, after: dt.datetime) -> Slot | None:
    """Take the lowest free platform slot (of the period, if given) not over by ``after``, of
    a schedule that is open (whatever a cache believed): one statement.

    Concurrent claimers skip each other's locked rows instead of queueing behind them, and the
    conditional update is what finally decides: a slot only changes from free to held once.
    """
    params: list[Any] = [SlotState.HELD, schedule.pk, Pool.PLATFORM, SlotState.FREE]
    params.append(connection.ops.adapt_datetimefield_value(after))
    if period is not None:
        params.append(period.pk)
    params += [SlotState.FREE, schedule.pk, ScheduleStatus.OPEN]
    # Lock the slot row alone: the join to its period must not lock (and so make every other
    # claimer skip) the period's whole set of slots.
    lock = "FOR UPDATE OF s SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = CLAIM.format(period="AND s.period_id = %s" if period is not None else "", lock=lock)
    for _attempt in range(3):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is not None:
            return Slot(
                id=row[0],
                schedule_id=schedule.pk,
                period_id=row[1],
                number=row[2],
                pool=Pool.PLATFORM,
                state=SlotState.HELD,
            )
        if not lock:
            return None
        # Every candidate was locked by another claimer, or there is none: look once more
        # without skipping, to tell the two apart cheaply.
        if (
            not Slot.objects.filter(
                schedule=schedule, pool=Pool.PLATFORM, state=SlotState.FREE, period__ends_at__gt=after
            )
            .filter(**({"period": period} if period is not None else {}))
            .exists()
        ):
            return None
    return None


def claim_slot_number(*, schedule: Schedule, number: int) -> Slot | None:
    """Take the slot a realtime HIS locked for us. Free, or ``elsewhere`` by an older copy of the
    HIS's state: the HIS's lock is the newer word. Held or booked here: not ours to take."""
    if not Slot.objects.filter(
        schedule=schedule, number=number, pool=Pool.PLATFORM, state__in=[SlotState.FREE, SlotState.ELSEWHERE]
    ).update(state=SlotState.HELD):
        return None
    return Slot.objects.get(schedule=schedule, number=number)
