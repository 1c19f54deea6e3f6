"""改约 under a crowd: real threads, each with its own client and database connection. The patient
moving never ends with two slots or with none."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from guahao.booking.models import ACTIVE_REGISTRATION, Hold, Registration
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f
from tests.booking.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)
CROWD = 16


def _consistent(schedule) -> None:
    """Every taken slot of the clinic has exactly one owner: a live hold or an active registration."""
    held = set(Hold.objects.filter(schedule=schedule, status="held").values_list("slot_id", flat=True))
    booked = set(
        Registration.objects.filter(schedule=schedule, status__in=ACTIVE_REGISTRATION).values_list("slot_id", flat=True)
    )
    assert not held & booked
    states = dict(Slot.objects.filter(schedule=schedule).values_list("pk", "state"))
    assert {pk for pk, s in states.items() if s == SlotState.HELD} == held
    assert {pk for pk, s in states.items() if s == SlotState.BOOKED} == booked


@pytest.mark.parametrize("round_", range(2))
def test_a_patient_moving_while_a_crowd_takes_the_slots_ends_with_exactly_one(round_):
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    first = f.schedule(dep, doctor)
    target = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=2), slots_per_period=4)  # eight slots
    other = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=3), slots_per_period=1)  # two slots
    mover = f.Api().login()
    pid = mover.add_patient()
    _, hold = mover.call("POST", "/holds", {"schedule_id": str(first.pk), "patient_id": pid})
    _, reg = mover.call("POST", f"/holds/{hold['id']}/confirm", {})
    crowd = []
    for _ in range(CROWD + 4):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))
    path = f"/registrations/{reg['id']}/reschedule"
    jobs = [
        lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(target.pk), "patient_id": p})
        for c, p in crowd[:CROWD]
    ]
    jobs += [
        lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(other.pk), "patient_id": p})
        for c, p in crowd[CROWD:]
    ]
    # the patient asks twice at once (two taps, two devices), for two clinics, and a third time to cancel
    jobs += [
        lambda: mover.call("POST", path, {"schedule_id": str(target.pk)}),
        lambda: mover.call("POST", path, {"schedule_id": str(other.pk)}),
        lambda: mover.call("POST", f"/registrations/{reg['id']}/cancel", {}),
    ]

    results = race(jobs)

    assert not [r for r in results if isinstance(r, Exception)], results
    moves = results[-3:-1]
    moved = [b for s, b in moves if s == 200]
    cancelled = results[-1][0] == 200
    assert len(moved) + cancelled <= 1, (moves, results[-1])
    mine = Registration.objects.filter(patient_id=int(pid), status__in=ACTIVE_REGISTRATION)
    if cancelled:
        assert mine.count() == 0  # the patient's own cancellation won: no slot, as they asked
        assert Registration.objects.get(pk=reg["id"]).status == "cancelled"
    else:
        assert mine.count() == 1, list(mine.values("schedule_id", "status"))
        if moved:
            assert mine.get().pk == int(moved[0]["id"])
            assert Registration.objects.get(pk=reg["id"]).status == "moved"
        else:
            assert mine.get().pk == int(reg["id"])
            assert {b["code"] for s, b in moves} <= {"slot.unavailable", "registration.state"}, moves
    for schedule in (first, target, other):
        _consistent(schedule)
    into = Counter(m["visit_date"] for m in moved)
    assert [s for s, _ in results[:CROWD]].count(201) + into[target.date.isoformat()] == 8  # sold out, once each
    assert [s for s, _ in results[CROWD : CROWD + 4]].count(201) + into[other.date.isoformat()] == 2
