"""No full ID number or phone number of a patient shows anywhere a person or a log collector
could read it: API answers, every console page (lists, details, the order's page and slip, the
statistics, every list's export), the staff API, the audit log and the logs."""

from __future__ import annotations

import logging

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse

from guahao.accounts import phones
from guahao.accounts.models import Patient
from guahao.accounts.services import staff_token_create
from guahao.booking.models import Registration
from guahao.core.models import AuditEntry
from tests import factories as f


@pytest.mark.django_db
def test_full_id_and_phone_numbers_appear_in_no_answer_page_export_or_log(caplog):
    caplog.set_level(logging.DEBUG)
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    number, phone, login_phone = f.id_number(), "13987654321", f.phone()
    patient = f.Api().login(login_phone)
    patient_id = patient.add_patient(number)
    Patient.objects.filter(pk=patient_id).update(**phones.columns(phone))
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient_id})
    _, booked = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    seen = [patient.call("GET", path)[1] for path in ("/patients", "/registrations", f"/registrations/{booked['id']}")]
    pages = [repr(answer) for answer in seen]

    f.staff_member("platform", "platform_admin")
    console = Client()
    assert console.login(username="platform", password="pw-for-tests")
    rows = {Patient: Patient.objects.get(pk=patient_id), Registration: Registration.objects.get(pk=booked["id"])}
    for model in admin.site._registry:
        opts = model._meta
        listing = console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        pages.append(listing.content.decode())
    for model, row in rows.items():
        opts = model._meta
        pages.append(
            console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])).content.decode()
        )
        for action in admin.site._registry[model].actions:
            if "export" in str(action):
                pages.append(
                    console.post(
                        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
                        {"action": action, "_selected_action": [row.pk]},
                    ).content.decode()
                )
    # The order's page, its slip, the statistics, every list's export, and the staff API's reads;
    # the desk looks the patient up by the full number, and acts on the order.
    registration = rows[Registration]
    found = console.post("/console/booking/registration/", {"id_number": number}, follow=True)
    assert [r.pk for r in found.context["cl"].queryset] == [registration.pk]
    pages.append(found.content.decode())
    pages += [url for url, _status in found.redirect_chain]
    console.post(
        "/console/booking/registration/",
        {"action": "cancel", "_selected_action": [registration.pk], "apply": "yes", "reason": "患者来电"},
    )
    for url in (
        f"/console/booking/registration/{registration.pk}/change/",
        f"/console/booking/registration/{registration.pk}/slip/",
        "/console/stats/",
        "/console/",
    ):
        pages.append(console.get(url).content.decode())
    for model in admin.site._registry:
        opts = model._meta
        exported = console.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_export", args=["csv"]))
        pages.append(exported.content.decode("utf-8-sig"))
    for chart in ("day", "department", "doctor", "age", "payment_method"):
        pages.append(console.get("/console/stats/", {"export": chart}).content.decode("utf-8-sig"))
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("screen", "viewer", h), label="screen")
    pages.append(repr(desk.call("GET", f"/staff/registrations?q={number}")[1]))
    pages.append(repr(desk.call("GET", f"/staff/registrations/{registration.pk}")[1]))
    pages.append(repr(desk.call("GET", "/staff/stats")[1]))
    pages += [repr(row.__dict__) for row in AuditEntry.objects.all()]
    pages += [r.getMessage() for r in caplog.records]
    for text in pages:
        assert number not in text and number.lower() not in text
        assert phone not in text and login_phone not in text
    assert any(number[:6] + "********" + number[-4:] in text for text in pages)  # shown, masked


def _every_stored_value() -> str:
    """Every column of every table, as text: what a copy of the database would show."""
    seen = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            seen.append(repr(cursor.fetchall()))
    return "\n".join(seen)


@pytest.mark.django_db
def test_no_full_phone_or_id_number_is_stored_in_plain_yet_both_are_found(caplog):
    h = f.hospital()
    clinic = f.schedule(f.department(h))
    number, login_phone = f.id_number(), f.phone()
    patient = f.Api().login(login_phone)
    patient_id = patient.add_patient(number)  # the patient's own phone: 13912345678
    _, hold = patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient_id})
    _, booked = patient.call("POST", f"/holds/{hold['id']}/confirm", {})
    patient.call("POST", "/auth/sms-code", {"phone": login_phone})  # a second code, kept by hash

    stored = _every_stored_value()
    for secret in (login_phone, "13912345678", number):
        assert secret not in stored
    assert "139****5678" in stored  # masked, for the screens

    # Found all the same: the same login, and the desk's search by either phone.
    assert f.Api().login(login_phone).account_id == patient.account_id
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("desk", "viewer", h), label="desk")
    for phone in (login_phone, "13912345678"):
        found = desk.call("GET", f"/staff/registrations?q={phone}")[1]
        assert [r["id"] for r in found] == [booked["id"]]
