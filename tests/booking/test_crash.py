"""A hold whose web process is killed (SIGKILL) between taking the slot and answering: sent again
with its Idempotency-Key, the patient gets one hold, and every other slot is still offered."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from guahao.booking import gate
from guahao.booking.models import Hold, HoldStatus
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f
from tests.crash import in_background, send

pytestmark = pytest.mark.django_db(transaction=True)

# ``_hold_made`` tells the gate and the caches of a new hold: once inside the hold's transaction
# (the slot taken, nothing committed), once after its commit (the hold and its kept answer
# written, the patient not answered yet).
HOLD_MADE = "guahao.booking.services:_hold_made"


@pytest.mark.parametrize("nth", [1, 2], ids=["slot_taken_not_committed", "committed_not_answered"])
def test_a_hold_whose_server_was_killed_before_answering_is_made_once_when_sent_again(crash_points, nth):
    h = f.hospital(max_active_holds=1)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))  # ten online slots
    patient = f.Api().login()
    body = {"schedule_id": str(schedule.pk), "patient_id": patient.add_patient()}
    key = {"Idempotency-Key": "hold-1"}

    with crash_points.server(HOLD_MADE, nth=nth) as server:
        answer = in_background(lambda: send(server.url, "POST", "/holds", body, token=patient.token, **key))
        server.wait_until_reached()
        server.kill()
        assert isinstance(answer(), OSError)  # the patient never heard back
    assert Hold.objects.count() == nth - 1  # what the crash left: nothing, or the unanswered hold

    # Sent again (to the server started again: this process): one hold, answered the same twice.
    status, hold = patient.call("POST", "/holds", body, **key)
    assert status == 201, hold
    assert patient.call("POST", "/holds", body, **key) == (201, hold)
    assert patient.call("GET", f"/holds/{hold['id']}")[1]["status"] == "held"
    # Without the key it is a second hold, refused by the one-hold rule: the first one counts.
    assert patient.call("POST", "/holds", body)[1]["code"] == "rule.active_holds"

    # One slot taken; the nine others are offered to everyone else.
    assert Hold.objects.filter(status=HoldStatus.HELD).count() == 1
    states = list(Slot.objects.filter(schedule=schedule).values_list("state", flat=True))
    assert sorted(states) == [SlotState.FREE] * 9 + [SlotState.HELD]
    assert patient.call("GET", f"/schedules/{schedule.pk}")[1]["available"] == 9
    # And so does the release-time gate once the worker's minute check ran (a ticket the dead
    # process took without a hold is counted again from the database).
    gate.rebuild()
    assert gate.free(schedule.pk) == 9


def test_on_sqlite_a_hold_waits_for_another_process_holding_its_turn_and_goes_on_when_that_process_dies(
    crash_points,
):
    """SQLite's holds take turns across processes (``locks.sqlite_writers_turn``): a hold of this
    process waits while another process's hold has the turn, and a killed process lets it go."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's holds lock rows, not the database")
    h = f.hospital()
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))  # ten online slots
    first, second = f.Api().login(), f.Api().login()
    first_body = {"schedule_id": str(schedule.pk), "patient_id": first.add_patient()}
    second_body = {"schedule_id": str(schedule.pk), "patient_id": second.add_patient()}

    # The other process stops with the turn taken, before its transaction begins: the database
    # itself is not locked, only the turn keeps this process's hold waiting.
    with crash_points.server("guahao.booking.locks:_hold_transaction") as server:
        in_background(lambda: send(server.url, "POST", "/holds", first_body, token=first.token))
        server.wait_until_reached()
        done = threading.Event()
        answer = in_background(lambda: (second.call("POST", "/holds", second_body), done.set())[0])
        assert not done.wait(0.5), "the hold did not wait for its turn"
        server.kill()
        status, hold = answer()  # type: ignore[misc]
    assert status == 201, hold
    assert hold["slot_number"] == 1  # the other hold never took a slot
    assert Hold.objects.count() == 1
