"""The staff API pays a window refund back at the window: from the clerk's till, once, audited,
only at the clerk's own hospital and only by those who take money at the window."""

from __future__ import annotations

import pytest

from guahao.accounts.services import staff_token_create
from guahao.booking.models import Registration
from guahao.core import clock
from guahao.core.models import AuditEntry
from guahao.payments.models import Refund
from tests import factories as f

pytestmark = pytest.mark.django_db


def _desk(user):
    client = f.Api()
    client.token = staff_token_create(user=user)
    return client


@pytest.fixture
def waiting():
    """A clinic charging 51 yuan; a patient booked at the window and paid cash to clerk1, then
    cancelled in the app: the refund waits at the window."""
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=50)
    clerk = _desk(f.staff_member("clerk1", "window_clerk", h))
    person = {"name": "李秀英", "id_number": f.id_number("19560312"), "phone": f.phone()}
    _, made = clerk.call("POST", "/staff/desk/holds", {"schedule_id": clinic.pk, "channel": "window", **person})
    _, booked = clerk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"method": "cash"})
    app = f.Api().login(person["phone"])
    status, cancelled = app.call("POST", f"/registrations/{booked['id']}/cancel", {})
    assert (status, cancelled["status"]) == (200, "refunding")
    return h, clerk, Refund.objects.get(payment__registration_id=booked["id"])


def test_the_clerk_pays_the_refund_out_once_and_the_till_balances(waiting):
    h, clerk, refund = waiting

    status, paid = clerk.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})

    assert status == 200, paid
    assert (paid["status"], paid["paid_out_by"], paid["amount_fen"], paid["method"]) == (
        "succeeded",
        "clerk1",
        5100,
        "cash",
    )
    registration = Registration.objects.get(pk=refund.payment.registration_id)
    assert paid["registration_number"] == registration.registration_number and registration.status == "refunded"
    assert paid["finished_at"].endswith("+08:00")  # on the hospital's clock
    _, rows = clerk.call("GET", "/staff/registrations")
    row = next(r for r in rows if r["id"] == str(registration.pk))
    assert (row["payment_status"], row["refund_status"], row["refunded_fen"]) == ("paid", "succeeded", 5100)
    _, till = clerk.call("GET", "/staff/till")
    assert (till["collected_fen"], till["refunded_fen"], till["balance_fen"]) == (5100, 5100, 0)
    assert [line["number"] for line in till["lines"] if line["kind"] == "refund"] == [refund.out_refund_no]
    assert AuditEntry.objects.filter(actor="clerk1", action="refund.paid_out", target_id=str(refund.pk)).count() == 1

    # a second pay-out (this clerk or a colleague) is refused and changes nothing
    colleague = _desk(f.staff_member("clerk2", "window_clerk", h))
    for client in (clerk, colleague):
        status, refused = client.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})
        assert (status, refused["code"]) == (409, "refund.already_paid_out")
    assert Refund.objects.get(pk=refund.pk).paid_out_by == "clerk1"
    assert colleague.call("GET", "/staff/till")[1]["refunded_fen"] == 0
    assert AuditEntry.objects.filter(action="refund.paid_out").count() == 1


def test_another_hospital_is_not_found_and_a_role_without_the_till_is_forbidden(waiting):
    h, _, refund = waiting
    elsewhere = f.hospital()
    other_clerk = _desk(f.staff_member("clerk9", "window_clerk", elsewhere))
    call_centre = _desk(f.staff_member("call1", "call_centre", h))
    finance = _desk(f.staff_member("fin1", "finance", h))

    assert other_clerk.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})[1]["code"] == "not_found"
    assert call_centre.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})[0] == 403
    assert finance.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})[0] == 403
    assert (
        _desk(f.staff_member("root2", "platform_admin")).call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})[0]
        == 403
    )  # the platform has no till
    assert Refund.objects.get(pk=refund.pk).status == "pending"
    assert not AuditEntry.objects.filter(action="refund.paid_out").exists()


def test_a_refund_of_an_online_payment_is_not_paid_out_at_the_window(waiting):
    h, clerk, window_refund = waiting
    online = f.paid(fen=1000, number="ONLINE0001", account=window_refund.payment.account, hospital=h)
    refund = Refund.objects.create(
        payment=online, out_refund_no="ONLINER001", amount_fen=1000, reason="staff", created_at=clock.now()
    )

    status, refused = clerk.call("POST", f"/staff/refunds/{refund.pk}/pay-out", {})

    assert (status, refused["code"]) == (409, "refund.not_window")
    assert (Refund.objects.get(pk=refund.pk).status, Refund.objects.get(pk=refund.pk).paid_out_by) == ("pending", "")
    assert clerk.call("GET", "/staff/till")[1]["refunded_fen"] == 0
