"""Booking on a patient's behalf at the window and on the phone desk: one pool and one set of
rules for every channel, the fee taken at the window into the staff member's till, a payment
link by SMS, cancellation on any channel whatever the booking channel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client

from guahao.accounts import phones
from guahao.accounts.models import Account, Patient
from guahao.accounts.services import staff_token_create
from guahao.booking import services as booking
from guahao.booking.models import BookingEvent, Hold, Registration
from guahao.core import clock, outbox
from guahao.core.models import AuditEntry
from guahao.notifications.models import Message
from guahao.payments import services as payments
from guahao.payments.models import Payment, Refund
from guahao.scheduling.models import Pool, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    """A hospital charging 51 yuan whose clinic keeps half its slots for the window, and a window
    clerk's client of the staff API."""
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=50)
    clerk = f.staff_member("clerk1", "window_clerk", h)
    client = f.Api()
    client.token = staff_token_create(user=clerk)
    return h, dep, clinic, client


def _person(name="李秀英"):
    return {"name": name, "id_number": f.id_number("19560312"), "phone": f.phone()}


def _hold(client, clinic, person, channel="window"):
    return client.call("POST", "/staff/desk/holds", {"schedule_id": clinic.pk, "channel": channel, **person})


def test_the_window_books_a_new_patient_and_takes_cash(desk):
    h, _, clinic, client = desk
    person = _person()
    status, made = _hold(client, clinic, person)
    assert status == 201, made
    assert made["patient"]["name"] == "李秀英"
    assert made["patient"]["id_number_masked"] == person["id_number"][:6] + "********" + person["id_number"][-4:]
    hold = Hold.objects.get(pk=made["hold"]["id"])
    assert hold.channel == "window" and hold.slot.pool == Pool.ONSITE
    assert Account.objects.filter(phones.matching(person["phone"])).exists()  # the patient's login, made for them

    status, booked = client.call("POST", f"/staff/desk/holds/{hold.pk}/collect", {"method": "cash"})

    assert status == 201, booked
    assert booked["status"] == "booked" and booked["payment_method"] == "cash" and booked["payment_status"] == "paid"
    assert booked["slip_url"] == f"/console/booking/registration/{booked['id']}/slip/"
    registration = Registration.objects.get(pk=booked["id"])
    assert registration.channel == "window"
    payment = Payment.objects.get(registration=registration)
    assert (payment.provider, payment.collected_by, payment.amount_fen) == ("window", "clerk1", 5100)
    assert set(AuditEntry.objects.filter(actor="clerk1").values_list("action", flat=True)) >= {
        "hold.created",
        "payment.collected",
    }
    event = BookingEvent.objects.get(hold=hold, kind="hold.created")
    assert (event.actor_type, event.actor_id) == ("staff", "clerk1")
    # the patient logs in with that phone and sees it in the app
    app = f.Api().login(person["phone"])
    _, mine = app.call("GET", "/registrations")
    assert [r["registration_number"] for r in mine] == [registration.registration_number]


def test_the_desk_finds_a_known_patient_and_refuses_a_wrong_name_or_number(desk):
    _, _, clinic, client = desk
    person = _person()
    assert _hold(client, clinic, person)[0] == 201
    before = (Patient.objects.count(), Hold.objects.count())
    status, problem = _hold(client, clinic, person | {"name": "王芳"})
    assert (status, problem["code"], problem["field"]) == (422, "patient.name_mismatch", "name")
    wrong_check = "1" if person["id_number"].endswith("0") else "0"  # never the number's own check digit
    status, problem = _hold(client, clinic, person | {"id_number": person["id_number"][:-1] + wrong_check})
    assert status == 422 and problem["field"] == "id_number"
    assert "校验码" in problem["detail"]  # the real problem named, as the patient's own form names it
    status, problem = _hold(client, clinic, person | {"phone": "12345"})
    assert status == 422 and problem["field"] == "phone"
    status, problem = _hold(client, clinic, {k: v for k, v in person.items() if k != "name"})
    assert (status, problem["field"]) == (422, "name")
    assert (Patient.objects.count(), Hold.objects.count()) == before


