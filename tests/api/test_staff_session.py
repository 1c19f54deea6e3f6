"""API.md: "Staff use the console session or a staff token." A staff member logged in to the
console reaches the staff API with that session alone, narrowed as the console narrows them;
a change carries the console's CSRF token; a session the console would not let in (the second
factor not shown, idle too long) is not let in here either."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from guahao.core import clock
from guahao.scheduling.models import Schedule, ScheduleStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def console(username: str, *, csrf: bool = False) -> Client:
    browser = Client(enforce_csrf_checks=csrf, HTTP_ACCEPT_LANGUAGE="en")
    assert browser.login(username=username, password="pw-for-tests")
    return browser


def clinics_of_two_hospitals() -> tuple[Schedule, Schedule]:
    ours, theirs = f.hospital(), f.hospital()
    dep, other = f.department(ours), f.department(theirs)
    return f.schedule(dep, f.doctor(dep)), f.schedule(other, f.doctor(other))


def test_a_console_session_reads_the_staff_api_narrowed_to_its_hospital():
    mine, another = clinics_of_two_hospitals()
    f.staff_member("desk", "operator", mine.hospital)
    browser = console("desk")

    answer = browser.get("/api/v1/staff/schedules")
    assert answer.status_code == 200, answer.content
    assert [s["id"] for s in answer.json()] == [str(mine.pk)]
    refused = browser.get(f"/api/v1/staff/schedules?hospital_id={another.hospital_id}")
    assert refused.status_code == 404
    # Without the session nobody is let in.
    assert Client().get("/api/v1/staff/schedules").status_code == 401


def test_a_change_by_session_carries_the_console_s_csrf_token():
    mine, _ = clinics_of_two_hospitals()
    f.staff_member("desk", "operator", mine.hospital)
    browser = console("desk", csrf=True)
    suspend = f"/api/v1/staff/schedules/{mine.pk}/suspend"

    forged = browser.post(suspend, {"reason": "医生临时出诊"}, content_type="application/json")
    assert forged.status_code == 403 and forged.json()["code"] == "auth.forbidden"
    mine.refresh_from_db()
    assert mine.status == ScheduleStatus.OPEN  # nothing was done

    browser.get("/console/")  # the console's page sets its CSRF cookie
    token = browser.cookies["csrftoken"].value
    done = browser.post(suspend, {"reason": "医生临时出诊"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 200, done.content
    mine.refresh_from_db()
    assert mine.status == ScheduleStatus.SUSPENDED


def test_a_session_the_console_would_refuse_is_refused_here(settings):
    mine, _ = clinics_of_two_hospitals()
    f.staff_member("desk", "operator", mine.hospital)

    settings.STAFF_OTP = "required"  # the second factor not shown yet
    assert console("desk").get("/api/v1/staff/schedules").status_code == 401

    settings.STAFF_OTP = "optional"
    settings.STAFF_IDLE_MINUTES = 30
    browser = console("desk")
    assert browser.get("/api/v1/staff/schedules").status_code == 200
    clock.advance(dt.timedelta(minutes=31))
    assert browser.get("/api/v1/staff/schedules").status_code == 401  # idle too long: log in again
