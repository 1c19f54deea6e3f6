"""Whom a department sees (obstetrics: women; paediatrics: children under 14), checked by the
hold rules on the patient's sex and age on the visit day; a refusal changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking.models import Hold
from guahao.catalog.models import Department
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


# f.id_number's sequence is odd or even in turn; this picks the sex wanted.
def person(birth: str, sex: str) -> str:
    while True:
        number = f.id_number(birth)
        if (int(number[16]) % 2 == 1) == (sex == "male"):
            return number


def clinic(**restriction):
    h = f.hospital()
    dep = f.department(h, name="产科")
    Department.objects.filter(pk=dep.pk).update(**restriction)
    return f.schedule(dep, f.doctor(dep))


def hold(api: f.Api, schedule, patient_id: str) -> tuple[int, dict]:
    return api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})


def test_a_women_only_department_refuses_a_man_and_takes_a_woman():
    schedule = clinic(patient_sex="female")
    api = f.Api(language="en").login()
    man = api.add_patient(person("19800101", "male"), relation="self")
    woman = api.add_patient(person("19850101", "female"), relation="spouse", name="王芳")

    status, body = hold(api, schedule, man)
    assert (status, body["code"], body["field"], body["rule"]) == (409, "rule.department_sex", "patient_id", "female")
    assert body["title"] == "This department does not see patients of this sex"
    assert body["detail"] == "Cardiology sees women only."
    assert Hold.objects.count() == 0 and not Slot.objects.exclude(state=SlotState.FREE).exists()

    assert hold(api, schedule, woman)[0] == 201


@pytest.mark.parametrize(("born_years_before", "status"), [(13, 201), (14, 409), (40, 409)])
def test_a_paediatrics_clinic_sees_children_under_14_by_their_age_on_the_visit_day(born_years_before, status):
    schedule = clinic(age_under=14)
    visit = schedule.date
    # born the day after the visit date N years before: N-1 on the visit day... so one day earlier
    birth = dt.date(visit.year - born_years_before, visit.month, min(visit.day, 28))
    api = f.Api().login()
    api.add_patient(f.id_number("19800101"), relation="self")  # the parent, the child's guardian
    pid = api.add_patient(f.id_number(birth.strftime("%Y%m%d")), relation="child")
    got, body = hold(api, schedule, pid)
    assert got == status, body
    if status == 409:
        assert body["code"] == "rule.department_age"
        assert body["detail"].startswith("Cardiology接诊未满 14 岁的患者。") or "未满 14 岁" in body["detail"]
        assert f"就诊当天 {born_years_before} 岁" in body["detail"]
        assert Hold.objects.count() == 0


def test_a_birthday_on_the_visit_day_counts():
    schedule = clinic(age_from=18)
    visit = schedule.date
    api = f.Api().login()
    turning = api.add_patient(f.id_number(f"{visit.year - 18}{visit.month:02d}{visit.day:02d}"), relation="self")
    assert hold(api, schedule, turning)[0] == 201
    tomorrow = visit + dt.timedelta(days=1)
    not_yet = api.add_patient(
        f.id_number(f"{tomorrow.year - 18}{tomorrow.month:02d}{tomorrow.day:02d}"), relation="child"
    )
    other = clinic(age_from=18)
    assert hold(api, other, not_yet)[1]["code"] == "rule.department_age"


def test_the_department_tree_tells_whom_each_department_sees(api):
    schedule = clinic(patient_sex="female")
    Department.objects.filter(pk=schedule.department_id).update(age_from=None, age_under=None)
    status, tree = api.call("GET", f"/hospitals/{schedule.hospital_id}/departments")
    node = tree[0]
    assert (node["patient_sex"], node["age_from"], node["age_under"]) == ("female", None, None)


@pytest.mark.clock("10:00")  # tomorrow's waitlist is open until 18:00
def test_the_waitlist_refuses_a_patient_the_department_does_not_see():
    from tests.waitlist.test_waitlist import full_clinic, join

    _, schedule, _, _ = full_clinic()
    Department.objects.filter(pk=schedule.department_id).update(age_under=14)
    client = f.Api().login()
    adult = client.add_patient(f.id_number("19800101"))
    status, body = join(client, schedule, adult)
    assert (status, body["code"]) == (409, "rule.department_age")


def test_staff_set_whom_a_department_sees_in_the_console_and_an_empty_range_is_refused():
    from django.contrib.auth.models import User
    from django.test import Client

    h = f.hospital()
    dep = f.department(h, name="儿科")
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    console.login(username="ops", password="pw-for-tests")
    url = f"/console/catalog/department/{dep.pk}/change/"
    page = console.get(url).content.decode()
    assert "接诊性别" in page and "年龄上限（不含）" in page
    form = {"hospital": h.pk, "name": "儿科", "name_en": "Paediatrics", "sort": 0, "patient_sex": ""}
    response = console.post(url, form | {"age_from": "14", "age_under": "14"})
    assert "最小年龄须小于年龄上限。" in response.content.decode()
    assert Department.objects.get(pk=dep.pk).age_under is None
    response = console.post(url, form | {"age_from": "", "age_under": "14"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Department.objects.get(pk=dep.pk).age_under == 14
