"""The waitlist (候补) in the patient web app, as a browser without JavaScript sees it: the 候补
action on a full clinic (or why there is none), the entries with where they stand, an offer to
confirm and pay, leaving, and every refusal as the API words it."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from django.utils.html import escape

from guahao.accounts import consent, phones
from guahao.accounts.models import Patient
from guahao.booking.models import Hold, Registration
from guahao.core import clock, outbox
from guahao.core.errors import INVALID
from guahao.notifications.models import Message
from guahao.payments.models import Payment
from guahao.scheduling.models import Schedule
from guahao.scheduling.rules import rules_for_schedule
from guahao.waitlist import errors as waitlist_errors
from guahao.waitlist import services as waitlist
from guahao.waitlist.models import WaitlistEntry, WaitlistEvent
from guahao.web import errors as web_errors
from tests import factories as f
from tests.processes import post
from tests.web.test_pages import PAGE_BUDGET, Browser, page_weight

pytestmark = pytest.mark.django_db


def full_clinic(*, day_offset: int = 2, **rules):
    """A clinic (08:00-09:00, two online slots) whose slots are held by other patients, and a
    colleague's clinic the same day with slots left."""
    h = f.hospital(**rules)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), day=f.today() + dt.timedelta(days=day_offset), slots_per_period=1)
    colleague = f.schedule(dep, f.doctor(dep, "李明"), day=clinic.date)
    holders = []
    for _ in range(2):
        client = f.Api().login()
        status, hold = client.call(
            "POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": client.add_patient()}
        )
        assert status == 201, hold
        holders.append((client, hold))
    return clinic, colleague, holders


def with_patient(browser: Browser, name: str = "张伟") -> int:
    browser.post(
        "/patients/",
        {
            "name": name,
            "id_number": f.id_number(),
            "phone": browser.phone,
            "relation": "self",
            "consent_version": consent.TEXT_VERSION,
        },
    )
    return Patient.objects.get(phones.matching(browser.phone, "account__phone_hash"), name=name).pk


def worker() -> None:
    while sum(outbox.deliver_all().values()):
        pass


def section(html: str) -> str:
    """The clinic page's waitlist section."""
    return html.split('id="waitlist"')[1].split("</section>")[0]


