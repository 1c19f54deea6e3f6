"""The waitlist (候补) in a phone-sized Chromium, in both languages, at a hospital that charges
online with pay-after-hold: a full clinic, joining its waitlist, another patient cancelling, the
worker offering the slot, the offer with its countdown, paying at the sandbox cashier, booked.

Screenshots of every step go to ``artifacts/browser/<language>/waitlist-*.png``; every page of ours
on the way passes the same audit as the booking journey (contrast, tap targets, labels, language,
no sideways scrolling at twice the text size)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from guahao.accounts import phones
from guahao.booking.models import Registration
from guahao.core import outbox
from guahao.waitlist.models import WaitlistEntry
from tests import factories as f
from tests.processes import post, wait_for
from tests.web.test_browser import ARTIFACTS, AUDIT, chromium, phone_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = {
    "zh-hans": {
        "full": "约满",
        "log_in_to_join": "登录后申请候补",
        "send_code": "获取验证码",
        "log_in": "登录",
        "add_patient": "添加就诊人",
        "add": "添加",
        "real_name": "真实姓名",
        "id_number": "证件号码",
        "phone": "手机号",
        "relation": "与您的关系",
        "join": "申请候补",
        "notice": "我已阅读预约须知",
        "notice_error": "请阅读预约须知",
        "waiting": "排在第 1 位",
        "my_waitlist": "我的候补",
        "one_waiting": "1 个候补中",
        "offered": "已为您锁定号源",
        "confirm": "确认并支付",
        "pay": "支付 ¥51.00",
        "booked": "预约成功",
        "booked_from_waitlist": "候补成功",
        "see_registration": "查看挂号",
        "told": [
            "已加入候补",
            "的候补。有号时将通知您",
            "候补到号",
            "张伟 候补的",
            "有号了，已为您锁定至",
            "支付成功",
            "候补成功",
            "候补已为 张伟 挂号",
        ],
    },
    "en": {
        "full": "Full",
        "log_in_to_join": "Log in to join the waitlist",
        "send_code": "Send me a code",
        "log_in": "Log in",
        "add_patient": "Add a family member",
        "add": "Add",
        "real_name": "Real name",
        "id_number": "ID document number",
        "phone": "Mobile phone",
        "relation": "Relation to you",
        "join": "Join the waitlist",
        "notice": "I have read the booking notice",
        "notice_error": "Please read the booking notice",
        "waiting": "place 1 in the queue",
        "my_waitlist": "My waitlist",
        "one_waiting": "1 waiting",
        "offered": "Slot held for you",
        "confirm": "Confirm and pay",
        "pay": "Pay ¥51.00",
        "booked": "Booked",
        "booked_from_waitlist": "Booked from the waitlist",
        "see_registration": "See the registration",
        "told": [
            "On the waitlist",
            "is on the waitlist of",
            "A slot for you",
            "A slot freed up for 张伟",
            "Payment received",
            "Booked from the waitlist",
            "booked for 张伟 from the waitlist",
        ],
    },
}


def _booked_by_someone_else(clinic) -> tuple[f.Api, Registration]:  # type: ignore[no-untyped-def]
    """Another patient books and pays one of the clinic's slots at the sandbox cashier."""
    client = f.Api().login()
    _, hold = client.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": client.add_patient()})
    status, started = client.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    assert status == 201, started
    assert post(started["pay_url"] + "/pay") == 200
    registration = wait_for(lambda: Registration.objects.filter(hold_id=hold["id"], status="booked").first())
    return client, registration


