"""The patient web app as a browser without JavaScript sees it: every page is plain HTML and forms."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from guahao.accounts import consent, phones
from guahao.accounts import errors as account_errors
from guahao.accounts.models import Account, Patient
from guahao.booking import errors as booking_errors
from guahao.booking.models import Hold, HoldStatus, Registration
from guahao.catalog.models import Department, Hospital
from guahao.core import clock
from guahao.notifications import services as notifications
from guahao.payments.models import Payment
from guahao.web import errors as web_errors
from guahao.web.templatetags.web import mmss
from tests import factories as f
from tests.processes import post

pytestmark = pytest.mark.django_db
STATIC = Path(__file__).resolve().parents[2] / "guahao" / "web" / "static"
PAGE_BUDGET = 100 * 1024


class Browser:
    """A patient's browser without JavaScript: follows links, posts forms, keeps its cookies."""

    def __init__(self, language: str | None = None) -> None:
        self.client = Client(HTTP_ACCEPT_LANGUAGE="en")  # an English phone: the app still starts in Chinese
        if language:
            self.client.post("/i18n/setlang/", {"language": language, "next": "/"})

    def get(self, path: str, status: int = 200) -> str:
        response = self.client.get(path, follow=True)
        assert response.status_code == status, path
        return response.content.decode()

    def post(self, path: str, data: dict, status: int = 200) -> str:
        response = self.client.post(path, data, follow=True)
        assert response.status_code == status, (path, response.content.decode()[:2000])
        self.last = response
        return response.content.decode()

    def login(self, phone: str | None = None) -> Browser:
        phone = phone or f.phone()
        self.post("/login/", {"phone": phone, "step": "phone"})
        code = self.last.context["dev_code"]
        self.post("/login/", {"phone": phone, "code": code, "step": "code", "next": "/"})
        self.phone = phone
        return self

    def add_self(self) -> Patient:
        """The account's own patient (themselves), added through the patients page."""
        self.post(
            "/patients/",
            {
                "name": "张伟",
                "id_number": f.id_number(),
                "phone": self.phone,
                "relation": "self",
                "consent_version": consent.TEXT_VERSION,
            },
        )
        return Patient.objects.get(phones.matching(self.phone, "account__phone_hash"))


def page_weight(html: str) -> int:
    """The page with the CSS and scripts it loads, as a first visit downloads them."""
    assets = re.findall(r'(?:src|href)="/static/([^"]+\.(?:css|js))"', html)
    return len(html.encode()) + sum((STATIC / a).stat().st_size for a in assets)


@pytest.fixture
def clinic():
    """A paying hospital with a cardiology clinic tomorrow (two doctors) and the day after."""
    h = f.hospital(payment_required=True)
    h.notice = "请携带身份证原件就诊。"
    h.notice_en = "Bring your ID card to the visit."
    h.save()
    outer = f.department(h, name="内科")
    dep = f.department(h, name="心血管内科", parent=outer)
    wang = f.doctor(dep, "王建华")
    li = f.doctor(dep, "李明", title="general")
    return {
        "hospital": h,
        "department": dep,
        "wang": wang,
        "li": li,
        "tomorrow": f.schedule(dep, wang, slots_per_period=1),
        "li_tomorrow": f.schedule(dep, li),
        "later": f.schedule(dep, wang, day=f.today() + dt.timedelta(days=2)),
    }


def test_reading_pages_work_without_javascript_and_stay_small(clinic):
    browser = Browser()
    h, dep = clinic["hospital"], clinic["department"]
    pages = {
        "/": [h.name, "请携带身份证原件就诊"],
        f"/hospitals/{h.pk}/": ["心血管内科", "预约规则"],
        f"/hospitals/{h.pk}/?q=xxg": ["心血管内科"],  # pinyin initials
        f"/hospitals/{h.pk}/?q=高血压": ["王建华"],  # specialty
        f"/departments/{dep.pk}/": ["王建华", "主任医师", "¥51.00", "剩余 2", "¥10.00"],
        f"/departments/{dep.pk}/?days=14&doctor={clinic['wang'].pk}": ["王建华"],
        f"/schedules/{clinic['tomorrow'].pk}/": ["08:00–08:30", "剩余 1", "登录后预约"],
    }
    for path, expected in pages.items():
        html = browser.get(path)
        for text in expected:
            assert text in html, (path, text)
        assert page_weight(html) < PAGE_BUDGET, path
    # The pages that do not update part of themselves do not load htmx either.
    assert "htmx" not in browser.get("/") and page_weight(browser.get("/")) < 25 * 1024
    strip = browser.get(f"/departments/{dep.pk}/?days=14")
    assert strip.count('class="none"') == 12  # 14 days, two with clinics
    one_doctor = browser.get(f"/departments/{dep.pk}/?doctor={clinic['wang'].pk}").split('id="days-title"')[1]
    assert "王建华" in one_doctor and "李明" not in one_doctor  # the strip and the day of one doctor


