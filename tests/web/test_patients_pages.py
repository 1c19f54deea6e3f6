"""Family members in the web app without JavaScript: the documents hospitals accept, a refusal
that names the real problem and keeps what was typed, editing, and removing."""

from __future__ import annotations

import re

import pytest

from guahao.accounts import consent, phones
from guahao.accounts.models import Patient
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def form(browser: Browser, **fields: str) -> dict:
    return {
        "name": "张伟",
        "id_type": "resident",
        "phone": browser.phone,
        "relation": "child",
        "consent_version": consent.TEXT_VERSION,
    } | fields


def problem(html: str) -> str:
    return html.split('id="problem"')[1].split("</div>")[0]


def test_a_long_or_scripted_name_is_refused_with_the_names_rule_and_the_form_keeps_what_was_typed():
    browser = Browser().login()
    number = f.id_number("19900101")
    html = browser.post("/patients/", form(browser, name="张" * 300, id_number=number), status=422)
    assert "姓名不能超过 50 个字符。" in problem(html) and "请填写" not in problem(html)
    assert f'value="{number}"' in html and 'value="张张张' in html  # nothing to type again
    html = browser.post("/patients/", form(browser, name="<script>alert(1)</script>", id_number=number), status=422)
    assert "真实姓名中不应有这些字符：()/1&lt;" in problem(html)
    assert "<script>alert" not in html  # shown escaped, as text
    assert Patient.objects.count() == 0


def test_a_passport_needs_sex_and_birth_date_and_is_shown_masked():
    browser = Browser("en").login()
    html = browser.post(
        "/patients/", form(browser, name="John Smith", id_type="passport", id_number="E12345678"), status=422
    )
    assert "This document does not show the sex: choose it." in problem(html)
    assert 'id="f-gender"' in html and 'aria-invalid="true"' in html.split('id="f-gender"')[1].split(">")[0]
    assert re.search(r'<option value="passport" data-hint="[^"]+" selected>', html) and 'value="E12345678"' in html
    assert re.search(r'id="f-id-hint"[^>]*>A passport number has 5 to 17 letters and digits', html)  # its hint
    html = browser.post(
        "/patients/",
        form(
            browser,
            name="John Smith",
            id_type="passport",
            id_number="E12345678",
            gender="male",
            birth_date="1985-03-12",
        ),
    )
    assert "Passport E1*****78 · Male · 1985-03-12" in html and "E12345678" not in html


def test_a_patient_is_edited_and_removed_from_the_account():
    browser = Browser().login()
    browser.post("/patients/", form(browser, id_number=f.id_number("19900101")))
    p = Patient.objects.get(phones.matching(browser.phone, "account__phone_hash"))
    html = browser.get(f"/patients/{p.pk}/")
    assert f"当前为 {p.id_number_masked}" in html and 'name="id_number" value=""' in html
    html = browser.post(
        f"/patients/{p.pk}/",
        {
            "name": "张伟",
            "id_type": "resident",
            "id_number": "",
            "gender": "",
            "birth_date": "",
            "phone": "13987654321",
            "relation": "other",
        },
    )
    assert "修改已保存。" in html
    p.refresh_from_db()
    assert (p.phone, p.relation) == ("13987654321", "other")
    html = browser.post(
        f"/patients/{p.pk}/",
        {
            "name": "张伟",
            "id_type": "taiwan",
            "id_number": "123",
            "gender": "",
            "birth_date": "",
            "phone": "13987654321",
            "relation": "other",
        },
        status=422,
    )
    assert "台湾居民来往大陆通行证号码为 8 位数字" in problem(html) and 'value="123"' in html
    assert Patient.objects.get(pk=p.pk).id_type == "resident"
    assert "确定删除" in browser.get(f"/patients/{p.pk}/remove")
    html = browser.post(f"/patients/{p.pk}/remove", {})
    assert "已删除该就诊人。" in html and not Patient.objects.filter(pk=p.pk).exists()
    browser.get(f"/patients/{p.pk}/", status=404)


def test_a_patient_with_a_registration_ahead_is_not_removed_and_the_page_says_why():
    browser = Browser("en").login()
    browser.post("/patients/", form(browser, id_number=f.id_number("19900101"), relation="self"))
    p = Patient.objects.get(phones.matching(browser.phone, "account__phone_hash"))
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep))
    from guahao.booking import services as booking

    booking.hold_confirm(hold=booking.hold_create(account=p.account, patient=p, schedule=schedule))
    html = browser.post(f"/patients/{p.pk}/remove", {}, status=409)
    assert "This patient has a booking still open and cannot be removed now" in problem(html)
    assert "They have a registration that has not taken place yet: cancel it first." in problem(html)
    assert Patient.objects.get(pk=p.pk).removed_at is None
