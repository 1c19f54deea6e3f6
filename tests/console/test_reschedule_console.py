"""改约 from an order's page in the console, under the staff member's name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from guahao.booking.models import BookingEvent, Registration
from guahao.core import clock
from guahao.core.models import AuditEntry
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    first = f.schedule(dep, doctor)
    later = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=2))
    patient = f.Api().login()
    _, hold = patient.call("POST", "/holds", {"schedule_id": first.pk, "patient_id": patient.add_patient()})
    _, reg = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    return h, Registration.objects.get(pk=reg["id"]), later


def _desk(h, name="desk", role="operator") -> Client:
    f.staff_member(name, role, h)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username=name, password="pw-for-tests")
    return console


def test_staff_move_an_order_from_its_page(order):
    h, registration, later = order
    console = _desk(h)
    page = console.get(f"/console/booking/registration/{registration.pk}/change/").content.decode()
    assert 'id="reschedule-order"' in page and "改约到其他时间" in page
    url = f"/console/booking/registration/{registration.pk}/reschedule/"
    page = console.get(url).content.decode()
    assert f'value="{later.pk}"' in page and f'value="{registration.schedule_id}"' not in page
    assert registration.patient.id_number_masked in page

    response = console.post(url, {"schedule_id": later.pk, "reason": ""}, follow=True)

    moved = Registration.objects.get(status="booked")
    assert response.redirect_chain[-1][0] == f"/console/booking/registration/{moved.pk}/change/"
    assert moved.schedule_id == later.pk and moved.registration_number in response.content.decode()
    registration.refresh_from_db()
    assert registration.status == "moved"
    event = BookingEvent.objects.get(registration=registration, kind="registration.moved")
    assert (event.actor_type, event.actor_id) == ("staff", "desk")
    assert AuditEntry.objects.filter(actor="desk", action="registration.moved", target=registration.registration_number)


def test_after_the_cutoff_the_console_asks_for_a_reason(order):
    h, registration, later = order
    console = _desk(h)
    url = f"/console/booking/registration/{registration.pk}/reschedule/"
    with clock.travel(registration.schedule.starts_at - dt.timedelta(hours=1)):
        response = console.post(url, {"schedule_id": later.pk, "reason": ""}, follow=True)
        assert "请填写原因：它会记入订单的操作记录" in response.content.decode()
        assert Registration.objects.get(pk=registration.pk).status == "booked"
        console.post(url, {"schedule_id": later.pk, "reason": "患者来电"}, follow=True)
    assert Registration.objects.get(pk=registration.pk).status == "moved"


def test_another_hospital_s_staff_and_a_viewer_cannot_move_it(order):
    h, registration, later = order
    url = f"/console/booking/registration/{registration.pk}/reschedule/"
    elsewhere = _desk(f.hospital(), name="other")
    assert elsewhere.post(url, {"schedule_id": later.pk}).status_code == 404
    viewer = _desk(h, name="viewer", role="viewer")
    assert viewer.post(url, {"schedule_id": later.pk}).status_code == 403
    assert Registration.objects.get(pk=registration.pk).status == "booked"
