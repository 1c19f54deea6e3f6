"""Adding a family member on the patients page: a refusal is read where the page opens."""

from __future__ import annotations

import re

import pytest

from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def test_a_refused_family_member_shows_the_reason_where_the_page_opens_naming_the_guardian():
    from guahao.accounts import consent
    from guahao.accounts.models import Patient

    browser = Browser().login()
    browser.add_self()
    child = {
        "name": "张小明",
        "id_number": f.id_number("20190101"),
        "phone": browser.phone,
        "relation": "child",
        "guardian_name": "X",
        "guardian_relation": "parent",
        "consent_version": consent.TEXT_VERSION,
    }
    html = browser.post("/patients/", child, status=422)
    assert 'action="/patients/#problem"' in html  # the page opens at the reason, not below the list
    problem = re.search(r'<div class="problem" role="alert" id="problem".*?</div>', html, re.S).group(0)
    assert "监护人姓名：" in problem and "至少应有两个字" in problem
    assert not Patient.objects.filter(name="张小明").exists()


def test_a_booked_patients_name_and_id_are_shown_as_they_are_not_offered_for_editing():
    from guahao.accounts.models import Patient

    browser = Browser().login()
    me = browser.add_self()
    assert 'id="f-name"' in browser.get(f"/patients/{me.pk}/")  # never booked: all of it can be corrected
    dep = f.department(f.hospital())
    clinic = f.schedule(dep, f.doctor(dep))
    browser.post(f"/schedules/{clinic.pk}/hold", {"patient_id": me.pk, "notice": "read", "once": "b"})

    html = browser.get(f"/patients/{me.pk}/")
    assert 'id="identity-locked"' in html and 'id="f-name"' not in html and 'id="f-id"' not in html
    assert me.id_number_masked in html and "不能修改姓名和证件信息" in html
    browser.post(f"/patients/{me.pk}/", {"phone": "13912345678", "relation": "self"})
    assert Patient.objects.get(pk=me.pk).phone == "13912345678"  # the rest is still edited