def test_a_refused_hold_adds_no_patient_and_a_corrected_name_is_taken_after_it(desk):
    """A new person whose hold is refused is not added: the name typed then does not stick to
    the ID number (a corrected one would have been refused as not the registered name)."""
    h, dep, clinic, client = desk
    before = (Patient.objects.count(), Account.objects.count())
    person = _person(name="李秀瑛")  # mistyped
    over = f.schedule(dep, f.doctor(dep, name="赵立新"), day=f.today() - dt.timedelta(days=1))
    children = f.department(h, name="儿科")
    children.age_under = 14
    children.save()
    paediatric = f.schedule(children, f.doctor(children, name="周敏"), platform_share_percent=50)
    for schedule, channel, code in [
        (over, "window", "schedule.ended"),
        (over, "phone", "schedule.ended"),
        (paediatric, "window", "rule.department_age"),
    ]:
        status, problem = _hold(client, schedule, person, channel=channel)
        assert (status, problem["code"]) == (409, code), problem
    assert (Patient.objects.count(), Account.objects.count()) == before
    assert not Account.objects.filter(phones.matching(person["phone"])).exists()

    status, made = _hold(client, clinic, person | {"name": "李秀英"})
    assert status == 201, made
    assert made["patient"]["name"] == "李秀英"


def test_a_desk_booking_is_not_a_way_round_the_limits_across_channels(desk):
    _, dep, clinic, client = desk
    person = _person()
    _, made = _hold(client, clinic, person)
    assert client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "card"})[0] == 201
    other = f.schedule(dep, f.doctor(dep, name="赵立新"), platform_share_percent=50)
    # the window again, the same day and department: one per patient
    status, problem = _hold(client, other, person)
    assert (status, problem["code"]) == (409, "rule.one_per_department_per_day")
    # the phone desk: the same
    status, problem = _hold(client, other, person, channel="phone")
    assert (status, problem["code"]) == (409, "rule.one_per_department_per_day")
    # the app, logged in with the patient's phone: the same
    app = f.Api().login(person["phone"])
    pid = str(Patient.objects.get(phones.matching(person["phone"], "account__phone_hash")).pk)
    status, problem = app.call("POST", "/holds", {"schedule_id": other.pk, "patient_id": pid})
    assert (status, problem["code"]) == (409, "rule.one_per_department_per_day")
    assert Registration.objects.count() == 1 and Hold.objects.filter(status="held").count() == 0


def test_the_window_takes_from_the_onsite_pool_and_the_phone_from_the_platform_pool(desk):
    _, _, clinic, client = desk
    _, at_window = _hold(client, clinic, _person())
    _, on_phone = _hold(client, clinic, _person("王芳"), channel="phone")
    pools = {
        Hold.objects.get(pk=at_window["hold"]["id"]).slot.pool,
        Hold.objects.get(pk=on_phone["hold"]["id"]).slot.pool,
    }
    assert pools == {Pool.ONSITE, Pool.PLATFORM}
    assert Hold.objects.get(pk=on_phone["hold"]["id"]).channel == "phone"


def test_a_viewer_may_not_book_and_a_call_centre_may_not_take_money(desk):
    h, _, clinic, _ = desk
    viewer = f.Api()
    viewer.token = staff_token_create(user=f.staff_member("viewer9", "viewer", h))
    assert _hold(viewer, clinic, _person())[0] == 403
    phone_desk = f.Api()
    phone_desk.token = staff_token_create(user=f.staff_member("call1", "call_centre", h))
    status, made = _hold(phone_desk, clinic, _person(), channel="phone")
    assert status == 201
    status, _ = phone_desk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    assert status == 403
    assert not Payment.objects.exists() and not Registration.objects.exists()


