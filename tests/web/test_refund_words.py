"""A refund that failed reads the same on the patient's list as on the registration's page."""

from __future__ import annotations

import re

import pytest

from guahao.booking.models import Registration
from guahao.payments.models import Refund
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
    payment = f.paid(registration, fen=5100, number="T-words-1")
    Registration.objects.filter(pk=registration.pk).update(status="refunding")
    Refund.objects.create(
        payment=payment,
        out_refund_no="R-words-1",
        amount_fen=5100,
        reason="cancelled",
        status="failed",
        created_at=payment.paid_at,
    )
    page = browser.get(f"/registrations/{registration.pk}/")
    assert "退费失败" in page
    assert _badge(browser.get("/registrations/"), registration) == "退费失败"

    # Sent again: under way until the provider answers, on the list and the page alike.
    Refund.objects.create(
        payment=payment, out_refund_no="R-words-2", amount_fen=5100, reason="cancelled", created_at=payment.paid_at
    )
    assert "退费失败" not in browser.get(f"/registrations/{registration.pk}/")
    assert _badge(browser.get("/registrations/"), registration) == "退费中"
