"""The shape of the API every client depends on: problem+json, languages, health, OpenAPI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from guahao.scheduling.models import Slot
from tests import factories as f

pytestmark = pytest.mark.django_db

# Every patient and integration row of API.md this release serves.
CONTRACT = {
    ("post", "/api/v1/auth/sms-code"),
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/patients"),
    ("post", "/api/v1/patients"),
    ("get", "/api/v1/hospitals"),
    ("get", "/api/v1/hospitals/{hospital_id}"),
    ("get", "/api/v1/hospitals/{hospital_id}/departments"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/departments/{department_id}/availability"),
    ("get", "/api/v1/schedules/{schedule_id}"),
    ("post", "/api/v1/holds"),
    ("delete", "/api/v1/holds/{hold_id}"),
    ("post", "/api/v1/holds/{hold_id}/confirm"),
    ("get", "/api/v1/registrations"),
    ("get", "/api/v1/registrations/{registration_id}"),
    ("post", "/api/v1/registrations/{registration_id}/cancel"),
    ("post", "/api/v1/checkin"),
}


def test_malformed_json_is_400_and_changes_nothing(api):
    api.login()
    status, body = api.call("POST", "/patients", '{"name": "张伟", ')
    assert (status, body["code"]) == (400, "request.malformed")
    assert api.call("GET", "/patients")[1] == []


def test_a_wrong_type_is_422_naming_the_field(api):
    status, body = api.call("POST", "/auth/login", {"phone": "13912345678", "code": ["1"]})
    assert (status, body["code"], body["field"]) == (422, "request.invalid", "code")


def test_problems_are_problem_json_in_the_language_asked_for():
    zh = f.Api(language="zh-CN,zh;q=0.9")
    en = f.Api(language="en-US,en;q=0.9")
    response = zh.client.get("/api/v1/registrations", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response["Content-Type"].startswith("application/problem+json")
    zh_body = zh.call("GET", "/registrations")[1]
    en_body = en.call("GET", "/registrations")[1]
    assert zh_body["code"] == en_body["code"] == "auth.required"
    assert en_body["title"] == "Please log in"
    assert zh_body["title"] != en_body["title"] and re.search(r"[\u4e00-\u9fff]", zh_body["title"])
    default = f.Api(language="")
    assert default.call("GET", "/registrations")[1]["title"] == zh_body["title"]


def test_refusals_on_the_booking_path_are_translated(api):
    h = f.hospital()
    dep = f.department(h)
    sch = f.schedule(dep, f.doctor(dep))
    Slot.objects.filter(schedule=sch).update(state="booked")
    en = f.Api(language="en").login()
    pid = en.add_patient()
    status, body = en.call("POST", "/holds", {"schedule_id": str(sch.pk), "patient_id": pid})
    assert (status, body["code"]) == (409, "slot.unavailable")
    assert not re.search(r"[\u4e00-\u9fff]", body["title"])
    en.language = "zh-hans"
    assert re.search(
        r"[\u4e00-\u9fff]", en.call("POST", "/holds", {"schedule_id": str(sch.pk), "patient_id": pid})[1]["title"]
    )


def test_health_and_readiness():
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_openapi_covers_every_endpoint_with_its_refusal_codes():
    doc = Client().get("/api/v1/openapi.json").json()
    served = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert CONTRACT <= served
    hold = doc["paths"]["/api/v1/holds"]["post"]
    assert {"201", "400", "401", "404", "409", "422"} <= set(hold["responses"])
    for code in ("slot.unavailable", "rule.one_per_department_per_day", "schedule.not_released", "rule.blacklisted"):
        assert f"`{code}`" in hold["description"], code
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "`request.malformed`" in op.get("description", ""), (method, path)


def test_the_docs_page_is_served():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_every_message_has_a_chinese_translation():
    po = Path(__file__).resolve().parents[2] / "guahao/locale/zh_Hans/LC_MESSAGES/django.po"
    text = po.read_text(encoding="utf-8")
    entries = re.findall(r'\nmsgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', text)
    assert len(entries) > 100
    empty = [mid for mid, mstr in entries if mid.strip() != '""' and mstr.strip() == '""']
    assert empty == []
    assert "#, fuzzy" not in text


def test_a_new_hold_is_answered_in_its_schemas_shape_as_any_other_answer():
    """The hold path sends a new hold's answer without having the schema check it again: it
    must be what the schema would have sent, byte for byte, with the same content type."""
    from ninja.responses import NinjaJSONEncoder

    from guahao.api.schemas import HoldOut

    dep = f.department(f.hospital())
    schedule = f.schedule(dep, f.doctor(dep))
    patient = f.Api().login()
    pid = patient.add_patient()
    response = patient.client.post(
        "/api/v1/holds",
        data={"schedule_id": str(schedule.pk), "patient_id": pid},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {patient.token}",
    )
    assert response.status_code == 201
    sent = response.json()
    checked = HoldOut.model_validate(sent).model_dump(by_alias=True)
    assert json.dumps(checked, cls=NinjaJSONEncoder).encode() == response.content
    assert (sent["registration_id"], sent["payment"], sent["patient_id"]) == (None, None, pid)
    patients = patient.client.get("/api/v1/patients", HTTP_AUTHORIZATION=f"Bearer {patient.token}")
    assert response["Content-Type"] == patients["Content-Type"]