def test_the_till_balances_with_the_day_s_window_payments_and_refunds(desk):
    h, dep, clinic, client = desk
    from django.contrib.auth import get_user_model

    clerk_user = get_user_model().objects.get(username="clerk1")
    clerk = booking.Actor.staff(clerk_user)
    booked = []
    for i, method in enumerate(["cash", "card", "cash"]):
        _, made = _hold(client, clinic, _person(["李秀英", "王芳", "张伟"][i]))
        status, r = client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": method})
        assert status == 201, r
        booked.append(Registration.objects.get(pk=r["id"]))
    # a colleague's takings are in their own till
    colleague = f.Api()
    colleague.token = staff_token_create(user=f.staff_member("clerk2", "window_clerk", h))
    _, made = _hold(colleague, clinic, _person("赵敏"))
    colleague.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    # the patient of the first asks at the window to cancel: the cash goes back from the drawer
    cancelled = payments.registration_cancel(
        registration=booked[0], actor=clerk, reason="患者不来了", paid_back_here=True
    )
    assert cancelled.status == "refunded"
    refund = Refund.objects.get(payment__registration=booked[0])
    assert (refund.status, refund.paid_out_by, refund.amount_fen) == ("succeeded", "clerk1", 5100)

    status, till = client.call("GET", "/staff/till")

    assert status == 200, till
    assert till["staff"] == "clerk1" and till["day"] == f.today().isoformat()
    assert (till["collected_fen"], till["refunded_fen"], till["balance_fen"]) == (15300, 5100, 10200)
    assert till["by_method"] == {"cash": 5100, "card": 5100}
    assert sorted(line["amount_fen"] for line in till["lines"]) == [-5100, 5100, 5100, 5100]
    assert sum(line["amount_fen"] for line in till["lines"]) == till["balance_fen"]
    assert colleague.call("GET", "/staff/till")[1]["balance_fen"] == 5100
    # another day's till is empty; another staff member's is not the clerk's to read
    tomorrow = (f.today() + dt.timedelta(days=1)).isoformat()
    assert client.call("GET", f"/staff/till?day={tomorrow}")[1]["balance_fen"] == 0
    assert client.call("GET", "/staff/till?staff=clerk2")[0] == 403
    finance = f.Api()
    finance.token = staff_token_create(user=f.staff_member("fin1", "finance", h))
    assert finance.call("GET", "/staff/till?staff=clerk2")[1]["balance_fen"] == 5100


def test_cancel_on_any_channel_whatever_the_booking_channel(desk):
    h, dep, clinic, client = desk
    # booked at the window, cancelled by the patient in the app: the cash waits at the window
    person = _person()
    _, made = _hold(client, clinic, person)
    _, r = client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    app = f.Api().login(person["phone"])
    status, body = app.call("POST", f"/registrations/{r['id']}/cancel", {})
    assert status == 200 and body["status"] == "refunding"
    refund = Refund.objects.get(payment__registration_id=r["id"])
    assert refund.status == "pending" and refund.paid_out_by == ""
    payments.refund_pay_out(refund=refund, actor=booking.Actor.staff(f.staff_member("clerk3", "window_clerk", h)))
    assert Registration.objects.get(pk=r["id"]).status == "refunded"
    assert Slot.objects.get(pk=Registration.objects.get(pk=r["id"]).slot_id).state == "free"
    # booked on the phone desk (free of charge here), cancelled at the window by staff
    free = f.hospital()
    fdep = f.department(free)
    fclinic = f.schedule(fdep, f.doctor(fdep))
    phone_desk = f.Api()
    phone_desk.token = staff_token_create(user=f.staff_member("call2", "call_centre", free))
    _, made = _hold(phone_desk, fclinic, _person("王芳"), channel="phone")
    status, r2 = phone_desk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {})
    assert status == 201 and r2["status"] == "booked"
    registration = Registration.objects.get(pk=r2["id"])
    assert registration.channel == "phone"
    window = booking.Actor.staff(f.staff_member("clerk4", "window_clerk", free))
    assert payments.registration_cancel(registration=registration, actor=window).status == "cancelled"
    # booked in the app, cancelled at the window
    app2 = f.Api().login()
    _, hold = app2.call("POST", "/holds", {"schedule_id": fclinic.pk, "patient_id": app2.add_patient()})
    _, r3 = app2.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert Registration.objects.get(pk=r3["id"]).channel == "app"
    cancelled = payments.registration_cancel(registration=Registration.objects.get(pk=r3["id"]), actor=window)
    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "staff"


