"""A patient holds a slot; every rule that may refuse names itself and changes nothing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guahao.accounts.models import MedicalRecord, Patient
from guahao.booking import gate, services
from guahao.booking.models import BlacklistEntry, BlacklistReason, Hold, HoldStatus
from guahao.core import clock
from guahao.scheduling.models import MedicalRecordMode, ScheduleStatus, Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(api):
    h = f.hospital()
    dep = f.department(h)
    doc = f.doctor(dep)
    sched = f.schedule(dep, doc)
    api.login()
    patient_id = api.add_patient()
    return h, dep, doc, sched, patient_id


def held_slots(sched):
    return sorted(Slot.objects.filter(schedule=sched).exclude(state=SlotState.FREE).values_list("number", flat=True))


def test_hold_takes_the_first_free_slot_and_counts_down(api, setup):
    _, _, _, sched, pid = setup
    status, hold = api.call("POST", "/holds", {"schedule_id": str(sched.pk), "patient_id": pid})
    assert status == 201, hold
    assert hold["slot_number"] == 1
    assert hold["status"] == "held"
    assert hold["fee_fen"] == 5100 and hold["payment_required"] is False
    assert hold["period"]["label"] == "08:00-08:30" and hold["period"]["available"] is None  # not counted here
    expires = dt.datetime.fromisoformat(hold["expires_at"])
    assert expires - clock.now() == pytest.approx(dt.timedelta(minutes=15), abs=dt.timedelta(seconds=5))
    assert held_slots(sched) == [1]
    status, detail = api.call("GET", f"/schedules/{sched.pk}")
    assert detail["available"] == 9 and [p["available"] for p in detail["periods"]] == [4, 5]


def test_hold_in_a_chosen_period(api, setup):
    _, _, _, sched, pid = setup
    second = sched.periods.order_by("starts_at")[1]
    status, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid, "period_id": second.pk})
    assert status == 201 and hold["slot_number"] == 6 and hold["period"]["label"] == "08:30-09:00"


def test_release_gives_the_slot_back(api, setup):
    _, _, _, sched, pid = setup
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    status, body = api.call("DELETE", f"/holds/{hold['id']}")
    assert status == 200 and body["status"] == "released"
    assert held_slots(sched) == []
    status, again = api.call("DELETE", f"/holds/{hold['id']}")
    assert status == 409 and again["code"] == "hold.not_active"


def refused(api, body, code, status=409):
    before = (Hold.objects.count(), Slot.objects.exclude(state=SlotState.FREE).count())
    got, problem = api.call("POST", "/holds", body)
    assert (got, problem["code"]) == (status, code), problem
    assert (Hold.objects.count(), Slot.objects.exclude(state=SlotState.FREE).count()) == before
    return problem


def test_suspended_schedule_is_refused(api, setup):
    _, _, _, sched, pid = setup
    type(sched).objects.filter(pk=sched.pk).update(status=ScheduleStatus.SUSPENDED)
    refused(api, {"schedule_id": sched.pk, "patient_id": pid}, "schedule.suspended")


def test_schedule_outside_the_release_window_is_refused_with_its_opening(api, setup):
    _, dep, doc, _, pid = setup
    later = f.schedule(dep, doc, day=f.today() + dt.timedelta(days=9))  # default: 7 days ahead at 07:00
    problem = refused(api, {"schedule_id": later.pk, "patient_id": pid}, "schedule.not_released")
    opens = dt.datetime.fromisoformat(problem["release_at"])
    assert opens.date() == f.today() + dt.timedelta(days=2) and (opens.hour, opens.minute) == (7, 0)


@pytest.mark.clock("10:00")
def test_a_session_that_is_over_is_refused(api, setup):
    _, dep, doc, _, pid = setup
    early = f.schedule(dep, doc, day=f.today(), start=dt.time(8, 0), end=dt.time(9, 0))  # it is 10:00
    refused(api, {"schedule_id": early.pk, "patient_id": pid}, "schedule.ended")


@pytest.mark.clock("10:00")
def test_same_day_booking_skips_periods_that_are_over(api, setup):
    _, dep, doc, _, pid = setup
    today = f.schedule(dep, doc, day=f.today(), start=dt.time(9, 30), end=dt.time(10, 30))
    status, hold = api.call("POST", "/holds", {"schedule_id": today.pk, "patient_id": pid})
    assert status == 201 and hold["period"]["label"] == "10:00-10:30" and hold["slot_number"] == 6


def test_one_registration_per_patient_department_and_day(api, setup):
    _, dep, _, sched, pid = setup
    other_doctor = f.schedule(dep, f.doctor(dep, name="赵立新"))
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    assert api.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    refused(api, {"schedule_id": other_doctor.pk, "patient_id": pid}, "rule.one_per_department_per_day")


def test_the_same_person_in_two_accounts_is_still_one_patient(api, setup):
    _, dep, _, sched, _ = setup
    number = f.id_number()
    first = f.Api().login()
    first_pid = first.add_patient(number)
    second = f.Api().login()
    second_pid = second.add_patient(number)
    _, hold = first.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": first_pid})
    assert first.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    refused(second, {"schedule_id": sched.pk, "patient_id": second_pid}, "rule.one_per_department_per_day")


def test_two_registrations_per_account_hospital_and_day(api, setup):
    h, _, _, _, pid = setup
    for name in ("消化内科", "呼吸内科"):
        s = f.schedule(f.department(h, name), None)
        other = api.add_patient(relation="child", name=f"患者{name[:2]}")
        _, hold = api.call("POST", "/holds", {"schedule_id": s.pk, "patient_id": other})
        assert api.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    third = f.schedule(f.department(h, "神经内科"), None)
    refused(api, {"schedule_id": third.pk, "patient_id": pid}, "rule.per_account_per_day")


def test_active_holds_per_account(api, setup):
    h, _, _, sched, pid = setup
    other = f.schedule(f.department(h, "消化内科"), None)
    assert api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})[0] == 201
    problem = refused(api, {"schedule_id": other.pk, "patient_id": pid}, "rule.active_holds")
    assert problem["limit"] == 1


def test_another_accounts_patient_is_unknown(api, setup):
    _, _, _, sched, _ = setup
    stranger = f.Api().login()
    theirs = stranger.add_patient()
    refused(api, {"schedule_id": sched.pk, "patient_id": theirs}, "not_found", status=404)
    refused(api, {"schedule_id": 999999, "patient_id": theirs}, "not_found", status=404)


def test_barred_patient_is_told_why_and_until_when(api, setup):
    h, _, _, sched, pid = setup
    patient = Patient.objects.get(pk=pid)
    until = clock.now() + dt.timedelta(days=30)
    BlacklistEntry.objects.create(
        hospital=h,
        person_hash=patient.id_number_hash,
        patient=patient,
        reason=BlacklistReason.NO_SHOWS,
        count=2,
        starts_at=clock.now(),
        ends_at=until,
    )
    problem = refused(api, {"schedule_id": sched.pk, "patient_id": pid}, "rule.blacklisted", status=403)
    assert problem["reason"] == "no_shows" and dt.datetime.fromisoformat(problem["until"]) == until


def test_medical_record_required(api):
    h = f.hospital(medical_record_mode=MedicalRecordMode.REQUIRED)
    sched = f.schedule(f.department(h), None)
    api.login()
    pid = api.add_patient()
    refused(api, {"schedule_id": sched.pk, "patient_id": pid}, "rule.medical_record_required")
    MedicalRecord.objects.create(patient_id=pid, hospital=h, his_patient_id="P1", created_at=clock.now())
    assert api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})[0] == 201


def test_auto_create_makes_the_record_on_first_booking(api):
    h = f.hospital(medical_record_mode=MedicalRecordMode.AUTO_CREATE)
    sched = f.schedule(f.department(h), None)
    api.login()
    pid = api.add_patient()
    assert api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})[0] == 201
    assert MedicalRecord.objects.filter(patient_id=pid, hospital=h).count() == 1


def test_full_schedule_offers_alternatives(api):
    h = f.hospital(max_active_holds=5)
    dep = f.department(h)
    doc = f.doctor(dep)
    full = f.schedule(dep, doc, slots_per_period=1, end=dt.time(8, 30))  # one slot
    colleague = f.schedule(dep, f.doctor(dep, name="孙春梅"))
    next_week = f.schedule(dep, doc, day=f.today() + dt.timedelta(days=3))
    taker = f.Api().login()
    assert taker.call("POST", "/holds", {"schedule_id": full.pk, "patient_id": taker.add_patient()})[0] == 201
    api.login()
    problem = refused(api, {"schedule_id": full.pk, "patient_id": api.add_patient()}, "slot.unavailable")
    offered = {(a["kind"], a["schedule_id"]) for a in problem["alternatives"]}
    assert offered == {("doctor", str(colleague.pk)), ("day", str(next_week.pk))}
    assert problem["title"] == "当前选择已无可用号源"


def test_full_period_offers_the_other_periods(api, setup):
    _, _, _, sched, pid = setup
    first, second = sched.periods.order_by("starts_at")
    Slot.objects.filter(period=first).update(state=SlotState.BOOKED)
    problem = refused(api, {"schedule_id": sched.pk, "patient_id": pid, "period_id": first.pk}, "slot.unavailable")
    assert problem["alternatives"][0] == {
        "kind": "period",
        "schedule_id": str(sched.pk),
        "period_id": str(second.pk),
        "date": sched.date.isoformat(),
        "session": "am",
        "starts_at": second.starts_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(),  # the hospital's time
        "doctor": problem["alternatives"][0]["doctor"],
    }


def test_an_expired_hold_is_never_confirmed_even_before_the_sweep(api, setup):
    _, _, _, sched, pid = setup
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    clock.advance(dt.timedelta(minutes=15, seconds=1))
    status, problem = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 409 and problem["code"] == "hold.expired"
    assert Hold.objects.get(pk=hold["id"]).status == HoldStatus.EXPIRED
    assert held_slots(sched) == []


def test_the_sweep_expires_holds_nobody_looks_at(api, setup):
    _, _, _, sched, pid = setup
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    clock.advance(dt.timedelta(minutes=14))
    assert services.holds_expire() == 0
    clock.advance(dt.timedelta(minutes=2))
    assert services.holds_expire() == 1
    assert Hold.objects.get(pk=hold["id"]).status == HoldStatus.EXPIRED
    assert held_slots(sched) == []
    assert [(e.kind, e.actor_type) for e in Hold.objects.get(pk=hold["id"]).events.all()] == [
        ("hold.created", "patient"),
        ("hold.expired", "system"),
    ]


def test_slots_of_expired_holds_are_reused_before_the_sweep(api):
    h = f.hospital(max_active_holds=5)
    sched = f.schedule(f.department(h), None, slots_per_period=1, end=dt.time(8, 30))
    first = f.Api().login()
    assert first.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": first.add_patient()})[0] == 201
    clock.advance(dt.timedelta(minutes=16))
    api.login()
    status, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient()})
    assert status == 201 and hold["slot_number"] == 1


def test_payment_required_hold_cannot_be_confirmed_without_a_method(api):
    h = f.hospital(payment_required=True)
    sched = f.schedule(f.department(h), None)
    api.login()
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient()})
    assert hold["payment_required"] is True
    status, problem = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 422 and problem["field"] == "payment_method"
    assert Hold.objects.get(pk=hold["id"]).status == HoldStatus.HELD


def test_a_loser_is_offered_the_general_clinic_and_any_doctor_of_the_department_on_other_days(api):
    h = f.hospital(max_active_holds=5)
    dep = f.department(h)
    doc = f.doctor(dep)
    full = f.schedule(dep, doc, slots_per_period=1, end=dt.time(8, 30))  # one slot
    # Nothing else that day nor of the same doctor; a general clinic and a colleague later on.
    general = f.schedule(dep, None, day=f.today() + dt.timedelta(days=4))
    colleague = f.schedule(dep, f.doctor(dep, name="孙春梅"), day=f.today() + dt.timedelta(days=5))
    f.schedule(dep, f.doctor(dep, name="周明"), day=f.today() + dt.timedelta(days=9))  # not released yet
    taker = f.Api().login()
    assert taker.call("POST", "/holds", {"schedule_id": full.pk, "patient_id": taker.add_patient()})[0] == 201
    api.login()
    problem = refused(api, {"schedule_id": full.pk, "patient_id": api.add_patient()}, "slot.unavailable")
    assert [(a["kind"], a["schedule_id"]) for a in problem["alternatives"]] == [
        ("general", str(general.pk)),
        ("department", str(colleague.pk)),
    ]
    assert problem["alternatives"][0]["starts_at"].endswith("T08:00:00+08:00")


def test_the_window_books_from_the_onsite_pool_and_the_registration_keeps_its_channel():
    h = f.hospital()
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep), platform_share_percent=50)  # half online, half at the window
    patient = f.patient(f.account(), relation="self")
    online = Slot.objects.filter(schedule=schedule, pool="platform", state="free").count()
    before = gate.free(schedule.pk)

    hold = services.hold_create(account=patient.account, patient=patient, schedule=schedule, channel="window")
    registration = services.hold_confirm(hold=hold)

    assert (hold.slot.pool, hold.channel, registration.channel) == ("onsite", "window", "window")
    assert Slot.objects.filter(schedule=schedule, pool="onsite", state="booked").count() == 1
    assert Slot.objects.filter(schedule=schedule, pool="platform", state="free").count() == online
    assert gate.free(schedule.pk) == before  # the online count is the online pool's alone


def test_a_hold_asked_for_again_after_its_answer_was_lost_names_the_hold_to_go_on_with(api, setup):
    _, dep, _, sched, pid = setup
    body = {"schedule_id": str(sched.pk), "patient_id": pid}
    status, held = api.call("POST", "/holds", body)
    assert status == 201
    # The answer never reached the phone; the patient presses "book" again.
    problem = refused(api, body, "rule.active_holds")
    assert problem["hold"] == held  # as GET /holds/{id} shows it: pay for it or release it
    assert api.call("GET", f"/holds/{held['id']}")[1] == held


def test_where_more_live_holds_are_allowed_the_one_a_day_refusal_names_the_hold(api):
    h = f.hospital(max_active_holds=3)
    dep = f.department(h)
    sched, later = f.schedule(dep, f.doctor(dep)), f.schedule(dep, f.doctor(dep, name="赵立新"))
    api.login()
    pid = api.add_patient()
    _, held = api.call("POST", "/holds", {"schedule_id": str(sched.pk), "patient_id": pid})
    problem = refused(api, {"schedule_id": str(later.pk), "patient_id": pid}, "rule.one_per_department_per_day")
    assert problem["hold"]["id"] == held["id"] and problem["hold"]["slot_number"] == held["slot_number"]


def test_a_limit_refusal_names_neither_another_accounts_hold_nor_a_registration(api, setup):
    _, dep, _, sched, pid = setup
    second = f.schedule(dep, f.doctor(dep, name="赵立新"))
    # The same person held for by a relative's account: refused here, and that hold is not named.
    number = f.id_number()
    relative = f.Api().login()
    assert (
        relative.call("POST", "/holds", {"schedule_id": str(sched.pk), "patient_id": relative.add_patient(number)})[0]
        == 201
    )
    mother = api.add_patient(number, relation="parent", name="王芳")
    problem = refused(api, {"schedule_id": str(second.pk), "patient_id": mother}, "rule.one_per_department_per_day")
    assert "hold" not in problem
    # A registration in the way (the hold confirmed) is not a hold to go on with.
    _, mine = api.call("POST", "/holds", {"schedule_id": str(sched.pk), "patient_id": pid})
    assert api.call("POST", f"/holds/{mine['id']}/confirm", {})[0] == 201
    problem = refused(api, {"schedule_id": str(second.pk), "patient_id": pid}, "rule.one_per_department_per_day")
    assert "hold" not in problem


def test_the_account_finds_its_live_holds_the_first_to_run_out_first_and_no_one_elses(api):
    h = f.hospital(max_active_holds=3)
    west = f.hospital(timezone="Asia/Urumqi")
    # The first at a hospital that allows one live hold; the others where three are allowed.
    deps = [f.department(west), f.department(h, name="心血管内科"), f.department(h, name="呼吸内科")]
    schedules = [f.schedule(dep, f.doctor(dep)) for dep in deps]
    api.login()
    pid = api.add_patient()
    assert api.call("GET", "/holds") == (200, [])
    made = []
    for sched in schedules:
        made.append(api.call("POST", "/holds", {"schedule_id": str(sched.pk), "patient_id": pid})[1])
        clock.advance(dt.timedelta(minutes=1))
    other = f.Api().login()
    theirs = other.call("POST", "/holds", {"schedule_id": str(schedules[1].pk), "patient_id": other.add_patient()})
    assert theirs[0] == 201

    status, listed = api.call("GET", "/holds")
    assert status == 200 and listed == [api.call("GET", f"/holds/{m['id']}")[1] for m in made]
    assert listed[0]["expires_at"].endswith("+06:00") and listed[1]["expires_at"].endswith("+08:00")

    # Released, booked or run out: no longer waiting for the patient.
    assert api.call("DELETE", f"/holds/{made[1]['id']}")[0] == 200
    assert api.call("POST", f"/holds/{made[2]['id']}/confirm", {})[0] == 201
    assert [m["id"] for m in api.call("GET", "/holds")[1]] == [made[0]["id"]]
    assert [m["id"] for m in other.call("GET", "/holds")[1]] == [theirs[1]["id"]]
    clock.advance(dt.timedelta(minutes=15))
    assert api.call("GET", "/holds") == (200, []) == other.call("GET", "/holds")


def test_the_list_of_holds_needs_a_login(api):
    status, problem = api.call("GET", "/holds")
    assert (status, problem["code"]) == (401, "auth.required")