def entry_card(html: str, entry_id: int) -> str:
    return html.split(f'id="entry-{entry_id}"')[1].split("</li>")[0]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_full_clinic_offers_its_waitlist_and_the_entry_shows_its_place_in_the_queue(language):
    clinic, _, _ = full_clinic(waitlist_places=5)
    first, second = Browser(language).login(), Browser(language).login()
    first_pid, second_pid = with_patient(first), with_patient(second, "李秀英")
    zh = language == "zh-hans"

    rules = first.get(f"/hospitals/{clinic.hospital_id}/")
    assert (
        "号源约满时可申请候补，截至就诊前一天 18:00" if zh else "waitlist (候补) until 18:00 the day before"
    ) in rules
    page = first.get(f"/schedules/{clinic.pk}/")
    assert ("申请候补" if zh else "Join the waitlist") in section(page)
    closes = f"{(clinic.date - dt.timedelta(days=1)).isoformat()} 18:00"
    assert closes in section(page)  # 18:00 the day before
    assert page_weight(page) < PAGE_BUDGET

    form = {"patient_id": first_pid, "notice": "read", "once": "a"}
    page = first.post(f"/schedules/{clinic.pk}/waitlist", form)
    mine = WaitlistEntry.objects.get(patient_id=first_pid)
    assert first.last.redirect_chain == [(f"/waitlist/?joined={mine.pk}#entry-{mine.pk}", 302)]
    card = entry_card(page, mine.pk)
    assert ("排在第 1 位" if zh else "place 1 in the queue") in card
    assert closes in card and ("我的候补" if zh else "My waitlist") in page
    assert page_weight(page) < PAGE_BUDGET
    second.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": second_pid, "notice": "read", "once": "b"})
    theirs = WaitlistEntry.objects.get(patient_id=second_pid)
    assert ("排在第 2 位" if zh else "place 2 in the queue") in entry_card(second.get("/waitlist/"), theirs.pk)

    # found from the registrations tab, with how many are waiting
    listing = first.get("/registrations/")
    link = listing.split('id="waitlist-link"')[1].split("</a>")[0]
    assert ("1 个候补中" if zh else "1 waiting") in link
    # the clinic's page now says who of the account is waiting
    assert ("张伟 已在本号候补" if zh else "张伟 is on this clinic's waitlist") in section(
        first.get(f"/schedules/{clinic.pk}/")
    )

    # the form does not offer the patient already waiting again: a family member is ticked instead
    first.post(
        "/patients/",
        {"name": "李娜", "id_number": f.id_number(), "phone": first.phone, "relation": "other"}
        | {"consent_version": consent.TEXT_VERSION},
    )
    family = Patient.objects.get(name="李娜").pk
    join = section(first.get(f"/schedules/{clinic.pk}/")).split("waitlist-join")[0]
    waiting_radio = re.search(rf'<input type="radio" name="patient_id" value="{first_pid}"[^>]*>', join)[0]
    family_radio = re.search(rf'<input type="radio" name="patient_id" value="{family}"[^>]*>', join)[0]
    assert "disabled" in waiting_radio and "checked" not in waiting_radio and "checked" in family_radio
    with translation.override(language):
        assert escape(str(waitlist_errors.WAITLIST_ALREADY.title)) in join
    # the family member joins too: nobody is left to join, and the form says so instead of
    # asking for the notice with no button to press
    first.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": family, "notice": "read", "once": "f"})
    part = section(first.get(f"/schedules/{clinic.pk}/"))
    assert 'id="waitlist-nobody"' in part and "waitlist-join" not in part and 'name="notice"' not in part
    # and leaves: the entry still waiting is listed above the one that ended, though it is older
    theirs_too = WaitlistEntry.objects.get(patient_id=family)
    listed = first.post(f"/waitlist/{theirs_too.pk}/leave", {})
    assert listed.index(f'id="entry-{mine.pk}"') < listed.index(f'id="entry-{theirs_too.pk}"')

    # pressing the button twice joins once; joining again with another form is refused, naming the patient
    first.post(f"/schedules/{clinic.pk}/waitlist", form)
    html = first.post(f"/schedules/{clinic.pk}/waitlist", form | {"once": "c"}, status=409)
    with translation.override(language):
        assert escape(str(waitlist_errors.WAITLIST_ALREADY.title)) in html
    assert 'data-code="waitlist.already"' in html and 'class="card flat invalid"' in html
    assert WaitlistEntry.objects.filter(schedule=clinic, status="waiting").count() == 2
    assert Schedule.objects.get(pk=clinic.pk).waitlist_active == 2