def test_the_phone_desk_sends_a_payment_link_by_sms(desk, sandbox):
    h, _, clinic, _ = desk
    phone_desk = f.Api()
    phone_desk.token = staff_token_create(user=f.staff_member("call9", "call_centre", h))
    person = _person()
    _, made = _hold(phone_desk, clinic, person, channel="phone")
    status, sent = phone_desk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/link", {})
    assert status == 201, sent
    assert sent["payment"]["status"] == "created" and sent["payment"]["pay_url"].startswith("http://127.0.0.1:")
    outbox.deliver_all()
    assert Message.objects.filter(kind="payment.link", channel="sms").count() == 1  # sent by the delivery worker
    _, inbox = f.Api().login(person["phone"]).call("GET", "/messages")
    told = [m for m in inbox if m["kind"] == "payment.link"]
    assert len(told) == 1 and sent["payment"]["pay_url"] in told[0]["body"] and "¥51.00" in told[0]["body"]
    assert AuditEntry.objects.filter(actor="call9", action="payment.link_sent").exists()
    assert Hold.objects.get(pk=made["hold"]["id"]).status == "held"


def test_the_statistics_count_by_channel(desk):
    from guahao.booking import stats

    h, dep, clinic, client = desk
    _, made = _hold(client, clinic, _person())
    client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    app = f.Api().login()
    _, hold = app.call("POST", "/holds", {"schedule_id": clinic.pk, "patient_id": app.add_patient()})

    booking.hold_book(hold_id=int(hold["id"]), in_time_at=clock.now(), insurance=False)
    window = stats.StatsFilter(date_from=f.today(), date_to=f.today() + dt.timedelta(days=2))
    assert {r["key"]: r["booked"] for r in stats.by_channel(window)} == {"app": 1, "window": 1}


def test_a_colleague_without_a_till_cancels_and_the_money_waits_at_the_window(desk):
    """An operator (no till) cancels in the console a registration paid in cash at the window:
    nothing is marked paid out in their name; the refund waits for a clerk, and the patient is
    told to collect it at the window."""
    h, dep, clinic, client = desk
    person = _person()
    _, made = _hold(client, clinic, person)
    _, r = client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    f.staff_member("op1", "operator", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="op1", password="pw-for-tests")
    form = {"action": "cancel", "_selected_action": [r["id"]], "apply": "yes", "reason": "患者电话取消"}
    console.post("/console/booking/registration/", form, follow=True)

    refund = Refund.objects.get(payment__registration_id=r["id"])
    assert (refund.status, refund.paid_out_by) == ("pending", "")
    assert Registration.objects.get(pk=r["id"]).status == "refunding"
    assert not AuditEntry.objects.filter(action="refund.paid_out").exists()
    outbox.deliver_all()
    app = f.Api().login(person["phone"])
    told = {m["kind"]: m["body"] for m in app.call("GET", "/messages")[1]}
    assert "请到挂号收费窗口领取" in told["refund.at_window"] and "refund.started" not in told
    assert "已付的 ¥51.00 请到医院挂号收费窗口领取" in told["registration.cancelled_by_hospital"]  # not 原路退回
    from tests.web.test_pages import Browser

    page = Browser().login(person["phone"]).get(f"/registrations/{r['id']}/")
    assert "在医院退还：请到挂号收费窗口领取" in page

    payments.refund_pay_out(refund=refund, actor=booking.Actor.staff(User.objects.get(username="clerk1")))
    assert client.call("GET", "/staff/till")[1]["balance_fen"] == 0  # taken and handed back by the clerk


@pytest.mark.clock("10:00")
def test_a_clerk_refunds_a_checked_in_cash_visit_from_the_console_in_one_step(desk):
    h, dep, clinic, client = desk
    today = f.schedule(
        dep,
        f.doctor(dep, "孙春梅"),
        day=f.today(),
        session="pm",
        start=dt.time(14, 0),
        end=dt.time(15, 0),
        platform_share_percent=50,
    )
    status, made = _hold(client, today, _person())
    assert status == 201, made
    _, r = client.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    clerk = User.objects.get(username="clerk1")
    booking.registration_check_in(registration=Registration.objects.get(pk=r["id"]), actor=booking.Actor.staff(clerk))
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="clerk1", password="pw-for-tests")
    form = {"action": "refund", "_selected_action": [r["id"]], "apply": "yes", "reason": "医生临时停诊"}
    console.post("/console/booking/registration/", form, follow=True)

    refund = Refund.objects.get(payment__registration_id=r["id"])
    assert (refund.status, refund.paid_out_by) == ("succeeded", "clerk1")  # handed back from the till
    assert Registration.objects.get(pk=r["id"]).status == "checked_in"  # the visit stands
    assert client.call("GET", "/staff/till")[1]["balance_fen"] == 0
