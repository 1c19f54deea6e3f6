"""The booking gate at release time: real threads, each with its own client and database
connection, on the gate shared through Redis (when the suite runs with REDIS_URL) and on the
in-process gate of the embedded default."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from django.conf import settings

from guahao.accounts.models import Patient
from guahao.booking import gate
from guahao.booking.models import BlacklistEntry, BlacklistReason, Hold, HoldStatus
from guahao.booking.tasks import rebuild_gate
from guahao.core import clock
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f
from tests.booking.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def patients(n: int) -> list[tuple[f.Api, str]]:
    crowd = []
    for _ in range(n):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))
    return crowd


def bar(h, pid: str) -> None:
    patient = Patient.objects.get(pk=pid)
    BlacklistEntry.objects.create(
        hospital=h,
        person_hash=patient.id_number_hash,
        patient=patient,
        reason=BlacklistReason.MANUAL,
        starts_at=clock.now(),
        ends_at=clock.now() + dt.timedelta(days=30),
    )


def hold_body(schedule, pid: str) -> dict:
    return {"schedule_id": str(schedule.pk), "patient_id": pid}


def free_in_db(schedule) -> int:
    return Slot.objects.filter(schedule=schedule, pool="platform", state=SlotState.FREE).count()


def settle_and_take_what_is_left(schedule) -> int:
    """After a crowd: whoever asks next gets a slot while any is free, and is told it is gone
    once none is. Returns how many were still free."""
    left = 0
    while free_in_db(schedule):
        c, p = patients(1)[0]
        status, body = c.call("POST", "/holds", hold_body(schedule, p))
        assert status == 201, body
        left += 1
    c, p = patients(1)[0]
    assert c.call("POST", "/holds", hold_body(schedule, p))[1]["code"] == "slot.unavailable"
    return left


def test_a_crowd_with_barred_patients_among_it_never_holds_a_slot_twice_nor_strands_one(which_gate):
    """Barred patients take a ticket and give it back: while they hold it, others may be told
    there is nothing left; once the crowd settles every slot still free goes to the next asker."""
    h = f.hospital()
    sched = f.schedule(f.department(h), f.doctor(f.department(h, "呼吸内科")))  # ten online slots
    crowd = patients(30)
    for _, pid in crowd[:8]:
        bar(h, pid)

    results = race([lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in crowd])

    assert not [r for r in results if isinstance(r, Exception)], results
    barred = Counter((s, b.get("code")) for s, b in results[:8])
    others = Counter((s, b.get("code")) for s, b in results[8:])
    # Each barred patient is told so, or, when nothing was left, that nothing was left.
    assert set(barred) <= {(403, "rule.blacklisted"), (409, "slot.unavailable")} and sum(barred.values()) == 8
    assert set(others) <= {(201, None), (409, "slot.unavailable")} and sum(others.values()) == 22
    won = others[(201, None)]
    assert settle_and_take_what_is_left(sched) == 10 - won
    live = Hold.objects.filter(schedule=sched, status=HoldStatus.HELD)
    assert live.count() == 10 and live.values("slot").distinct().count() == 10
    assert sorted(live.values_list("slot__number", flat=True)) == list(range(1, 11))
    assert (free_in_db(sched), gate.free(sched.pk)) == (0, 0)


def test_slots_given_back_after_the_crowd_are_all_taken_by_the_next_crowd(which_gate):
    """The gate never refuses a slot that is free once the crowd has settled."""
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    first = patients(14)
    results = race([lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in first])
    holds = [(c, b) for (c, _), (s, b) in zip(first, results, strict=True) if s == 201]
    assert len(holds) == 10 and gate.free(sched.pk) == 0

    # Four patients give their slots back while twelve others ask at the same moment.
    given_back = [lambda c=c, b=b: c.call("DELETE", f"/holds/{b['id']}") for c, b in holds[:4]]
    second = patients(12)
    asking = [lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in second]
    race(given_back + asking)

    # Whatever the order was, once it settles every free slot is given to whoever asks.
    settle_and_take_what_is_left(sched)
    live = Hold.objects.filter(schedule=sched, status=HoldStatus.HELD)
    assert live.count() == 10 and live.values("slot").distinct().count() == 10
    assert gate.free(sched.pk) == 0


def test_a_gate_emptied_by_hand_is_rebuilt_and_nothing_is_lost(which_gate):
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    crowd = patients(12)
    assert crowd[0][0].call("POST", "/holds", hold_body(sched, crowd[0][1]))[0] == 201
    assert gate.free(sched.pk) == 9

    gate.store().forget(sched.pk)  # emptied: the key is gone

    results = race([lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in crowd[1:]])
    assert sorted(s for s, _ in results) == [201] * 9 + [409] * 2
    assert (free_in_db(sched), gate.free(sched.pk)) == (0, 0)


def test_a_gate_corrupted_to_sold_out_is_rebuilt_by_the_periodic_check(which_gate):
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    gate.load(sched.pk)
    store = gate.store()
    store.store(sched.pk, 0, store.generation(sched.pk), 600, None)  # says sold out; ten are free
    c, p = patients(1)[0]
    assert c.call("POST", "/holds", hold_body(sched, p))[1]["code"] == "slot.unavailable"

    assert rebuild_gate.call_local() >= 1

    assert gate.free(sched.pk) == 10
    crowd = patients(10)
    results = race([lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in crowd])
    assert sorted(b["slot_number"] for s, b in results if s == 201) == list(range(1, 11))
    assert (free_in_db(sched), gate.free(sched.pk)) == (0, 0)


def test_a_gate_corrupted_upwards_sends_a_few_more_to_the_database_and_corrects_itself(which_gate):
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    gate.load(sched.pk)
    store = gate.store()
    store.store(sched.pk, 500, store.generation(sched.pk), 600, None)  # says 500; ten are free
    crowd = patients(20)

    results = race([lambda c=c, p=p: c.call("POST", "/holds", hold_body(sched, p)) for c, p in crowd])

    assert Counter((s, b.get("code")) for s, b in results) == {(201, None): 10, (409, "slot.unavailable"): 10}
    assert Hold.objects.filter(schedule=sched, status=HoldStatus.HELD).values("slot").distinct().count() == 10
    assert (free_in_db(sched), gate.free(sched.pk)) == (0, 0)


@pytest.mark.skipif(not settings.REDIS_URL, reason="Redis's scripts: the at-scale run")
def test_holds_made_after_redis_forgot_its_scripts_still_end_the_sold_out_answer_when_they_expire():
    """Redis restarted or flushed forgets the gate's scripts; the holds taken next still note
    when they run out (the script is loaded again), so the slots they free are offered again
    instead of the clinic staying sold out."""
    from guahao.core import cache as request_cache

    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    crowd = patients(11)
    request_cache.redis().script_flush()

    assert [c.call("POST", "/holds", hold_body(sched, p))[0] for c, p in crowd[:10]] == [201] * 10
    late, pid = crowd[10]
    assert late.call("POST", "/holds", hold_body(sched, pid))[1]["code"] == "slot.unavailable"

    clock.advance(dt.timedelta(minutes=16))  # nobody paid in the 15 minutes: the holds ran out
    time.sleep(gate.SOLD_OUT_SEEN_SECONDS)  # what this process just heard of the gate, in real time
    status, body = late.call("POST", "/holds", hold_body(sched, pid))
    assert status == 201, body
