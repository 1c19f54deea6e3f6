"""The only place that takes row locks, always in this order: account, then person, then slot.

On PostgreSQL these are ``SELECT … FOR UPDATE`` (``SKIP LOCKED`` for slots). SQLite has no row
locks; there every transaction begins IMMEDIATE (settings), so writers are serialised whole and
the same reads are safe. Call these inside ``transaction.atomic()``.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from guahao.accounts.locks import lock_account
from guahao.accounts.models import Patient
from guahao.scheduling.models import Period, Pool, Schedule, Slot, SlotState

__all__ = ["claim_free_slot", "claim_slot_number", "lock_account", "lock_person"]


def lock_person(person_hash: str) -> None:
    """Lock every patient row of one real person (the same ID number may be in several accounts)."""
    list(
        Patient.objects.select_for_update()
        .filter(id_number_hash=person_hash)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def claim_free_slot(*, schedule: Schedule, period: Period | None, after: dt.datetime) -> Slot | None:
    """Take the lowest free platform slot (of the period, if given) not over by ``after``.

    Concurrent claimers skip each other's locked rows instead of queueing behind them, and the
    conditional update is what finally decides: a slot only changes from free to held once.
    """
    free = Slot.objects.filter(schedule=schedule, pool=Pool.PLATFORM, state=SlotState.FREE, period__ends_at__gt=after)
    if period is not None:
        free = free.filter(period=period)
    for _attempt in range(5):
        candidates = free.order_by("number")
        if connection.features.has_select_for_update_skip_locked:
            # Lock the slot row alone: the join to its period must not lock (and so make every
            # other claimer skip) the period's whole set of slots.
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        slot = candidates.first()
        if slot is None:
            return None
        if Slot.objects.filter(pk=slot.pk, state=SlotState.FREE).update(state=SlotState.HELD):
            slot.state = SlotState.HELD
            return slot
    return None


def claim_slot_number(*, schedule: Schedule, number: int) -> Slot | None:
    """Take the slot a realtime HIS locked for us. Free, or ``elsewhere`` by an older copy of the
    HIS's state: the HIS's lock is the newer word. Held or booked here: not ours to take."""
    if not Slot.objects.filter(
        schedule=schedule, number=number, pool=Pool.PLATFORM, state__in=[SlotState.FREE, SlotState.ELSEWHERE]
    ).update(state=SlotState.HELD):
        return None
    return Slot.objects.get(schedule=schedule, number=number)
