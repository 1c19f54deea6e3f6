"""Realtime mode: every hold is a lock in the HIS; a HIS that is slow, failing or loses answers
never leaves a slot given twice, and afterwards the platform and the HIS agree on every slot."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking import services as booking
from guahao.booking.models import Hold, Registration
from guahao.core import clock
from guahao.his import check, outbox
from guahao.his.adapters.hissim import HissimAdapter
from guahao.his.models import HisCall
from guahao.his.registry import adapter
from guahao.scheduling.models import SlotState
from tests import factories as f
from tests.booking.test_concurrency import race
from tests.his.conftest import connect, send_all

pytestmark = pytest.mark.django_db(transaction=True)


def his_states(c, name="S1"):
    slots = adapter(c.connection).schedule(schedule_id=c.sid(name)).slots
    return {s.number: (s.state, s.ref, s.channel) for s in slots}


def crowd(n):
    out = []
    for _ in range(n):
        client = f.Api().login()
        out.append((client, client.add_patient(relation="other")))
    return out


def test_a_crowd_never_gets_more_holds_than_the_his_has_slots(sim, settings):
    # Sixteen at once against the simulator on a busy machine: what is under test is who gets a
    # slot, not the HIS's patience (the timeouts have tests of their own).
    settings.HIS_TIMEOUT_MS = 10000
    c = connect(sim, "realtime")
    schedule = c.schedule("S1", platform=6)
    sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "channel": "other-platform"})
    sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "channel": "window"})
    people = crowd(16)
    answers = race(
        [
            lambda c=cl, p=pid: c.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": p})
            for cl, pid in people
        ]
    )
    given = [body for status, body in answers if status == 201]
    refused = [body for status, body in answers if status != 201]
    assert len(given) == 4  # six platform slots, two taken on other channels
    assert {b["code"] for b in refused} == {"slot.unavailable"}
    states = his_states(c)
    locks = {ref for state, ref, channel in states.values() if state == "locked"}
    assert locks == set(Hold.objects.filter(status="held").values_list("his_lock_ref", flat=True))
    assert sorted(schedule.slots.values_list("state", flat=True)) == ["elsewhere"] * 2 + ["held"] * 4
    assert check.differences(c.connection) == []


def asked_of_the_his(monkeypatch) -> list[str]:
    """What the platform asks the HIS from now on, as ``METHOD path``."""
    asked: list[str] = []
    original = HissimAdapter._call

    def call(self, method, path, body=None, query=None):
        asked.append(f"{method} {path.split('?')[0]}")
        return original(self, method, path, body, query)

    monkeypatch.setattr(HissimAdapter, "_call", call)
    return asked


def test_a_lock_that_times_out_is_released_and_the_patient_can_try_again(sim, monkeypatch):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1")
    ((client, patient_id),) = crowd(1)
    sim.faults(timeout=1.0, method="POST")  # the re-read answers; the lock does not
    asked = asked_of_the_his(monkeypatch)
    status, problem = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 504 and problem["code"] == "his.timeout" and problem["retry"] is True
    assert "请重试" in problem["title"]
    # The patient waited for the lock alone: its release is the worker's, due now.
    assert [a.split()[0] for a in asked] == ["GET", "POST"]
    release = HisCall.objects.get(kind="release")
    assert release.status == "pending" and release.attempts == 0 and release.next_at <= clock.now()
    assert not Hold.objects.exists()
    sim.faults()
    send_all()
    release.refresh_from_db()
    assert release.status == "done"
    assert {state for state, _, _ in his_states(c).values()} == {"free"}  # whatever the HIS had done
    client.language = "en"
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201, hold
    assert check.differences(c.connection) == []


def test_a_his_that_does_not_answer_the_re_read_is_not_asked_for_a_lock(sim, monkeypatch):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1")
    ((client, patient_id),) = crowd(1)
    sim.faults(timeout=1.0)
    asked = asked_of_the_his(monkeypatch)
    client.language = "en"
    status, problem = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 504 and problem["code"] == "his.timeout" and problem["retry"] is True
    assert "try again" in problem["title"].lower()
    assert [a.split()[0] for a in asked] == ["GET"]  # one wait, not one for each step
    assert not HisCall.objects.exists() and not Hold.objects.exists()
    sim.faults()
    assert {state for state, _, _ in his_states(c).values()} == {"free"}
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201, hold
    assert check.differences(c.connection) == []


def test_with_timeouts_and_lost_answers_the_platform_and_the_his_agree_after_the_run(sim):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1", platform=8)
    people = crowd(14)
    sim.faults(latency_ms=20, error=0.05, timeout=0.2, lost=0.1)

    def journey(client, patient_id):
        outcomes = []
        for _attempt in range(3):
            status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
            outcomes.append(status)
            if status == 201:
                break
            if status in (502, 504):
                assert hold["code"] in ("his.failed", "his.timeout") and hold["retry"] is True
                continue
            return outcomes
        if outcomes[-1] != 201:
            return outcomes
        if int(hold["id"]) % 3 == 0:
            outcomes.append(client.call("DELETE", f"/holds/{hold['id']}")[0])
            return outcomes
        for _attempt in range(3):  # confirming is safe to repeat after a lost answer
            status, _ = client.call("POST", f"/holds/{hold['id']}/confirm", {})
            outcomes.append(status)
            if status not in (502, 504):
                break
        return outcomes

    results = race([lambda cl=cl, p=p: journey(cl, p) for cl, p in people])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Registration.objects.filter(status="booked").count() <= 8

    sim.faults()
    clock.advance(dt.timedelta(minutes=30))  # every unconfirmed hold runs out
    booking.holds_expire()
    send_all()
    assert check.differences(c.connection) == []
    booked = {ref for state, ref, channel in his_states(c).values() if state == "booked"}
    assert booked == set(Registration.objects.filter(status="booked").values_list("registration_number", flat=True))
    assert schedule.slots.filter(state=SlotState.BOOKED).count() == len(booked)


def test_a_his_lock_whose_hold_a_crash_kept_from_being_written_goes_back_within_a_minute(sim, monkeypatch):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1", platform=2, onsite=0)
    ((client, patient_id),) = crowd(1)
    from guahao.booking import locks, ports

    def process_dies(*args, **kwargs):  # between the HIS's lock and our hold: nothing after runs
        raise SystemExit("killed")

    monkeypatch.setattr(locks, "hold_take", process_dies)
    monkeypatch.setattr(ports.wired.his, "release_now", lambda **kwargs: None)  # no cleanup ran either
    with pytest.raises(SystemExit):
        booking.hold_create(account=client_account(client), patient=patient_of(patient_id), schedule=schedule)
    monkeypatch.undo()
    assert sorted(state for state, _, _ in his_states(c).values()) == ["free", "locked"]  # the HIS holds one for us
    outbox.calls_send_due()  # the worker, at once
    assert sorted(state for state, _, _ in his_states(c).values()) == ["free", "locked"]  # not yet: may be written
    clock.advance(dt.timedelta(seconds=61))
    outbox.calls_send_due()  # the worker, a minute on
    assert sorted(state for state, _, _ in his_states(c).values()) == ["free", "free"]  # back within a minute
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201, hold
    send_all()
    assert HisCall.objects.filter(kind="release", status="pending").count() == 0  # the kept lock stays
    assert check.differences(c.connection) == []


def client_account(client):  # type: ignore[no-untyped-def]
    from guahao.accounts.models import Account

    return Account.objects.get(pk=client.account_id)


def patient_of(patient_id):  # type: ignore[no-untyped-def]
    from guahao.accounts.models import Patient

    return Patient.objects.get(pk=patient_id)


def test_a_clinic_suspended_at_the_hospital_between_hold_and_confirm_is_answered_as_suspended(sim):
    c = connect(sim, "realtime")
    schedule = c.schedule("S1")
    ((client, patient_id),) = crowd(1)
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201, hold
    sim.post(f"/admin/schedules/{c.sid('S1')}/suspend", {"reason": "医生临时出诊"})  # no push reaches us yet
    status, problem = client.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert (status, problem["code"]) == (409, "schedule.suspended")  # not "try again"
    assert not Registration.objects.exists()
