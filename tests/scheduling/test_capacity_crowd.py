"""Capacity lowered while a crowd takes the numbers: never below what the crowd holds."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from guahao.booking.models import Hold, HoldStatus
from guahao.booking.services import Actor
from guahao.core.problems import Problem
from guahao.his import services as his
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import Schedule, Slot, SlotState
from tests import factories as f
from tests.booking.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("capacity", [4, 7])
def test_capacity_lowered_during_a_crowd_never_goes_below_the_numbers_taken(capacity):
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))  # ten online numbers
    crowd = []
    for _ in range(12):
        client = f.Api().login()
        crowd.append((client, client.add_patient()))
    desk = Actor("staff", "desk")

    def lower():
        try:
            return his.schedule_capacity_set(schedule=clinic, capacity=capacity, actor=desk)
        except Problem as problem:
            return problem.code

    jobs = [
        lambda c=c, p=p: c.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": p}) for c, p in crowd
    ]
    results = race([lower, *jobs[:6], lower, *jobs[6:]])

    assert not [r for r in results if isinstance(r, Exception)], results
    held = Hold.objects.filter(schedule=clinic, status=HoldStatus.HELD).count()
    counted = Counter(Slot.objects.filter(schedule=clinic).values_list("state", flat=True))
    offered = 10 - counted[SlotState.WITHDRAWN]
    assert counted[SlotState.HELD] == held  # every hold has its own number, none withdrawn
    assert offered >= held
    outcomes = [results[0], results[7]]
    if (10, capacity) in outcomes:  # lowered: the crowd got at most what is left
        assert offered == capacity
        assert held <= capacity
    else:  # both refused: the crowd had more than the capacity by then; nothing withdrawn
        assert outcomes == ["schedule.capacity_below_booked"] * 2
        assert offered == 10
    won = [r for r in results[1:7] + results[8:] if r[0] == 201]
    assert len(won) == held


@pytest.mark.clock("10:00")  # today's afternoon clinic is still ahead
def test_two_desks_publishing_the_same_weeks_at_once_make_each_clinic_once():
    h = f.hospital()
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
        )  # a general clinic every afternoon: no doctor, so only the template and day keep it single

    def publish():
        return scheduling.schedules_generate(hospital=h, start=f.today(), days=14, actor="desk")

    results = race([publish] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r.created) for r in results) == 14
    assert Schedule.objects.count() == 14
    assert sorted(Schedule.objects.values_list("date", flat=True)) == [
        f.today() + dt.timedelta(days=i) for i in range(14)
    ]