def test_chinese_by_default_english_by_the_switch(clinic):
    assert "预约规则" in Browser().get(f"/hospitals/{clinic['hospital'].pk}/")
    english = Browser("en").get(f"/hospitals/{clinic['hospital'].pk}/")
    assert "Booking rules" in english and "Bring your ID card to the visit." in english
    assert '<html lang="en">' in english


def test_asking_for_a_code_again_too_soon_leaves_the_box_for_the_code_already_sent(settings):
    settings.RATELIMIT_ENABLED = True
    browser = Browser()
    phone = f.phone()
    browser.post("/login/", {"phone": phone, "step": "phone"})
    code = browser.last.context["dev_code"]
    html = browser.post("/login/", {"phone": phone, "step": "phone"}, status=429)  # the page reloaded, asked again
    assert "验证码刚刚已发送" in html and 'name="code"' in html
    assert f"验证码是 {code}" in html  # the demo shows the code sent a moment ago once more
    browser.post("/login/", {"phone": phone, "code": code, "step": "code", "next": "/"})
    assert browser.last.redirect_chain[-1][0] == "/"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_refusal_reads_as_the_api_words_it_in_the_patients_language(clinic, language):
    browser = Browser(language)
    phone = f.phone()
    browser.post("/login/", {"phone": phone, "step": "phone"})
    html = browser.post("/login/", {"phone": phone, "code": "000000", "step": "code"}, status=401)
    with translation.override(language):
        assert str(account_errors.CODE_WRONG.title) in html
    html = browser.post("/login/", {"phone": "12345", "step": "phone"}, status=422)
    with translation.override(language):
        assert str(account_errors.PHONE_INVALID.title) in html
    assert 'aria-invalid="true"' in html


def test_the_booking_notice_must_be_acknowledged(clinic):
    browser = Browser().login()
    patient = browser.add_self()
    path = f"/schedules/{clinic['tomorrow'].pk}/hold"
    html = browser.post(path, {"patient_id": patient.pk, "once": "a"}, status=422)
    assert str(web_errors.NOTICE_NOT_READ.title) in html
    assert not Hold.objects.exists()


def test_pressing_hold_twice_holds_one_slot(clinic):
    browser = Browser().login()
    patient = browser.add_self()
    form = {"patient_id": patient.pk, "notice": "read", "once": "same-form"}
    first = browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", form)
    first_page = browser.last.redirect_chain
    browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", form)
    assert Hold.objects.count() == 1
    assert "保留时间还剩" in first and browser.last.redirect_chain == first_page == [
        (f"/holds/{Hold.objects.get().pk}/", 302)
    ]


def test_a_hold_whose_page_never_came_back_is_found_again_from_the_refusal(clinic):
    browser = Browser().login()
    patient = browser.add_self()
    path = f"/schedules/{clinic['li_tomorrow'].pk}/hold"
    browser.post(path, {"patient_id": patient.pk, "notice": "read", "once": "first-page"})
    held = Hold.objects.get()
    # The page did not come back (the crowd, the network); the patient books again from a new page.
    html = browser.post(path, {"patient_id": patient.pk, "notice": "read", "once": "second-page"}, status=409)
    assert 'data-code="rule.active_holds"' in html
    link = re.search(r'<a class="btn" id="standing-hold" href="([^"]+)">([^<]+)</a>', html)
    assert link and link.group(1) == f"/holds/{held.pk}/"
    assert f"继续办理您已锁定的号源（{held.slot.number} 号）" in link.group(2)
    assert "保留时间还剩" in browser.get(link.group(1))
    assert Hold.objects.count() == 1


