"""A patient is added with a separate consent to processing their personal information (which
text, when, by whom), and a child under 14 with the guardian who gave it."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts import consent
from guahao.accounts.models import Consent, Patient
from guahao.core import clock
from tests import factories as f
from tests.web.test_pages import Browser

pytestmark = pytest.mark.django_db

# 2026-06-01 17:30 UTC is already 2 June in Beijing, the platform's day.
BEIJING_2_JUNE = dt.datetime(2026, 6, 1, 17, 30, tzinfo=dt.UTC)


def _add(api, number: str, relation: str = "self", **more: str):  # type: ignore[no-untyped-def]
    body = {"name": "张小明", "id_number": number, "phone": "13912345678", "relation": relation, **more}
    return api.call("POST", "/patients", body)


def test_an_api_client_that_names_no_text_records_consent_under_its_own_terms(api):
    api.login()
    status, body = _add(api, f.id_number("19800314"))
    assert status == 201
    given = Consent.objects.get(patient_id=body["id"])
    assert (given.purpose, given.text_version, given.channel, given.given_by_guardian) == (
        "personal_information",
        "api",
        "api",
        False,
    )
    assert body["consent"]["version"] == "api" and body["guardian_name"] == ""
    assert api.call("GET", "/patients")[1][0]["consent"]["version"] == "api"


def test_the_text_shown_is_named_by_its_version_and_an_unknown_version_adds_nothing(api):
    api.login()
    status, text = api.call("GET", "/consent")
    assert status == 200 and text["version"] == consent.TEXT_VERSION and text["guardian_under_age"] == 14
    status, body = _add(api, f.id_number("19800314"), consent_version="1999-01")
    assert (status, body["code"], body["field"]) == (422, "patient.consent_required", "consent_version")
    assert Patient.objects.count() == 0 and Consent.objects.count() == 0
    status, body = _add(api, f.id_number("19800314"), consent_version=text["version"])
    assert status == 201 and body["consent"]["version"] == consent.TEXT_VERSION


def test_a_child_under_14_is_added_with_the_account_holder_as_guardian_by_default(api):
    api.login()
    _add(api, f.id_number("19800314"))  # the account holder, 张小明
    status, body = _add(api, f.id_number("20180101"), relation="child")
    assert status == 201
    assert (body["guardian_name"], body["guardian_relation"]) == ("张小明", "parent")
    assert body["consent"]["by_guardian"] is True
    status, body = _add(
        api, f.id_number("20190101"), relation="other", guardian_name="王秀英", guardian_relation="grandparent"
    )
    assert (status, body["guardian_name"], body["guardian_relation"]) == (201, "王秀英", "grandparent")


def test_a_child_under_14_with_nobody_to_be_guardian_is_refused_and_nothing_is_added(api):
    api.login()
    status, body = _add(api, f.id_number("20180101"), relation="child")
    assert (status, body["code"], body["field"]) == (422, "patient.guardian_required", "guardian_name")
    status, body = _add(api, f.id_number("20180101"), relation="child", guardian_name="王1")
    assert (status, body["code"], body["field"]) == (422, "patient.name_invalid", "guardian_name")
    assert Patient.objects.count() == 0 and Consent.objects.count() == 0


@pytest.mark.parametrize(("born", "guardian"), [("20120602", False), ("20120603", True)])
def test_the_age_of_14_is_counted_in_the_platforms_day(api, born, guardian):
    with clock.travel(BEIJING_2_JUNE):  # still 1 June by the machine's UTC date
        api.login()
        status, body = _add(api, f.id_number(born))
    if guardian:
        assert (status, body["code"]) == (422, "patient.guardian_required")
    else:
        assert status == 201 and body["guardian_name"] == "" and body["consent"]["by_guardian"] is False


def test_the_web_form_records_the_ticked_consent_and_refuses_without_it():
    browser = Browser().login()
    form = {"name": "张伟", "id_number": f.id_number("19800101"), "phone": browser.phone, "relation": "self"}
    html = browser.post("/patients/", form, status=422)
    assert 'data-code="patient.consent_required"' in html and 'name="consent_version"' in html
    assert Patient.objects.count() == 0
    # A page never records the API clients' terms.
    browser.post("/patients/", {**form, "consent_version": "api"}, status=422)
    assert Patient.objects.count() == 0

    browser.post("/patients/", {**form, "consent_version": consent.TEXT_VERSION})
    child = {**form, "name": "张小明", "id_number": f.id_number("20180101"), "relation": "child"}
    html = browser.post("/patients/", {**child, "consent_version": consent.TEXT_VERSION})
    assert [(c.text_version, c.channel, c.given_by_guardian) for c in Consent.objects.order_by("id")] == [
        (consent.TEXT_VERSION, "web", False),
        (consent.TEXT_VERSION, "web", True),
    ]
    assert "监护人：张伟（父母）" in html
