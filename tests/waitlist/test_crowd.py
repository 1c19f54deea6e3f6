"""Cancellations, the waitlist's offers and a crowd asking for the same slots at one moment:
real threads, each with its own client and database connection."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from guahao.booking.models import ACTIVE_REGISTRATION, Hold, HoldStatus, Registration
from guahao.core import outbox
from guahao.scheduling.models import Slot, SlotState
from guahao.waitlist.models import EntryStatus, WaitlistEntry
from tests import factories as f
from tests.booking.test_concurrency import race

# Tomorrow's waitlist is open until 18:00 today: it is 10:00.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock("10:00")]


def worker() -> int:
    handled = 0
    for _ in range(100):
        done = sum(outbox.deliver_all().values())
        handled += done
        if not done:
            break
    connection.close()
    return handled


def test_twenty_cancellations_their_offers_and_a_hundred_new_holds_at_once_never_give_more_than_twenty():
    h = f.hospital(waitlist_places=30, max_per_account_hospital_day=5)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep), end=dt_time(9, 0), slots_per_period=10)  # twenty online slots
    booked = []
    for _ in range(20):
        client = f.Api().login()
        status, hold = client.call(
            "POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}
        )
        assert status == 201, hold
        status, registration = client.call("POST", f"/holds/{hold['id']}/confirm", {})
        assert status == 201, registration
        booked.append((client, registration))
    waiting = []
    for _ in range(20):
        client = f.Api().login()
        status, entry = client.call(
            "POST", "/waitlist", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}
        )
        assert status == 201, entry
        waiting.append((client, entry))
    crowd = []
    for _ in range(100):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))

    cancels = [lambda c=c, r=r: c.call("POST", f"/registrations/{r['id']}/cancel", {}) for c, r in booked]
    holds = [
        lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": p}) for c, p in crowd
    ]
    workers = [worker for _ in range(3)]
    results = race(cancels + holds + workers)

    assert not [r for r in results if isinstance(r, Exception)], [r for r in results if isinstance(r, Exception)]
    assert [s for s, _ in results[:20]] == [200] * 20
    worker()  # the worker catches up

    taken = Registration.objects.filter(schedule=schedule, status__in=ACTIVE_REGISTRATION).count()
    taken += Hold.objects.filter(schedule=schedule, status=HoldStatus.HELD).count()
    assert taken <= 20
    # The waitlist came first: every slot given back went to a patient waiting, none to the crowd.
    entries = Counter(WaitlistEntry.objects.filter(schedule=schedule).values_list("status", flat=True))
    assert entries == {EntryStatus.BOOKED: 20}
    assert Counter(s for s, _ in results[20:120]) == {409: 100}
    assert {b["code"] for _, b in results[20:120]} == {"slot.unavailable"}
    assert Slot.objects.filter(schedule=schedule, state=SlotState.BOOKED).count() == 20
    assert not Slot.objects.filter(schedule=schedule, state__in=[SlotState.FREE, SlotState.RESERVED]).exists()


def test_when_fewer_wait_than_slots_come_free_the_rest_goes_to_the_crowd_and_nobody_is_left_waiting():
    h = f.hospital(waitlist_places=30, max_per_account_hospital_day=5)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep), end=dt_time(9, 0), slots_per_period=10)
    booked = []
    for _ in range(20):
        client = f.Api().login()
        _, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()})
        _, registration = client.call("POST", f"/holds/{hold['id']}/confirm", {})
        booked.append((client, registration))
    waiting = []
    for _ in range(5):
        client = f.Api().login()
        status, entry = client.call(
            "POST", "/waitlist", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()}
        )
        waiting.append(entry)
    crowd = [(c, c.add_patient()) for c in (f.Api().login() for _ in range(30))]

    results = race(
        [lambda c=c, r=r: c.call("POST", f"/registrations/{r['id']}/cancel", {}) for c, r in booked[:10]]
        + [
            lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": p})
            for c, p in crowd
        ]
        + [worker, worker]
    )
    assert not [r for r in results if isinstance(r, Exception)]
    worker()
    # Whoever asks once it settled gets what is left, until nothing is.
    late = [(c, c.add_patient()) for c in (f.Api().login() for _ in range(10))]
    given_late = 0
    for c, p in late:
        status, _ = c.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": p})
        given_late += status == 201

    assert Counter(WaitlistEntry.objects.filter(schedule=schedule).values_list("status", flat=True)) == {
        EntryStatus.BOOKED: 5
    }
    holds = Hold.objects.filter(schedule=schedule, status=HoldStatus.HELD).count()
    registrations = Registration.objects.filter(schedule=schedule, status__in=ACTIVE_REGISTRATION).count()
    assert holds + registrations == 20  # every slot has one owner again: 10 kept, 5 from the waitlist, 5 to others
    assert not Slot.objects.filter(schedule=schedule, state__in=[SlotState.FREE, SlotState.RESERVED]).exists()
    assert given_late == 20 - 10 - 5 - sum(1 for s, _ in results[10:40] if s == 201)


def dt_time(h: int, m: int):  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.time(h, m)