def test_the_booking_notice_must_be_acknowledged_and_another_accounts_patient_is_not_found():
    clinic, _, _ = full_clinic(waitlist_places=5)
    browser, other = Browser().login(), Browser().login()
    pid, their_pid = with_patient(browser), with_patient(other)

    html = browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "once": "a"}, status=422)
    assert escape(str(web_errors.NOTICE_NOT_READ.title)) in html and 'aria-invalid="true"' in html
    html = browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": their_pid, "notice": "read"}, status=404)
    assert 'data-code="not_found"' in html and 'class="card flat invalid"' in html
    assert not WaitlistEntry.objects.exists()
    assert Schedule.objects.get(pk=clinic.pk).waitlist_active == 0


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_full_clinic_without_an_open_waitlist_says_why(language):
    zh = language == "zh-hans"
    browser = Browser(language).login()
    pid = with_patient(browser)

    def why(clinic) -> tuple[str, str]:
        part = section(browser.get(f"/schedules/{clinic.pk}/"))
        assert "waitlist-join" not in part  # no 候补 button
        return re.search(r'data-code="([^"]+)"', part).group(1), part

    # no waitlist at this hospital: the other doctor with slots that day is offered (it offered nothing)
    clinic, colleague, _ = full_clinic()
    code, part = why(clinic)
    times = browser.get(f"/schedules/{clinic.pk}/").split("</section>")[-1]
    assert times.count("约满" if zh else "Full") == 2  # each half hour of the clinic's times says so
    with translation.override(language):
        assert code == "waitlist.off" and escape(str(waitlist_errors.WAITLIST_OFF.title)) in part
    assert f'href="/schedules/{colleague.pk}/"' in part

    # every slot of the clinic is the window's: nothing comes free online, so no waitlist to wait in
    h = f.hospital(waitlist_places=5)
    dep = f.department(h)
    at_the_window = f.schedule(dep, f.doctor(dep), day=f.today() + dt.timedelta(days=2), platform_share_percent=0)
    colleague = f.schedule(dep, f.doctor(dep, "李明"), day=at_the_window.date)
    code, part = why(at_the_window)
    with translation.override(language):
        assert code == "waitlist.no_online" and escape(str(waitlist_errors.WAITLIST_NO_ONLINE.title)) in part
    assert f'href="/schedules/{colleague.pk}/"' in part
    api = f.Api().login()
    status, refused = api.call(
        "POST", "/waitlist", {"schedule_id": str(at_the_window.pk), "patient_id": api.add_patient()}
    )
    assert (status, refused["code"]) == (409, "waitlist.no_online")

    # its queue is full: the other doctor with slots that day is offered
    clinic, colleague, _ = full_clinic(waitlist_places=1)
    waiting = f.Api().login()
    assert (
        waiting.call("POST", "/waitlist", {"schedule_id": str(clinic.pk), "patient_id": waiting.add_patient()})[0]
        == 201
    )
    code, part = why(clinic)
    assert code == "waitlist.full" and f'href="/schedules/{colleague.pk}/"' in part
    html = browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read"}, status=409)
    assert 'data-code="waitlist.full"' in html and f'href="/schedules/{colleague.pk}/"' in html.split('id="problem"')[1]

    # tomorrow's clinic at 18:00 today: closed
    clinic, colleague, _ = full_clinic(day_offset=1, waitlist_places=5)
    with clock.travel(clock.at_local(f.today(), dt.time(18, 0), "Asia/Shanghai")):
        code, part = why(clinic)
        assert code == "waitlist.closed" and f'href="/schedules/{colleague.pk}/"' in part  # what is left instead
        assert (
            f"已于 {f.today().isoformat()} 18:00 截止" if zh else f"It closed at {f.today().isoformat()} 18:00"
        ) in part
        html = browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read"}, status=409)
        with translation.override(language):
            assert escape(str(waitlist_errors.WAITLIST_CLOSED.title)) in html
    assert not WaitlistEntry.objects.filter(patient_id=pid).exists()


def joined(clinic) -> tuple[Browser, WaitlistEntry]:  # type: ignore[no-untyped-def]
    """A patient logged in to the web app who joined the clinic's waitlist."""
    browser = Browser().login()
    pid = with_patient(browser)
    browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read", "once": "a"})
    return browser, WaitlistEntry.objects.get(patient_id=pid)


def test_leaving_and_being_removed_read_with_their_reasons():
    clinic, _, _ = full_clinic(waitlist_places=5)
    browser, mine = joined(clinic)
    asked = entry_card(browser.get("/waitlist/"), mine.pk)  # leaving is asked once more first
    assert f'href="/schedules/{clinic.pk}/"' in asked  # a waiting card leads to its clinic
    assert "退出后将失去当前候补资格" in asked and "确认退出候补" in asked
    assert "有号即直接预约，费用到院缴纳" in asked  # booked at once; nothing paid online

    page = browser.post(f"/waitlist/{mine.pk}/leave", {})
    card = entry_card(page, mine.pk)
    assert "您已退出候补" in page and "您退出了候补" in card
    assert ">已结束</span>" in card  # the badge and the status line say the same
    assert "waitlist-leave" not in card and Schedule.objects.get(pk=clinic.pk).waitlist_active == 0
    assert f'href="/schedules/{clinic.pk}/"' in card  # the clinic's page, to join again or book what is left
    assert "有号即直接预约" not in card  # ended with nothing paid: no fee to speak of
    html = browser.post(f"/waitlist/{mine.pk}/leave", {}, status=409)  # once is enough
    assert 'data-code="waitlist.not_active"' in html
    assert WaitlistEvent.objects.filter(entry=mine, kind="ended.cancelled").count() == 1

    browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": mine.patient_id, "notice": "read", "once": "b"})
    again = WaitlistEntry.objects.get(status="waiting")
    waitlist.entry_leave(entry=again, actor="desk-li", reason="waitlist.removed", note="同一就诊人重复候补")
    card = entry_card(browser.get("/waitlist/"), again.pk)
    assert "医院已将其移除：同一就诊人重复候补" in card
    outbox.deliver_all()  # the worker tells the patient
    told = Message.objects.get(kind="waitlist.cancelled", channel="inbox")
    messages = browser.get("/messages/")
    assert "同一就诊人重复候补" in messages and told.data["note"] == "同一就诊人重复候补"
    # joined, ended: each leads to its entry on "my waitlist" (no hold or registration to show)
    assert f'<a href="/waitlist/#entry-{again.pk}">查看我的候补</a>' in messages

    other = Browser().login()
    other.post(f"/waitlist/{again.pk}/leave", {}, status=404)  # another account's entry is not found


