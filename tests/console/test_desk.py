"""The console's window desk: a clerk books for a patient read out by ID number, takes the fee,
prints the slip; the till page sums the day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client

from guahao.booking.models import Registration
from guahao.core.models import AuditEntry
from guahao.payments.models import Payment
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def window():
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), platform_share_percent=50)
    f.staff_member("clerk", "window_clerk", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="clerk", password="pw-for-tests")
    return h, clinic, console


def test_a_clerk_books_takes_cash_prints_the_slip_and_sees_the_till(window):
    h, clinic, console = window
    number = f.id_number("19560312")
    page = console.get("/console/desk/").content.decode()
    assert 'id="desk-form"' in page and f'value="{clinic.pk}"' in page
    held = console.post(
        "/console/desk/",
        {
            "step": "hold",
            "id_number": number,
            "name": "李秀英",
            "phone": f.phone(),
            "schedule_id": clinic.pk,
            "channel": "window",
        },
    ).content.decode()
    assert 'id="desk-hold"' in held and number[:6] + "********" + number[-4:] in held and number not in held
    hold_id = held.split('name="hold_id" value="')[1].split('"')[0]

    booked = console.post("/console/desk/", {"step": "cash", "hold_id": hold_id}, follow=True)

    registration = Registration.objects.get()
    assert booked.redirect_chain[-1][0] == f"/console/booking/registration/{registration.pk}/change/"
    assert registration.channel == "window" and 'id="print-slip"' in booked.content.decode()
    timeline = booked.content.decode().split('id="timeline"')[1]
    assert "窗口收费" in timeline and "发起支付" not in timeline  # taken by the clerk, in one step
    payment = Payment.objects.get(registration=registration)
    assert (payment.method, payment.collected_by) == ("cash", "clerk")
    slip = console.get(f"/console/booking/registration/{registration.pk}/slip/")
    assert slip.status_code == 200 and registration.registration_number in slip.content.decode()
    printed = slip.content.decode()
    assert 'id="slip-qr"' in printed and "<svg" in printed and "现金 · clerk" in printed  # scan to check in; paid how
    assert "onclick" not in printed and "console/slip.js" in printed  # Print works under the console's policy
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(User.objects.get(username="clerk"))
    assert "挂号单号" in english.get(f"/console/booking/registration/{registration.pk}/slip/").content.decode()
    assert AuditEntry.objects.filter(actor="clerk", action="payment.collected").count() == 1
    f.staff_member("boss", "hospital_admin", h)
    admin = Client()
    assert admin.login(username="boss", password="pw-for-tests")
    log = admin.get("/console/core/auditentry/").content.decode()
    assert "窗口收费" in log and "金额: ¥51.00" in log and "支付方式: 现金" in log  # worded, money in 元
    assert 'title="窗口收费"' in log and 'title="payment.collected"' not in log  # the filter too
    assert "amount_fen" not in log
    # Finance finds the payment by the patient's name, as the registrations' search does.
    found = admin.get("/console/payments/payment/", {"q": "李秀英"}).content.decode()
    assert payment.out_trade_no in found and "窗口 · clerk" in found  # where it was paid, and who took it
    assert payment.out_trade_no not in admin.get("/console/payments/payment/", {"q": "王五"}).content.decode()

    till = console.get("/console/till/").content.decode()
    assert 'id="till-balance" class="font-semibold">¥51.00<' in till and payment.out_trade_no in till
    dashboard = console.get("/console/").content.decode()
    assert 'id="desk-link"' in dashboard and 'id="till-link"' in dashboard


def test_a_refused_hold_names_the_field_and_changes_nothing(window):
    h, clinic, console = window
    page = console.post(
        "/console/desk/",
        {"step": "hold", "id_number": "110101", "name": "李秀英", "phone": f.phone(), "schedule_id": clinic.pk},
    ).content.decode()
    assert 'data-code="patient.id_number_invalid"' in page and 'id="d-id" name="id_number" value="110101"' in page
    assert not Registration.objects.exists()


def test_a_viewer_has_no_desk_and_another_hospital_s_hold_is_not_found(window):
    h, clinic, console = window
    f.staff_member("viewer", "viewer", h)
    viewer = Client()
    assert viewer.login(username="viewer", password="pw-for-tests")
    refused = viewer.get("/console/desk/")
    assert refused.status_code == 403  # a page of ours that says why, with the way back
    assert "您的角色不包含此页面" in refused.content.decode() and 'id="to-console"' in refused.content.decode()
    other = f.hospital()
    f.staff_member("clerk2", "window_clerk", other)
    elsewhere = Client()
    assert elsewhere.login(username="clerk2", password="pw-for-tests")
    held = console.post(
        "/console/desk/",
        {"step": "hold", "id_number": f.id_number(), "name": "王芳", "phone": f.phone(), "schedule_id": clinic.pk},
    ).content.decode()
    hold_id = held.split('name="hold_id" value="')[1].split('"')[0]
    assert elsewhere.post("/console/desk/", {"step": "cash", "hold_id": hold_id}).status_code == 404
    assert not Registration.objects.exists()


def test_a_window_payment_cancelled_online_is_paid_back_at_the_window_from_the_clerks_till(window):
    from guahao.payments.models import Refund

    h, clinic, console = window
    phone = f.phone()
    held = console.post(
        "/console/desk/",
        {"step": "hold", "id_number": f.id_number(), "name": "李秀英", "phone": phone, "schedule_id": clinic.pk},
    ).content.decode()
    hold_id = held.split('name="hold_id" value="')[1].split('"')[0]
    console.post("/console/desk/", {"step": "cash", "hold_id": hold_id})
    registration = Registration.objects.get()
    app = f.Api().login(phone)
    assert app.call("POST", f"/registrations/{registration.pk}/cancel", {})[1]["status"] == "refunding"
    refund = Refund.objects.get(payment__registration=registration)
    assert refund.status == "pending"  # the cash waits at the window

    changelist = console.get("/console/payments/refund/").content.decode()
    assert "pay_out" in changelist
    assert registration.registration_number in changelist and registration.patient.name in changelist  # whose
    console.post("/console/payments/refund/", {"action": "pay_out", "_selected_action": [refund.pk]})

    refund.refresh_from_db()
    registration.refresh_from_db()
    assert (refund.status, refund.paid_out_by, registration.status) == ("succeeded", "clerk", "refunded")
    assert AuditEntry.objects.filter(actor="clerk", action="refund.paid_out").count() == 1
    till = console.get("/console/till/").content.decode()
    assert 'id="till-balance" class="font-semibold">¥0.00<' in till  # taken and given back
    assert f"-¥{refund.amount_fen // 100}.00" in till and "¥-" not in till  # the line paid back, signed


def test_a_clinic_beyond_the_list_s_length_is_found_by_day_or_department_and_booked(window, monkeypatch):
    """A large hospital has more clinics in 14 days than a list can hold: the list says it was cut
    short, and a day or a department finds the others, which the desk then books."""
    from guahao.console import desk

    h, clinic, console = window
    monkeypatch.setattr(desk, "CLINICS_SHOWN", 2)
    dep = f.department(h)
    later = f.schedule(dep, f.doctor(dep), day=f.today() + dt.timedelta(days=5), platform_share_percent=50)
    f.schedule(clinic.department, clinic.doctor, day=f.today() + dt.timedelta(days=2))

    def listed(page: str) -> set[str]:
        clinics = page.split('id="d-clinic"')[1].split("</select>")[0]
        return {part.split('"')[0] for part in clinics.split('<option value="')[1:]}

    page = console.get("/console/desk/").content.decode()
    assert 'id="clinics-cut"' in page and str(later.pk) not in listed(page)  # the latest is beyond the list

    by_day = console.get("/console/desk/", {"day": later.date.isoformat()}).content.decode()
    assert listed(by_day) == {str(later.pk)} and 'id="clinics-cut"' not in by_day
    by_department = console.get("/console/desk/", {"department": dep.pk}).content.decode()
    assert listed(by_department) == {str(later.pk)}

    held = console.post(
        f"/console/desk/?department={dep.pk}",
        {"step": "hold", "id_number": f.id_number(), "name": "李秀英", "phone": f.phone(), "schedule_id": later.pk},
    ).content.decode()
    assert 'id="desk-hold"' in held and 'id="problem"' not in held
    assert listed(held) == {str(later.pk)}  # the list stays narrowed for the next patient
