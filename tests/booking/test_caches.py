"""What the release-time path keeps in the cache is forgotten the moment it changes."""

from __future__ import annotations

import pytest

from guahao.accounts import services as accounts
from guahao.booking.services import SYSTEM
from guahao.his import services as his
from guahao.scheduling.models import RuleSet
from tests import factories as f

pytestmark = pytest.mark.django_db


def strip(api, schedule) -> tuple[int, str]:
    status, body = api.call("GET", f"/departments/{schedule.department_id}/availability?days=2")
    assert status == 200, body
    day = next(d for d in body["days"] if d["date"] == schedule.date.isoformat())
    return day["available"], day["status"]


def test_the_strip_follows_every_hold_release_cancel_and_suspension_at_once(api):
    h = f.hospital()
    sched = f.schedule(f.department(h), None)
    api.login()
    assert strip(api, sched) == (10, "available")

    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient()})
    assert strip(api, sched) == (9, "available")
    api.call("DELETE", f"/holds/{hold['id']}")
    assert strip(api, sched) == (10, "available")

    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient(relation="child")})
    status, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, registration
    assert strip(api, sched) == (9, "available")
    assert api.call("POST", f"/registrations/{registration['id']}/cancel", {})[0] == 200
    assert strip(api, sched) == (10, "available")

    his.schedule_suspend(schedule=sched, reason="专家外出会诊", actor=SYSTEM)
    assert strip(api, sched) == (0, "suspended")
    problem = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient(relation="other")})
    assert (problem[0], problem[1]["code"]) == (409, "schedule.suspended")


def test_a_rule_changed_by_staff_applies_to_the_next_hold(api):
    h = f.hospital()
    dep = f.department(h)
    first, second = f.schedule(dep, None), f.schedule(f.department(h, "呼吸内科"), None)
    api.login()
    assert api.call("POST", "/holds", {"schedule_id": first.pk, "patient_id": api.add_patient()})[0] == 201
    body = {"schedule_id": second.pk, "patient_id": api.add_patient(relation="child")}
    assert api.call("POST", "/holds", body)[1]["code"] == "rule.active_holds"

    rules = RuleSet.objects.get(hospital=h, department=None, doctor=None)
    rules.max_active_holds = 2
    rules.save()

    assert api.call("POST", "/holds", body)[0] == 201


def test_a_token_logged_out_no_longer_opens_the_account_even_when_it_was_cached(api):
    api.login()
    assert api.call("GET", "/patients")[0] == 200  # read once: now cached
    accounts.account_logout(api.token)
    assert api.call("GET", "/patients")[0] == 401
