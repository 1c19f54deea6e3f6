"""Requests no client should send are refused with a problem that says why, and change nothing."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.test import Client

from guahao.accounts.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db


def problem(answer) -> dict:  # type: ignore[no-untyped-def]
    assert answer["Content-Type"].startswith("application/problem+json"), answer["Content-Type"]
    return json.loads(answer.content)


def test_a_body_over_the_limit_is_413_without_a_traceback(caplog, settings):
    caplog.set_level(logging.WARNING)
    api = f.Api().login()
    big = json.dumps({"name": "张伟" * 10, "id_number": "x" * (settings.API_MAX_BODY_BYTES + 1), "phone": "1"})
    answer = api.client.post(
        "/api/v1/patients", big, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert (answer.status_code, problem(answer)["code"]) == (413, "request.too_large")
    assert Patient.objects.count() == 0
    assert not [r for r in caplog.records if r.exc_info]


def test_a_body_that_is_not_json_is_415():
    api = f.Api().login()
    answer = api.client.post(
        "/api/v1/patients", "name=张伟", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert (answer.status_code, problem(answer)["code"]) == (415, "request.media_type")
    assert Patient.objects.count() == 0


def test_an_error_of_ours_is_answered_as_a_problem_not_a_page(monkeypatch):
    from guahao.api import schemas

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    f.hospital()
    monkeypatch.setattr(schemas, "hospital_out", broken)
    answer = Client().get("/api/v1/hospitals")
    assert (answer.status_code, problem(answer)["code"]) == (500, "server.error")
    assert "Traceback" not in answer.content.decode() and "a bug" not in answer.content.decode()


@pytest.mark.parametrize("given", [True, "٤٠٥", "1e3", " 1", "-1", "99999999999999999999", 0])
def test_an_id_is_decimal_digits_and_nothing_else(given):
    api = f.Api().login()
    clinic = f.schedule(f.department(f.hospital()))
    assert clinic.pk < 405  # the Arabic-Indic "405" must not find one either way
    status, body = api.call("POST", "/holds", {"schedule_id": given, "patient_id": api.add_patient()})
    assert (status, body["code"], body["field"]) == (422, "request.invalid", "schedule_id"), body


def test_an_id_in_a_path_that_is_no_decimal_number_is_not_found():
    assert f.Api().call("GET", "/schedules/%D9%A4%D9%A0%D9%A5")[0] == 404
    answer = Client().post("/api/v1/his/999999999999999999999999999999/events", "{}", content_type="application/json")
    assert (answer.status_code, problem(answer)["code"]) == (404, "his.not_connected")  # not a 500


def test_a_confirm_body_that_is_not_an_object_is_refused():
    api = f.Api().login()
    clinic = f.schedule(f.department(f.hospital()))
    _, hold = api.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": api.add_patient()})
    status, body = api.call("POST", f"/holds/{hold['id']}/confirm", [1])
    assert (status, body.get("field")) == (422, "body"), body
    assert api.call("GET", f"/holds/{hold['id']}")[1]["status"] == "held"  # nothing changed


def test_a_broken_body_on_an_action_that_reads_none_changes_nothing():
    api = f.Api().login()
    clinic = f.schedule(f.department(f.hospital()))
    _, hold = api.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": api.add_patient()})
    answer = api.client.delete(
        f"/api/v1/holds/{hold['id']}",
        '{"a": ',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert (answer.status_code, problem(answer)["code"], problem(answer)["field"]) == (400, "request.malformed", "body")
    assert api.call("GET", f"/holds/{hold['id']}")[1]["status"] == "held"  # not given back


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_refusal_before_the_api_reads_the_request_is_in_its_language(language):
    api = f.Api().login()
    said = {"zh-hans": "请求内容不是有效的 JSON。", "en": "The body is not valid JSON."}
    for _ in range(4):  # whatever language the thread served last
        for asked in ("en", "zh-hans"):
            api.client.post(
                "/api/v1/patients",
                "[",
                content_type="application/json",
                HTTP_ACCEPT_LANGUAGE=asked,
                HTTP_AUTHORIZATION=f"Bearer {api.token}",
            )
        answer = api.client.post(
            "/api/v1/patients",
            "[",
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
            HTTP_AUTHORIZATION=f"Bearer {api.token}",
        )
        assert problem(answer)["detail"] == said[language]


def test_an_unknown_api_address_or_method_is_a_problem_not_a_page():
    answer = Client().get("/api/v1/nonexistent", HTTP_ACCEPT_LANGUAGE="en")
    assert (answer.status_code, problem(answer)["code"], problem(answer)["status"]) == (404, "not_found", 404)
    answer = Client().put("/api/v1/hospitals", "{}", content_type="application/json")
    assert (answer.status_code, problem(answer)["code"]) == (405, "request.method")
    assert problem(answer)["title"] == "此地址不支持该请求方法" and "GET" in answer["Allow"]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_field_refused_by_the_schema_is_worded_in_the_asked_language(language):
    api = f.Api().login()
    api.language = language
    clinic = f.schedule(f.department(f.hospital()))
    said = {
        "zh-hans": ["patient_id: 为必填项", "schedule_id: 格式不正确（^[1-9][0-9]{0,17}$）"],
        "en": ["patient_id: is required", "schedule_id: does not have the expected form (^[1-9][0-9]{0,17}$)"],
    }[language]
    _, missing = api.call("POST", "/holds", {"schedule_id": str(clinic.pk)})
    _, wrong = api.call("POST", "/holds", {"schedule_id": "x1", "patient_id": api.add_patient()})
    assert [missing["detail"], wrong["detail"]] == said
    assert (missing["field"], wrong["field"]) == ("patient_id", "schedule_id")


def test_a_day_written_wrongly_is_told_in_chinese():
    api = f.Api()
    dep = f.department(f.hospital())
    status, body = api.call("GET", f"/departments/{dep.pk}/availability?from=2026/12/01")
    assert (status, body["field"], body["detail"]) == (422, "from", "from: 日期格式为 YYYY-MM-DD")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_field_refused_by_our_own_rules_is_worded_in_the_asked_language_too(language):
    from guahao.accounts.services import staff_token_create

    h = f.hospital()
    dep = f.department(h)
    desk = f.Api(language=language)
    desk.token = staff_token_create(user=f.staff_member("desk", "operator", h), label="desk")
    patient = f.Api(language=language).login()
    said = {
        "zh-hans": [
            "from: 为必填项",
            "from: 须在今天到 60 天后之间",
            "reason: 不能为空",
        ],
        "en": [
            "from: is required",
            "from: must be between today and 60 days ahead",
            "reason: must not be blank",  # not the pattern behind it ("\\S")
        ],
    }[language]
    _, generated = desk.call("POST", "/staff/schedule-templates/generate", {"weeks": 2})
    _, days = patient.call("GET", f"/departments/{dep.pk}/availability?from=2000-01-01")
    _, blank = desk.call("POST", f"/staff/schedules/{f.schedule(dep).pk}/suspend", {"reason": "  "})
    assert [generated["detail"], days["detail"], blank["detail"]] == said
    assert (generated["field"], days["field"], blank["field"]) == ("from", "from", "reason")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,  # nested deeper than a parser recurses
        '{"name": "\\ud800", "id_number": "1", "phone": "1"}',  # half a surrogate pair: no character
    ],
)
def test_a_body_that_parses_into_no_text_is_400_and_changes_nothing(body):
    api = f.Api().login()
    for path in ("/api/v1/patients", "/api/v1/auth/login"):
        answer = api.client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}")
        assert (answer.status_code, problem(answer)["code"]) == (400, "request.malformed"), path
    assert Patient.objects.count() == 0


def test_staff_lists_refuse_odd_days_and_long_searches_by_their_field():
    hospital = f.hospital()
    desk = f.Api()
    from guahao.accounts.services import staff_token_create

    desk.token = staff_token_create(user=f.staff_member("lists", "hospital_admin", hospital), label="lists")
    for url, field in (
        ("/staff/stats?to=0001-01-05", "to"),
        ("/staff/payments?from=9999-12-31", "from"),
        ("/staff/registrations?from=2030-01-02&to=2030-01-01", "from"),
        ("/staff/registrations?q=" + "a" * 101, "q"),
    ):
        status, refused = desk.call("GET", url)
        assert (status, refused["field"]) == (422, field), (url, refused)
    status, refused = desk.call("POST", "/staff/registrations/search", {"q": "张" * 20000})
    assert (status, refused["field"]) == (422, "q")
    status, refused = desk.call("POST", "/staff/schedule-templates/generate", {"from": "9999-12-27", "weeks": 1})
    assert (status, refused["field"]) == (422, "from")


@pytest.mark.parametrize("given", [True, "+{pk}", " {pk} ", "{pk}.0", 1.0])
def test_the_staff_desk_reads_ids_as_the_patient_s_app_does(given):
    """`true` was read as clinic 1 and "+536" as 536 by the desk, relief and moving: a hold was
    made, and a registration moved, on a clinic nobody named."""
    from guahao.accounts.services import staff_token_create
    from guahao.booking.models import Hold, ReliefGrant

    hospital = f.hospital()
    dep = f.department(hospital)
    clinic = f.schedule(dep)
    assert clinic.pk >= 1
    given = given.format(pk=clinic.pk) if isinstance(given, str) else given
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("ids", "hospital_admin", hospital), label="ids")
    person = {"name": "李秀英", "id_number": f.id_number("19560312"), "phone": f.phone()}
    for path, body in [
        ("/staff/desk/holds", {"schedule_id": given, **person}),
        ("/staff/desk/holds", {"schedule_id": str(clinic.pk), "period_id": given, **person}),
        ("/staff/relief", {"schedule_id": given, "reason": "急诊转入", **person}),
    ]:
        status, refused = desk.call("POST", path, body)
        field = next(k for k, v in body.items() if v is given)
        assert (status, refused["code"], refused["field"]) == (422, "request.invalid", field), (path, refused)
    assert Hold.objects.count() == ReliefGrant.objects.count() == Patient.objects.count() == 0

    from guahao.booking import services as booking

    account = f.account()
    registration = booking.hold_confirm(
        hold=booking.hold_create(account=account, patient=f.patient(account), schedule=clinic)
    )
    f.schedule(dep, day=f.today() + dt.timedelta(days=2))  # a clinic to move to, not named
    path = f"/staff/registrations/{registration.pk}/reschedule"
    status, refused = desk.call("POST", path, {"schedule_id": given})
    assert (status, refused["code"], refused["field"]) == (422, "request.invalid", "schedule_id"), refused
    registration.refresh_from_db()
    assert registration.schedule_id == clinic.pk


def test_a_staff_body_s_numbers_and_yes_or_no_are_not_read_from_true_or_words():
    """`count: true` added one extra slot, `capacity: true` cut a clinic to one, and
    `insurance: "yes"` was read as true."""
    from guahao.accounts.services import staff_token_create
    from guahao.scheduling.models import Slot

    hospital = f.hospital()
    dep = f.department(hospital)
    clinic = f.schedule(dep)
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("flags", "hospital_admin", hospital), label="flags")
    template = {"department_id": str(dep.pk), "session": "am", "start": "08:00", "end": "09:00"}
    template |= {"valid_from": f.today().isoformat(), "weekday": 0}
    for method, path, body, field in [
        ("POST", f"/staff/schedules/{clinic.pk}/extra-slots", {"count": True, "reason": "加号"}, "count"),
        ("PATCH", f"/staff/schedules/{clinic.pk}", {"capacity": True}, "capacity"),
        ("POST", "/staff/schedule-templates", template | {"weekday": False}, "weekday"),
        ("POST", "/staff/schedule-templates", template | {"slots_per_period": True}, "slots_per_period"),
        ("POST", "/staff/schedule-templates/generate", {"from": f.today().isoformat(), "weeks": True}, "weeks"),
    ]:
        status, refused = desk.call(method, path, body)
        assert (status, refused["code"], refused["field"]) == (422, "request.invalid", field), (path, refused)
    assert Slot.objects.filter(schedule=clinic).count() == 10

    person = {"name": "李秀英", "id_number": f.id_number("19560312"), "phone": f.phone()}
    desk.token = staff_token_create(user=f.staff_member("window", "window_clerk", hospital), label="window")
    status, made = desk.call("POST", "/staff/desk/holds", {"schedule_id": str(clinic.pk), "channel": "phone", **person})
    assert status == 201, made
    status, refused = desk.call("POST", f"/staff/desk/holds/{made['hold']['id']}/collect", {"insurance": "yes"})
    assert (status, refused["field"]) == (422, "insurance"), refused
