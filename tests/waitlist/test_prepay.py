"""A waitlist paid when joining (seed 002's prepay mode), through the payment sandbox running as
its own process: the money waits with the entry, pays for the registration a freed slot makes,
and goes back in full when the waitlist ends without one."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking.models import Registration
from guahao.core import clock, outbox
from guahao.payments.models import Payment, Refund
from guahao.waitlist import services as waitlist
from tests import factories as f
from tests.processes import post, wait_for

# Tomorrow's waitlist is open until 18:00 today: it is 10:00.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock("10:00")]


def worker() -> None:
    while sum(outbox.deliver_all().values()):
        pass


@pytest.fixture
def full_paid_clinic(sandbox):
    """A clinic charging 51 yuan, every slot held, whose waitlist is paid when joining."""
    h = f.hospital(payment_required=True, waitlist_places=5, waitlist_payment="prepay")
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    holders = []
    for _ in range(10):
        client = f.Api().login()
        _, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": client.add_patient()})
        holders.append((client, hold))
    return schedule, holders


def join_and_pay(schedule) -> tuple[f.Api, dict]:
    client = f.Api().login()
    status, entry = client.call(
        "POST",
        "/waitlist",
        {"schedule_id": str(schedule.pk), "patient_id": client.add_patient(), "payment_method": "wechat"},
        **{"Idempotency-Key": f"join-{client.account_id}"},
    )
    assert status == 201, entry
    assert (entry["mode"], entry["payment"]["amount_fen"], entry["payment"]["status"]) == ("prepay", 5100, "created")
    assert entry["position"] is None  # not in the queue until the money arrives
    assert post(entry["payment"]["pay_url"] + "/pay") == 200
    wait_for(lambda: Payment.objects.get(pk=entry["payment"]["id"]).status == "paid")
    worker()
    return client, entry


def now_of(client: f.Api, entry: dict) -> dict:
    return next(e for e in client.call("GET", "/waitlist")[1] if e["id"] == entry["id"])


def test_a_prepaid_entry_is_booked_with_its_money_when_a_slot_comes_free_and_refunded_if_cancelled(
    full_paid_clinic,
):
    schedule, holders = full_paid_clinic
    client, entry = join_and_pay(schedule)
    assert now_of(client, entry)["position"] == 1

    holder, hold = holders[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    worker()

    booked = now_of(client, entry)
    assert booked["status"] == "booked"
    registration = Registration.objects.get(pk=booked["registration_id"])
    payment = Payment.objects.get(pk=entry["payment"]["id"])
    assert (payment.registration_id, payment.hold_id, payment.insurance) == (
        registration.pk,
        registration.hold_id,
        False,
    )
    assert client.call("GET", f"/registrations/{registration.pk}")[1]["status"] == "booked"

    assert client.call("POST", f"/registrations/{registration.pk}/cancel", {})[0] == 200
    refund = wait_for(lambda: Refund.objects.filter(payment=payment, status="succeeded").first())
    assert refund.amount_fen == 5100


def test_a_prepaid_entry_that_never_gets_a_slot_is_refunded_in_full_at_the_deadline(full_paid_clinic):
    schedule, _ = full_paid_clinic
    client, entry = join_and_pay(schedule)

    with clock.travel(clock.at_local(f.today(), dt.time(18, 0), f.TZ)):
        assert waitlist.entries_expire_due() == 1

    ended = now_of(client, entry)
    assert (ended["status"], ended["reason"]) == ("expired", "waitlist.deadline")
    refund = wait_for(lambda: Refund.objects.filter(payment_id=entry["payment"]["id"], status="succeeded").first())
    assert (refund.amount_fen, refund.reason) == (5100, "waitlist")
    worker()
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.expired")
    assert "未能挂号。预付的 ¥51.00 将原路退回。" in told["body"]  # what was paid in advance goes back


def test_leaving_before_paying_closes_the_order_and_charges_nothing(full_paid_clinic):
    schedule, _ = full_paid_clinic
    client = f.Api().login()
    _, entry = client.call(
        "POST",
        "/waitlist",
        {"schedule_id": str(schedule.pk), "patient_id": client.add_patient(), "payment_method": "alipay"},
    )
    assert client.call("DELETE", f"/waitlist/{entry['id']}")[1]["status"] == "cancelled"
    assert Payment.objects.get(pk=entry["payment"]["id"]).status == "closed"
    assert post(entry["payment"]["pay_url"] + "/pay") != 200  # the cashier no longer takes it


def test_an_entry_whose_payment_never_comes_ends_after_the_hold_time_and_gives_its_place_back(sandbox):
    h = f.hospital(payment_required=True, waitlist_places=1, waitlist_payment="prepay", hold_minutes=15)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    holder = f.Api().login()
    for _ in range(10):  # every slot held
        holder = f.Api().login()
        holder.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": holder.add_patient()})
    client = f.Api().login()
    body = {"schedule_id": str(schedule.pk), "patient_id": client.add_patient(), "payment_method": "wechat"}
    _, entry = client.call("POST", "/waitlist", body)
    later = f.Api().login()
    late = {"schedule_id": str(schedule.pk), "patient_id": later.add_patient(), "payment_method": "wechat"}
    assert later.call("POST", "/waitlist", late)[1]["code"] == "waitlist.full"  # its one place is taken

    clock.advance(dt.timedelta(minutes=14))
    assert waitlist.entries_expire_due() == 0  # still time to pay
    clock.advance(dt.timedelta(minutes=2))
    assert waitlist.entries_expire_due() == 1
    ended = now_of(client, entry)
    assert (ended["status"], ended["reason"]) == ("cancelled", "waitlist.prepay_lapsed")
    assert Payment.objects.get(pk=entry["payment"]["id"]).status == "closed"
    worker()
    told = next(m for m in client.call("GET", "/messages")[1] if m["kind"] == "waitlist.cancelled")
    assert "未在时限内完成预付" in told["body"] and "退回" not in told["body"]  # nothing was paid
    assert later.call("POST", "/waitlist", late)[0] == 201  # the place is free again