@pytest.mark.clock("10:00")
def test_an_offer_shows_its_countdown_and_leads_to_the_hold_to_confirm_and_pay():
    clinic, _, holders = full_clinic(payment_required=True, waitlist_places=5, waitlist_confirm_minutes=60)
    browser = Browser().login()
    pid = with_patient(browser)
    page = browser.get(f"/schedules/{clinic.pk}/")
    assert "号源将为您保留 60 分钟" in section(page) and "¥51.00" in section(page)
    browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read", "once": "a"})
    mine = WaitlistEntry.objects.get()
    holder, hold = holders[0]
    assert holder.call("DELETE", f"/holds/{hold['id']}")[0] == 200  # another patient gives the slot back
    worker()

    mine.refresh_from_db()
    card = entry_card(browser.get("/waitlist/"), mine.pk)
    assert mine.status == "offered" and "已为您锁定号源" in card and "11:00" in card
    assert re.search(r'data-countdown="(359\d|3600)"', card)  # an hour to confirm
    # The clinic's page says the slot is held, and leads to it (it said only "waiting").
    offered = section(browser.get(f"/schedules/{clinic.pk}/"))
    assert "已为 张伟 锁定" in offered and f'href="/holds/{mine.hold_id}/"' in offered
    # The registrations tab tells a slot held apart from waiting (it counted both as waiting).
    link = browser.get("/registrations/").split('id="waitlist-link"')[1].split("</a>")[0]
    assert "1 个号源为您锁定中" in link and "候补中" not in link
    assert f'href="/holds/{mine.hold_id}/"' in card and "确认并支付" in card
    held = browser.get(f"/holds/{mine.hold_id}/")
    assert "支付 ¥51.00" in held and re.search(r'data-countdown="(359\d|3600)"', held)  # the same hour
    assert "现在支付以确认锁定的号源" in card and "锁号成功后支付" not in card  # offered: now is the time
    WaitlistEntry.objects.filter(pk=mine.pk).update(status="waiting")
    assert "锁号成功后支付" in entry_card(browser.get("/waitlist/"), mine.pk)  # still waiting: later
    WaitlistEntry.objects.filter(pk=mine.pk).update(status="booked")  # as once its payment came
    booked = entry_card(browser.get("/waitlist/"), mine.pk)
    assert "到号后已支付" in booked and "锁号成功后支付" not in booked
    WaitlistEntry.objects.filter(pk=mine.pk).update(status="offered")

    # the hour runs out: the page says so before the worker has ended the entry
    with clock.travel(clock.now() + dt.timedelta(minutes=61)):
        card = entry_card(browser.get("/waitlist/"), mine.pk)
        assert "确认时间已过" in card and "data-countdown" not in card
        # and where to go next: the clinic's page (a slot given back since, its waitlist again)
        assert f'href="/schedules/{clinic.pk}/"' in card and "再次候补" in card
    live = entry_card(browser.get("/waitlist/"), mine.pk)
    assert f'href="/schedules/{clinic.pk}/"' not in live  # while the offer runs: confirm, nothing else