def test_a_slot_gone_says_so_and_offers_the_alternatives(clinic):
    first, second = Browser().login(), Browser().login()
    for b in (first, second):
        b.post(
            "/patients/",
            {
                "name": "张伟",
                "id_number": f.id_number(),
                "phone": b.phone,
                "relation": "self",
                "consent_version": consent.TEXT_VERSION,
            },
        )
    s = clinic["tomorrow"]
    periods = list(s.periods.order_by("starts_at"))
    for b, status in ((first, 200), (second, 409)):
        pid = Patient.objects.get(phones.matching(b.phone, "account__phone_hash")).pk
        form = {"patient_id": pid, "period_id": periods[0].pk, "notice": "read", "once": "x"}
        html = b.post(f"/schedules/{s.pk}/hold", form, status=status)
    assert str(booking_errors.SLOT_UNAVAILABLE.title) in html
    offered = re.findall(r'href="/schedules/(\d+)/"', html.split('id="problem"')[1].split("</div>")[0])
    # the other half hour of the same clinic, the other doctor that day, the same doctor another day
    assert [int(i) for i in offered] == [s.pk, clinic["li_tomorrow"].pk, clinic["later"].pk]
    assert "08:30" in html.split('id="problem"')[1]
    assert Hold.objects.filter(status=HoldStatus.HELD).count() == 1


def test_patients_show_masked_id_numbers_and_bad_input_names_the_field(clinic):
    browser = Browser().login()
    number = f.id_number("19800101")
    html = browser.post(
        "/patients/",
        {
            "name": "张伟",
            "id_number": number,
            "phone": browser.phone,
            "relation": "self",
            "consent_version": consent.TEXT_VERSION,
        },
    )
    assert f"{number[:6]}********{number[-4:]}" in html and number not in html
    html = browser.post(
        "/patients/",
        {
            "name": "张小明",
            "id_number": number[:-1] + ("1" if number[-1] != "1" else "2"),
            "phone": browser.phone,
            "relation": "child",
            "consent_version": consent.TEXT_VERSION,
        },
        status=422,
    )
    typed = number[:-1] + ("1" if number[-1] != "1" else "2")
    assert f'name="id_number" value="{typed}"' in html  # kept as typed, to correct one digit
    assert "校验码" in html.split('id="problem"')[1]  # the reason: the check digit does not fit
    assert Patient.objects.filter(phones.matching(browser.phone, "account__phone_hash")).count() == 1
    html = browser.post(
        "/patients/",
        {
            "name": "张小明",
            "id_number": f.id_number("20150101"),
            "phone": browser.phone,
            "relation": "neighbour",
            "consent_version": consent.TEXT_VERSION,
        },
        status=422,
    )
    assert "请选择与您的关系" in html and 'data-code="request.invalid"' in html
    assert Patient.objects.filter(phones.matching(browser.phone, "account__phone_hash")).count() == 1  # nothing added


def test_free_hospital_register_insured_see_the_qr_code_and_cancel_with_the_rule_explained(clinic):
    h = f.hospital()  # pays at the hospital
    dep = f.department(h, name="儿科")
    s = f.schedule(dep, f.doctor(dep, "赵敏"))
    browser = Browser().login()
    pid = browser.add_self().pk
    html = browser.post(f"/schedules/{s.pk}/hold", {"patient_id": pid, "notice": "read", "once": "y"})
    hold = Hold.objects.get()
    assert "到医院缴费" in html and re.search(r'data-countdown="(89\d|900)"', html)  # 15 minutes
    assert "使用医保结算" in html  # insured or self-pay is chosen while the slot is held
    html = browser.post(f"/holds/{hold.pk}/confirm", {"insurance": "1"})
    registration = Registration.objects.get()
    assert registration.registration_number in html and "<svg" in html and "预约成功" in html
    assert registration.insurance and re.search(r'id="settlement">医保<', html)
    # until the end of the day before, which reads as that day's 24:00 (not the visit day's 00:00)
    day_before = s.date - dt.timedelta(days=1)
    assert f"可在线取消至 {day_before.isoformat()} 24:00（就诊前一天结束时）" in html and "00:00" not in html
    html = browser.get(f"/registrations/{registration.pk}/cancel")
    assert "确定取消" in html
    html = browser.post(f"/registrations/{registration.pk}/cancel", {})
    assert "已取消" in html and "挂号已取消" in html
    registration.refresh_from_db()
    assert registration.status == "cancelled"


