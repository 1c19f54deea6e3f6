"""Finding a department or doctor and seeing which days still have slots."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.catalog.models import Title
from guahao.scheduling.models import RuleSet, Schedule, ScheduleStatus, Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def cardiology():
    h = f.hospital(days_ahead=7, hold_minutes=10)
    internal = f.department(h, "内科")
    cardio = f.department(h, "心血管内科", parent=internal)
    leaf = f.department(h, "高血压专病门诊", parent=cardio)
    return h, internal, cardio, leaf


def test_hospitals_carry_the_rules_a_patient_must_know(api, cardiology):
    h, *_ = cardiology
    status, body = api.call("GET", f"/hospitals/{h.pk}")
    assert status == 200
    assert body["name"] == h.name
    assert body["rules"]["days_ahead"] == 7
    assert body["rules"]["hold_minutes"] == 10
    assert body["rules"]["release_time"] == "07:00"
    assert [x["id"] for x in api.call("GET", "/hospitals")[1]] == [str(h.pk)]


def test_the_department_tree_is_three_levels_and_only_leaves_are_bookable(api, cardiology):
    h, internal, cardio, leaf = cardiology
    tree = api.call("GET", f"/hospitals/{h.pk}/departments")[1]
    assert [(n["name"], n["level"], n["bookable"]) for n in tree] == [("内科", 1, False)]
    second = tree[0]["children"][0]
    assert (second["name"], second["level"], second["bookable"]) == ("心血管内科", 2, False)
    third = second["children"][0]
    assert (third["id"], third["level"], third["bookable"], third["children"]) == (str(leaf.pk), 3, True, [])


def test_a_fourth_level_is_refused(cardiology):
    from guahao.core.problems import Problem

    h, _, _, leaf = cardiology
    with pytest.raises(Problem) as refused:
        f.department(h, "第四级", parent=leaf)
    assert refused.value.code == "department.too_deep"


def test_availability_of_a_department_that_is_not_a_leaf_is_refused(api, cardiology):
    _, internal, *_ = cardiology
    status, body = api.call("GET", f"/departments/{internal.pk}/availability")
    assert (status, body["code"]) == (409, "department.not_bookable")


def test_search_finds_doctors_by_name_pinyin_initials_and_specialty(api, cardiology):
    h, _, _, leaf = cardiology
    wang = f.doctor(leaf, "王建华")
    other = f.Api()
    assert [d["id"] for d in other.call("GET", "/search?q=王建")[1]["doctors"]] == [str(wang.pk)]
    assert [d["id"] for d in other.call("GET", "/search?q=wjh")[1]["doctors"]] == [str(wang.pk)]
    assert [d["id"] for d in other.call("GET", "/search?q=高血压")[1]["doctors"]] == [str(wang.pk)]
    assert other.call("GET", "/search?q=gxyzb")[1]["departments"][0]["id"] == str(leaf.pk)
    assert other.call("GET", "/search?q=李")[1] == {"departments": [], "doctors": []}
    assert other.call("GET", f"/search?q=wjh&hospital={h.pk}")[1]["doctors"][0]["title"] == Title.CHIEF


def test_search_in_another_hospital_finds_nothing_of_this_one(api, cardiology):
    *_, leaf = cardiology
    f.doctor(leaf, "王建华")
    elsewhere = f.hospital()
    assert api.call("GET", f"/search?q=wjh&hospital={elsewhere.pk}")[1]["doctors"] == []


@pytest.mark.clock("10:00")
def test_availability_shows_each_state_of_a_day(api, cardiology):
    h, *_, leaf = cardiology
    doc = f.doctor(leaf)
    today = f.today()
    f.schedule(leaf, doc, day=today + dt.timedelta(days=1))
    full = f.schedule(leaf, doc, day=today + dt.timedelta(days=2))
    Slot.objects.filter(schedule=full).update(state=SlotState.BOOKED)
    stopped = f.schedule(leaf, doc, day=today + dt.timedelta(days=3))
    Schedule.objects.filter(pk=stopped.pk).update(status=ScheduleStatus.SUSPENDED)
    f.schedule(leaf, doc, day=today + dt.timedelta(days=7))  # released today at 07:00
    f.schedule(leaf, doc, day=today + dt.timedelta(days=8))  # released tomorrow

    status, body = api.call("GET", f"/departments/{leaf.pk}/availability?days=9")
    assert status == 200
    days = {d["date"]: d for d in body["days"]}
    assert len(body["days"]) == 9
    iso = lambda n: (today + dt.timedelta(days=n)).isoformat()  # noqa: E731
    assert (days[iso(0)]["status"], days[iso(0)]["available"]) == ("none", 0)
    assert (days[iso(1)]["status"], days[iso(1)]["available"]) == ("available", 10)
    assert (days[iso(2)]["status"], days[iso(2)]["available"]) == ("full", 0)
    assert days[iso(3)]["status"] == "suspended"
    assert (days[iso(7)]["status"], days[iso(7)]["available"]) == ("available", 10)
    assert (days[iso(8)]["status"], days[iso(8)]["available"]) == ("not_released", 0)
    one = days[iso(1)]["schedules"][0]
    assert one["doctor"]["name"] == "王建华"
    assert one["fee_fen"] == 5100  # chief: 1 yuan registration + 50 yuan consultation


def test_a_department_can_release_further_ahead_than_its_hospital(api, cardiology):
    h, _, cardio, leaf = cardiology
    RuleSet.objects.create(hospital=h, department=cardio, days_ahead=14)
    doc = f.doctor(leaf)
    f.schedule(leaf, doc, day=f.today() + dt.timedelta(days=12))
    body = api.call("GET", f"/departments/{leaf.pk}/availability?days=14")[1]
    assert body["days"][12]["status"] == "available"


def test_a_client_still_on_yesterday_sees_today_onwards(api, cardiology):
    *_, leaf = cardiology
    yesterday = (f.today() - dt.timedelta(days=1)).isoformat()
    status, body = api.call("GET", f"/departments/{leaf.pk}/availability?from={yesterday}&days=3")
    assert status == 200
    assert [d["date"] for d in body["days"]][0] == f.today().isoformat()


def test_availability_outside_the_window_is_refused(api, cardiology):
    *_, leaf = cardiology
    before = (f.today() - dt.timedelta(days=2)).isoformat()
    status, body = api.call("GET", f"/departments/{leaf.pk}/availability?from={before}")
    assert (status, body["code"], body["field"]) == (422, "request.date_range", "from")
    status, body = api.call("GET", f"/departments/{leaf.pk}/availability?days=15")
    assert (status, body["field"]) == (422, "days")


def test_a_schedule_lists_its_periods_with_what_is_left(api, cardiology):
    *_, leaf = cardiology
    sch = f.schedule(leaf, f.doctor(leaf))
    Slot.objects.filter(schedule=sch, period__starts_at=sch.starts_at, number=1).update(state=SlotState.BOOKED)
    status, body = api.call("GET", f"/schedules/{sch.pk}")
    assert status == 200
    assert [(p["available"]) for p in body["periods"]] == [4, 5]
    assert body["periods"][0]["starts_at"].endswith("08:00:00+08:00")
    assert body["available"] == 9


def test_unknown_ids_are_404(api):
    assert api.call("GET", "/hospitals/999999")[1]["code"] == "not_found"
    assert api.call("GET", "/schedules/abc")[0] == 404
    assert api.call("GET", "/departments/999999/availability")[0] == 404
