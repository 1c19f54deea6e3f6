"""Family members in a phone-sized Chromium (390×844), in both languages: a refused name and a
refused permit number said as they are (the fields kept), a passport with its sex and birth date,
an edit, and a removal. Screenshots go to ``artifacts/browser/<language>/patients-*.png``; every
page passes the booking journey's audit."""

from __future__ import annotations

import re

import pytest

from guahao.accounts import phones
from guahao.accounts.models import Patient
from tests import factories as f
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium, phone_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = {
    "zh-hans": {
        "send_code": "获取验证码",
        "log_in": "登录",
        "phone": "手机号",
        "real_name": "真实姓名",
        "document": "证件类型",
        "id_number": "证件号码",
        "sex": "性别",
        "birth": "出生日期",
        "relation": "与您的关系",
        "add": "添加",
        "too_long": "姓名不能超过 50 个字符。",
        "permit_rule": "港澳居民来往内地通行证号码为 H 或 M 加 8 位",
        "passport_rule": "护照号码由 5 至 17 位字母和数字组成",
        "added": "护照 E1*****78",
        "edit": "编辑或删除",
        "save": "保存",
        "saved": "修改已保存。",
        "remove": "删除",
        "yes_remove": "确定删除",
        "removed": "已删除该就诊人。",
    },
    "en": {
        "send_code": "Send me a code",
        "log_in": "Log in",
        "phone": "Mobile phone",
        "real_name": "Real name",
        "document": "ID document",
        "id_number": "ID document number",
        "sex": "Sex",
        "birth": "Birth date",
        "relation": "Relation to you",
        "add": "Add",
        "too_long": "The name is longer than 50 characters.",
        "permit_rule": "A Hong Kong or Macao permit number is H or M followed by 8 (or 10) digits.",
        "passport_rule": "A passport number has 5 to 17 letters and digits",
        "added": "Passport E1*****78",
        "edit": "Edit or remove",
        "save": "Save",
        "saved": "The changes are saved.",
        "remove": "Remove",
        "yes_remove": "Yes, remove",
        "removed": "The patient was removed.",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_family_members_added_with_their_documents_edited_and_removed(chromium, live_server, language):  # noqa: F811
    text = LABELS[language]
    context, page, shot = phone_page(chromium, language, "patients-")

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{live_server.url}/patients/")
    phone = f.phone()
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    page.locator("#f-code").fill(re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.wait_for_url(re.compile(r"/patients/$"))

    # A resident card: sex and birth date are read from the number, so they are not asked.
    assert not page.get_by_label(text["sex"]).is_visible()
    page.get_by_label(text["real_name"]).fill("张" * 300)
    page.get_by_label(text["id_number"]).fill(f.id_number("19900101"))
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["add"], exact=True).click()
    assert text["too_long"] in page.locator("#problem").inner_text()
    assert page.get_by_label(text["real_name"]).input_value() == "张" * 300  # kept, to shorten
    shot("name-refused")

    page.get_by_label(text["real_name"]).fill("John Smith")
    page.get_by_label(text["document"], exact=True).select_option("hk_macau")
    assert page.get_by_label(text["sex"]).is_visible()  # a permit does not carry them
    assert text["permit_rule"] in page.locator("#f-id-hint").inner_text()  # the hint follows the document
    page.get_by_label(text["id_number"]).fill("E12345678")
    page.get_by_label(text["sex"]).select_option("male")
    page.get_by_label(text["birth"]).fill("1985-03-12")
    page.get_by_role("button", name=text["add"], exact=True).click()
    assert text["permit_rule"] in page.locator("#problem").inner_text()
    assert page.get_by_label(text["id_number"]).input_value() == "E12345678"
    assert page.get_by_label(text["birth"]).input_value() == "1985-03-12"
    shot("permit-refused")

    assert text["permit_rule"] in page.locator("#f-id-hint").inner_text()  # the page again says it too
    page.get_by_label(text["document"], exact=True).select_option("passport")  # it was a passport after all
    assert text["passport_rule"] in page.locator("#f-id-hint").inner_text()
    page.locator("input[name=consent_version]").check()  # the separate consent to personal information
    page.get_by_role("button", name=text["add"], exact=True).click()
    card = page.locator("li.patient", has_text="John Smith")
    assert text["added"] in card.inner_text() and "E12345678" not in page.content()
    shot("added")

    card.get_by_role("link", name=re.compile(text["edit"])).click()
    page.get_by_label(text["relation"]).select_option("spouse")
    shot("edit")
    page.get_by_role("button", name=text["save"], exact=True).click()
    assert text["saved"] in page.locator("#saved").inner_text()
    assert Patient.objects.get(phones.matching(phone, "account__phone_hash")).relation == "spouse"

    page.locator("li.patient", has_text="John Smith").get_by_role("link", name=re.compile(text["edit"])).click()
    page.get_by_role("link", name=text["remove"], exact=True).click()
    shot("remove")
    page.get_by_role("button", name=text["yes_remove"]).click()
    assert text["removed"] in page.locator("#removed").inner_text()
    assert not Patient.objects.filter(phones.matching(phone, "account__phone_hash")).exists()
    shot("removed")
    context.close()
