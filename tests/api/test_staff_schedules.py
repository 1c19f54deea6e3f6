"""The staff API for schedules: templates, generation, and the work on one clinic."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts.services import staff_token_create
from guahao.catalog.models import Campus
from guahao.scheduling.models import Schedule, ScheduleTemplate, Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


def desk(h, role="operator", name="desk"):
    client = f.Api()
    client.token = staff_token_create(user=f.staff_member(name, role, h), label=role)
    return client


def monday() -> dt.date:
    day = f.today() + dt.timedelta(days=1)
    while day.weekday() != 0:
        day += dt.timedelta(days=1)
    return day


TEMPLATE = {
    "weekday": 0,
    "session": "am",
    "start": "08:00",
    "end": "09:00",
    "period_minutes": 30,
    "slots_per_period": 3,
    "platform_share_percent": 100,
    "location": "门诊二楼 201",
}


def test_a_desk_makes_a_template_previews_and_publishes_two_weeks_then_adds_extra_slots():
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    api = desk(h)

    status, template = api.call(
        "POST",
        "/staff/schedule-templates",
        TEMPLATE | {"department_id": str(dep.pk), "doctor_id": str(doctor.pk), "valid_from": f.today().isoformat()},
    )
    assert status == 201, template
    assert (template["capacity"], template["start"], template["doctor_id"]) == (6, "08:00", str(doctor.pk))
    _, listed = api.call("GET", "/staff/schedule-templates")
    assert [t["id"] for t in listed] == [template["id"]]

    # From the coming Monday: today may be a Monday, and two weeks from today then end before
    # the second Monday after it (the suite runs at any hour of any day).
    first = monday()
    body = {"from": first.isoformat(), "weeks": 2, "dry_run": True}
    status, preview = api.call("POST", "/staff/schedule-templates/generate", body)
    assert status == 200, preview
    assert [(p["date"], p["outcome"], p["capacity"]) for p in preview["created"]] == [
        (first.isoformat(), "create", 6),
        ((first + dt.timedelta(days=7)).isoformat(), "create", 6),
    ]
    assert Schedule.objects.count() == 0

    status, published = api.call("POST", "/staff/schedule-templates/generate", body | {"dry_run": False})
    assert (status, published["dry_run"], len(published["created"])) == (200, False, 2)
    _, again = api.call("POST", "/staff/schedule-templates/generate", body | {"dry_run": False})
    assert (again["created"], [p["outcome"] for p in again["skipped"]]) == ([], ["exists", "exists"])

    _, schedules = api.call("GET", f"/staff/schedules?from={first.isoformat()}&to={first.isoformat()}")
    assert [(s["date"], s["capacity"], s["free_platform"], s["location"]) for s in schedules] == [
        (first.isoformat(), 6, 6, "门诊二楼 201")
    ]
    # API.md names them date_from and date_to: the same one week, not both
    _, as_documented = api.call("GET", f"/staff/schedules?date_from={first.isoformat()}&date_to={first.isoformat()}")
    assert as_documented == schedules
    later = (first + dt.timedelta(days=7)).isoformat()
    assert [s["date"] for s in api.call("GET", f"/staff/schedules?date_from={later}")[1]] == [later]
    # Page by page, soonest first (the list stopped at 500 clinics, without saying so).
    one, two = (api.call("GET", f"/staff/schedules?limit=1&offset={n}")[1] for n in (0, 1))
    assert [s["date"] for s in one + two] == [first.isoformat(), later]
    assert api.call("GET", "/staff/schedules?offset=2")[1] == []
    assert api.call("GET", "/staff/schedules?limit=501")[0] == 422
    status, added = api.call(
        "POST", f"/staff/schedules/{schedules[0]['id']}/extra-slots", {"count": 2, "reason": "复诊患者"}
    )
    assert status == 201, added
    assert (added["numbers"], added["schedule"]["capacity"], added["schedule"]["extra"]) == ([7, 8], 8, 2)


def test_bad_input_names_the_field_and_changes_nothing():
    h = f.hospital()
    dep = f.department(h)
    api = desk(h)
    base = TEMPLATE | {"department_id": str(dep.pk), "valid_from": f.today().isoformat()}
    for body, field in [
        (base | {"end": "07:00"}, "end"),
        (base | {"start": "08:00Z"}, "start"),  # a time of day on the hospital's clock, no offset
        (base | {"end": "13:30+08:00"}, "end"),
        (base | {"start": 0}, "start"),
        (base | {"end": 1.5}, "end"),
        (base | {"weekday": 9}, "weekday"),
        (base | {"session": "night"}, "session"),
        ({k: v for k, v in base.items() if k != "valid_from"}, "valid_from"),
    ]:
        status, refused = api.call("POST", "/staff/schedule-templates", body)
        assert (status, refused.get("field")) == (422, field), refused
    status, refused = api.call("POST", "/staff/schedule-templates", base | {"doctor_id": "999999"})
    assert (status, refused["code"], refused["field"]) == (404, "not_found", "doctor_id")  # no such doctor here
    # Another hospital's doctor or campus is answered as one that does not exist: the answer
    # tells nothing of that hospital (it was 422 "is not of this hospital").
    elsewhere = f.hospital()
    other_campus = Campus.objects.create(hospital=elsewhere, name="东院", address="东大街 1 号")
    for field, row in [("doctor_id", f.doctor(f.department(elsewhere))), ("campus_id", other_campus)]:
        status, refused = api.call("POST", "/staff/schedule-templates", base | {field: str(row.pk)})
        assert (status, refused["code"], refused["field"]) == (404, "not_found", field), refused
    assert ScheduleTemplate.objects.count() == 0

    clinic = f.schedule(dep)
    for path, body, field in [
        (f"/staff/schedules/{clinic.pk}/extra-slots", {"reason": "x"}, "count"),
        (f"/staff/schedules/{clinic.pk}/extra-slots", {"count": 99, "reason": "x"}, "count"),
        (f"/staff/schedules/{clinic.pk}/extra-slots", {"count": 1}, "reason"),
        (f"/staff/schedules/{clinic.pk}/suspend", {}, "reason"),
        ("/staff/schedule-templates/generate", {"weeks": 2}, "from"),
        ("/staff/schedule-templates/generate", {"from": f.today().isoformat(), "weeks": 20}, "weeks"),
    ]:
        status, refused = api.call("POST", path, body)
        assert (status, refused.get("field")) == (422, field), (path, refused)
    status, refused = api.call("PATCH", f"/staff/schedules/{clinic.pk}", {"capacity": -1})
    assert (status, refused["field"]) == (422, "capacity")
    # a room blanked would tell every patient booked that the clinic moved to nowhere
    status, refused = api.call("PATCH", f"/staff/schedules/{clinic.pk}", {"location": " "})
    assert (status, refused["field"], refused["detail"]) == (422, "location", "location: 不能为空")
    assert Schedule.objects.get(pk=clinic.pk).location == clinic.location
    for body, field in [({"start": "08:00+08:00", "end": "09:00+08:00"}, "start"), ({"end": "12:00Z"}, "end")]:
        status, refused = api.call("PATCH", f"/staff/schedules/{clinic.pk}", body)
        assert (status, refused["field"]) == (422, field), refused
    assert Schedule.objects.get(pk=clinic.pk).starts_at == clinic.starts_at  # not moved
    assert Slot.objects.filter(schedule=clinic).count() == 10
    clinic.refresh_from_db()
    assert clinic.status == "open"


def test_capacity_below_the_booked_is_refused_and_a_refused_patch_moves_nothing():
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep))
    patient = f.Api().login()
    for _ in range(1):
        patient.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": patient.add_patient()})
    api = desk(h)

    status, refused = api.call(
        "PATCH",
        f"/staff/schedules/{clinic.pk}",
        {"capacity": 0, "location": "门诊五楼", "start": "10:00", "end": "11:00"},
    )

    assert (status, refused["code"], refused["field"]) == (409, "schedule.capacity_below_booked", "capacity")
    before = clinic.starts_at
    clinic.refresh_from_db()
    assert (clinic.starts_at, clinic.location) == (before, "")  # the move in the same request undone
    assert Slot.objects.filter(schedule=clinic, state=SlotState.WITHDRAWN).count() == 0

    status, patched = api.call("PATCH", f"/staff/schedules/{clinic.pk}", {"capacity": 4, "location": "门诊五楼"})
    assert status == 200, patched
    assert patched["changed"] == {"location": ["", "门诊五楼"], "capacity": [10, 4]}
    assert (patched["schedule"]["capacity"], patched["schedule"]["taken"]) == (4, 1)


def test_a_viewer_reads_but_changes_nothing():
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep)
    viewer = desk(h, "viewer", "viewer")
    status, listed = viewer.call("GET", "/staff/schedules")
    assert (status, [s["id"] for s in listed]) == (200, [str(clinic.pk)])
    for method, path, body in [
        ("POST", f"/staff/schedules/{clinic.pk}/extra-slots", {"count": 1, "reason": "x"}),
        ("PATCH", f"/staff/schedules/{clinic.pk}", {"capacity": 3}),
        ("POST", f"/staff/schedules/{clinic.pk}/suspend", {"reason": "x"}),
        ("POST", "/staff/schedule-templates", TEMPLATE | {"department_id": str(dep.pk), "valid_from": "2030-01-01"}),
    ]:
        status, refused = viewer.call(method, path, body)
        assert (status, refused["code"]) == (403, "auth.forbidden"), path
    assert Slot.objects.filter(schedule=clinic).count() == 10


def test_the_staff_endpoints_are_in_the_openapi_document():
    api = f.Api()
    status, document = api.call("GET", "/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert set(paths["/api/v1/staff/schedule-templates"]) == {"get", "post"}
    assert set(paths["/api/v1/staff/schedule-templates/{template_id}"]) == {"patch", "delete"}
    assert set(paths["/api/v1/staff/schedule-templates/generate"]) == {"post"}
    assert set(paths["/api/v1/staff/schedules"]) == {"get"}
    assert set(paths["/api/v1/staff/schedules/{schedule_id}"]) == {"patch"}
    for action in ("extra-slots", "suspend", "reopen"):
        assert set(paths[f"/api/v1/staff/schedules/{{schedule_id}}/{action}"]) == {"post"}
    assert "schedule.capacity_below_booked" in paths["/api/v1/staff/schedules/{schedule_id}"]["patch"]["description"]


def test_a_template_made_changed_and_deleted_through_the_api_is_in_the_audit_log():
    from guahao.core.models import AuditEntry

    h = f.hospital()
    dep = f.department(h)
    api = desk(h, "hospital_admin", name="tpl-desk")
    body = TEMPLATE | {"department_id": str(dep.pk), "valid_from": f.today().isoformat()}
    _, made = api.call("POST", "/staff/schedule-templates", body)
    assert api.call("PATCH", f"/staff/schedule-templates/{made['id']}", {"slots_per_period": 5})[0] == 200
    assert api.call("DELETE", f"/staff/schedule-templates/{made['id']}")[0] == 204
    logged = list(AuditEntry.objects.filter(target_type="scheduletemplate").order_by("pk"))
    assert [(e.actor, e.action) for e in logged] == [
        ("tpl-desk", "api.template_added"),
        ("tpl-desk", "api.template_changed"),
        ("tpl-desk", "api.template_deleted"),
    ]
    assert logged[1].after["slots_per_period"] == "5" and logged[0].hospital_id == h.pk