def _worker() -> None:
    """What the worker does when it wakes: every event to its subscribers."""
    while sum(outbox.deliver_all().values()):
        pass


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_full_clinics_waitlist_to_an_offer_paid_and_booked(chromium, live_server, sandbox, language):  # noqa: F811
    text = LABELS[language]
    h = f.hospital(payment_required=True, waitlist_places=5, waitlist_confirm_minutes=30)
    h.notice, h.notice_en = "请携带身份证原件就诊。", "Bring your ID card to the visit."
    h.save()
    dep = f.department(h, name="心血管内科", parent=f.department(h, name="内科"))
    day = f.today() + dt.timedelta(days=2)
    clinic = f.schedule(dep, f.doctor(dep, "王建华"), day=day, slots_per_period=1)  # two online slots
    f.schedule(dep, f.doctor(dep, "李明", title="general"), day=day)
    others = [_booked_by_someone_else(clinic) for _ in range(2)]  # the clinic is full

    context, page, shot = phone_page(chromium, language, "waitlist-", ours=live_server.url)

    page.goto(f"{live_server.url}/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.goto(f"{live_server.url}/departments/{dep.pk}/?day={day.isoformat()}")
    card = page.locator("a.card.doctor", has_text="Wang Jianhua" if language == "en" else "王建华")
    card = card if card.count() else page.locator("a.card.doctor", has_text="王建华")
    assert text["full"] in card.inner_text()
    shot("department")
    card.click()
    page.locator("#waitlist").wait_for()
    shot("full-clinic")

    page.get_by_role("link", name=text["log_in_to_join"]).click()
    phone = f.phone()
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_role("button", name=text["send_code"]).click()
    code = re.search(r"\d{6}", page.locator(".notice").inner_text()).group(0)
    page.locator("#f-code").fill(code)
    page.get_by_role("button", name=text["log_in"], exact=True).click()
    page.locator("#waitlist").get_by_role("link", name=text["add_patient"]).click()
    page.get_by_label(text["real_name"]).fill("张伟")
    page.get_by_label(text["id_number"]).fill(f.id_number("19800101"))
    page.get_by_label(text["phone"]).fill(phone)
    page.get_by_label(text["relation"]).select_option("self")
    page.locator("#consent input[type=checkbox]").check()  # the separate consent, its text beside it
    page.get_by_role("button", name=text["add"], exact=True).click()
    page.wait_for_url(re.compile(rf"/schedules/{clinic.pk}/(#.*)?$"))
    shot("join")

    page.get_by_role("button", name=text["join"]).click()  # the notice not ticked yet
    assert text["notice_error"] in page.locator("#problem").inner_text()
    assert not WaitlistEntry.objects.exists()
    shot("join-refused")
    page.get_by_label(text["notice"]).check()
    page.get_by_role("button", name=text["join"]).click()
    page.wait_for_url(re.compile(r"/waitlist/\?joined="))
    entry = WaitlistEntry.objects.get()
    assert text["waiting"] in page.locator(f"#entry-{entry.pk}-status").inner_text()
    shot("waiting")

    page.goto(f"{live_server.url}/registrations/")
    assert text["one_waiting"] in page.locator("#waitlist-link").inner_text()
    shot("registrations")

    # another patient cancels; the worker keeps the slot for the waitlist and offers it
    canceller, registration = others[0]
    status, cancelled = canceller.call("POST", f"/registrations/{registration.pk}/cancel", {})
    assert status == 200 and cancelled["status"] in ("refunding", "refunded")
    _worker()
    entry.refresh_from_db()
    assert entry.status == "offered"

    page.get_by_role("link", name=text["my_waitlist"]).click()
    assert text["offered"] in page.locator(f"#entry-{entry.pk}").inner_text()
    countdown = page.locator(f"#entry-{entry.pk} [data-countdown]")
    page.wait_for_function("el => /^(29|30):\\d\\d$/.test(el.textContent)", arg=countdown.element_handle())
    shot("offered")

    page.get_by_role("link", name=text["confirm"]).click()
    page.wait_for_url(re.compile(rf"/holds/{entry.hold_id}/$"))
    shot("hold")
    page.get_by_role("button", name=text["pay"]).click()
    page.wait_for_url(re.compile(r"/pay/"))
    shot("cashier")
    page.get_by_role("button", name=re.compile("支付 Pay")).click()
    page.wait_for_url(re.compile(r"/registrations/\d+/$"))
    assert text["booked"] in page.locator("#status").inner_text()
    mine = Registration.objects.get(phones.matching(phone, "account__phone_hash"))
    assert (mine.slot_number, mine.status) == (registration.slot_number, "booked")  # the slot given back
    shot("registration")

    _worker()  # the waitlist learns the registration was booked
    page.goto(f"{live_server.url}/waitlist/")
    assert text["booked_from_waitlist"] in page.locator(f"#entry-{entry.pk}").inner_text()
    page.get_by_role("link", name=text["see_registration"]).wait_for()
    shot("booked")
    entry.refresh_from_db()
    assert (entry.status, entry.registration_id) == ("booked", mine.pk)

    page.goto(f"{live_server.url}/messages/")
    told = page.locator("main").inner_text()
    assert all(title in told for title in text["told"]), told
    shot("messages")
    context.close()
