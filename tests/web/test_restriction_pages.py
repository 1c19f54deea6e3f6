"""Whom a department sees, told in the web app before a slot is picked: on the department's
page, and on the clinic's page beside each patient it would refuse."""

from __future__ import annotations

import pytest

from guahao.accounts import consent, phones
from guahao.accounts.models import Patient
from guahao.booking.models import Hold
from guahao.catalog.models import Department
from tests import factories as f
from tests.booking.test_department_restrictions import person
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def obstetrics():
    h = f.hospital()
    dep = f.department(h, name="产科")
    Department.objects.filter(pk=dep.pk).update(name_en="Obstetrics", patient_sex="female")
    return f.schedule(dep, f.doctor(dep, name="刘丽"))


def add(browser: Browser, number: str, name: str, relation: str) -> None:
    browser.post(
        "/patients/",
        {
            "consent_version": consent.TEXT_VERSION,
            "name": name,
            "id_type": "resident",
            "id_number": number,
            "phone": browser.phone,
            "relation": relation,
        },
    )


def test_a_man_is_told_before_picking_a_slot_and_cannot_hold_one():
    schedule = obstetrics()
    browser = Browser().login()
    add(browser, person("19800101", "male"), "张伟", "self")
    assert "产科接诊仅限女性患者。" in browser.get(f"/departments/{schedule.department_id}/")
    html = browser.get(f"/schedules/{schedule.pk}/")
    top = html.split('id="nobody-fits"')[1].split("</div>")[0]
    assert "您的就诊人都不符合该科室的接诊范围" in top and "产科接诊仅限女性患者。" in top
    assert html.index('id="nobody-fits"') < html.index('name="period_id"')  # before the times
    assert "disabled aria-describedby=" in html.split('name="patient_id"')[1].split(">")[0]
    assert "预约此号" not in html
    pid = Patient.objects.get(phones.matching(browser.phone, "account__phone_hash")).pk
    html = browser.post(
        f"/schedules/{schedule.pk}/hold", {"patient_id": pid, "notice": "read", "once": "x"}, status=409
    )
    assert 'data-code="rule.department_sex"' in html
    assert Hold.objects.count() == 0


def test_a_family_with_a_woman_can_book_her_and_sees_why_the_man_cannot():
    schedule = obstetrics()
    browser = Browser("en").login()
    add(browser, person("19800101", "male"), "张伟", "self")
    add(browser, person("19900101", "female"), "王芳", "spouse")
    html = browser.get(f"/schedules/{schedule.pk}/")
    assert "Obstetrics sees women only." in html and 'id="nobody-fits"' not in html
    man, woman = html.split('name="patient_id"')[1:3]
    assert "disabled" in man.split(">")[0] and "This department does not see patients of this sex" in man
    assert "checked" in woman.split(">")[0]
    assert "Hold this slot" in html


def test_a_family_of_adults_at_a_children_s_clinic_reads_the_rule_not_one_patient_s_age():
    h = f.hospital()
    dep = f.department(h, name="儿科")
    Department.objects.filter(pk=dep.pk).update(name_en="Paediatrics", age_under=14)
    schedule = f.schedule(dep, f.doctor(dep, name="周敏"))
    browser = Browser().login()
    add(browser, person("19630101", "male"), "张伟", "self")
    add(browser, person("19900101", "female"), "李娜", "other")
    top = browser.get(f"/schedules/{schedule.pk}/").split('id="nobody-fits"')[1].split("</div>")[0]
    assert "儿科接诊未满 14 岁的患者" in top
    assert "岁。" not in top.split("儿科接诊未满 14 岁的患者")[1]  # no age of one of them as if of all
