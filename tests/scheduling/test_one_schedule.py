"""Staff work on one clinic: extra slots (加号), capacity, a move, suspension and re-opening."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guahao.booking import gate
from guahao.booking.services import Actor
from guahao.core import outbox
from guahao.core.problems import Problem
from guahao.his import services as his
from guahao.his.models import HisConnection
from guahao.his.tasks import generate_schedules
from guahao.scheduling import errors
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import Schedule, ScheduleEvent, ScheduleStatus, Slot, SlotState
from guahao.scheduling.services import schedule_capacity
from tests import factories as f

pytestmark = pytest.mark.django_db
DESK = Actor("staff", "desk-wang")


def hold(schedule, client=None):
    client = client or f.Api().login()
    return client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()})


def states(schedule) -> list[tuple[int, str, bool]]:
    return list(Slot.objects.filter(schedule=schedule).order_by("number").values_list("number", "state", "extra"))


def test_extra_slots_on_a_full_clinic_are_bookable_at_once_and_audited(django_capture_on_commit_callbacks):
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), end=dt.time(8, 30), slots_per_period=2)  # two numbers
    assert [hold(clinic)[0] for _ in range(2)] == [201, 201]
    status, refused = hold(clinic)
    assert (status, refused["code"]) == (409, "slot.unavailable")
    assert gate.sold_out(clinic.pk)  # the gate closed on the full clinic

    with django_capture_on_commit_callbacks(execute=True):
        slots = his.schedule_extra_slots_add(schedule=clinic, count=2, reason="患者病情急需", actor=DESK)

    assert [s.number for s in slots] == [3, 4]
    status, held = hold(clinic)
    assert (status, held["slot_number"]) == (201, 3)
    assert states(clinic)[2:] == [(3, SlotState.HELD, True), (4, SlotState.FREE, True)]
    event = ScheduleEvent.objects.get(schedule=clinic, kind="extra_slots_added")
    assert (event.actor, event.reason, event.data) == ("desk-wang", "患者病情急需", {"count": 2, "numbers": [3, 4]})


def test_extra_slots_need_a_reason_and_an_open_clinic_and_a_refusal_adds_nothing():
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    with pytest.raises(Problem) as refused:
        his.schedule_extra_slots_add(schedule=clinic, count=2, reason=" ", actor=DESK)
    assert (refused.value.code, refused.value.extra["field"]) == ("schedule.invalid", "reason")
    his.schedule_suspend(schedule=clinic, reason="医生外出", actor=DESK)
    with pytest.raises(Problem) as refused:
        his.schedule_extra_slots_add(schedule=clinic, count=2, reason="加号", actor=DESK)
    assert refused.value.code == errors.SCHEDULE_CLOSED.code
    assert Slot.objects.filter(schedule=clinic).count() == 10
    assert not ScheduleEvent.objects.filter(kind="extra_slots_added").exists()


def test_capacity_goes_down_to_the_taken_numbers_never_below(django_capture_on_commit_callbacks):
    h = f.hospital()
    clinic = f.schedule(f.department(h))  # ten numbers
    for _ in range(3):
        hold(clinic)

    with pytest.raises(Problem) as refused:
        his.schedule_capacity_set(schedule=clinic, capacity=2, actor=DESK)
    assert (refused.value.code, refused.value.extra["field"]) == ("schedule.capacity_below_booked", "capacity")
    assert schedule_capacity(clinic) == 10  # nothing changed
    assert Slot.objects.filter(schedule=clinic, state=SlotState.WITHDRAWN).count() == 0

    assert his.schedule_capacity_set(schedule=clinic, capacity=3, actor=DESK) == (10, 3)
    assert [s[:2] for s in states(clinic)] == [(n, SlotState.HELD) for n in (1, 2, 3)] + [
        (n, SlotState.WITHDRAWN) for n in range(4, 11)
    ]
    status, refused_hold = hold(clinic)
    assert (status, refused_hold["code"]) == (409, "slot.unavailable")

    with django_capture_on_commit_callbacks(execute=True):  # the gate closed on the full clinic opens
        assert his.schedule_capacity_set(schedule=clinic, capacity=5, actor=DESK) == (3, 5)
    assert [s[:2] for s in states(clinic)[-2:]] == [(11, SlotState.FREE), (12, SlotState.FREE)]
    assert hold(clinic)[1]["slot_number"] == 11
    changes = ScheduleEvent.objects.filter(schedule=clinic, kind="capacity_changed").order_by("at", "id")
    assert [e.data for e in changes] == [{"before": 10, "after": 3}, {"before": 3, "after": 5}]


def test_a_moved_clinic_tells_its_booked_patients_the_new_time_and_room():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    clinic = f.schedule(dep, doctor)  # 08:00-09:00, two periods
    patient = f.Api().login()
    _, held = hold(clinic, patient)
    patient.call("POST", f"/holds/{held['id']}/confirm", {})

    changes, told = his.schedule_move(
        schedule=clinic, actor=DESK, start=dt.time(14, 0), end=dt.time(15, 0), location="门诊三楼 305"
    )

    assert changes == {"time": ["08:00-09:00", "14:00-15:00"], "location": ["", "门诊三楼 305"]}
    assert told == 1
    clinic.refresh_from_db()
    local = [p.starts_at.astimezone(ZoneInfo(h.timezone)).strftime("%H:%M") for p in clinic.periods.all()]
    assert local == ["14:00", "14:30"]
    outbox.deliver_all()  # the worker tells the patients
    _, messages = patient.call("GET", "/messages")
    assert messages[0]["kind"] == "schedule.moved"
    assert "14:00" in messages[0]["body"] and "门诊三楼 305" in messages[0]["body"]
    _, registration = patient.call("GET", "/registrations")
    assert registration[0]["status"] == "booked"


def test_a_move_into_another_clinic_of_the_same_doctor_is_refused_and_changes_nothing():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    clinic = f.schedule(dep, doctor)  # 08:00-09:00
    f.schedule(dep, doctor, session="pm", start=dt.time(14, 0), end=dt.time(17, 0))
    with pytest.raises(Problem) as refused:
        his.schedule_move(schedule=clinic, actor=DESK, start=dt.time(13, 0), end=dt.time(15, 0))
    assert refused.value.code == "schedule.clash"
    before = clinic.starts_at
    clinic.refresh_from_db()
    assert clinic.starts_at == before
    assert not ScheduleEvent.objects.filter(kind="moved").exists()


def test_a_suspended_clinic_reopens_and_is_bookable_again(django_capture_on_commit_callbacks):
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    his.schedule_suspend(schedule=clinic, reason="医生外出", actor=DESK)
    assert hold(clinic)[1]["code"] == "schedule.suspended"

    with django_capture_on_commit_callbacks(execute=True):
        his.schedule_reopen(schedule=clinic, actor=DESK)

    clinic.refresh_from_db()
    assert (clinic.status, clinic.suspended_reason) == (ScheduleStatus.OPEN, "")
    assert hold(clinic)[0] == 201
    with pytest.raises(Problem) as refused:
        his.schedule_reopen(schedule=clinic, actor=DESK)
    assert refused.value.code == "schedule.not_suspended"
    kinds = list(ScheduleEvent.objects.filter(schedule=clinic).order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["suspended", "reopened"]


def test_a_his_connected_hospitals_schedules_are_refused_with_a_code_that_says_so():
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep)
    HisConnection.objects.create(hospital=h, mode="synced", hospital_code="his-h")
    with pytest.raises(Problem) as refused:
        his.template_create(
            hospital=h,
            department=dep,
            weekday=0,
            session="am",
            start=dt.time(8, 0),
            end=dt.time(9, 0),
            valid_from=f.today(),
        )
    assert refused.value.code == "his.schedules_from_his"
    with pytest.raises(Problem) as refused:
        his.schedules_generate(hospital=h, start=f.today(), days=7, actor="desk")
    assert refused.value.code == "his.schedules_from_his"
    with pytest.raises(Problem) as refused:
        his.schedule_extra_slots_add(schedule=clinic, count=1, reason="加号", actor=DESK)
    assert refused.value.code == "his.extra_slots_unsupported"
    with pytest.raises(Problem) as refused:
        his.schedule_capacity_set(schedule=clinic, capacity=3, actor=DESK)
    assert refused.value.code == "his.schedules_from_his"
    assert not dep.schedule_templates.exists()
    assert Slot.objects.filter(schedule=clinic).count() == 10


@pytest.mark.clock("10:00")  # today's afternoon clinic is still ahead
def test_the_hourly_job_generates_for_hospitals_without_a_his_only():
    ours, connected = f.hospital(days_ahead=3), f.hospital(days_ahead=3)
    for h in (ours, connected):
        dep = f.department(h)
        for weekday in range(7):
            scheduling.template_create(
                hospital=h,
                department=dep,
                weekday=weekday,
                session="pm",
                start=dt.time(14, 0),
                end=dt.time(15, 0),
                valid_from=f.today(),
            )
    HisConnection.objects.create(hospital=connected, mode="synced", hospital_code="his-c")

    assert generate_schedules.call_local() == 4  # today and the three days ahead
    assert generate_schedules.call_local() == 0
    assert set(Schedule.objects.values_list("hospital", flat=True)) == {ours.pk}