def test_another_accounts_registration_is_not_found(clinic):
    owner, other = Browser().login(), Browser().login()
    owner.post(
        "/patients/",
        {
            "name": "张伟",
            "id_number": f.id_number(),
            "phone": owner.phone,
            "relation": "self",
            "consent_version": consent.TEXT_VERSION,
        },
    )
    pid = Patient.objects.get(phones.matching(owner.phone, "account__phone_hash")).pk
    free = f.hospital()
    s = f.schedule(f.department(free))
    owner.post(f"/schedules/{s.pk}/hold", {"patient_id": pid, "notice": "read", "once": "z"})
    owner.post(f"/holds/{Hold.objects.get().pk}/confirm", {})
    registration = Registration.objects.get()
    other.get(f"/registrations/{registration.pk}/", status=404)
    other.get(f"/holds/{registration.hold_id}/", status=404)
    assert "/login/" in Client().get(f"/registrations/{registration.pk}/")["Location"]


def test_messages_are_read_once_seen(clinic):
    browser = Browser().login()
    account = Account.objects.get(phones.matching(browser.phone))
    notifications.notice(
        account_id=account.pk,
        kind=notifications.CANCELLED_BY_HOSPITAL,
        key="test",
        hospital_id=None,
        facts={"hospital": "测试医院", "registration_number": "R1"},
    )
    assert '消息<span class="count">1</span>' in browser.get("/")
    html = browser.get("/messages/")
    assert "挂号已在医院取消" in html and ">新</span>" in html  # marked new this once,
    assert 'class="count"' not in html  # and no longer counted in the tab
    assert ">新</span>" not in browser.get("/messages/")


def test_the_language_switch_on_a_refused_form_goes_back_to_the_forms_page(clinic):
    browser = Browser().login()
    page = f"/schedules/{clinic['tomorrow'].pk}/"
    refused = browser.client.post(
        f"{page}hold", {"patient_id": browser.add_self().pk}, HTTP_REFERER=f"http://testserver{page}"
    )
    assert refused.status_code == 422  # the notice was not ticked
    assert f'name="next" value="{page}"' in refused.content.decode()
    switched = browser.client.post("/i18n/setlang/", {"language": "en", "next": page})
    assert switched["Location"] == page and browser.client.get(page).status_code == 200
    # Sent from elsewhere (or with no Referer): home, never a page that answers no GET.
    elsewhere = browser.client.post(f"{page}hold", {"patient_id": "1"}, HTTP_REFERER="https://evil.example/x")
    assert 'name="next" value="/"' in elsewhere.content.decode()


def test_a_wrong_email_address_is_told_at_its_field_and_the_messages_stay(clinic):
    browser = Browser().login()
    account = Account.objects.get(phones.matching(browser.phone))
    notifications.notice(
        account_id=account.pk, kind=notifications.CANCELLED_BY_HOSPITAL, key="t", hospital_id=None,
        facts={"hospital": "测试医院", "registration_number": "R1"},
    )  # fmt: skip
    refused = browser.client.post("/messages/", {"email": "on", "email_address": "not-an-email", "language": "zh-hans"})
    html = refused.content.decode()
    assert refused.status_code == 422 and "请输入有效的电子邮件地址" in html
    assert 'value="not-an-email"' in html and "挂号已在医院取消" in html and "没有消息" not in html
    assert notifications.preferences_of(account).email_address == ""
    saved = browser.post("/messages/", {"email": "on", "email_address": "li@example.com", "language": "zh-hans"})
    assert "已保存" in saved and notifications.preferences_of(account).email_address == "li@example.com"


