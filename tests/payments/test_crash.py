"""Money through a crash: a web process killed (SIGKILL) between recording a payment and booking
its registration, or between asking the provider for a refund and recording it. The provider
sends again, the job runs again: one payment, one refund, nothing counted twice."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from guahao.booking.models import Registration
from guahao.core import clock
from guahao.payments import reconciliation
from guahao.payments import services as payments
from guahao.payments.models import Payment, PaymentStatus, ProviderNotification, Refund, RefundStatus
from guahao.payments.providers.registry import provider_named
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f
from tests.crash import in_background, send
from tests.processes import free_port, post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# In ``_capture``, inside the notification's transaction: the payment is recorded as paid, the
# registration not booked yet.
BETWEEN_PAYMENT_AND_BOOKING = "guahao.booking.services:hold_book"
# The provider has taken the refund; its answer is not recorded yet.
REFUND_ASKED = "guahao.payments.providers.sandbox:SandboxProvider.refund_create"


@pytest.fixture
def held(sandbox):
    """A patient holding a slot at a hospital that charges 51 yuan."""
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    schedule = f.schedule(dep, f.doctor(dep))
    patient = f.Api().login()
    status, hold = patient.call(
        "POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient.add_patient()}
    )
    assert status == 201, hold
    return patient, hold, schedule


def test_a_notification_whose_server_was_killed_before_booking_books_once_when_the_provider_sends_it_again(
    crash_points, held, settings
):
    patient, hold, schedule = held
    # The provider notifies the web server this test kills, and then the one started again on
    # the same address.
    port = free_port()
    settings.PUBLIC_URL = f"http://127.0.0.1:{port}"
    status, started = patient.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    assert status == 201, started

    with crash_points.server(BETWEEN_PAYMENT_AND_BOOKING, port=port) as server:
        assert post(started["pay_url"] + "/pay") == 200  # the patient pays at the cashier
        server.wait_until_reached()
        server.kill()
    # The crash undid the notification's transaction whole: not paid here, not booked.
    assert Payment.objects.get().status == PaymentStatus.CREATED
    assert not Registration.objects.exists() and not ProviderNotification.objects.exists()

    with crash_points.server(port=port):  # started again; the provider sends the notification again
        registration = wait_for(lambda: Registration.objects.first())
        seen = wait_for(lambda: (h := patient.call("GET", f"/holds/{hold['id']}")[1])["status"] != "held" and h)

    # What the patient sees: the hold confirmed, one registration, paid 51 yuan once.
    assert seen["status"] == "confirmed" and seen["registration_id"] == str(registration.pk)
    status, mine = patient.call("GET", "/registrations")
    assert status == 200 and [(r["id"], r["status"]) for r in mine] == [(str(registration.pk), "booked")]
    assert (mine[0]["payment"]["status"], mine[0]["payment"]["amount_fen"]) == ("paid", 5100)
    # What the hospital counts: one payment of 51 yuan, one notification applied, no refund, one
    # slot booked and nine still offered.
    assert list(Payment.objects.values_list("status", "amount_fen", "registration_id")) == [
        ("paid", 5100, registration.pk)
    ]
    assert list(ProviderNotification.objects.values_list("outcome", flat=True)) == ["booked"]
    assert not Refund.objects.exists()
    assert Slot.objects.filter(schedule=schedule, state=SlotState.BOOKED).count() == 1
    assert patient.call("GET", f"/schedules/{schedule.pk}")[1]["available"] == 9


def test_a_refund_whose_server_was_killed_after_the_provider_took_it_is_refunded_once_by_the_job(
    crash_points, held, sandbox
):
    patient, hold, _ = held
    status, started = patient.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    assert status == 201, started
    assert post(started["pay_url"] + "/pay") == 200
    registration = wait_for(lambda: Registration.objects.first())
    payment = Payment.objects.get()
    sandbox(lost=1.0)  # from here on no notification arrives: the job alone finishes the refund

    with crash_points.server(REFUND_ASKED, when="after") as server:
        cancel = in_background(
            lambda: send(server.url, "POST", f"/registrations/{registration.pk}/cancel", token=patient.token)
        )
        server.wait_until_reached()
        server.kill()
        assert isinstance(cancel(), OSError)  # the patient never heard back
    # The provider is refunding; here the refund is pending and was never marked as sent.
    refund = Refund.objects.get()
    assert (refund.status, refund.sent_at) == (RefundStatus.PENDING, None)

    # The worker's minute job sends it again (the same refund number), then asks about it every
    # few minutes until the provider has decided (it takes the provider a moment of real time).
    def job_minute() -> bool:
        payments.payments_check()
        if Refund.objects.get().status != RefundStatus.PENDING:
            return True
        clock.advance(payments.REFUND_QUERY_AFTER + dt.timedelta(seconds=1))
        return False

    wait_for(job_minute)
    assert payments.payments_check()["refunds"] == 0  # and then there is nothing left to do

    # What the patient sees: cancelled and refunded, 51 yuan once.
    status, seen = patient.call("GET", f"/registrations/{registration.pk}")
    assert (status, seen["status"]) == (200, "refunded")
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_fen) == (RefundStatus.SUCCEEDED, 5100)
    # The provider's statement of the refund's day has the payment and the refund once each, and
    # the reconciliation finds no difference on this order.
    day = refund.finished_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    provider = provider_named("sandbox")
    assert provider is not None
    lines = [line for line in provider.statement(day=day) if line.out_trade_no == payment.out_trade_no]
    refunds = [(line.out_refund_no, line.amount_fen) for line in lines if line.kind == "refund"]
    assert refunds == [(refund.out_refund_no, 5100)]
    run = reconciliation.reconcile(provider_name="sandbox", day=day)
    assert not run.differences.filter(out_trade_no=payment.out_trade_no).exists()
