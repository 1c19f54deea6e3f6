"""改约 in the patient web app: from the registration's page to the new registration."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.booking import services as booking
from guahao.booking.models import Hold, Registration
from guahao.core import clock, outbox
from guahao.his import services as his
from guahao.his.models import HisConnection
from guahao.notifications.models import Message
from guahao.payments.models import Payment, PaymentStatus
from guahao.scheduling.models import Schedule
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered():
    h = f.hospital()
    dep = f.department(h, name="儿科")
    doctor = f.doctor(dep, "赵敏")
    first = f.schedule(dep, doctor)
    later = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=2))
    browser = Browser().login()
    pid = browser.add_self().pk
    browser.post(f"/schedules/{first.pk}/hold", {"patient_id": pid, "notice": "read", "once": "m"})
    browser.post(f"/holds/{Hold.objects.get().pk}/confirm", {})
    return browser, Registration.objects.get(), later


def test_move_from_the_registration_page_to_another_day(registered):
    browser, registration, later = registered
    html = browser.get(f"/registrations/{registration.pk}/")
    assert 'id="reschedule"' in html and "改约到其他时间" in html
    html = browser.get(f"/registrations/{registration.pk}/reschedule")
    assert f'name="schedule_id" value="{later.pk}"' in html
    assert f'data-period="{registration.period_id}"' not in html  # the time already booked is not offered

    html = browser.post(f"/registrations/{registration.pk}/reschedule", {"schedule_id": later.pk})

    moved = Registration.objects.get(status="booked")
    assert moved.schedule_id == later.pk and moved.pk != registration.pk
    assert browser.last.request["PATH_INFO"] == f"/registrations/{moved.pk}/"
    assert 'id="moved"' in html and moved.registration_number in html
    registration.refresh_from_db()
    assert registration.status == "moved"
    html = browser.get(f"/registrations/{registration.pk}/")
    assert "已改约" in html and f"/registrations/{moved.pk}/" in html and 'id="reschedule"' not in html


def test_a_refused_move_shows_why_and_changes_nothing(registered):
    browser, registration, later = registered
    other = f.schedule(f.department(registration.hospital, name="眼科"))
    html = browser.post(f"/registrations/{registration.pk}/reschedule", {"schedule_id": other.pk}, status=422)
    assert 'data-code="reschedule.other_department"' in html and "只能改约到本科室的其他门诊" in html
    registration.refresh_from_db()
    assert registration.status == "booked" and Registration.objects.count() == 1


def test_a_suspended_clinic_s_registration_offers_the_department_s_other_clinics(registered):
    browser, registration, later = registered
    his.schedule_suspend(schedule=registration.schedule, reason="医生外出会诊", actor=booking.SYSTEM)
    html = browser.get(f"/registrations/{registration.pk}/")
    assert 'id="rebook"' in html
    response = browser.client.get(f"/registrations/{registration.pk}/reschedule")
    assert response["Location"] == f"/departments/{registration.department_id}/"


def test_a_reopened_clinic_s_cancelled_patient_keeps_the_reason_and_is_told_it_is_back(
    registered, django_capture_on_commit_callbacks
):
    browser, registration, later = registered
    clinic = registration.schedule
    with django_capture_on_commit_callbacks(execute=True):
        his.schedule_suspend(schedule=clinic, reason="医生外出会诊", actor=booking.SYSTEM)
    html = browser.get(f"/registrations/{registration.pk}/")
    assert "医院说明的原因：医生外出会诊" in html and 'id="reopened"' not in html

    clock.advance(dt.timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        his.schedule_reopen(schedule=clinic, actor=booking.SYSTEM)
    outbox.deliver_all()

    # The clinic's own reason is cleared when it opens again; the patient's page keeps it.
    html = browser.get(f"/registrations/{registration.pk}/")
    assert "医院说明的原因：医生外出会诊" in html and 'id="rebook"' in html
    assert 'id="reopened"' in html and "该门诊已恢复出诊" in html
    told = browser.get("/messages/")
    assert "恢复出诊" in told and registration.registration_number in told
    assert Message.objects.filter(kind="schedule.reopened", channel="inbox").count() == 1

    # Booked again, suspended and opened again: the patients of that suspension alone are told.
    other = f.Api().login()
    _, held = other.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": other.add_patient()})
    assert other.call("POST", f"/holds/{held['id']}/confirm", {})[0] == 201
    clock.advance(dt.timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        his.schedule_suspend(schedule=clinic, reason="再次停诊", actor=booking.SYSTEM)
    clock.advance(dt.timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        his.schedule_reopen(schedule=clinic, actor=booking.SYSTEM)
    outbox.deliver_all()
    told = Message.objects.filter(kind="schedule.reopened", channel="inbox")
    assert sorted(told.values_list("account_id", flat=True)) == sorted([registration.account_id, int(other.account_id)])


def test_a_paid_registration_is_offered_only_clinics_of_its_fee(registered):
    browser, registration, later = registered
    dep = registration.department
    cheaper = f.schedule(dep, f.doctor(dep, "钱明", title="general"), day=later.date)
    assert cheaper.fee_fen != registration.fee_fen
    html = browser.get(f"/registrations/{registration.pk}/reschedule")
    assert f'value="{cheaper.pk}"' in html  # not paid: any clinic of the department
    Payment.objects.create(
        hold=registration.hold, registration=registration, account=registration.account,
        hospital=registration.hospital, provider="sandbox", method="wechat", out_trade_no="paid-1",
        registration_fee_fen=registration.registration_fee_fen,
        consultation_fee_fen=registration.consultation_fee_fen, amount_fen=registration.fee_fen,
        status=PaymentStatus.PAID, created_at=clock.now(), paid_at=clock.now(),
    )  # fmt: skip
    html = browser.get(f"/registrations/{registration.pk}/reschedule")
    assert f'value="{later.pk}"' in html and f'value="{cheaper.pk}"' not in html  # it would be refused
    assert "保持原预约" in html


def test_a_hospital_whose_his_books_in_real_time_offers_no_online_move(registered):
    browser, registration, later = registered
    HisConnection.objects.create(hospital=registration.hospital, mode="realtime", hospital_code="his-rt")
    for clinic_id in (registration.schedule_id, later.pk):  # its HIS's clinics
        Schedule.objects.filter(pk=clinic_id).update(his_id=f"his-{clinic_id}")
    html = browser.get(f"/registrations/{registration.pk}/")
    assert 'id="reschedule"' not in html and "取消挂号" in html  # cancelling stays
    assert f'value="{later.pk}"' not in browser.get(f"/registrations/{registration.pk}/reschedule")


def test_move_to_another_time_of_the_same_clinic(registered):
    browser, registration, _later = registered
    html = browser.get(f"/registrations/{registration.pk}/reschedule")
    other = registration.schedule.periods.exclude(pk=registration.period_id).order_by("starts_at").first()
    assert "本次门诊的其他时段" in html and f'data-period="{other.pk}"' in html

    html = browser.post(
        f"/registrations/{registration.pk}/reschedule", {"schedule_id": registration.schedule_id, "period_id": other.pk}
    )
    moved = Registration.objects.get(status="booked")
    assert (moved.schedule_id, moved.period_id) == (registration.schedule_id, other.pk)
    assert 'id="moved"' in html
