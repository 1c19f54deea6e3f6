"""Medical records (建档) per hospital: required, auto_create, at_visit."""

from __future__ import annotations

import pytest

from guahao.accounts.models import MedicalRecord, Patient
from guahao.his.registry import adapter
from guahao.scheduling.models import MedicalRecordMode
from tests import factories as f
from tests.his.conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


def hold(api, schedule, number):
    patient_id = api.add_patient(number=number, relation="other")
    return patient_id, *api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})


def test_required_record_must_exist_in_the_his(sim, api):
    c = connect(sim, "synced", medical_record_mode=MedicalRecordMode.REQUIRED)
    schedule = c.schedule("S1")
    api.login()
    number = f.id_number()
    patient_id, status, problem = hold(api, schedule, number)
    assert (status, problem["code"]) == (409, "rule.medical_record_required")
    made = sim.post("/admin/patients", {"hospital": c.code, "name": "李秀英", "id_number": number})  # at the window
    status, _ = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201
    assert MedicalRecord.objects.get(patient_id=patient_id).his_patient_id == made["patient_id"]


def test_auto_create_makes_the_record_in_the_his(sim, api):
    c = connect(sim, "synced", medical_record_mode=MedicalRecordMode.AUTO_CREATE)
    schedule = c.schedule("S1")
    api.login()
    number = f.id_number()
    patient_id, status, _ = hold(api, schedule, number)
    assert status == 201
    there = adapter(c.connection).patient_find(id_number=number)
    assert there is not None
    assert MedicalRecord.objects.get(patient_id=patient_id).his_patient_id == there.patient_id


def test_at_visit_books_without_a_record(sim, api):
    c = connect(sim, "synced", medical_record_mode=MedicalRecordMode.AT_VISIT)
    schedule = c.schedule("S1")
    api.login()
    number = f.id_number()
    patient_id, status, _ = hold(api, schedule, number)
    assert status == 201
    assert not MedicalRecord.objects.filter(patient_id=patient_id).exists()
    assert adapter(c.connection).patient_find(id_number=number) is None
    assert Patient.objects.filter(pk=patient_id).exists()


def test_a_his_failing_while_the_record_is_made_says_whether_to_try_again_and_whom_to_call(sim, api):
    from guahao.catalog.models import Hospital

    c = connect(sim, "synced", medical_record_mode=MedicalRecordMode.AUTO_CREATE)
    Hospital.objects.filter(pk=c.hospital.pk).update(phone="010-12345678")
    schedule = c.schedule("S1")
    api.login()
    sim.faults(error=1.0)
    _, status, problem = hold(api, schedule, f.id_number())
    assert (status, problem["code"], problem["retry"], problem["hospital_phone"]) == (
        502,
        "his.failed",
        True,
        "010-12345678",
    )


def test_the_web_app_gives_the_hospital_s_phone_with_a_his_failure(sim):
    """The refusal says to call the hospital: the page gives the number to call."""
    from guahao.catalog.models import Hospital
    from tests.web.test_pages import Browser

    c = connect(sim, "synced", medical_record_mode=MedicalRecordMode.AUTO_CREATE)
    Hospital.objects.filter(pk=c.hospital.pk).update(phone="010-12345678")
    schedule = c.schedule("S1")
    browser = Browser().login()
    patient = browser.add_self()
    sim.faults(error=1.0)
    page = browser.post(
        f"/schedules/{schedule.pk}/hold", {"patient_id": patient.pk, "notice": "read", "once": "a"}, status=502
    )
    assert 'data-code="his.failed"' in page and 'href="tel:010-12345678"' in page
