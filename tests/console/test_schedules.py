"""The console's 排班 pages: a clinic added by hand, templates generated, the week grid."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from guahao.his.models import HisConnection
from guahao.scheduling.models import Pool, RuleSet, Schedule, ScheduleEvent, ScheduleTemplate, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db


def console(h, role="operator"):
    f.staff_member(f"desk-{role}", role, h)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert client.login(username=f"desk-{role}", password="pw-for-tests")
    return client


def test_a_clinic_added_by_hand_has_its_hours_periods_and_pools():
    h = f.hospital(platform_share_percent=50)
    dep = f.department(h)
    doctor = f.doctor(dep)
    desk = console(h)
    day = f.today() + dt.timedelta(days=3)
    form = {
        "department": dep.pk,
        "doctor": doctor.pk,
        "date": day.isoformat(),
        "session": "pm",
        "start": "14:00",
        "end": "15:30",
        "period_minutes": "30",
        "slots_per_period": "4",
        "platform_share_percent": "",
        "location": "门诊四楼 402",
    }
    answer = desk.post("/console/scheduling/schedule/add/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    clinic = Schedule.objects.get()
    assert (clinic.date, clinic.session, clinic.location, clinic.doctor) == (day, "pm", "门诊四楼 402", doctor)
    assert clinic.periods.count() == 3
    pools = list(Slot.objects.filter(schedule=clinic).order_by("number").values_list("pool", flat=True))
    assert pools == [Pool.PLATFORM, Pool.PLATFORM, Pool.ONSITE, Pool.ONSITE] * 3  # the rules' 50 %
    assert ScheduleEvent.objects.get(schedule=clinic).actor == "desk-operator"
    assert desk.get(f"/console/scheduling/schedule/{clinic.pk}/change/").status_code == 200

    # the same doctor and session again: shown as a refusal, nothing added
    again = desk.post("/console/scheduling/schedule/add/", form, follow=True)
    assert again.status_code == 200
    assert "该医生（或诊室）在这一时间已有出诊" in again.content.decode()
    assert Schedule.objects.count() == 1

    bad = desk.post(
        "/console/scheduling/schedule/add/", form | {"end": "13:00", "date": (day + dt.timedelta(days=1)).isoformat()}
    )
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert Schedule.objects.count() == 1


def test_a_his_connected_hospital_cannot_add_clinics_or_templates_here():
    h = f.hospital()
    dep = f.department(h)
    HisConnection.objects.create(hospital=h, mode="synced", hospital_code="his-x")
    desk = console(h, "hospital_admin")
    form = {"department": dep.pk, "date": f.today().isoformat(), "session": "am", "start": "08:00", "end": "09:00",
            "period_minutes": "30", "slots_per_period": "3"}  # fmt: skip
    answer = desk.post("/console/scheduling/schedule/add/", form)
    assert answer.status_code == 200 and "HIS" in answer.content.decode()
    assert Schedule.objects.count() == 0


def test_templates_preview_then_publish_and_the_week_grid_shows_booked_and_free():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    desk = console(h, "hospital_admin")
    answer = desk.post(
        "/console/scheduling/scheduletemplate/add/",
        {
            "hospital": h.pk,
            "department": dep.pk,
            "doctor": doctor.pk,
            "weekday": str((f.today() + dt.timedelta(days=1)).weekday()),  # tomorrow, and a week later
            "session": "am",
            "start": "08:00",
            "end": "09:00",
            "period_minutes": "30",
            "slots_per_period": "5",
            "platform_share_percent": "100",
            "valid_from": f.today().isoformat(),
            "is_active": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert ScheduleTemplate.objects.get().capacity == 10

    url = "/console/scheduling/scheduletemplate/generate/"
    first_screen = desk.get(url).content.decode()
    assert 'id="do-preview"' in first_screen and 'id="do-publish"' not in first_screen  # no publishing unseen
    preview = desk.post(url, {"start": f.today().isoformat(), "weeks": "2", "preview": "yes"})
    assert preview.content.decode().count('data-outcome="create"') == 2
    assert 'id="do-publish"' in preview.content.decode()
    assert Schedule.objects.count() == 0
    published = desk.post(url, {"start": f.today().isoformat(), "weeks": "2", "publish": "yes"})
    assert published.content.decode().count('data-outcome="create"') == 2
    assert Schedule.objects.count() == 2

    first = Schedule.objects.order_by("date").first()
    patient = f.Api().login()
    patient.call("POST", "/holds", {"schedule_id": str(first.pk), "patient_id": patient.add_patient()})
    grid = desk.get(f"/console/scheduling/schedule/week/?department={dep.pk}&start={first.date.isoformat()}")
    body = grid.content.decode()
    assert grid.status_code == 200
    assert doctor.name in body and "1 已占, 9 空闲" in body
    online = Slot.objects.filter(schedule=first, state="free", pool=Pool.PLATFORM).count()
    assert f"(线上 {online} 个)" in body  # what patients can still book, apart
    assert desk.get("/console/scheduling/schedule/week/?department=abc").status_code == 200  # not a 500
    Schedule.objects.filter(pk=first.pk).update(status="suspended")
    body = desk.get(f"/console/scheduling/schedule/week/?department={dep.pk}&start={first.date.isoformat()}")
    assert "<strong>停诊</strong>" in body.content.decode()


def test_the_clinic_actions_ask_then_change_through_the_services_and_a_refusal_is_shown():
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))  # ten numbers
    patient = f.Api().login()
    patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    desk = console(h)
    url = "/console/scheduling/schedule/"
    chosen = {"_selected_action": [clinic.pk]}

    asked = desk.post(url, chosen | {"action": "change_capacity"})
    assert asked.status_code == 200 and 'name="capacity"' in asked.content.decode()
    refused = desk.post(url, chosen | {"action": "change_capacity", "apply": "yes", "capacity": "0"}, follow=True)
    assert "号源数量不能少于已锁定或已预约的号" in refused.content.decode()
    assert Slot.objects.filter(schedule=clinic, state="withdrawn").count() == 0
    desk.post(url, chosen | {"action": "change_capacity", "apply": "yes", "capacity": "6"})
    assert Slot.objects.filter(schedule=clinic).exclude(state="withdrawn").count() == 6

    desk.post(url, chosen | {"action": "move", "apply": "yes", "location": "门诊六楼 601", "reason": "诊室维修"})
    clinic.refresh_from_db()
    assert clinic.location == "门诊六楼 601"
    kinds = set(ScheduleEvent.objects.filter(schedule=clinic).values_list("kind", "actor"))
    assert kinds == {("capacity_changed", "desk-operator"), ("moved", "desk-operator")}


def test_a_template_that_ends_before_it_starts_is_told_at_its_field_and_a_doctor_reads_with_their_department():
    h = f.hospital()
    dep = f.department(h)
    special = f.department(h, "特需门诊")
    doctor = f.doctor(dep)
    desk = console(h, "hospital_admin")
    form = {
        "hospital": h.pk, "department": special.pk, "doctor": doctor.pk, "weekday": "1", "session": "am",
        "start": "09:00", "end": "08:00", "period_minutes": "30", "slots_per_period": "5",
        "valid_from": "2027-01-10", "valid_until": "2027-01-01", "is_active": "on",
    }  # fmt: skip
    page = desk.post("/console/scheduling/scheduletemplate/add/", form).content.decode()
    assert "结束时间须晚于开始时间" in page and "不能早于生效日期" in page
    assert "template_ends_after_start" not in page and "template_valid_until_after_from" not in page
    # The doctor is offered with their own department: one of another department is chosen knowingly.
    assert f"{doctor.name} · {dep.name}" in page
    assert ScheduleTemplate.objects.count() == 0
    saved = desk.post("/console/scheduling/scheduletemplate/add/", form | {"end": "11:00", "valid_until": ""})
    assert saved.status_code == 302  # a doctor's clinic in 特需门诊 is a template like any other


def test_a_rule_set_for_a_department_and_a_doctor_at_once_is_told_at_the_doctor():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    admin = console(h, "hospital_admin")
    page = admin.post(
        "/console/scheduling/ruleset/add/", {"hospital": h.pk, "department": dep.pk, "doctor": doctor.pk}
    ).content.decode()
    assert "规则只能针对医院、一个科室或一位医生" in page and "ruleset_one_scope" not in page


def test_a_rule_sets_empty_fields_show_what_they_take_from_above():
    h = f.hospital(hold_minutes=10, days_ahead=14)
    dep = f.department(h)
    below = RuleSet.objects.create(hospital=h, department=dep)
    admin = console(h, "hospital_admin")
    page = admin.get(f"/console/scheduling/ruleset/{below.pk}/change/").content.decode()
    assert re.search(r'<input[^>]*name="hold_minutes"[^>]*placeholder="10"', page) or re.search(
        r'<input[^>]*placeholder="10"[^>]*name="hold_minutes"', page
    )
    assert re.search(r'name="days_ahead"[^>]*placeholder="14"|placeholder="14"[^>]*name="days_ahead"', page)
    assert "留空的项采用框内灰色显示的值" in page
    new = admin.get("/console/scheduling/ruleset/add/").content.decode()
    assert re.search(r'name="hold_minutes"[^>]*placeholder="10"|placeholder="10"[^>]*name="hold_minutes"', new)
    # The choices too: an empty one reads as what it takes, not "choose" or "unknown".
    policy = page.split('name="cancel_policy"')[1].split("</select>")[0]
    assert re.search(r'<option value="" selected>沿用上级: [^<]+</option>', policy), policy[:300]
    paying = page.split('name="payment_required"')[1].split("</select>")[0]
    assert "沿用上级: " in paying and "未知" not in paying


@pytest.mark.clock("11:05")
def test_a_clinic_added_by_hand_that_is_over_clashes_or_reads_in_another_session_is_told_and_not_added():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    desk = console(h)
    day = f.today() + dt.timedelta(days=2)
    form = {"department": dep.pk, "doctor": doctor.pk, "date": day.isoformat(), "session": "am", "start": "08:00",
            "end": "12:00", "period_minutes": "30", "slots_per_period": "3", "location": "门诊楼3层 21诊室"}  # fmt: skip
    assert desk.post("/console/scheduling/schedule/add/", form).status_code == 302
    for changes, said in [
        ({"date": (f.today() - dt.timedelta(days=4)).isoformat()}, "这一天已过去。"),
        ({"date": f.today().isoformat(), "start": "08:00", "end": "10:00"}, "今天的这段时间已过去。"),
        ({"start": "11:00", "end": "13:00"}, "该医生（或诊室）在这一时间已有出诊"),  # the same doctor
        ({"date": (day + dt.timedelta(days=1)).isoformat(), "session": "pm", "start": "08:00", "end": "10:00"},
         "上午门诊在 12:00 前开始"),
    ]:  # fmt: skip
        page = desk.post("/console/scheduling/schedule/add/", form | changes).content.decode()
        assert said in page, changes
    assert Schedule.objects.count() == 1


def test_a_template_in_the_wrong_session_and_hours_before_without_hours_are_told_at_their_fields():
    h = f.hospital()
    dep = f.department(h)
    admin = console(h, "hospital_admin")
    form = {
        "hospital": h.pk, "department": dep.pk, "weekday": "1", "session": "pm", "start": "08:00", "end": "10:00",
        "period_minutes": "30", "slots_per_period": "5", "valid_from": "2027-01-10", "is_active": "on",
    }  # fmt: skip
    page = admin.post("/console/scheduling/scheduletemplate/add/", form).content.decode()
    assert "下午门诊在 12:00 至 18:00 间开始" in page and ScheduleTemplate.objects.count() == 0
    rules = RuleSet.objects.get(hospital=h, department=None, doctor=None)
    page = admin.post(
        f"/console/scheduling/ruleset/{rules.pk}/change/",
        {"hospital": h.pk, "cancel_policy": "hours_before", "cancel_hours_before": ""},
    ).content.decode()
    assert "请填写就诊前多少小时截止在线取消" in page
    assert RuleSet.objects.get(pk=rules.pk).cancel_policy != "hours_before"


def test_a_day_closed_on_which_clinics_are_open_says_which_stay_bookable():
    h = f.hospital()
    dep = f.department(h, "口腔科")
    clinic = f.schedule(dep, f.doctor(dep, "蒋刚"))
    admin = console(h, "hospital_admin")
    form = {
        "hospital": h.pk,
        "department": dep.pk,
        "date": clinic.date.isoformat(),
        "kind": "closure",
        "name": "设备检修",
    }
    page = admin.post("/console/scheduling/calendarday/add/", form, follow=True).content.decode()
    assert "当天已有 1 个出诊仍开放预约：蒋刚" in page and "请逐个停诊" in page
    assert Schedule.objects.get(pk=clinic.pk).status == "open"  # nothing cancelled behind the staff's back
