"""A department's restriction in a phone-sized Chromium (390×844), in both languages: a man's
account opens 产科 (women only) and is told before picking a slot; with his wife added, she is
the one the clinic can book. Screenshots: ``artifacts/browser/<language>/restriction-*.png``."""

from __future__ import annotations

import re

import pytest

from guahao.accounts import consent
from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.booking.models import Hold
from guahao.catalog.models import Department
from guahao.core import clock
from tests import factories as f
from tests.booking.test_department_restrictions import person
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium, phone_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {
    "zh-hans": {
        "rule": "产科接诊仅限女性患者。",
        "nobody": "您的就诊人都不符合该科室的接诊范围",
        "why": "该科室不接诊该性别的患者",
        "hold": "预约此号",
        "notice": "我已阅读预约须知",
        "send_code": "获取验证码",
        "log_in": "登录",
        "phone": "手机号",
    },
    "en": {
        "rule": "Obstetrics sees women only.",
        "nobody": "None of your patients can be booked here",
        "why": "This department does not see patients of this sex",
        "hold": "Hold this slot",
        "notice": "I have read the booking notice",
        "send_code": "Send me a code",
        "log_in": "Log in",
        "phone": "Mobile phone",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_obstetrics_tells_a_man_before_a_slot_is_picked(chromium, live_server, language):  # noqa: F811
    text = TEXT[language]
    dep = f.department(f.hospital(), name="产科")
    Department.objects.filter(pk=dep.pk).update(name_en="Obstetrics", patient_sex="female")
    schedule = f.schedule(dep, f.doctor(dep, name="刘丽"))
    phone = f.phone()
    account = Account.objects.create(phone=phone, created_at=clock.now())
    accounts.patient_create(
        consent_version=consent.TEXT_VERSION,
        account=account,
        name="张伟",
        id_number=person("19800101", "male"),
        phone=phone,
        relation="self",
    )
    context, page, shot = phone_page(chromium, language, "restriction-")

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{live_server.url}/login/?next=/departments/{dep.pk}/")
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    page.locator("#f-code").fill(re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.wait_for_url(re.compile(r"/departments/\d+/"))
    assert text["rule"] in page.locator("#restriction").inner_text()
    shot("department")

    page.goto(f"{live_server.url}/schedules/{schedule.pk}/")
    assert text["nobody"] in page.locator("#nobody-fits").inner_text()
    assert (
        page.locator("#nobody-fits").bounding_box()["y"]
        < page.locator("input[name=period_id]").first.bounding_box()["y"]
    )
    assert page.get_by_role("button", name=text["hold"]).count() == 0
    assert page.locator("input[name=patient_id]").is_disabled()
    assert text["why"] in page.locator("label.choice.refused").inner_text()
    shot("refused")

    accounts.patient_create(
        consent_version=consent.TEXT_VERSION,
        account=account,
        name="王芳",
        id_number=person("19900101", "female"),
        phone=phone,
        relation="spouse",
    )
    page.reload()
    assert page.locator("#nobody-fits").count() == 0
    page.get_by_label(text["notice"]).check()
    shot("one-fits")
    page.get_by_role("button", name=text["hold"]).click()
    page.wait_for_url(re.compile(r"/holds/\d+/"))
    assert Hold.objects.get().patient.name == "王芳"
    context.close()