@pytest.mark.django_db(transaction=True)
def test_the_payment_wait_moves_on_to_the_registration_once_paid(clinic, sandbox, paysim_url):
    browser = Browser().login()
    pid = browser.add_self().pk
    browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", {"patient_id": pid, "notice": "read", "once": "p"})
    hold = Hold.objects.get()
    response = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "wechat"})
    cashier = response["Location"]
    assert cashier.startswith(f"{paysim_url}/pay/") and "return=" in cashier
    poll = browser.client.get(f"/holds/{hold.pk}/?back=1", HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and "正在等待支付结果" in poll.content.decode()
    assert post(cashier.split("?")[0] + "/pay") == 200
    poll = browser.client.get(f"/holds/{hold.pk}/?back=1", HTTP_HX_REQUEST="true")
    registration = Registration.objects.get()
    assert poll.status_code == 204 and poll["HX-Redirect"] == f"/registrations/{registration.pk}/"


@pytest.mark.clock("08:40")
def test_a_period_that_is_over_is_not_offered_nor_counted(clinic):
    today = f.schedule(clinic["department"], clinic["wang"], day=f.today())  # 08:00-08:30 and 08:30-09:00, 5 each
    browser = Browser().login()
    browser.add_self()
    page = browser.get(f"/schedules/{today.pk}/")
    over, on = re.findall(r'<label class="choice period">(.*?)</label>', page, re.S)
    assert "disabled" in over and "已结束" in over and "checked" not in over
    assert "剩余 5" in on and "checked" in on  # the one still to come is ticked
    assert "剩余 10" not in page


def test_labels_end_in_the_readers_colon(clinic):
    dep = clinic["department"]
    Department.objects.filter(pk=dep.pk).update(location="门诊楼3层")
    assert "就诊地点：门诊楼3层" in Browser().get(f"/departments/{dep.pk}/")
    assert "Where: 门诊楼3层" in Browser("en").get(f"/departments/{dep.pk}/")


def test_a_hospitals_grade_reads_in_english_for_an_english_reader(clinic):
    Hospital.objects.filter(pk=clinic["hospital"].pk).update(grade="三级甲等")
    assert '<span class="badge">Grade 3A</span>' in Browser("en").get("/")
    assert '<span class="badge">三级甲等</span>' in Browser().get("/")


@pytest.mark.parametrize(("seconds", "shown"), [(899, "14:59"), (59, "0:59"), (7176, "1:59:36"), (3600, "1:00:00")])
def test_a_countdown_of_an_hour_or_more_shows_its_hours(seconds, shown):
    assert mmss(seconds) == shown


def test_a_clinics_fee_reads_as_its_registration_fee_and_consultation_fee(clinic):
    s = clinic["li_tomorrow"]
    page = Browser().get(f"/schedules/{s.pk}/")
    parts = f"挂号费 ¥{s.registration_fee_fen / 100:.2f} + 诊查费 ¥{s.consultation_fee_fen / 100:.2f}"
    assert parts in page and "挂号单" not in page


def test_a_hold_given_up_no_longer_reads_as_held(clinic):
    browser = Browser().login()
    pid = browser.add_self().pk
    held = browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", {"patient_id": pid, "notice": "read"})
    assert "<h1>已为您保留的号源</h1>" in held
    hold = Hold.objects.get()
    page = browser.post(f"/holds/{hold.pk}/release", {})  # lands on the hold's page
    assert "<h1>号源已不再为您保留</h1>" in page and "已为您保留的号源" not in page
    assert "您已放弃这个号源" in page and "返回出诊信息" in page


def test_the_app_offers_no_cash_which_is_paid_at_the_window(clinic):
    browser = Browser().login()
    pid = browser.add_self().pk
    page = browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", {"patient_id": pid, "notice": "read"})
    hold = Hold.objects.get()
    assert 'value="wechat"' in page and 'value="cash"' not in page and "现金" not in page
    refused = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "cash"})
    assert refused.status_code == 422 and "请选择支付方式" in refused.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_paying_again_by_another_method_after_an_unnoticed_payment_shows_the_registration(clinic, sandbox):
    sandbox(lost=1.0)  # the provider took the money; its notification never arrives
    browser = Browser().login()
    pid = browser.add_self().pk
    browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", {"patient_id": pid, "notice": "read", "once": "q"})
    hold = Hold.objects.get()
    cashier = browser.client.post(f"/holds/{hold.pk}/confirm", {"method": "wechat"})["Location"]
    assert post(cashier.split("?")[0] + "/pay") == 200
    html = browser.post(f"/holds/{hold.pk}/confirm", {"method": "alipay"})  # "it did not work, try Alipay"
    registration = Registration.objects.get()
    assert browser.last.redirect_chain[-1][0] == f"/registrations/{registration.pk}/"
    assert "预约成功" in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_action_opened_as_a_page_says_nothing_was_done_and_links_to_its_page(clinic, language):
    browser = Browser().login()
    if language == "en":
        browser.client.cookies["django_language"] = "en"
    pid = browser.add_self().pk
    browser.post(f"/schedules/{clinic['li_tomorrow'].pk}/hold", {"patient_id": pid, "notice": "read"})
    hold = Hold.objects.get()
    opened = browser.client.get(f"/holds/{hold.pk}/release")  # a bookmarked or shared address
    page = opened.content.decode()
    assert opened.status_code == 405 and opened["Allow"] == "POST"
    assert f'href="/holds/{hold.pk}/"' in page
    said = "本次未做任何操作" if language == "zh-hans" else "Nothing was done"
    assert said in page
    assert Hold.objects.get().status == HoldStatus.HELD
    left = browser.client.get("/waitlist/5/leave").content.decode()
    assert 'href="/waitlist/"' in left


