"""A phone's hold (a bearer token, no cookie, a plain body) goes from the bearer lane straight to
the hold (``api.v1.holds_create_direct``) without the URL's view being looked up or django-ninja's
steps around it; what it is answered is what the whole way answers, refusals and headers alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from guahao.api import v1
from tests import factories as f
from tests.api.test_metrics import value

pytestmark = pytest.mark.django_db

HEADERS = (
    "Content-Type",
    "Content-Language",
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
)


@pytest.fixture
def lane_answers(monkeypatch):
    """How many holds the lane answered itself (None: it passed the request on)."""
    answered: list[int] = []
    direct = v1.holds_create_direct

    def counted(request, token):  # type: ignore[no-untyped-def]
        response = direct(request, token)
        if response is not None:
            answered.append(response.status_code)
        return response

    monkeypatch.setattr(v1, "holds_create_direct", counted)
    return answered


def _hold(body: object, token: str, *, cookie: bool, language: str = "zh-hans", **headers: str):  # type: ignore[no-untyped-def]
    client = Client()
    if cookie:
        client.cookies["csrftoken"] = "x" * 32  # a cookie: the whole way
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.post(
        "/api/v1/holds",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE=language,
        **extra,
    )


def _same_but_ids(lane: dict, whole: dict) -> None:
    assert lane.keys() == whole.keys()
    for key in ("status", "payment_required", "registration_fee", "consultation_fee", "visit_date"):
        if key in lane:
            assert lane[key] == whole[key], key


def test_a_hold_on_the_lane_is_answered_as_the_whole_way_answers_it(lane_answers):
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))
    phone, browser = f.Api().login(), f.Api().login()
    assert phone.token and browser.token
    before = Client().get("/metrics").content.decode()

    lane = _hold({"schedule_id": str(clinic.pk), "patient_id": phone.add_patient()}, phone.token, cookie=False)
    assert lane_answers == [201]
    whole = _hold({"schedule_id": str(clinic.pk), "patient_id": browser.add_patient()}, browser.token, cookie=True)
    assert lane_answers == [201]  # the whole way did not pass through the lane
    assert lane.status_code == whole.status_code == 201
    _same_but_ids(lane.json(), whole.json())
    for header in HEADERS:
        assert lane.get(header) == whole.get(header), header
    # Both are counted under the hold's route, as any answer is.
    page = Client().get("/metrics").content.decode()
    counted = 'guahao_http_requests_total{method="POST",route="/api/v1/holds",status="201"}'
    assert value(page, counted) == value(before, counted) + 2


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_refusals_on_the_lane_are_the_whole_way_s_in_the_patient_s_language(lane_answers, language):
    h = f.hospital()
    dep = f.department(h)
    full = f.schedule(dep, f.doctor(dep), slots_per_period=1, end=dt.time(8, 30))
    f.schedule(dep, f.doctor(dep, name="孙春梅"))  # an alternative
    taker = f.Api().login()
    assert taker.call("POST", "/holds", {"schedule_id": str(full.pk), "patient_id": taker.add_patient()})[0] == 201
    someone_else = f.Api().login().add_patient()
    asked = [
        {"schedule_id": str(full.pk), "patient_id": None},  # sold out (the patient is filled in below)
        {"schedule_id": "999999", "patient_id": None},  # no such clinic
        {"schedule_id": str(full.pk), "patient_id": someone_else},  # not the account's patient
    ]
    for body in asked:
        answers = []
        for cookie in (False, True):
            patient = f.Api(language=language).login()
            assert patient.token
            filled = body | ({"patient_id": patient.add_patient()} if body["patient_id"] is None else {})
            answers.append(_hold(filled, patient.token, cookie=cookie, language=language))
        lane, whole = answers
        assert lane.status_code == whole.status_code and lane.status_code in (404, 409), body
        assert lane.json()["code"] == whole.json()["code"]
        assert lane.json()["title"] == whole.json()["title"]
        assert lane.json().get("field") == whole.json().get("field")
        assert lane.json().get("alternatives") == whole.json().get("alternatives")
        for header in HEADERS:
            assert lane.get(header) == whole.get(header), header
    assert lane_answers.count(409) >= 1 and lane_answers.count(404) >= 1


def test_what_the_lane_does_not_take_goes_the_whole_way(lane_answers):
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))
    patient = f.Api().login()
    assert patient.token
    pid = patient.add_patient()

    unknown = _hold({"schedule_id": str(clinic.pk), "patient_id": pid}, "not-a-token", cookie=False)
    assert unknown.status_code == 401 and unknown.json()["code"] == "auth.required"
    broken = _hold({"schedule_id": str(clinic.pk)}, patient.token, cookie=False)
    assert broken.status_code == 422 and broken.json()["field"] == "patient_id"
    assert lane_answers == []

    kept = _hold(
        {"schedule_id": str(clinic.pk), "patient_id": pid}, patient.token, cookie=False, **{"Idempotency-Key": "k-1"}
    )
    again = _hold(
        {"schedule_id": str(clinic.pk), "patient_id": pid}, patient.token, cookie=False, **{"Idempotency-Key": "k-1"}
    )
    assert kept.status_code == again.status_code == 201 and kept.json()["id"] == again.json()["id"]
    assert lane_answers == []  # a key is looked up the whole way
