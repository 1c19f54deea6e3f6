"""A refund that failed reads the same on the patient's list as on the registration's page."""

from __future__ import annotations

import re

import pytest

from guahao.booking.models import Registration
from guahao.core import clock
from guahao.payments.models import Payment, Refund
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


def _badge(listed: str, registration: Registration) -> str:
    row = re.search(rf'href="/registrations/{registration.pk}/".*?<span class="badge[^"]*">(.*?)</span>', listed, re.S)
    assert row, listed
    return row.group(1)


def test_a_failed_refund_reads_failed_on_the_list_as_on_its_page():
    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep))
    browser = Browser().login()
    api = f.Api().login(browser.phone)
    _, hold = api.call("POST", "/holds", {"schedule_id": schedule.pk, "patient_id": api.add_patient()})
    assert api.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    registration = Registration.objects.get()
    now = clock.now()
    payment = Payment.objects.create(
        registration=registration,
        account_id=registration.account_id,
        hospital_id=registration.hospital_id,
        provider="sandbox",
        method="wechat",
        out_trade_no="T-words-1",
        registration_fee_fen=100,
        consultation_fee_fen=5000,
        amount_fen=5100,
        status="paid",
        created_at=now,
        paid_at=now,
    )
    Registration.objects.filter(pk=registration.pk).update(status="refunding")
    Refund.objects.create(
        payment=payment, out_refund_no="R-words-1", amount_fen=5100, reason="cancelled", status="failed", created_at=now
    )
    page = browser.get(f"/registrations/{registration.pk}/")
    assert "退费失败" in page
    assert _badge(browser.get("/registrations/"), registration) == "退费失败"

    # Sent again: under way until the provider answers, on the list and the page alike.
    Refund.objects.create(
        payment=payment, out_refund_no="R-words-2", amount_fen=5100, reason="cancelled", created_at=now
    )
    assert "退费失败" not in browser.get(f"/registrations/{registration.pk}/")
    assert _badge(browser.get("/registrations/"), registration) == "退费中"
