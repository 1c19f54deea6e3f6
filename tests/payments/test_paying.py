"""Paying for a hold through the sandbox provider, running as its own process."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time

import pytest

from guahao.booking import services as booking
from guahao.booking.models import BookingEvent, Hold, HoldStatus, Registration
from guahao.core import clock, outbox
from guahao.notifications import services as notifications
from guahao.notifications.models import Message
from guahao.payments import services as payments
from guahao.payments.models import Payment, ProviderNotification, Refund
from guahao.payments.providers.registry import provider_named
from guahao.payments.sandbox import signing
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f
from tests.processes import post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held(sandbox):
    """A patient holding a slot at a hospital that charges 51 yuan (1 registration + 50 consultation)."""
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    client = f.Api().login()
    patient = client.add_patient()
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient})
    assert status == 201 and hold["payment_required"] is True
    return client, hold


def pay_start(client, hold, method="wechat"):
    status, body = client.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": method})
    assert status == 201, body
    return body


def hold_now(client, hold):
    return client.call("GET", f"/holds/{hold['id']}")[1]


def test_paid_in_time_becomes_a_registration(held):
    client, hold = held
    started = pay_start(client, hold)
    assert started["amount_fen"] == 5100 and started["pay_url"].startswith("http://127.0.0.1:")
    assert hold_now(client, hold)["status"] == "held"  # the countdown keeps running while paying

    assert post(started["pay_url"] + "/pay") == 200
    # The hold and its registration are read in two statements: wait until both show the booking.
    seen = wait_for(lambda: (h := hold_now(client, hold))["registration_id"] and h["status"] != "held" and h)
    assert seen["status"] == "confirmed"
    registration = client.call("GET", f"/registrations/{seen['registration_id']}")[1]
    assert registration["status"] == "booked"
    assert registration["payment"]["status"] == "paid"
    assert (registration["payment"]["registration_fee_fen"], registration["payment"]["consultation_fee_fen"]) == (
        100,
        5000,
    )
    assert Slot.objects.get(pk=Hold.objects.get(pk=hold["id"]).slot_id).state == SlotState.BOOKED


def test_confirm_without_a_method_names_the_field(held):
    client, hold = held
    status, body = client.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert (status, body["code"], body["field"]) == (422, "payment.method_required", "payment_method")
    assert not Payment.objects.exists()


def test_a_failed_payment_can_be_retried_at_the_same_cashier(held):
    client, hold = held
    first = pay_start(client, hold)
    assert post(first["pay_url"] + "/fail") == 200
    # Back from the cashier, the app asks again (?refresh): the attempt failed, the hold still stands.
    seen = client.call("GET", f"/holds/{hold['id']}?refresh=true")[1]
    assert seen["status"] == "held" and seen["payment"]["failed_at"] and seen["payment"]["status"] == "created"
    assert client.call("GET", f"/holds/{hold['id']}")[1]["payment"]["failed_at"] == seen["payment"]["failed_at"]
    again = pay_start(client, hold)
    assert (again["payment_id"], again["pay_url"]) == (first["payment_id"], first["pay_url"])
    post(again["pay_url"] + "/pay")
    wait_for(lambda: Registration.objects.exists())
    assert Payment.objects.count() == 1


def test_notifications_sent_twice_book_once(held, sandbox):
    sandbox(duplicate=1.0)
    client, hold = held
    post(pay_start(client, hold)["pay_url"] + "/pay")
    wait_for(lambda: Registration.objects.exists())
    time.sleep(0.5)  # the second copy has arrived by now
    assert Registration.objects.count() == 1
    assert ProviderNotification.objects.count() == 1
    assert not Refund.objects.exists()


def test_a_lost_notification_is_made_up_for_by_asking_before_the_hold_ends(held, sandbox):
    sandbox(lost=1.0)
    client, hold = held
    post(pay_start(client, hold)["pay_url"] + "/pay")
    time.sleep(0.3)
    assert not Registration.objects.exists()
    clock.advance(dt.timedelta(minutes=14))  # the hold ends within two minutes
    assert payments.payments_check()["queried"] == 1
    assert Registration.objects.get().status == "booked"


def test_switching_method_after_paying_unnoticed_books_once_and_asks_for_nothing_more(held, sandbox):
    sandbox(lost=1.0)  # the first payment's notification never arrives
    client, hold = held
    first = pay_start(client, hold, "wechat")
    assert post(first["pay_url"] + "/pay") == 200
    status, problem = client.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "alipay"})
    assert status == 409 and problem["code"] == "hold.not_active"  # no second cashier
    assert hold_now(client, hold)["registration_id"]  # the first payment booked it
    assert list(Payment.objects.values_list("method", "status").order_by("pk")) == [
        ("wechat", "paid"),
        ("alipay", "closed"),
    ]
    assert not Refund.objects.exists()


def test_a_second_payment_for_a_booked_hold_goes_back_and_says_the_registration_stands(held):
    client, hold = held
    first = pay_start(client, hold)
    post(first["pay_url"] + "/pay")
    paid = wait_for(lambda: Payment.objects.filter(pk=first["payment_id"], status="paid").first())
    # Taken by the provider at the same moment on another order (a race no check can stop).
    second = f.another_payment(paid, "GHSECONDPAYMENT00001", method="alipay")
    order = provider_named("sandbox").order_create(
        out_trade_no=second.out_trade_no,
        amount_fen=second.amount_fen,
        description="挂号费",
        notify_url="http://127.0.0.1:9/",
    )
    assert post(order.pay_url + "/pay") == 200
    payments.payments_check()  # an open payment of a hold that is over: closed at the provider, found paid
    wait_for(lambda: Refund.objects.filter(payment=second, status="succeeded").exists())
    assert Registration.objects.get().status == "booked"
    outbox.deliver_all()  # the worker tells the patient
    _, messages = client.call("GET", "/messages")
    kinds = ["refund.finished", "payment.second_refunded", "payment.received", "registration.booked"]
    assert [m["kind"] for m in messages] == kinds
    assert "¥51.00" in messages[1]["body"] and "挂号仍然有效" in messages[1]["body"]
    registration = Registration.objects.get()
    assert messages[0]["body"] == (
        f"您为 {registration.visit_date} {registration.hospital.name} 心血管内科 支付的 ¥51.00 已原路退回。"
    )


def test_payment_after_the_hold_expired_is_refunded_in_full(held):
    client, hold = held
    started = pay_start(client, hold)
    clock.advance(dt.timedelta(minutes=16))
    booking.holds_expire()
    assert post(started["pay_url"] + "/pay") == 200

    refunded = wait_for(
        lambda: (p := hold_now(client, hold)["payment"])["refund"] and p["refund"]["status"] == "succeeded" and p
    )
    assert refunded["status"] == "paid"
    assert refunded["refund"]["reason"] == "late"
    assert not Registration.objects.exists()
    assert Refund.objects.get().amount_fen == 5100
    assert Hold.objects.get(pk=hold["id"]).status == HoldStatus.EXPIRED
    outbox.deliver_all()  # the worker tells the patient
    status, messages = client.call("GET", "/messages")  # and the patient is told
    assert [m["kind"] for m in messages] == ["refund.finished", "payment.late_refunded", "hold.expired"]
    assert messages[1]["title"] == "支付已退回" and "¥51.00" in messages[1]["body"]
    assert messages[2]["title"] == "挂号未成功" and messages[2]["hold_id"] == hold["id"]


def test_cancelling_a_paid_registration_refunds_it(held):
    client, hold = held
    post(pay_start(client, hold)["pay_url"] + "/pay")
    registration = wait_for(lambda: Registration.objects.first())
    status, body = client.call("POST", f"/registrations/{registration.pk}/cancel")
    assert status == 200 and body["status"] in ("refunding", "refunded")
    wait_for(lambda: client.call("GET", f"/registrations/{registration.pk}")[1]["status"] == "refunded")
    assert Refund.objects.get().reason == "cancelled"
    outbox.deliver_all()  # the patient is told what goes back
    told = Message.objects.get(registration=registration, channel="inbox", kind="registration.cancelled")
    amount = f"¥{registration.fee_fen // 100}.{registration.fee_fen % 100:02d}"
    assert notifications.message_text(told, "zh-hans")[1].endswith(f"已付的 {amount} 将原路退回。")


def _paid_cancelled_refund_failed(held, sandbox) -> tuple[Registration, Refund]:  # type: ignore[no-untyped-def]
    """A paid registration cancelled by its patient, whose refund the provider refused."""
    sandbox(refund_fail=1.0)
    client, hold = held
    post(pay_start(client, hold)["pay_url"] + "/pay")
    registration = wait_for(lambda: Registration.objects.first())
    client.call("POST", f"/registrations/{registration.pk}/cancel")
    return registration, wait_for(lambda: Refund.objects.filter(status="failed").first())


def test_a_failed_refund_waits_for_staff_with_its_reason(held, sandbox):
    registration, refund = _paid_cancelled_refund_failed(held, sandbox)
    assert refund.failure
    assert Registration.objects.get().status == "refunding"

    # Staff find it in the failed-refunds queue and send it again; the audit trail names them.
    console = _console()
    queue = console.get("/console/payments/failedrefund/").content.decode()
    assert refund.out_refund_no in queue
    sandbox(refund_fail=0.0)
    console.post("/console/payments/failedrefund/", {"action": "retry", "_selected_action": [refund.pk]})
    wait_for(lambda: Registration.objects.get().status == "refunded")
    assert refund.out_refund_no not in console.get("/console/payments/failedrefund/").content.decode()
    event = BookingEvent.objects.get(kind="refund.retried")
    assert (event.actor_type, event.actor_id, event.registration_id) == ("staff", "ops", registration.pk)
    assert event.data["failed_refund_no"] == refund.out_refund_no

    # A refund that did not fail is not sent again: the queue's action refuses and says why.
    response = console.post(
        "/console/payments/refund/", {"action": "retry", "_selected_action": [refund.pk]}, follow=True
    )
    assert "只有失败的退款才能重新发起" in response.content.decode()
    assert Refund.objects.count() == 2


def test_a_refund_that_failed_twice_is_one_to_handle_and_one_in_the_figures(held, sandbox):
    from django.test import Client

    from guahao.booking.stats import StatsFilter
    from guahao.payments import stats
    from tests.api.test_metrics import value

    registration, first = _paid_cancelled_refund_failed(held, sandbox)
    console = _console()
    console.post("/console/payments/failedrefund/", {"action": "retry", "_selected_action": [first.pk]})
    second = wait_for(lambda: Refund.objects.filter(status="failed").exclude(pk=first.pk).first())

    queue = console.get("/console/payments/failedrefund/").content.decode()
    assert second.out_refund_no in queue and first.out_refund_no not in queue  # the last attempt alone
    assert value(Client().get("/metrics").content.decode(), "guahao_refunds_failed") == 1
    today = clock.local_today(registration.hospital.timezone)
    figures = stats.refunds(StatsFilter(date_from=today, date_to=today), registration.hospital.timezone)["total"]
    assert (figures["count"], figures["failed_fen"]) == (1, second.amount_fen)

    sandbox(refund_fail=0.0)
    console.post("/console/payments/failedrefund/", {"action": "retry", "_selected_action": [second.pk]})
    wait_for(lambda: Registration.objects.get().status == "refunded")
    figures = stats.refunds(StatsFilter(date_from=today, date_to=today), registration.hospital.timezone)["total"]
    assert figures == {"count": 1, "refunded_fen": second.amount_fen, "pending_fen": 0, "failed_fen": 0}
    assert value(Client().get("/metrics").content.decode(), "guahao_refunds_failed") == 0

    # The patient heard once that it was delayed and once that it is back: not of each retry.
    outbox.deliver_all()
    client, _ = held
    refunds = [m["title"] for m in client.call("GET", "/messages")[1] if m["kind"].startswith("refund.")]
    assert refunds == ["退款成功", "退款延迟", "退款处理中"]


def _console():
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client()
    console.login(username="ops", password="pw-for-tests")
    return console


def _notify(client, key: str, resource: dict):
    """Post a payment notification signed with ``key`` as the provider would."""
    body = json.dumps({"id": secrets.token_hex(8), "event_type": "TRANSACTION.SUCCESS", "resource": resource})
    headers = signing.notification_headers(key=key, body=body)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.client.post("/api/v1/payments/notify/sandbox", body, content_type="application/json", **meta)


def test_forged_and_mismatched_notifications_change_nothing(held, settings):
    client, hold = held
    pay_start(client, hold)
    payment = Payment.objects.get()
    resource = {
        "mch_id": settings.PAYSIM_MCH_ID,
        "out_trade_no": payment.out_trade_no,
        "amount_fen": payment.amount_fen,
        "status": "SUCCESS",
        "transaction_id": "4200forged",
    }
    response = _notify(client, "not-the-key", resource)
    assert (response.status_code, response.json()["code"]) == (401, "payment.signature_invalid")

    response = _notify(client, settings.PAYSIM_KEY, resource | {"amount_fen": 1})
    assert (response.status_code, response.json()["code"]) == (400, "payment.notification_mismatch")

    response = _notify(client, settings.PAYSIM_KEY, resource | {"mch_id": "1900000999"})
    assert response.status_code == 400

    payment.refresh_from_db()
    assert payment.status == "created"
    assert not Registration.objects.exists()
    assert not ProviderNotification.objects.exists()


def test_a_replayed_notification_changes_nothing(held, settings):
    client, hold = held
    started = pay_start(client, hold)
    post(started["pay_url"] + "/pay")
    wait_for(lambda: ProviderNotification.objects.exists())
    payment = Payment.objects.get()
    resource = {
        "mch_id": settings.PAYSIM_MCH_ID,
        "out_trade_no": payment.out_trade_no,
        "amount_fen": payment.amount_fen,
        "status": "SUCCESS",
        "transaction_id": payment.transaction_id,
    }
    response = _notify(client, settings.PAYSIM_KEY, resource)  # a new id for the same payment
    assert (response.status_code, response.json()["outcome"]) == (200, "duplicate")
    assert Registration.objects.count() == 1
    assert not Refund.objects.exists()


def test_staff_cancelling_a_paid_registration_refunds_it_too(held):
    client, hold = held
    post(pay_start(client, hold)["pay_url"] + "/pay")
    registration = wait_for(lambda: Registration.objects.first())
    console = _console()
    response = console.post(
        "/console/booking/registration/",
        {"action": "cancel", "_selected_action": [registration.pk], "apply": "yes", "reason": "患者来电要求取消"},
    )
    assert response.status_code in (200, 302)
    wait_for(lambda: Registration.objects.get().status == "refunded")
    assert Refund.objects.get().reason == "cancelled"


def test_paying_twice_with_one_idempotency_key_opens_one_payment(held):
    client, hold = held
    path = f"/holds/{hold['id']}/confirm"
    first = client.call("POST", path, {"payment_method": "wechat"}, **{"Idempotency-Key": "pay-1"})
    again = client.call("POST", path, {"payment_method": "wechat"}, **{"Idempotency-Key": "pay-1"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert Payment.objects.count() == 1
    status, problem = client.call("POST", path, {"payment_method": "alipay"}, **{"Idempotency-Key": "pay-1"})
    assert (status, problem["code"]) == (422, "idempotency.key_reused")
    assert Payment.objects.get().status == "created"


def test_a_hold_given_back_closes_its_order_and_it_can_no_longer_be_paid(held):
    client, hold = held
    started = pay_start(client, hold)
    assert client.call("DELETE", f"/holds/{hold['id']}")[0] in (200, 204)
    outbox.deliver_all()  # the worker closes the order as the hold ends, not at the next minute's check

    payment = Payment.objects.get(pk=started["payment_id"])
    assert payment.status == "closed"
    assert post(started["pay_url"] + "/pay") != 200  # the cashier refuses: nothing is charged
    assert not Refund.objects.exists()


def test_order_and_refund_numbers_carry_beijing_s_date_as_the_providers_statements_do():
    """At 01:59 in Beijing (17:59 UTC the day before) a number is of the Beijing day, which the
    provider's daily statement and the hospital's day files it under."""
    night = clock.at_local(dt.date(2026, 12, 7), dt.time(1, 59, 43), "Asia/Shanghai")
    with clock.travel(night):
        assert payments.new_number("GH").startswith("GH20261207015943")
        assert payments.new_number("RF").startswith("RF20261207015943")
