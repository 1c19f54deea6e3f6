"""Every console page opens for platform staff, in both languages."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from guahao.booking.models import Registration
from guahao.core import outbox
from guahao.his.models import HisConnection
from guahao.payments.models import Refund
from guahao.scheduling.models import ScheduleStatus
from tests import factories as f
from tests.processes import post, wait_for


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_console_list_opens(language):
    h = f.hospital(payment_required=True)
    f.schedule(f.department(h))
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE=language)
    console.login(username="ops", password="pw-for-tests")
    assert console.get("/console/").status_code == 200
    for model in admin.site._registry:
        url = f"/console/{model._meta.app_label}/{model._meta.model_name}/"
        response = console.get(url)
        assert response.status_code == 200, (url, response.status_code)


@pytest.mark.django_db(transaction=True)
def test_staff_suspend_a_clinic_its_paid_patient_is_refunded_and_told_once(sandbox):
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))
    f.schedule(dep, f.doctor(dep, "李明"))  # offered instead
    patient = f.Api().login()
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    _, started = patient.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    assert post(started["pay_url"] + "/pay") == 200
    registration = wait_for(lambda: Registration.objects.filter(status="booked").first())
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    console.login(username="ops", password="pw-for-tests")
    url = "/console/scheduling/schedule/"

    asked = console.post(url, {"action": "suspend", "_selected_action": [clinic.pk]})
    assert asked.status_code == 200 and "1 个挂号" in asked.content.decode()  # what it will cancel
    no_reason = console.post(url, {"action": "suspend", "_selected_action": [clinic.pk], "apply": "yes", "reason": " "})
    assert "请填写停诊原因" in no_reason.content.decode()
    clinic.refresh_from_db()
    assert clinic.status == ScheduleStatus.OPEN  # nothing changed

    done = console.post(
        url,
        {"action": "suspend", "_selected_action": [clinic.pk], "apply": "yes", "reason": "医生外出会诊。"},
        follow=True,
    )
    assert "已停诊: 1" in done.content.decode() and "1 个挂号已取消并已通知患者" in done.content.decode()
    clinic.refresh_from_db()
    assert (clinic.status, clinic.suspended_reason) == (ScheduleStatus.SUSPENDED, "医生外出会诊。")
    wait_for(lambda: Refund.objects.filter(payment__registration=registration, status="succeeded").exists())
    assert Refund.objects.get(payment__registration=registration).reason == "suspended"  # finance reads 停诊
    registration.refresh_from_db()
    assert registration.status == "refunded"
    assert registration.events.get(kind="registration.cancelled").actor_id == "ops"  # audited
    order = console.get(f"/console/booking/registration/{registration.pk}/change/").content.decode()
    assert "(停诊: 医生外出会诊。)" in order  # why it was cancelled, on the order page
    outbox.deliver_all()  # the worker tells the patient
    _, messages = patient.call("GET", "/messages")
    assert [m["kind"] for m in messages] == [  # told once, with why, and of the money
        "refund.finished",
        "schedule.suspended",
        "refund.started",
        "payment.received",
        "registration.booked",
    ]
    assert "停诊（医生外出会诊）。" in messages[1]["body"] and "李明" in messages[1]["body"]  # not "。）。"
    assert "已付的 ¥51.00 将原路退回" in messages[1]["body"]


@pytest.mark.django_db
def test_a_clinic_of_a_his_connected_hospital_is_suspended_in_its_his_not_here():
    h = f.hospital()
    HisConnection.objects.create(hospital=h, mode="synced", hospital_code="h")
    clinic = f.schedule(f.department(h))
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    console.login(username="ops", password="pw-for-tests")
    response = console.post(
        "/console/scheduling/schedule/",
        {"action": "suspend", "_selected_action": [clinic.pk], "apply": "yes", "reason": "sick"},
        follow=True,
    )
    assert "suspend the clinic there" in response.content.decode()
    clinic.refresh_from_db()
    assert clinic.status == ScheduleStatus.OPEN


@pytest.mark.django_db
def test_staff_who_may_only_look_are_offered_no_action_that_changes_orders_or_clinics():
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    api = f.Api().login()
    _, hold = api.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": api.add_patient()})
    _, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    f.staff_member("desk", "viewer", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="en")
    console.login(username="desk", password="pw-for-tests")
    for url, action, pk in (
        ("/console/scheduling/schedule/", "suspend", clinic.pk),
        ("/console/booking/registration/", "cancel", registration["id"]),
    ):
        page = console.get(url)
        assert page.status_code == 200 and f'value="{action}"' not in page.content.decode()
        console.post(url, {"action": action, "_selected_action": [pk], "apply": "yes", "reason": "x"})
    clinic.refresh_from_db()
    assert clinic.status == ScheduleStatus.OPEN  # nothing changed
    assert Registration.objects.get(pk=registration["id"]).status == "booked"


@pytest.mark.django_db
def test_a_hospital_s_form_names_its_name_and_landline_as_a_hospital_s_not_a_person_s():
    h = f.hospital()
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    console.login(username="ops", password="pw-for-tests")
    page = console.get(f"/console/catalog/hospital/{h.pk}/change/").content.decode()
    name = page.split('for="id_name"')[1].split("</label>")[0]
    phone = page.split('for="id_phone"')[1].split("</label>")[0]
    assert "名称" in name and "姓名" not in name
    assert "电话" in phone and "手机号" not in phone


@pytest.mark.django_db
def test_a_clinic_s_page_only_shows_it_and_offers_no_save():
    """Every change of a clinic is an action of the list (suspend, move, capacity): its page
    offers no save button that would do nothing, and a post to it changes nothing."""
    clinic = f.schedule(f.department(f.hospital()))
    User.objects.create_superuser("ops", password="pw-for-tests")
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    console.login(username="ops", password="pw-for-tests")
    page = console.get(f"/console/scheduling/schedule/{clinic.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page and 'name="_addanother"' not in page
    assert console.post(f"/console/scheduling/schedule/{clinic.pk}/change/", {}).status_code == 403


@pytest.mark.django_db
def test_a_forbidden_page_is_one_log_line_not_a_traceback(caplog):
    h = f.hospital()
    f.staff_member("looker", "viewer", h)
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="looker", password="pw-for-tests")
    with caplog.at_level("WARNING", logger="django.request"):
        assert console.get("/console/desk/").status_code == 403
    [line] = [r for r in caplog.records if r.name == "django.request"]
    assert line.status_code == 403 and line.exc_info is None  # who may not, not an error to chase
