"""A desk's day with orders in the console: find a registration the ways a patient tells it, read
its timeline, correct a wrong no-show (and the bar it caused), cancel after the cutoff with a
reason, refund, export what the list shows; every action in the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.test import Client
from openpyxl import load_workbook

from guahao.booking import services as booking
from guahao.booking.models import BlacklistEntry, Registration
from guahao.core import clock, outbox
from guahao.core.models import AuditEntry
from guahao.payments.models import Refund
from guahao.scheduling.models import RuleSet
from tests import factories as f
from tests.console.days import make_days

pytestmark = pytest.mark.django_db

LIST = "/console/booking/registration/"


@pytest.fixture
def days():
    return make_days()


def _desk(days, role: str = "operator", name: str = "desk") -> Client:
    f.staff_member(name, role, days.hospital)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username=name, password="pw-for-tests")
    return console


def _found(console: Client, term: str) -> list[str]:
    page = console.get(LIST, {"q": term}, follow=True)
    assert page.status_code == 200
    return sorted(r.registration_number for r in page.context["cl"].queryset)


def test_a_registration_is_found_by_full_id_number_phone_number_and_name_shown_masked(days):
    console = _desk(days)
    r2 = days.r["r2"]
    number = days.numbers["r2"]
    assert _found(console, number) == [r2.registration_number]
    assert _found(console, number.lower()) == [r2.registration_number]  # an x typed small
    assert _found(console, days.phones["r2"]) == [r2.registration_number]
    assert _found(console, r2.registration_number) == [r2.registration_number]
    assert _found(console, "钱二") == [r2.registration_number]
    assert _found(console, number[:6] + "********" + number[-4:]) == []  # a masked number finds nothing
    posted = console.post(LIST, {"id_number": number}, follow=True)
    assert posted.redirect_chain[-1][0] == f"{LIST}?person=found"  # the number is in no URL
    assert [r.registration_number for r in posted.context["cl"].queryset] == [r2.registration_number]
    html = posted.content.decode()
    assert number not in html and number[:6] + "********" + number[-4:] in html
    typed = console.get(LIST, {"q": number})
    assert typed.status_code == 302 and number not in typed["Location"]
    wrong = console.post(
        LIST, {"id_number": number[:-1] + "0" if number[-1] != "0" else number[:-1] + "1"}, follow=True
    )
    assert "不是有效的身份证号" in wrong.content.decode()


def test_the_order_page_shows_the_timeline_in_the_hospitals_time_and_money_in_yuan(days):
    console = _desk(days)
    page = console.get(f"{LIST}{days.r['r1'].pk}/change/").content.decode()
    assert "08:00–08:30" in page  # the period, in Beijing time (00:00 UTC)
    assert "¥51.00" in page and "5100" not in page
    for what in ("锁号", "预约成功", "已签到", "已就诊", "发起支付", "微信支付"):
        assert what in page, what
    outbox.deliver_all()  # the patient is told of the booking: in the app, and by SMS
    timeline = console.get(f"{LIST}{days.r['r1'].pk}/change/").content.decode().split('id="timeline"')[1]
    told = [row for row in timeline.split("<tr")[1:] if "发给患者的消息" in row]
    assert told and {"站内消息", "短信"} <= {c for row in told for c in ("站内消息", "短信") if c in row}
    assert days.r["r1"].person_hash not in page
    slip = console.get(f"{LIST}{days.r['r1'].pk}/slip/").content.decode()
    assert days.r["r1"].registration_number in slip and "slip.css" in slip
    cancelled = console.get(f"{LIST}{days.r['r3'].pk}/slip/").content.decode()
    assert "已取消" in cancelled and 'id="slip-qr"' not in cancelled  # nothing to check in with


def test_undoing_a_wrong_no_show_lifts_the_bar_it_caused_and_is_audited(days):
    r2 = days.r["r2"]
    # A second no-show of the same person reaches the rules' two: barred for 90 days.
    later = f.schedule(days.internal, None, day=clock.local_today("Asia/Shanghai") + dt.timedelta(days=1))
    hold = booking.hold_create(account=r2.account, patient=r2.patient, schedule=later)
    again = booking.hold_confirm(hold=hold)
    with clock.travel(clock.now() + dt.timedelta(days=1, hours=4)):
        console = _desk(days)
        asked = console.post(LIST, {"action": "mark_no_show", "_selected_action": [again.pk]})
        assert "原因" in asked.content.decode()  # asks for the reason first
        done = console.post(
            LIST,
            {"action": "mark_no_show", "_selected_action": [again.pk], "apply": "yes", "reason": "未到，HIS 无签到"},
            follow=True,
        )
        assert "已标记爽约: 1" in done.content.decode()
    bar = BlacklistEntry.objects.get()
    assert sorted(bar.causes.values_list("pk", flat=True)) == sorted([r2.pk, again.pk])
    page = console.get(f"/console/booking/blacklistentry/{bar.pk}/change/").content.decode()
    assert r2.registration_number in page and again.registration_number in page

    no_reason = console.post(LIST, {"action": "undo_no_show", "_selected_action": [r2.pk], "apply": "yes"})
    assert "请填写原因" in no_reason.content.decode()
    r2.refresh_from_db()
    assert r2.status == "no_show"  # nothing changed
    console.post(
        LIST,
        {"action": "undo_no_show", "_selected_action": [r2.pk], "apply": "yes", "reason": "患者已就诊，签到漏记"},
    )
    r2.refresh_from_db()
    bar.refresh_from_db()
    assert r2.status == "visited"  # the session is over: the patient came
    assert bar.lifted_at is not None and bar.lifted_by == "desk" and r2.registration_number in bar.note
    entries = list(AuditEntry.objects.filter(hospital_id=days.hospital.pk, actor="desk").order_by("id"))
    assert [(e.actor, e.action, e.target, e.before, e.after) for e in entries] == [
        ("desk", "registration.no_show", again.registration_number, {"status": "booked"}, {"status": "no_show"}),
        ("desk", "registration.no_show_undone", r2.registration_number, {"status": "no_show"}, {"status": "visited"}),
        ("desk", "blacklist.lifted", r2.patient.name, {"until": bar.ends_at.isoformat()}, entries[2].after),
    ]
    assert entries[1].reason == "患者已就诊，签到漏记"
    timeline = console.get(f"{LIST}{r2.pk}/change/").content.decode()
    assert "已撤销爽约" in timeline and "患者已就诊，签到漏记" in timeline and "desk" in timeline


def test_a_late_cancellation_at_the_patients_request_counts_as_the_rules_say(days):
    RuleSet.objects.filter(hospital=days.hospital, department__isnull=True).update(
        late_cancel_counts_as="no_show", blacklist_no_shows=2
    )
    r2 = days.r["r2"]  # one no-show already
    clinic = f.schedule(days.internal, None, day=clock.local_today("Asia/Shanghai"))  # today: past the cutoff
    with clock.travel(
        clock.at_local(clock.local_today("Asia/Shanghai") - dt.timedelta(days=1), dt.time(10), "Asia/Shanghai")
    ):
        today = booking.hold_confirm(hold=booking.hold_create(account=r2.account, patient=r2.patient, schedule=clinic))
    console = _desk(days)
    console.post(
        LIST,
        {
            "action": "cancel",
            "_selected_action": [today.pk],
            "apply": "yes",
            "reason": "家中有事",
            "patient_asked": "yes",
        },
    )
    today.refresh_from_db()
    assert (today.status, today.late_cancel, today.cancelled_by) == ("cancelled", True, "staff")
    bar = BlacklistEntry.objects.get()
    assert bar.reason == "no_shows" and sorted(bar.causes.values_list("pk", flat=True)) == sorted([r2.pk, today.pk])
    page = console.get(f"/console/booking/blacklistentry/{bar.pk}/change/").content.decode()
    assert "逾期取消" in page and "爽约" in page  # each cause as what it was


def test_a_staff_cancellation_for_the_hospitals_own_reason_bars_nobody(days):
    clinic = f.schedule(days.internal, None, day=clock.local_today("Asia/Shanghai"))
    r2 = days.r["r2"]
    with clock.travel(clock.now() - dt.timedelta(days=1)):
        today = booking.hold_confirm(hold=booking.hold_create(account=r2.account, patient=r2.patient, schedule=clinic))
    console = _desk(days)
    console.post(LIST, {"action": "cancel", "_selected_action": [today.pk], "apply": "yes", "reason": "医生临时停诊"})
    today.refresh_from_db()
    assert (today.status, today.late_cancel) == ("cancelled", False)
    assert not BlacklistEntry.objects.exists()
    assert today.events.get(kind="registration.cancelled").data == {"reason": "医生临时停诊"}


def test_staff_refund_a_no_show_they_forgive_once(days):
    r1 = days.r["r1"]
    Registration.objects.filter(pk=r1.pk).update(status="no_show")
    console = _desk(days, "hospital_admin", "boss")
    console.post(LIST, {"action": "refund", "_selected_action": [r1.pk], "apply": "yes", "reason": "医院原因"})
    refund = Refund.objects.get(payment__registration=r1)
    assert (refund.reason, refund.amount_fen, refund.status) == ("staff", 5100, "pending")
    again = console.post(
        LIST, {"action": "refund", "_selected_action": [r1.pk], "apply": "yes", "reason": "再退一次"}, follow=True
    )
    assert "正在退款或已退款" in again.content.decode()
    assert Refund.objects.filter(payment__registration=r1).count() == 1
    assert AuditEntry.objects.get(action="refund.started").reason == "医院原因"


def test_a_viewer_reads_orders_but_is_offered_no_action(days):
    console = _desk(days, "viewer", "looker")
    page = console.get(f"{LIST}{days.r['r2'].pk}/change/").content.decode()
    assert "处理此订单" not in page and 'name="reason"' not in page
    console.post(LIST, {"action": "undo_no_show", "_selected_action": [days.r["r2"].pk], "apply": "yes", "reason": "x"})
    assert Registration.objects.get(pk=days.r["r2"].pk).status == "no_show"


@pytest.mark.parametrize(("role", "refunds"), [("window_clerk", True), ("call_centre", False)])
def test_the_window_and_the_call_centre_neither_mark_visits_nor_undo_a_no_show(days, role, refunds):
    """They book, cancel, move and check in, and the window refunds from its till; a visit's
    outcome (an undone no-show lifts a bar) is an operator's, and the call centre holds no money."""
    r1, r2 = days.r["r1"], days.r["r2"]
    Registration.objects.filter(pk=r1.pk).update(status="checked_in")
    console = _desk(days, role, "clerk")
    paid = console.get(f"{LIST}{r1.pk}/change/").content.decode()
    missed = console.get(f"{LIST}{r2.pk}/change/").content.decode()
    assert ('id="do-refund"' in paid) is refunds and 'id="do-mark_visited"' not in paid
    assert 'id="do-undo_no_show"' not in missed
    for action, pk in (("mark_visited", r1.pk), ("undo_no_show", r2.pk), ("refund", r1.pk)):
        console.post(LIST, {"action": action, "_selected_action": [pk], "apply": "yes", "reason": "试试"})
    assert Refund.objects.filter(payment__registration=r1).exists() is refunds
    assert Registration.objects.get(pk=r1.pk).status == "checked_in"
    assert Registration.objects.get(pk=r2.pk).status == "no_show"
    assert not AuditEntry.objects.filter(actor="clerk").exclude(action="refund.started").exists()
    operator = _desk(days, "operator", "op")
    assert 'id="do-undo_no_show"' in operator.get(f"{LIST}{r2.pk}/change/").content.decode()


