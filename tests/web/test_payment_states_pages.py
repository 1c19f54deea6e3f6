"""Payment states said plainly (waiting, failed, paid, refunding, refunded) with the patient's
choices kept, and the cancellation rule of a booking shown before it is held, with a warning
when it could not be cancelled online."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from guahao.accounts import consent, phones
from guahao.accounts.models import Patient
from guahao.booking.models import Hold, Registration
from guahao.scheduling.models import RuleSet
from tests import factories as f
from tests.processes import post
from tests.web.test_pages import Browser, clinic  # noqa: F401 - the clinic fixture

pytestmark = pytest.mark.django_db


def held(browser: Browser, schedule) -> Hold:
    browser.post(
        "/patients/",
        {
            "consent_version": consent.TEXT_VERSION,
            "name": "张伟",
            "id_number": f.id_number(),
            "phone": browser.phone,
            "relation": "self",
        },
    )
    pid = Patient.objects.get(phones.matching(browser.phone, "account__phone_hash")).pk
    browser.post(f"/schedules/{schedule.pk}/hold", {"patient_id": pid, "notice": "read", "once": "p"})
    return Hold.objects.get()


def state(html: str) -> str:
    return html.split('id="pay-state"')[1].split("</div>")[0]


def test_a_failed_payment_says_so_and_keeps_the_method_and_insurance_chosen(clinic, sandbox):  # noqa: F811
    browser = Browser().login()
    hold = held(browser, clinic["li_tomorrow"])
    cashier = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "alipay", "insurance": "1"})["Location"]
    html = browser.get(f"/holds/{hold.pk}/")
    assert "正在等待支付结果" in state(html) and "支付宝" in state(html)
    assert html.count("支付 ¥10.00") == 1  # one pay button, folded under "another way"
    assert post(cashier.split("?")[0] + "/fail") == 200

    html = browser.get(f"/holds/{hold.pk}/?back=1")
    assert "支付宝付款未成功" in state(html) and "再次使用支付宝付款" in state(html)
    assert "正在等待支付结果" not in html
    assert 'name="method" value="alipay" checked' in html
    assert 'name="insurance" value="1" checked' in html
    assert Registration.objects.count() == 0 and Hold.objects.get().status == "held"

    # another method: a new payment, paid, booked, insured as chosen
    cashier = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "wechat", "insurance": "1"})["Location"]
    assert post(cashier.split("?")[0] + "/pay") == 200
    html = browser.get(f"/holds/{hold.pk}/?back=1")
    registration = Registration.objects.get()
    assert '微信支付 · <span id="pay-state">已支付</span>' in html and registration.insurance


@pytest.mark.django_db(transaction=True)
def test_after_the_refund_the_registration_no_longer_says_paid(clinic, sandbox):  # noqa: F811
    browser = Browser("en").login()
    hold = held(browser, clinic["li_tomorrow"])
    cashier = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "wechat"})["Location"]
    assert post(cashier.split("?")[0] + "/pay") == 200
    html = browser.get(f"/holds/{hold.pk}/?back=1")
    assert '<span id="pay-state">Paid</span>' in html
    registration = Registration.objects.get()
    browser.post(f"/registrations/{registration.pk}/cancel", {})
    for _ in range(50):
        html = browser.get(f"/registrations/{registration.pk}/")
        if '<span id="pay-state">Refunded</span>' in html:
            break
        time.sleep(0.2)
    assert '<span id="pay-state">Refunded</span>' in html and ">Paid<" not in html


@pytest.mark.clock("10:00")
def test_a_same_day_booking_past_the_cutoff_is_warned_before_it_is_held(clinic):  # noqa: F811
    h = clinic["hospital"]
    RuleSet.objects.filter(hospital=h).update(payment_required=False)
    today = f.schedule(clinic["department"], clinic["li"], day=f.today(), start=dt.time(20, 0), end=dt.time(21, 0))
    browser = Browser("en").login()
    browser.post(
        "/patients/",
        {
            "consent_version": consent.TEXT_VERSION,
            "name": "张伟",
            "id_number": f.id_number(),
            "phone": browser.phone,
            "relation": "self",
        },
    )
    html = browser.get(f"/schedules/{today.pk}/")
    warning = html.split('id="cancel-rule"')[1].split("</div>")[0]
    assert "Once booked, this registration cannot be cancelled online" in warning
    assert html.index('id="cancel-rule"') < html.index("Hold this slot")
    tomorrow_html = browser.get(f"/schedules/{clinic['li_tomorrow'].pk}/")
    assert 'id="cancel-rule"' not in tomorrow_html and "the end of the day before the visit" in tomorrow_html


@pytest.mark.clock("10:00")
def test_a_hospital_that_lets_patients_cancel_until_the_visit_says_so_not_0_hours(clinic):  # noqa: F811
    RuleSet.objects.filter(hospital=clinic["hospital"]).update(
        payment_required=False, cancel_policy="hours_before", cancel_hours_before=0
    )
    browser = Browser().login()
    hold = held(browser, clinic["li_tomorrow"])
    html = browser.get(f"/holds/{hold.pk}/")
    rule = html.split('id="cancel-rule"')[1].split("</p>")[0]
    start = clinic["li_tomorrow"].starts_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert f"可在线取消至就诊开始（{start:%Y-%m-%d %H:%M}）。" in rule
    assert "0 小时" not in html
