"""The HIS through a crash: a registration's write-back whose web process is killed (SIGKILL) after
the HIS took it and before it was recorded here, retried by the job, leaves the HIS one
registration; a hold at a realtime hospital killed between the HIS's lock and the hold gives the
lock back within a minute. The patient keeps what they were given, and the platform and the HIS
agree."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.core import clock
from guahao.his import check, outbox
from guahao.his.models import CallStatus, HisCall
from guahao.his.registry import adapter
from tests.crash import in_background, send
from tests.his.conftest import connect, send_all
from tests.his.test_realtime import his_states

pytestmark = pytest.mark.django_db(transaction=True)

# The HIS has registered the slot; its answer is not recorded here yet.
HIS_TOOK_IT = "guahao.his.adapters.hissim:HissimAdapter.register"
# At a realtime hospital: the HIS has locked a slot for the hold, which is not written here yet.
HIS_LOCKED = "guahao.booking.locks:hold_take"


def test_a_write_back_whose_server_was_killed_after_the_his_took_it_is_written_once_when_retried(
    crash_points, sim, api
):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    api.login()
    status, hold = api.call(
        "POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": api.add_patient(relation="other")}
    )
    assert status == 201, hold
    key = {"Idempotency-Key": "confirm-1"}

    with crash_points.server(HIS_TOOK_IT, when="after") as server:
        confirm = in_background(
            lambda: send(server.url, "POST", f"/holds/{hold['id']}/confirm", {}, token=api.token, **key)
        )
        server.wait_until_reached()
        server.kill()
        assert isinstance(confirm(), OSError)  # the patient never heard back
    # Booked here (the write-back goes after the booking's commit), not yet known as written.
    registration = Registration.objects.get()
    call = HisCall.objects.get()
    assert (call.kind, call.ref, call.status, call.attempts) == (
        "register",
        registration.registration_number,
        "pending",
        1,
    )
    assert [d for d in check.differences(c.connection) if d.startswith("write-back")] != []

    # The patient sends the confirm again: their registration, the answer the crash cut off.
    status, again = api.call("POST", f"/holds/{hold['id']}/confirm", {}, **key)
    assert (status, again["id"], again["status"]) == (201, str(registration.pk), "booked")

    send_all()  # the write-back job, after its back-off
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.DONE, 2)
    # The hospital's HIS has the registration once, on our number and slot.
    day = schedule.date.isoformat()
    there = [r for r in adapter(c.connection).registrations(start=day, end=day) if r.schedule_id == c.sid("S1")]
    assert [(r.ref, r.number, r.status) for r in there] == [
        (registration.registration_number, registration.slot_number, "booked")
    ]
    assert check.differences(c.connection) == []  # ``guahao his check``: the two agree
    assert api.call("GET", f"/registrations/{registration.pk}")[1]["status"] == "booked"
    assert Registration.objects.count() == 1


def test_a_realtime_hold_whose_server_was_killed_between_the_his_lock_and_the_hold_gives_the_lock_back(
    crash_points, sim, api
):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1", platform=2, onsite=0)
    api.login()
    body = {"schedule_id": str(schedule.pk), "patient_id": api.add_patient(relation="other")}
    key = {"Idempotency-Key": "hold-1"}

    with crash_points.server(HIS_LOCKED) as server:
        answer = in_background(lambda: send(server.url, "POST", "/holds", body, token=api.token, **key))
        server.wait_until_reached()
        server.kill()
        assert isinstance(answer(), OSError)  # the patient never heard back
    assert not Hold.objects.exists()
    assert sorted(state for state, _, _ in his_states(c).values()) == ["free", "locked"]  # the HIS holds one

    # Sent again: a hold, on the slot the HIS still has.
    status, hold = api.call("POST", "/holds", body, **key)
    assert status == 201, hold
    assert api.call("POST", "/holds", body, **key) == (201, hold)  # the last slot: its hold, not sold out
    # The dead process's lock goes back to the HIS within a minute (the worker's job).
    clock.advance(dt.timedelta(seconds=61))
    outbox.calls_send_due()
    ours = Hold.objects.get(status=HoldStatus.HELD)
    assert sorted((state, ref) for state, ref, _ in his_states(c).values()) == [
        ("free", ""),
        ("locked", ours.his_lock_ref),
    ]
    assert sorted(schedule.slots.values_list("state", flat=True)) == ["free", "held"]
    assert api.call("GET", f"/schedules/{schedule.pk}")[1]["available"] == 1
    assert check.differences(c.connection) == []