def test_the_booking_notice_states_the_rules_as_they_stand():
    h = f.hospital(
        hold_minutes=5,
        max_per_patient_department_day=2,
        max_per_account_hospital_day=4,
        blacklist_no_shows=3,
        blacklist_no_show_days=60,
        blacklist_cancellations=5,
        blacklist_cancellation_days=20,
        blacklist_days=30,
    )
    h.notice = "请携带身份证原件就诊。"
    h.save()
    dep = f.department(h)
    s = f.schedule(dep, f.doctor(dep))
    notice = Browser().login().get(f"/schedules/{s.pk}/").split('<div class="notice">')[1].split("</div>")[0]
    assert "请携带身份证原件就诊。" in notice and "号源保留 5 分钟" in notice
    assert "同一就诊日，每位就诊人在同一科室限约 2 个号，每个账号在本院限约 4 个号。" in notice
    assert "60 天内爽约 3 次，或 20 天内取消 5 次，将暂停线上预约 30 天。" in notice


def test_a_deadline_on_another_day_reads_with_its_day():
    from django.utils import timezone as django_tz

    from guahao.web.templatetags.web import soon

    with django_tz.override("Asia/Shanghai"):
        today_at = clock.at_local(f.today(), dt.time(23, 50), "Asia/Shanghai")
        tomorrow_at = clock.at_local(f.today() + dt.timedelta(days=1), dt.time(8, 0), "Asia/Shanghai")
        assert soon(today_at) == "23:50" and soon(today_at, "s") == "23:50:00"
        assert soon(tomorrow_at) == f"{tomorrow_at.astimezone(django_tz.get_current_timezone()):%m-%d} 08:00"


def test_a_long_notice_on_the_home_page_is_cut_at_a_word_in_english_and_anywhere_in_chinese():
    h = f.hospital()
    english = "Arrive 30 minutes before your visit to check in at the kiosk or the window; bring your ID card."
    h.notice, h.notice_en = "请提前30分钟到院，在自助机或窗口签到；" * 6, english
    h.save()
    shown = re.search(r'<p class="notice">([^<]+)</p>', Browser(language="en").get("/")).group(1)
    assert shown.endswith("…") and english.startswith(shown[:-1]) and english[len(shown) - 1] == " "
    chinese = re.search(r'<p class="notice">([^<]+)</p>', Browser().get("/")).group(1)
    assert chinese.endswith("…") and len(chinese) == 90


def test_doctors_seen_before_are_those_the_account_s_patients_saw_not_only_booked():
    """复诊: the hospital's page offers the doctors seen before; one only booked, then cancelled
    (or suspended), was never seen."""
    from guahao.booking import services as booking
    from guahao.booking.models import Registration

    h = f.hospital(payment_required=False)
    dep = f.department(h, name="心血管内科")
    wang, li = f.doctor(dep, "王建华"), f.doctor(dep, "李明")
    browser = Browser().login()
    patient = browser.add_self()
    for days, doctor in ((1, wang), (2, li)):
        clinic = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=days))
        booking.hold_confirm(hold=booking.hold_create(account=patient.account, patient=patient, schedule=clinic))
    Registration.objects.filter(doctor=li).update(status="cancelled")
    assert "看过的医生" not in browser.get(f"/hospitals/{h.pk}/")  # nobody seen yet
    Registration.objects.filter(doctor=wang).update(status="visited")
    seen = browser.get(f"/hospitals/{h.pk}/").split("看过的医生")[1].split("</ul>")[0]
    assert "王建华" in seen and "李明" not in seen


def test_a_hospital_s_rules_say_what_a_hold_is_for_and_both_limits_of_a_visit_day():
    free = f.hospital(payment_required=False)
    paying = f.hospital(payment_required=True)
    browser = Browser()
    rules = browser.get(f"/hospitals/{free.pk}/").split("<summary>")[1].split("</details>")[0]
    assert "分钟以便确认" in rules and "以便支付" not in rules  # nothing to pay online here
    assert "每个账号" in rules  # the account's limit at the hospital, besides the patient's
    assert "分钟以便支付" in browser.get(f"/hospitals/{paying.pk}/")
