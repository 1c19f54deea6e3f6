"""The waitlist at a realtime HIS hospital (seed 002's 候补锁号): the slot a cancellation frees
is locked in the HIS for the offer's whole confirm window, and what is booked is booked there."""

from __future__ import annotations

import pytest

from guahao.booking.models import Hold
from guahao.core import outbox
from guahao.his import check
from guahao.his.registry import adapter
from guahao.waitlist.models import WaitlistEntry
from tests import factories as f
from tests.his.conftest import connect, send_all

pytestmark = pytest.mark.django_db(transaction=True)


def his_states(c, name="S1"):
    return {s.number: (s.state, s.ref) for s in adapter(c.connection).schedule(schedule_id=c.sid(name)).slots}


def booked(schedule, n):
    out = []
    for _ in range(n):
        client = f.Api().login()
        _, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()})
        status, registration = client.call("POST", f"/holds/{hold['id']}/confirm", {})
        assert status == 201, registration
        out.append((client, registration))
    return out


def worker():
    while sum(outbox.deliver_all().values()):
        pass


@pytest.mark.clock("10:00")  # tomorrow's waitlist is open until 18:00
@pytest.mark.parametrize("paid", [False, True])
def test_a_slot_freed_at_a_realtime_hospital_is_locked_in_the_his_for_the_patient_waiting(sim, paid):
    rules = {"waitlist_places": 3, "waitlist_confirm_minutes": 90, "payment_required": paid}
    c = connect(sim, "realtime", **rules)
    schedule = c.schedule("S1", platform=2, onsite=0)
    if paid:  # a paid clinic books here once paid: fill it by booking without the cashier
        from guahao.booking import services as booking

        holders = []
        for _ in range(2):
            client = f.Api().login()
            patient = client.add_patient()
            _, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient})
            holders.append((client, hold))
        first = holders[0]
        freeing = lambda: first[0].call("DELETE", f"/holds/{first[1]['id']}")  # noqa: E731
        _ = booking
    else:
        regs = booked(schedule, 2)
        freeing = lambda: regs[0][0].call("POST", f"/registrations/{regs[0][1]['id']}/cancel", {})  # noqa: E731
    waiting = f.Api().login()
    status, entry = waiting.call(
        "POST", "/waitlist", {"schedule_id": str(schedule.pk), "patient_id": waiting.add_patient()}
    )
    assert status == 201, entry

    assert freeing()[0] == 200
    send_all()  # the HIS hears of it
    worker()

    mine = WaitlistEntry.objects.get(pk=entry["id"])
    states = his_states(c)
    if paid:
        assert mine.status == "offered"
        hold = Hold.objects.get(pk=mine.hold_id)
        # Locked in the HIS under the offer's hold, for its confirm window (and a margin).
        assert states[hold.slot.number] == ("locked", hold.his_lock_ref)
        assert (hold.expires_at - hold.created_at).total_seconds() == 90 * 60
    else:
        assert mine.status == "booked"
        registration = mine.registration
        assert states[registration.slot_number][0] == "booked"
    assert check.differences(c.connection) == []
