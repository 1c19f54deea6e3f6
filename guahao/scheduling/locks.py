"""The only place scheduling takes row locks. Call inside ``transaction.atomic()``.

On SQLite every transaction begins IMMEDIATE (settings), so writers are serialised whole."""

from __future__ import annotations

from guahao.scheduling.models import Schedule


def lock_schedule(schedule_id: int) -> Schedule:
    """The schedule, locked while its slots are renumbered (extra slots, a new capacity), so two
    staff adding at once never hand out the same visit number.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: a patient's hold committing at the same moment
    takes ``FOR KEY SHARE`` on the schedule (its foreign key) while holding its slot, which this
    change may be waiting for; a full ``FOR UPDATE`` would deadlock the two."""
    return Schedule.objects.select_for_update(no_key=True).get(pk=schedule_id)