@pytest.mark.django_db(transaction=True)
def test_a_prepaid_waitlist_goes_to_the_cashier_and_back_into_the_queue(sandbox):
    clinic, _, _ = full_clinic(payment_required=True, waitlist_places=5, waitlist_payment="prepay")
    browser = Browser().login()
    pid = with_patient(browser)
    assert "现在支付挂号费 ¥51.00" in section(browser.get(f"/schedules/{clinic.pk}/"))

    # a browser that sent no method: refused, the field marked, nothing joined
    html = browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read"}, status=422)
    with translation.override("zh-hans"):
        assert escape(str(INVALID.title)) in html and "请选择支付方式" in html
    assert 'class="bare-set invalid" aria-describedby="problem"' in html and not WaitlistEntry.objects.exists()

    form = {"patient_id": pid, "notice": "read", "once": "p", "payment_method": "wechat"}
    response = browser.client.post(f"/schedules/{clinic.pk}/waitlist", form)
    mine = WaitlistEntry.objects.get()
    cashier = response["Location"]
    assert cashier.startswith(mine.payment.pay_url) and "return=" in cashier and f"back%3D{mine.pk}" in cashier
    card = entry_card(browser.get("/waitlist/"), mine.pk)
    assert "等待您支付 ¥51.00" in card and "支付 ¥51.00" in card
    # Not in the queue yet, and the time to pay is said (the clinic's hold time after joining).
    assert "待支付" in card and "候补中" not in card
    pay_by = mine.joined_at + dt.timedelta(minutes=rules_for_schedule(clinic).hold_minutes)
    assert f"请在 {pay_by.astimezone(ZoneInfo(clinic.hospital.timezone)):%H:%M} 前支付" in card
    assert "逾期未付，候补名额作废" in card

    assert post(cashier.split("?")[0] + "/pay") == 200
    card = entry_card(browser.get(f"/waitlist/?back={mine.pk}"), mine.pk)  # back: the provider is asked
    # The money is in, the queue not yet joined (the worker's step): one thing said, not both.
    assert "已收到付款" in card and "等待您支付" not in card
    worker()
    mine.refresh_from_db()
    assert mine.paid_at is not None and Payment.objects.get(pk=mine.payment_id).status == "paid"
    card = entry_card(browser.get("/waitlist/"), mine.pk)
    assert "排在第 1 位" in card and "候补时已支付" in card
    # Still waiting: nothing goes back yet (leaving's confirmation alone says it would).
    assert '<p class="muted">您支付的 ¥51.00 将原路退回' not in card
    browser.post(f"/waitlist/{mine.pk}/leave", {})
    assert '<p class="muted">您支付的 ¥51.00 将原路退回' in entry_card(browser.get("/waitlist/"), mine.pk)


def test_a_booked_entry_links_to_its_registration():
    clinic, _, holders = full_clinic(waitlist_places=5)
    browser = Browser().login()
    pid = with_patient(browser)
    browser.post(f"/schedules/{clinic.pk}/waitlist", {"patient_id": pid, "notice": "read", "once": "a"})
    holder, hold = holders[1]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()
    registration = Registration.objects.get(patient_id=pid)
    mine = WaitlistEntry.objects.get()
    card = entry_card(browser.get("/waitlist/"), mine.pk)
    assert "候补成功" in card and f'href="/registrations/{registration.pk}/"' in card
    assert not Hold.objects.filter(patient_id=pid, status="held").exists()


@pytest.mark.clock("10:00")
def test_an_entry_booked_from_the_waitlist_reads_with_the_time_of_its_own_slot():
    clinic, _, holders = full_clinic(waitlist_places=5)
    browser, mine = joined(clinic)
    later, hold = holders[1]
    later.call("DELETE", f"/holds/{hold['id']}")  # the 08:30 slot comes free
    worker()
    card = entry_card(browser.get("/waitlist/"), mine.pk)
    assert WaitlistEntry.objects.get().status == "booked"
    assert "08:30–09:00" in card and " 08:00<" not in card  # not the clinic's start


def test_a_draw_says_how_many_are_in_it():
    clinic, _, _ = full_clinic(waitlist_places=5, waitlist_order="random")
    browser, mine = joined(clinic)
    assert "已参与抽签，目前共 1 人" in entry_card(browser.get("/waitlist/"), mine.pk)
    other, _ = joined(clinic)
    assert "已参与抽签，目前共 2 人" in entry_card(browser.get("/waitlist/"), mine.pk)
    with translation.override("en"):
        english = entry_card(Browser("en").login(browser.phone).get("/waitlist/"), mine.pk)
    assert "one of 2 in the draw" in english
