"""A failed payment in a phone-sized Chromium (390×844), in both languages: the hold page says it
did not go through, keeps the method and the insurance choice, and paying again books.
Screenshots: ``artifacts/browser/<language>/payment-*.png``."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from guahao.accounts import consent
from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.core import clock
from tests import factories as f
from tests.processes import post
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium, phone_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {
    "zh-hans": {
        "send_code": "获取验证码",
        "log_in": "登录",
        "phone": "手机号",
        "notice": "我已阅读预约须知",
        "hold": "预约此号",
        "insurance": "使用医保结算",
        "alipay": "支付宝",
        "pay": "支付 ¥51.00",
        "waiting": "正在等待支付结果",
        "failed": "支付宝付款未成功",
        "again": "再次使用支付宝付款",
        "give_back": "放弃此号",
        "give_back_sure": "确认放弃此号",
        "given_back": "您已放弃这个号源",
    },
    "en": {
        "send_code": "Send me a code",
        "log_in": "Log in",
        "phone": "Mobile phone",
        "notice": "I have read the booking notice",
        "hold": "Hold this slot",
        "insurance": "Settle under my medical insurance",
        "alipay": "Alipay",
        "pay": "Pay ¥51.00",
        "waiting": "Waiting for the payment result",
        "failed": "The payment with Alipay did not go through",
        "again": "Try Alipay again",
        "give_back": "Give the slot back",
        "give_back_sure": "Yes, give the slot back",
        "given_back": "You gave this slot back",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_failed_payment_is_said_plainly_and_the_choices_are_kept(chromium, live_server, sandbox, language):  # noqa: F811
    text = TEXT[language]
    schedule, phone = _clinic_and_patient()
    context, page, shot = phone_page(chromium, language, "payment-", ours=live_server.url)
    _log_in_and_hold(page, live_server.url, schedule, phone, text, language)
    page.get_by_label(text["insurance"]).check()
    page.get_by_label(text["alipay"]).check()
    page.get_by_role("button", name=text["pay"]).click()
    page.wait_for_url(re.compile(r"/pay/"))
    cashier = page.url.split("?")[0]
    shot("cashier")
    assert post(cashier + "/fail") == 200
    page.goto(unquote(re.search(r"return=([^&]+)", page.url).group(1)))  # back from the cashier
    page.locator("#pay-state", has_text=text["failed"]).wait_for()
    assert text["waiting"] not in page.locator("main").inner_text()
    assert page.get_by_label(text["alipay"]).is_checked() and page.get_by_label(text["insurance"]).is_checked()
    shot("failed")

    page.get_by_role("link", name=text["again"]).click()
    page.wait_for_url(re.compile(r"/pay/"))
    page.get_by_role("button", name=re.compile("支付 Pay")).click()
    page.wait_for_url(re.compile(r"/registrations/\d+/$"))
    registration = Registration.objects.get()
    assert registration.insurance and registration.payment.method == "alipay"
    shot("paid")
    context.close()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_giving_a_slot_back_asks_once_more(chromium, live_server, language):  # noqa: F811
    """One tap on 放弃此号 only asks; the slot is given back when the patient says yes."""
    text = TEXT[language]
    schedule, phone = _clinic_and_patient()
    context, page, shot = phone_page(chromium, language, "give-back-", ours=live_server.url)
    _log_in_and_hold(page, live_server.url, schedule, phone, text, language)
    page.get_by_text(text["give_back"], exact=True).click()
    sure = page.get_by_role("button", name=text["give_back_sure"])
    sure.wait_for()
    shot("asked")
    assert Hold.objects.get().status == HoldStatus.HELD
    sure.click()
    page.get_by_text(text["given_back"]).first.wait_for()
    assert Hold.objects.get().status == HoldStatus.RELEASED
    shot("given-back")
    context.close()


def _clinic_and_patient():  # type: ignore[no-untyped-def]
    dep = f.department(f.hospital(payment_required=True))
    doctor = f.doctor(dep)
    schedule = f.schedule(dep, doctor)
    phone = f.phone()
    account = Account.objects.create(phone=phone, created_at=clock.now())
    accounts.patient_create(
        consent_version=consent.TEXT_VERSION,
        account=account,
        name="张伟",
        id_number=f.id_number(),
        phone=phone,
        relation="self",
    )
    return schedule, phone


def _log_in_and_hold(page, server: str, schedule, phone: str, text: dict, language: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{server}/login/?next=/schedules/{schedule.pk}/")
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    page.locator("#f-code").fill(re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.wait_for_url(re.compile(r"/schedules/\d+/"))
    page.get_by_label(text["notice"]).check()
    page.get_by_role("button", name=text["hold"]).click()
    page.wait_for_url(re.compile(r"/holds/\d+/"))