def test_the_filtered_list_exports_as_csv_and_excel_with_what_the_page_shows(days):
    console = _desk(days)
    query = {"status__exact": "no_show"}
    answer = console.get(f"{LIST}export/csv/", query)
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["挂号单号", "状态", "就诊日期"]
    assert sorted(r[0] for r in rows[1:]) == sorted(
        [days.r["r2"].registration_number, days.r["r5"].registration_number]
    )
    assert {r[1] for r in rows[1:]} == {"爽约"}
    text = answer.content.decode("utf-8-sig")
    for key in ("r2", "r5"):
        number = days.numbers[key]
        assert number not in text and number[:6] + "********" + number[-4:] in text
    book = load_workbook(io.BytesIO(console.get(f"{LIST}export/xlsx/", query).content))
    sheet = list(book.active.values)
    assert [row[0] for row in sheet[1:]] == [r[0] for r in rows[1:]] and sheet[0][0] == "挂号单号"
    fees = console.get(f"{LIST}export/csv/", {"q": days.numbers["r1"]}).content.decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(fees)))
    shown = dict(zip(header, row, strict=True))
    # What a spreadsheet sums and sorts: the fee in 元 as a number, times on the hospital's clock.
    assert shown["费用"] == "51.00" and "08:00–08:30" in shown["时间"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", shown["预约时间"]), shown["预约时间"]
    assert shown["就诊日期"] == days.r["r1"].visit_date.isoformat()
    book = load_workbook(io.BytesIO(console.get(f"{LIST}export/xlsx/", {"q": days.numbers["r1"]}).content))
    header, row = list(book.active.values)
    assert dict(zip(header, row, strict=True))["费用"] == 51


def test_money_reads_in_yuan_on_every_page_that_shows_it(days):
    console = _desk(days, "hospital_admin", "boss")
    payment = days.r["r1"].payment
    for url in (
        f"/console/payments/payment/{payment.pk}/change/",
        f"/console/scheduling/schedule/{days.clinic1.pk}/change/",
        "/console/payments/payment/",
    ):
        page = console.get(url).content.decode()
        assert "¥51.00" in page or "¥1.00" in page, url
        assert "（分）" not in page, url
    hospital = console.get(f"/console/catalog/hospital/{days.hospital.pk}/change/").content.decode()
    assert 'value="50.00"' in hospital and 'value="1.00"' in hospital  # the chief's fees, typed in 元


def test_a_tick_on_the_page_is_a_word_in_the_export(days):
    console = _desk(days, "hospital_admin", "boss")
    rows = list(csv.reader(io.StringIO(console.get("/console/catalog/doctor/export/csv/").content.decode("utf-8-sig"))))
    assert rows[0][0] == "姓名" and rows[1][-1] == "是"  # the doctor is active


def test_an_order_for_tomorrow_offers_what_can_be_done_now_and_a_cancelled_one_tells_its_cutoff_truly(days):
    console = _desk(days)
    patient = f.Api().login()
    clinic = f.schedule(days.internal, days.doctor)  # tomorrow 08:00, the cutoff still to come
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    _, booked = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    page = console.get(f"{LIST}{booked['id']}/change/").content.decode()
    offered = set(re.findall(r'name="action" value="(\w+)"', page))
    assert "cancel" in offered and not offered & {"check_in", "mark_no_show"}  # the visit is tomorrow
    assert "(已过)" not in page
    patient.call("POST", f"/registrations/{booked['id']}/cancel", {})
    page = console.get(f"{LIST}{booked['id']}/change/").content.decode()
    assert "已取消" in page and "(已过)" not in page  # cancelled in time: its cutoff has not passed


def test_the_payments_list_shows_what_was_refunded_beside_what_was_paid(days):
    console = _desk(days, "finance", "cashier")
    rows = console.get("/console/payments/payment/").context["cl"].result_list
    refunded = {p.registration.registration_number: p.refunded_fen for p in rows}
    assert refunded[days.r["r3"].registration_number] == 5100  # cancelled the day before, refunded
    assert refunded[days.r["r1"].registration_number] is None


def test_the_order_timeline_and_the_messages_list_word_every_message_kind(days):
    console = _desk(days, "hospital_admin", "boss")
    r3 = days.r["r3"]  # paid, cancelled by the patient, refunded: messages of each
    outbox.deliver_all()  # the messages the events tell
    page = console.get(f"{LIST}{r3.pk}/change/").content.decode()
    told = re.findall(r"(?:发给患者的消息|Message to the patient)[:：]\s*([^<]+)<", page)
    assert told and not [t for t in told if re.search(r"[a-z]+\.[a-z_]+", t)], told
    listed = console.get("/console/notifications/message/").content.decode()
    assert not re.search(r'<td class="field-kind_shown[^"]*">[a-z_.]+</td>', listed)
    assert "field-kind_shown" in listed


def test_an_action_taken_on_an_orders_page_goes_back_to_that_page(days):
    console = _desk(days)
    patient = f.Api().login()
    clinic = f.schedule(days.internal, days.doctor)
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    _, booked = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    form = {"action": "cancel", "_selected_action": [booked["id"]], "apply": "yes", "reason": "患者电话取消"}
    done = console.post(LIST, form | {"from_order": str(booked["id"])})
    assert done.status_code == 302 and done["Location"] == f"{LIST}{booked['id']}/change/"
    assert Registration.objects.get(pk=booked["id"]).status == "cancelled"


def test_finance_lists_the_payments_paid_from_one_day_to_another_on_the_hospitals_clock(days):
    from zoneinfo import ZoneInfo

    from guahao.payments.models import Payment

    console = _desk(days, "finance", "cashier")
    r1, r4 = days.r["r1"], days.r["r4"]
    day = clock.local_today("Asia/Shanghai") - dt.timedelta(days=10)
    late = dt.datetime.combine(day, dt.time(23, 30), ZoneInfo("Asia/Shanghai"))  # 15:30 UTC, the same day
    Payment.objects.filter(registration=r1).update(paid_at=late)

    def paid(start: dt.date, end: dt.date) -> set[str]:
        page = console.get("/console/payments/payment/", {"paid_at_from": start, "paid_at_to": end})
        assert page.status_code == 200
        return {p.registration.registration_number for p in page.context["cl"].result_list}

    assert paid(day, day) == {r1.registration_number}
    assert not paid(day + dt.timedelta(days=1), day + dt.timedelta(days=1)) & {r1.registration_number}
    r4_day = Payment.objects.get(registration=r4).paid_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert r4.registration_number in paid(day, r4_day) and r1.registration_number in paid(day, r4_day)
    assert "paid_at_from" in console.get("/console/payments/payment/").content.decode()  # the filter is on the page


def test_the_payments_export_carries_the_providers_transaction_number_as_text(days):
    from guahao.payments.models import Payment

    console = _desk(days, "finance", "cashier")
    r1 = days.r["r1"]
    Payment.objects.filter(registration=r1).update(transaction_id="4200002614202612061234567890")
    book = load_workbook(io.BytesIO(console.get("/console/payments/payment/export/xlsx/").content))
    rows = list(book.active.iter_rows(values_only=True))
    column = rows[0].index("渠道交易号")
    mine = next(row for row in rows[1:] if row[rows[0].index("订单号")] == f"T{r1.registration_number}")
    assert mine[column] == "4200002614202612061234567890"  # every digit, not a rounded number


def test_the_audit_log_names_staff_by_the_name_entered_and_finds_them_by_it(days):
    from django.contrib.auth import get_user_model

    clinic = f.schedule(days.internal, None)
    r2 = days.r["r2"]
    booked = booking.hold_confirm(hold=booking.hold_create(account=r2.account, patient=r2.patient, schedule=clinic))
    console = _desk(days, "operator", "wangfang")
    get_user_model().objects.filter(username="wangfang").update(first_name="芳", last_name="王")
    console.post(LIST, {"action": "cancel", "_selected_action": [booked.pk], "apply": "yes", "reason": "医生临时停诊"})

    boss = _desk(days, "hospital_admin", "boss")
    log = boss.get("/console/core/auditentry/").content.decode()
    assert "王芳 (wangfang)" in log
    found = boss.get("/console/core/auditentry/", {"q": "王芳"}).context["cl"].result_list
    assert found and {e.actor for e in found} == {"wangfang"}
    assert not boss.get("/console/core/auditentry/", {"q": "李雷"}).context["cl"].result_list


def test_the_audit_log_reads_in_the_hospital_s_time_and_the_fields_names_not_their_codes(days):
    from guahao.core.audit import audit_record

    rules = RuleSet.objects.filter(hospital=days.hospital).first() or RuleSet.objects.create(hospital=days.hospital)
    audit_record(
        actor="boss",
        action="blacklist.lifted",
        target_type="blacklist",
        target_id=1,
        target="钱二",
        hospital_id=days.hospital.pk,
        before={"until": "2027-03-02T10:00:00.000002+00:00"},
        after={"lifted_at": "2026-12-06T18:02:37.685826+00:00"},
    )
    entry = audit_record(
        actor="boss",
        action="console.changed",
        target_type="ruleset",
        target_id=rules.pk,
        target=str(rules),
        hospital_id=days.hospital.pk,
        before={"days_ahead": 7, "cancel_policy": "hours_before"},
        after={"days_ahead": 14, "cancel_policy": "day_before"},
    )
    boss = _desk(days, "hospital_admin", "boss")
    log = boss.get("/console/core/auditentry/").content.decode()
    assert "2027-03-02 18:00" in log and "2026-12-07 02:02" in log  # Beijing time, not UTC
    assert "+00:00" not in log and "T10:00" not in log
    assert "days_ahead" not in log and "day_before" not in log  # the fields and choices by their names
    page = boss.get(f"/console/core/auditentry/{entry.pk}/change/").content.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    assert "console.changed" not in title and "在后台修改" in title, title


def test_one_order_s_buttons_speak_of_this_registration_not_the_selected_ones(days):
    clinic = f.schedule(days.internal, None, day=clock.local_today("Asia/Shanghai"))
    r2 = days.r["r2"]
    with clock.travel(clock.now() - dt.timedelta(days=1)):
        today = booking.hold_confirm(hold=booking.hold_create(account=r2.account, patient=r2.patient, schedule=clinic))
    page = _desk(days).get(f"{LIST}{today.pk}/change/").content.decode()
    assert re.search(r'id="do-check_in"[^>]*>签到<', page) and re.search(r'id="do-cancel"[^>]*>取消此挂号<', page)
    assert "所选" not in page.split("处理此订单")[1]


def test_a_cancellation_s_reason_reaches_the_patient_only_when_staff_say_so(days):
    """The reason is the audit trail's; staff tick "tell the patient" for the message to quote it."""
    from guahao.notifications.models import Message
    from guahao.notifications.services import message_text

    r2 = days.r["r2"]
    later = clock.local_today("Asia/Shanghai") + dt.timedelta(days=2)
    told, kept = (
        booking.hold_confirm(
            hold=booking.hold_create(
                account=r2.account,
                patient=r2.patient,
                schedule=f.schedule(days.internal, None, day=later + dt.timedelta(days=n)),
            )
        )
        for n in (0, 1)
    )
    console = _desk(days)
    order = console.get(f"{LIST}{told.pk}/change/").content.decode()
    assert 'name="tell_reason"' in order
    base = {"action": "cancel", "apply": "yes", "reason": "医生临时停诊。"}
    console.post(LIST, base | {"_selected_action": [told.pk], "tell_reason": "yes"})
    console.post(LIST, base | {"_selected_action": [kept.pk]})
    outbox.deliver_all()
    inbox = Message.objects.filter(channel="inbox", kind="registration.cancelled_by_hospital")
    said = {m.registration_id: message_text(m, "zh-hans")[1] for m in inbox}
    assert "原因：医生临时停诊。" in said[told.pk] and "。。" not in said[told.pk]
    assert "医生临时停诊" not in said[kept.pk]  # an internal note stays in the audit trail
    assert "reason given: 医生临时停诊; " in message_text(inbox.get(registration_id=told.pk), "en")[1]
