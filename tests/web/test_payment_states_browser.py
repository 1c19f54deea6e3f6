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
from guahao.booking.models import Registration
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
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_failed_payment_is_said_plainly_and_the_choices_are_kept(chromium, live_server, sandbox, language):  # noqa: F811
    text = TEXT[language]
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
    context, page, shot = phone_page(chromium, language, "payment-", ours=live_server.url)

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{live_server.url}/login/?next=/schedules/{schedule.pk}/")
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    page.locator("#f-code").fill(re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0))
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.wait_for_url(re.compile(r"/schedules/\d+/"))
    page.get_by_label(text["notice"]).check()
    page.get_by_role("button", name=text["hold"]).click()
    page.wait_for_url(re.compile(r"/holds/\d+/"))
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
